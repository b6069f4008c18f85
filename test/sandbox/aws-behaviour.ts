// What real AWS does that moto does not, played by the proxy (proxy.ts calls `before` and `after`
// around every API call it forwards). Each behaviour is modelled by COUNTING CALLS, never by time,
// so no test depends on how fast the machine is:
//  - eventual consistency: a resource just created (an instance, a security group) is not yet
//    known to the first call(s) naming it by id (InvalidInstanceID.NotFound, InvalidGroup.NotFound),
//    as AWS documents for RunInstances and CreateSecurityGroup;
//  - Instance Connect refuses the first key pushed after an instance booted
//    (EC2InstanceStateInvalidException: its agent is not up yet, though EC2 says `running`);
//  - expired credentials, on demand: every call refused as AWS refuses an expired session;
//  - a launch that dies while pending, on demand: EC2 accepts it, then the instance ends
//    `terminated` with a StateReason (a KMS key it may not use, no capacity after all).
// The first two are on for every sandbox unless a test opts out (startSandbox({ aws: { … } })).
// All of it concerns the CLI under test only: calls signed with its access key (SUBJECT_KEY, what
// sb.env() gives it) and what they created. The tests' own client (another key) is an observer
// that sees moto's truth, so a test's set-up and its checks need no retries.
import { fleetInstances } from './fleet.js';
import { ec2Error, escapeXml, jsonError, queryError, type Reply, type Service } from './proxy.js';

export interface Consistency {
  /** How many calls naming a new resource answer NotFound before it is known. */
  calls: number;
  /** Only calls of these actions see the lag (the others happen to reach an up-to-date server); default all. */
  actions?: string[];
}

export interface AwsBehaviourOptions {
  /** Default on: { calls: 1 }. */
  eventualConsistency?: boolean | Consistency;
  /** Instance Connect refuses the first key pushed after a launch or start. Default on. */
  connectAfterBoot?: boolean;
}

export interface Expiry {
  /** EC2's answer: RequestExpired (signed with an expired session) or ExpiredToken. Default RequestExpired. */
  ec2Code?: 'RequestExpired' | 'ExpiredToken';
  /** Instance Connect's answer. Default UnrecognizedClientException. */
  connectCode?: 'UnrecognizedClientException' | 'InvalidSignatureException';
  /** The credentials expire when the first call of this action arrives (it is refused too); default at once. */
  from?: string;
}

/** The access key id of the CLI under test (sb.env()'s AWS_ACCESS_KEY_ID). */
export const SUBJECT_KEY = 'testing';

export interface PendingDeath {
  /** The instance's StateReason, e.g. Client.InternalError. */
  code: string;
  message: string;
}

/** The switches a test has at run time (Sandbox.aws). */
export interface AwsBehaviour {
  /** Eventual consistency from now on (false: off). */
  setEventualConsistency(c: Consistency | false): void;
  setConnectAfterBoot(on: boolean): void;
  /** Credentials expire (now, or at the first call of `from`); false: renewed. */
  expireCredentials(e: Expiry | false): void;
  /** The next instance launched dies while pending, with this StateReason. */
  terminateNextLaunch(reason: PendingDeath): void;
}

export interface CallInfo {
  service: Service;
  action: string;
  params: Record<string, string>;
  region: string;
  /** The access key id the call was signed with. */
  accessKey: string;
}

/** A call of the sandbox's own to moto (not recorded as the client's). */
export type MotoCall = (region: string, params: Record<string, string>) => Promise<Reply>;

const NAMES_INSTANCE = /^(InstanceId|InstanceId\.\d+|ResourceId\.\d+)$/;
const NAMES_GROUP = /^(GroupId|GroupId\.\d+|SecurityGroupId\.\d+|ResourceId\.\d+)$/;

const defaultConsistency = (o: AwsBehaviourOptions['eventualConsistency']): Consistency | false =>
  o === false ? false : o === true || o === undefined ? { calls: 1 } : o;

export function awsBehaviour(opts: AwsBehaviourOptions, moto: MotoCall) {
  let consistency = defaultConsistency(opts.eventualConsistency);
  let connectAfterBoot = opts.connectAfterBoot ?? true;
  let expiry: (Expiry & { active: boolean }) | undefined;
  let nextDeath: PendingDeath | undefined;
  /** New resources: how many more calls naming them answer NotFound. */
  const unseen = new Map<string, number>();
  /** Instances launched or started whose first Instance Connect push is still to be refused. */
  const justBooted = new Set<string>();
  /** Instances that died while pending: their StateReason. */
  const deaths = new Map<string, PendingDeath>();

  const named = (params: Record<string, string>): string[] =>
    Object.entries(params)
      .filter(
        ([k, v]) => (v.startsWith('i-') && NAMES_INSTANCE.test(k)) || (v.startsWith('sg-') && NAMES_GROUP.test(k)),
      )
      .map(([, v]) => v);

  const notFound = (id: string): Reply =>
    id.startsWith('i-')
      ? ec2Error(400, 'InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`)
      : ec2Error(400, 'InvalidGroup.NotFound', `The security group '${id}' does not exist`);

  const control: AwsBehaviour = {
    setEventualConsistency: (c) => {
      consistency = c;
    },
    setConnectAfterBoot: (on) => {
      connectAfterBoot = on;
    },
    expireCredentials: (e) => {
      expiry = e ? { ...e, active: e.from === undefined } : undefined;
    },
    terminateNextLaunch: (reason) => {
      nextDeath = reason;
    },
  };

  /** An answer in place of moto's, or undefined to go on. */
  const before = (call: CallInfo): Reply | undefined => {
    const { service, action, params } = call;
    if (call.accessKey !== SUBJECT_KEY) return undefined;
    const mine = expiry;
    if (mine && !mine.active && action === mine.from) mine.active = true;
    if (mine?.active) {
      // STS (the query protocol, XML) answers an expired session ExpiredToken.
      if (service === 'sts')
        return queryError(403, 'ExpiredToken', 'The security token included in the request is expired');
      return service === 'ec2'
        ? mine.ec2Code === 'ExpiredToken'
          ? ec2Error(400, 'ExpiredToken', 'The security token included in the request is expired')
          : ec2Error(400, 'RequestExpired', 'Request has expired.')
        : mine.connectCode === 'InvalidSignatureException'
          ? jsonError(
              400,
              'InvalidSignatureException',
              'Signature expired: the request signature is now earlier than the allowed time.',
            )
          : jsonError(400, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    if (service === 'ec2' && consistency && (!consistency.actions || consistency.actions.includes(action))) {
      const lagging = named(params).find((id) => (unseen.get(id) ?? 0) > 0);
      if (lagging) {
        unseen.set(lagging, unseen.get(lagging)! - 1);
        return notFound(lagging);
      }
    }
    if (
      service === 'ec2-instance-connect' &&
      action === 'SendSSHPublicKey' &&
      justBooted.delete(params.InstanceId ?? '') &&
      connectAfterBoot
    ) {
      return jsonError(
        400,
        'EC2InstanceStateInvalidException',
        `Instance ${params.InstanceId} is not in a valid state for this operation: its services are still starting.`,
      );
    }
    return undefined;
  };

  /** Notes what a call moto carried out created, and rewrites what EC2 says about instances that died. */
  const after = async (call: CallInfo, reply: Reply): Promise<Reply> => {
    const { service, action, region } = call;
    if (service !== 'ec2' || reply.status !== 200) return reply;
    const subject = call.accessKey === SUBJECT_KEY;
    const text = reply.body.toString('utf8');
    const lag = consistency ? consistency.calls : 0;
    if ((action === 'RunInstances' || action === 'CreateFleet') && subject) {
      // A fleet's instances are just launched too: the same lag as RunInstances'.
      const ids =
        action === 'CreateFleet'
          ? fleetInstances(text).map((i) => i.instanceId)
          : [...text.matchAll(/<instanceId>\s*(i-[0-9a-f]+)\s*<\/instanceId>/g)].map((m) => m[1]!);
      for (const id of ids) {
        if (lag > 0) unseen.set(id, lag);
        justBooted.add(id);
      }
      const death = nextDeath;
      if (death && ids[0]) {
        nextDeath = undefined;
        deaths.set(ids[0], death);
        // What the client hears is `pending`; whoever looks next finds it terminated.
        await moto(region, { Action: 'TerminateInstances', 'InstanceId.1': ids[0] });
      }
    }
    if (action === 'StartInstances' && subject && call.params['InstanceId.1'])
      justBooted.add(call.params['InstanceId.1']);
    if (action === 'CreateSecurityGroup' && subject) {
      const id = /<groupId>\s*(sg-[0-9a-f]+)\s*<\/groupId>/.exec(text)?.[1];
      if (id && lag > 0) unseen.set(id, lag);
    }
    if (action === 'DescribeInstances' && deaths.size > 0) {
      let rewritten = text;
      for (const [id, d] of deaths) {
        // moto writes each instance's stateReason before its instanceId, within the instance's item.
        const item = new RegExp(
          `<stateReason>(?:(?!<stateReason>)[\\s\\S])*?</stateReason>((?:(?!<stateReason>)[\\s\\S])*?<instanceId>${id}</instanceId>)`,
        );
        rewritten = rewritten.replace(
          item,
          (_m, rest: string) =>
            `<stateReason><code>${escapeXml(d.code)}</code><message>${escapeXml(d.message)}</message></stateReason>${rest}`,
        );
      }
      return { ...reply, body: Buffer.from(rewritten) };
    }
    return reply;
  };

  return { control, before, after };
}
