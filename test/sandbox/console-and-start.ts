// What AWS does around a booting instance's console and a stopped instance's start, which moto
// does not model. Counted in calls, never in time, so no test can race it.
//  - Late console: cloud-init prints the host key fingerprints near the end of boot, after sshd
//    first answers. For the first `lateConsole` GetConsoleOutput calls after each boot (a
//    RunInstances or StartInstances) of an instance, its console output has no fingerprint block;
//    from the next call on it has. On by default (1 call); false turns it off.
//  - Latest=true: EC2 serves the live serial console only for Nitro instance types; for the
//    others (Xen: t2, m4, c4, p2, p3, g3, …) it refuses. The refusal is answered here as
//    400 UnsupportedOperation. The exact code AWS sends is not documented (the API reference only
//    says "supported on instance types that use the Nitro hypervisor"), so the product must not
//    depend on it: it falls back on any error. Otherwise Latest changes nothing here (the counting
//    above applies either way).
//  - No capacity to start: `noStartCapacity(times, types)` makes the next `times` StartInstances
//    of an instance whose type is in `types` (any type if omitted) answer 500
//    InsufficientInstanceCapacity, as EC2 does when the stopped instance's zone has no room.
//  - ModifyInstanceAttribute InstanceType: EC2 changes a type only while the instance is stopped
//    (moto does it in any state): anything else is 400 IncorrectInstanceState.
import { randomUUID } from 'node:crypto';

export interface ConsoleAndStartOptions {
  /** GetConsoleOutput calls after each boot answered without the fingerprint block (default 1; false: none). */
  lateConsole?: number | false;
}

export interface ConsoleAndStart {
  /** Changes the late-console count for the boots and calls that follow. */
  setLateConsole(calls: number | false): void;
  /** The next `times` StartInstances of an instance of one of `types` (default: any) answer InsufficientInstanceCapacity; 0 ends every such switch. */
  noStartCapacity(times: number, types?: readonly string[]): void;
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** What the proxy gives this module: EC2 calls of its own to moto, and its reply builder. */
export interface Deps {
  ec2Call(region: string, params: Record<string, string>): Promise<Reply>;
  /** The console text of an instance (a boot log with its fingerprint block), if the sandbox has one. */
  consoleText(id: string): string | undefined;
  error(status: number, code: string, message: string): Reply;
}

const FINGERPRINTS =
  /[^\n]*-----BEGIN SSH HOST KEY FINGERPRINTS-----[\s\S]*?-----END SSH HOST KEY FINGERPRINTS-----[^\n]*\n?/;
/** Families on the Xen hypervisor: no Latest=true. */
const XEN = /^(t1|t2|m1|m2|m3|m4|c1|c3|c4|r3|r4|x1|x1e|i2|i3|d2|h1|f1|g2|g3|g3s|p2|p3|cc2|cr1|hs1)\./;

export function awsBehaviours(
  deps: Deps,
  opts: ConsoleAndStartOptions = {},
): ConsoleAndStart & {
  /** Answers a call itself, or undefined to let it through to moto. */
  answer(action: string, params: Record<string, string>, region: string): Promise<Reply | undefined>;
  /** Sees moto's answer to a call it let through. */
  observe(action: string, params: Record<string, string>, reply: Reply): void;
} {
  let late = opts.lateConsole ?? 1;
  /** moto's view of an instance. */
  const describe = async (
    id: string,
    region: string,
  ): Promise<{ state: string; type: string; az: string } | undefined> => {
    const xml = (await deps.ec2Call(region, { Action: 'DescribeInstances', 'InstanceId.1': id })).body.toString('utf8');
    const [state, type, az] = [
      /<instanceState>\s*<code>\d+<\/code>\s*<name>([a-z-]+)</,
      /<instanceType>([^<]+)</,
      /<availabilityZone>([^<]+)</,
    ].map((re) => re.exec(xml)?.[1]);
    return state && type ? { state, type, az: az ?? region } : undefined;
  };
  const consoleCalls = new Map<string, number>(); // instance → GetConsoleOutput calls since its boot
  const noCapacity: { left: number; types?: readonly string[] }[] = [];

  const consoleOutput = async (params: Record<string, string>, region: string): Promise<Reply | undefined> => {
    const id = params.InstanceId ?? '';
    const text = deps.consoleText(id);
    if (text === undefined) return undefined;
    const instance = await describe(id, region);
    if (params.Latest === 'true' && instance && XEN.test(instance.type)) {
      return deps.error(
        400,
        'UnsupportedOperation',
        `The instance type ${instance.type} does not support retrieving the latest console output.`,
      );
    }
    const n = (consoleCalls.get(id) ?? 0) + 1;
    consoleCalls.set(id, n);
    const shown = late !== false && n <= late ? text.replace(FINGERPRINTS, '') : text;
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<GetConsoleOutputResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${randomUUID()}</requestId><instanceId>${id}</instanceId><timestamp>${new Date().toISOString()}</timestamp><output>${Buffer.from(shown).toString('base64')}</output></GetConsoleOutputResponse>`;
    return { status: 200, headers: { 'content-type': 'text/xml;charset=UTF-8' }, body: Buffer.from(xml) };
  };

  const start = async (params: Record<string, string>, region: string): Promise<Reply | undefined> => {
    if (noCapacity.length === 0) return undefined;
    const id = params['InstanceId.1'] ?? '';
    const instance = await describe(id, region);
    if (!instance) return undefined;
    const rule = noCapacity.find((r) => !r.types || r.types.includes(instance.type));
    if (!rule) return undefined;
    if (--rule.left <= 0) noCapacity.splice(noCapacity.indexOf(rule), 1);
    return deps.error(
      500,
      'InsufficientInstanceCapacity',
      `We currently do not have sufficient ${instance.type} capacity in the Availability Zone you requested (${instance.az}). Our system will be working on provisioning additional capacity. You can currently get ${instance.type} capacity by not specifying an Availability Zone in your request or choosing other Availability Zones.`,
    );
  };

  const modify = async (params: Record<string, string>, region: string): Promise<Reply | undefined> => {
    if (params['InstanceType.Value'] === undefined) return undefined;
    const id = params.InstanceId ?? '';
    const instance = await describe(id, region);
    if (!instance || instance.state === 'stopped') return undefined;
    return deps.error(400, 'IncorrectInstanceState', `The instance '${id}' is not in the 'stopped' state.`);
  };

  return {
    setLateConsole(calls) {
      late = calls;
    },
    noStartCapacity(times, types) {
      if (times <= 0) noCapacity.length = 0;
      else noCapacity.push({ left: times, types });
    },
    answer(action, params, region) {
      if (action === 'GetConsoleOutput') return consoleOutput(params, region);
      if (action === 'StartInstances') return start(params, region);
      if (action === 'ModifyInstanceAttribute') return modify(params, region);
      return Promise.resolve(undefined);
    },
    observe(action, params, reply) {
      if (reply.status !== 200 || (action !== 'RunInstances' && action !== 'StartInstances')) return;
      const ids =
        action === 'StartInstances'
          ? [params['InstanceId.1']]
          : [...reply.body.toString('utf8').matchAll(/<instanceId>\s*(i-[0-9a-f]+)\s*<\/instanceId>/g)].map(
              (m) => m[1],
            );
      for (const id of ids) if (id) consoleCalls.delete(id); // a boot: the console starts over
    },
  };
}
