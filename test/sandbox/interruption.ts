// A spot interruption, played in two steps so that a test waits for evidence, never for time:
//  1. announce(id, action): the instance's metadata service answers
//     latest/meta-data/spot/instance-action with EC2's notice ({"action":…,"time":…}, two minutes
//     ahead), as AWS does from the notice on (404 before, and on any other instance);
//  2. complete(id): EC2 takes the instance — stopped or terminated through moto — and from then on
//     DescribeInstances gives it the StateReason AWS gives (Server.SpotInstanceShutdown or
//     Server.SpotInstanceTermination), which moto would not (it says Client.UserInitiatedShutdown).
// moto knows nothing of spot interruptions; the proxy (proxy.ts) asks this file at its two hooks.
import { escapeXml, type Reply } from './proxy.js';

export type InterruptionAction = 'stop' | 'terminate';

/** AWS's StateReason of an instance EC2 took back (API_StateReason in the EC2 API reference). */
export const SPOT_STATE_REASONS: Record<InterruptionAction, { code: string; message: string }> = {
  stop: {
    code: 'Server.SpotInstanceShutdown',
    message:
      'Server.SpotInstanceShutdown: The instance was stopped because the number of Spot requests with a maximum price equal to or higher than the Spot price exceeded available capacity or because of an increase in the Spot price.',
  },
  terminate: {
    code: 'Server.SpotInstanceTermination',
    message:
      'Server.SpotInstanceTermination: The instance was terminated because the number of Spot requests with a maximum price equal to or higher than the Spot price exceeded available capacity or because of an increase in the Spot price.',
  },
};

/** The notice's lead time on EC2. */
const NOTICE_MS = 120_000;

export interface SpotInterruptions {
  announce(instanceId: string, action: InterruptionAction): void;
  /** EC2 takes the instance as announced; resolves once moto says so and the machine is down. */
  complete(instanceId: string): Promise<void>;
}

export function spotInterruptions(deps: {
  region: (instanceId: string) => string;
  ec2Call: (region: string, params: Record<string, string>) => Promise<Reply>;
  /** Tells the sandbox the machine went down (proxy.ts tellLifecycle). */
  halted: (action: 'StopInstances' | 'TerminateInstances', instanceId: string, region: string) => Promise<void>;
}) {
  const notices = new Map<string, { action: InterruptionAction; time: string }>();
  const taken = new Map<string, InterruptionAction>();

  const control: SpotInterruptions = {
    announce(instanceId, action) {
      const time = new Date(Date.now() + NOTICE_MS).toISOString().replace(/\.\d{3}Z$/, 'Z');
      notices.set(instanceId, { action, time });
    },
    async complete(instanceId) {
      const notice = notices.get(instanceId);
      if (!notice) throw new Error(`no interruption was announced for ${instanceId}`);
      const region = deps.region(instanceId);
      const action = notice.action === 'stop' ? 'StopInstances' : 'TerminateInstances';
      taken.set(instanceId, notice.action);
      const r = await deps.ec2Call(region, { Action: action, 'InstanceId.1': instanceId, Force: 'true' });
      if (r.status !== 200) throw new Error(`moto refused to ${notice.action} ${instanceId}: ${r.body.toString()}`);
      notices.delete(instanceId); // a stopped instance started again is a new spot instance: no notice
      await deps.halted(action, instanceId, region);
    },
  };

  /** IMDS's answer for instance-action on `instanceId`, if it has a notice (the token is checked by the caller). */
  const imds = (instanceId: string | undefined): { status: number; body: string } => {
    const notice = instanceId === undefined ? undefined : notices.get(instanceId);
    return notice ? { status: 200, body: JSON.stringify(notice) } : { status: 404, body: 'Not Found' };
  };

  /** DescribeInstances' answer with AWS's StateReason for the instances EC2 took. */
  const describe = (xml: string): string => {
    let out = xml;
    for (const [id, action] of taken) {
      const { code, message } = SPOT_STATE_REASONS[action];
      // moto writes each instance's stateReason before its instanceId, within the instance's item.
      const item = new RegExp(
        `<stateReason>(?:(?!<stateReason>)[\\s\\S])*?</stateReason>((?:(?!<stateReason>)[\\s\\S])*?<instanceId>${id}</instanceId>)`,
      );
      out = out.replace(
        item,
        (_m, rest: string) =>
          `<stateReason><code>${escapeXml(code)}</code><message>${escapeXml(message)}</message></stateReason>${rest}`,
      );
    }
    return out;
  };

  /** A start ends what EC2 said about the instance's last stop. */
  const started = (instanceId: string): void => {
    taken.delete(instanceId);
  };

  return { control, imds, describe, started };
}
