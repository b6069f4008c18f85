/**
 * A cloud port that loads the real one (ec2.ts, and with it the AWS SDK) at its first call. A warm
 * run (session/warm.ts) knows its region from what an earlier run learnt and usually makes no call
 * at all: it never pays the SDK's load. Importing this file never loads the SDK.
 */
import type { Cloud } from './port.js';

export function lazyCloud(
  region: string,
  load: () => Promise<Cloud>,
  onLoad: (firstCall: string) => void = () => {},
): Cloud {
  let real: Cloud | undefined;
  let loading: Promise<Cloud> | undefined;
  const loaded = (firstCall: string) => {
    loading ??= (onLoad(firstCall), load()).then((c) => (real = c));
    return loading;
  };
  return new Proxy({} as Cloud, {
    get(_, key) {
      if (key === 'region') return real?.region ?? region;
      // A property, not a method: known once loaded (its users ask it after a call).
      if (key === 'endpoint') return real?.endpoint;
      if (typeof key !== 'string' || key === 'then') return undefined;
      // Once loaded, each method is the real one's (noteNew stays synchronous: it follows a launch).
      const call = (c: Cloud, args: unknown[]): unknown =>
        Reflect.apply(c[key as keyof Cloud] as (...a: unknown[]) => unknown, c, args);
      return (...args: unknown[]) => (real ? call(real, args) : loaded(key).then((c) => call(c, args)));
    },
  });
}
