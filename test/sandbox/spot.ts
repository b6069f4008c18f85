// Spot requests as EC2 keeps them, which moto does not: it only marks an instance launched with
// InstanceMarketOptions `spot`. The proxy (proxy.ts) asks this model before and after moto:
//  - RunInstances with the spot market makes a request (sir-…, persistent or one-time, active),
//    tagged by its TagSpecification; so does each spot instance of an instant fleet (one-time); RunInstances' and DescribeInstances' answers name it
//    (spotInstanceRequestId, instanceLifecycle spot),
//  - DescribeSpotInstanceRequests and CancelSpotInstanceRequests are answered from it,
//  - StopInstances of a one-time request's instance is refused, as EC2 refuses it,
//  - a persistent request whose instance is stopped is `disabled`, started again `active`,
//  - TerminateInstances of a persistent request's instance that was not cancelled first: EC2
//    fulfils the request again, and so does the model — a new instance (a real sandbox machine),
//    so that a test catches a missing cancel. The test must end it (cancel, then terminate).
import { randomBytes } from 'node:crypto';
import { fleetInstances } from './fleet.js';
import type { Reply } from './proxy.js';

export interface SpotRequestRecord {
  id: string;
  type: 'persistent' | 'one-time';
  state: 'open' | 'active' | 'disabled' | 'cancelled' | 'closed';
  instanceId?: string;
  interruption: string;
  maxPrice?: string;
  region: string;
  tags: Record<string, string>;
  createTime: Date;
  /** The RunInstances parameters that made it: a relaunch makes the same instance again. */
  launch: Record<string, string>;
}

export interface Relaunch {
  requestId: string;
  terminated: string;
  launched: string;
}

export interface SpotControl {
  requests(): SpotRequestRecord[];
  /** Instances EC2 launched again for a persistent request whose instance was terminated uncancelled. */
  relaunches(): Relaunch[];
  /** true: no spot capacity to fulfil a request again; it stays open, with no instance (as on EC2). */
  noCapacity(on: boolean): void;
}

/** A RunInstances asking for spot: for a fault injected on spot launches only (`when`). */
export const spotLaunch = (params: Record<string, string>): boolean =>
  params['InstanceMarketOptions.MarketType'] === 'spot';

/** One launch attempt, as RunInstances' parameters say it: for a fault on a type × subnet × market. */
export const launchAttempt =
  (a: { type?: string; subnet?: string; market?: 'spot' | 'on-demand' }) =>
  (params: Record<string, string>): boolean =>
    (a.type === undefined || params.InstanceType === a.type) &&
    (a.subnet === undefined || params.SubnetId === a.subnet) &&
    (a.market === undefined || spotLaunch(params) === (a.market === 'spot'));

const ONE_TIME_STOP = (id: string) =>
  `You can't stop the Spot Instance '${id}' because it is associated with a one-time Spot Instance request. You can only stop Spot Instances associated with persistent Spot Instance requests.`;

const numbered = (params: Record<string, string>, prefix: string): string[] =>
  Object.entries(params)
    .filter(([k]) => new RegExp(`^${prefix}\\.\\d+$`).test(k))
    .map(([, v]) => v);

const instanceIds = (xml: string): string[] => [
  ...new Set([...xml.matchAll(/<instanceId>\s*(i-[0-9a-f]+)\s*<\/instanceId>/g)].map((m) => m[1]!)),
];

/** The tags a TagSpecification of RunInstances gives the resource type. */
function tagsFor(params: Record<string, string>, type: string): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    const m = /^TagSpecification\.(\d+)\.ResourceType$/.exec(k);
    if (!m || v !== type) continue;
    for (let n = 1; params[`TagSpecification.${m[1]}.Tag.${n}.Key`] !== undefined; n++)
      tags[params[`TagSpecification.${m[1]}.Tag.${n}.Key`]!] = params[`TagSpecification.${m[1]}.Tag.${n}.Value`] ?? '';
  }
  return tags;
}

const esc = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
const xmlReply = (body: string): Reply => ({
  status: 200,
  headers: { 'content-type': 'text/xml;charset=UTF-8' },
  body: Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`),
});

export function spotModel(deps: {
  ec2Call(region: string, params: Record<string, string>): Promise<Reply>;
  error(status: number, code: string, message: string): Reply;
  /** A launch of the model's own (a relaunch): the sandbox boots its machine, as for the client's. */
  launched(params: Record<string, string>, reply: Reply, region: string): Promise<void>;
}) {
  const requests = new Map<string, SpotRequestRecord>();
  const relaunches: Relaunch[] = [];
  let short = false;
  const ofInstance = (id: string) => [...requests.values()].find((r) => r.instanceId === id);

  const describe = (params: Record<string, string>): Reply => {
    const ids = numbered(params, 'SpotInstanceRequestId');
    const filters: { name: string; values: string[] }[] = [];
    for (let n = 1; params[`Filter.${n}.Name`] !== undefined; n++)
      filters.push({ name: params[`Filter.${n}.Name`]!, values: numbered(params, `Filter\\.${n}\\.Value`) });
    const match = (r: SpotRequestRecord) =>
      (ids.length === 0 || ids.includes(r.id)) &&
      filters.every(({ name, values }) =>
        name === 'tag-key'
          ? values.some((v) => v in r.tags)
          : name.startsWith('tag:')
            ? values.includes(r.tags[name.slice(4)] ?? '\0')
            : name === 'state'
              ? values.includes(r.state)
              : name === 'instance-id'
                ? values.includes(r.instanceId ?? '')
                : true,
      );
    const items = [...requests.values()].filter(match).map(
      (r) =>
        `<item><spotInstanceRequestId>${r.id}</spotInstanceRequestId>` +
        (r.maxPrice ? `<spotPrice>${esc(r.maxPrice)}</spotPrice>` : '') +
        `<type>${r.type}</type><state>${r.state}</state>` +
        `<status><code>${r.state === 'cancelled' ? 'request-canceled-and-instance-running' : 'fulfilled'}</code></status>` +
        (r.instanceId ? `<instanceId>${r.instanceId}</instanceId>` : '') +
        `<createTime>${r.createTime.toISOString()}</createTime><productDescription>Linux/UNIX</productDescription>` +
        `<instanceInterruptionBehavior>${r.interruption}</instanceInterruptionBehavior>` +
        `<tagSet>${Object.entries(r.tags)
          .map(([k, v]) => `<item><key>${esc(k)}</key><value>${esc(v)}</value></item>`)
          .join('')}</tagSet></item>`,
    );
    return xmlReply(
      `<DescribeSpotInstanceRequestsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${randomBytes(8).toString('hex')}</requestId><spotInstanceRequestSet>${items.join('')}</spotInstanceRequestSet></DescribeSpotInstanceRequestsResponse>`,
    );
  };

  const cancel = (params: Record<string, string>): Reply => {
    // doctor's DryRun (a placeholder id): allowed, as EC2 answers it, and nothing cancelled.
    if (params.DryRun === 'true')
      return deps.error(412, 'DryRunOperation', 'Request would have succeeded, but DryRun flag is set.');
    const ids = numbered(params, 'SpotInstanceRequestId');
    const unknown = ids.find((id) => !requests.has(id));
    if (unknown)
      return deps.error(
        400,
        'InvalidSpotInstanceRequestID.NotFound',
        `The spot instance request ID '${unknown}' does not exist`,
      );
    for (const id of ids) requests.get(id)!.state = 'cancelled';
    const items = ids.map(
      (id) => `<item><spotInstanceRequestId>${id}</spotInstanceRequestId><state>cancelled</state></item>`,
    );
    return xmlReply(
      `<CancelSpotInstanceRequestsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${randomBytes(8).toString('hex')}</requestId><spotInstanceRequestSet>${items.join('')}</spotInstanceRequestSet></CancelSpotInstanceRequestsResponse>`,
    );
  };

  /** The request's id and lifecycle in an answer that lists instances. */
  const annotate = (reply: Reply): Reply => {
    if (reply.status !== 200 || requests.size === 0) return reply;
    const text = reply.body.toString('utf8');
    // moto writes the lifecycle itself where it keeps one: not twice.
    const lifecycle = /<instanceLifecycle>/.test(text) ? '' : '<instanceLifecycle>spot</instanceLifecycle>';
    const xml = text.replace(/<instanceId>\s*(i-[0-9a-f]+)\s*<\/instanceId>/g, (whole, id: string) => {
      const r = ofInstance(id);
      return r ? `${whole}<spotInstanceRequestId>${r.id}</spotInstanceRequestId>${lifecycle}` : whole;
    });
    return { ...reply, body: Buffer.from(xml) };
  };

  /** EC2 fulfilling a persistent request again: the same launch, a new instance. */
  const relaunch = async (r: SpotRequestRecord, terminated: string): Promise<void> => {
    if (short) {
      r.state = 'open';
      r.instanceId = undefined;
      return;
    }
    const params = { ...r.launch };
    delete params.ClientToken;
    const reply = await deps.ec2Call(r.region, params);
    const launched = instanceIds(reply.body.toString('utf8'))[0];
    if (reply.status !== 200 || !launched) return;
    r.instanceId = launched;
    r.state = 'active';
    relaunches.push({ requestId: r.id, terminated, launched });
    await deps.launched(params, reply, r.region);
  };

  return {
    /** An answer of the model's own, before moto is asked; undefined: moto's. */
    before(action: string, params: Record<string, string>): Reply | undefined {
      if (action === 'DescribeSpotInstanceRequests') return describe(params);
      if (action === 'CancelSpotInstanceRequests') return cancel(params);
      if (action === 'StopInstances') {
        const oneTime = numbered(params, 'InstanceId').find((id) => ofInstance(id)?.type === 'one-time');
        if (oneTime) return deps.error(400, 'UnsupportedOperation', ONE_TIME_STOP(oneTime));
      }
      return undefined;
    },

    /** After moto answered: note requests, name them in answers, relaunch what EC2 would. */
    async after(action: string, params: Record<string, string>, reply: Reply, region: string): Promise<Reply> {
      if (reply.status !== 200) return reply;
      if (action === 'RunInstances' && spotLaunch(params)) {
        const oneTime = params['InstanceMarketOptions.SpotOptions.SpotInstanceType'] !== 'persistent';
        for (const instanceId of instanceIds(reply.body.toString('utf8'))) {
          const id = `sir-${randomBytes(4).toString('hex')}`;
          requests.set(id, {
            id,
            type: oneTime ? 'one-time' : 'persistent',
            state: 'active',
            instanceId,
            interruption:
              params['InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior'] ??
              (oneTime ? 'terminate' : 'stop'),
            maxPrice: params['InstanceMarketOptions.SpotOptions.MaxPrice'],
            region,
            tags: tagsFor(params, 'spot-instances-request'),
            createTime: new Date(),
            launch: params,
          });
        }
      }
      // An instant fleet's spot instances: one one-time request each, as EC2 places them (tagged
      // by the fleet's TagSpecification of spot-instances-request, if any).
      if (action === 'CreateFleet')
        for (const { instanceId } of fleetInstances(reply.body.toString('utf8')).filter(
          (i) => i.lifecycle === 'spot',
        )) {
          const id = `sir-${randomBytes(4).toString('hex')}`;
          requests.set(id, {
            id,
            type: 'one-time',
            state: 'active',
            instanceId,
            interruption: 'terminate',
            maxPrice: params['SpotOptions.MaxTotalPrice'],
            region,
            tags: tagsFor(params, 'spot-instances-request'),
            createTime: new Date(),
            launch: {},
          });
        }
      if (action === 'StopInstances' || action === 'StartInstances')
        for (const id of numbered(params, 'InstanceId')) {
          const r = ofInstance(id);
          if (r?.type === 'persistent' && r.state !== 'cancelled')
            r.state = action === 'StopInstances' ? 'disabled' : 'active';
        }
      if (action === 'TerminateInstances')
        for (const id of numbered(params, 'InstanceId')) {
          const r = ofInstance(id);
          if (r?.type === 'persistent' && r.state !== 'cancelled' && r.state !== 'closed') await relaunch(r, id);
          else if (r && r.state !== 'cancelled') r.state = 'closed';
        }
      if (action === 'RunInstances' || action === 'DescribeInstances') return annotate(reply);
      return reply;
    },

    control: {
      requests: () => [...requests.values()].map((r) => ({ ...r, tags: { ...r.tags } })),
      relaunches: () => relaunches.map((r) => ({ ...r })),
      noCapacity: (on) => {
        short = on;
      },
    } satisfies SpotControl,
  };
}
