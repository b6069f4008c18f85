// EC2 Fleet (CreateFleet of type instant, from a launch template) as the proxy (proxy.ts) plays it
// around moto, which launches the instances and keeps the fleet:
//  - what each instance was launched with that moto's fleet does not keep: the launch template's
//    UserData (the boothooks the sandbox's machine runs), InstanceInitiatedShutdownBehavior (what the
//    instance's own poweroff does) and IamInstanceProfile — read back from moto
//    (DescribeLaunchTemplateVersions), so a template made by anyone works;
//  - capacity, on demand (sb.fleetCapacity): a CreateFleet gets at most N instances of a type (in a
//    market), and for every override that fell short an Errors entry InsufficientInstanceCapacity —
//    as AWS's instant fleets answer, a partial success with HTTP 200. The overrides are tried in their
//    order (AWS chooses by price and capacity; a test that limits a type needs no more than that).
//    moto puts every instance on one override's type: when the allocation spans several types, the
//    first goes through moto's fleet and the others are launched from the same template (RunInstances,
//    the fleet's instance tags) and named in the fleet's answer.
import type { Reply } from './proxy.js';

export type Market = 'spot' | 'on-demand';

/** One instance a CreateFleet answer names. */
export interface FleetInstance {
  instanceId: string;
  instanceType?: string;
  lifecycle: Market;
}

/** What a launch template (one version) gives its instances. */
export interface TemplateLaunch {
  templateId?: string;
  versionNumber?: string;
  userData?: string; // decoded
  shutdownBehavior?: 'stop' | 'terminate';
  iamProfile?: string; // name or ARN
}

export interface FleetControl {
  /**
   * From now on each CreateFleet gets at most `n` instances of `type` (in `market`, default either);
   * undefined: no limit again. The rest of the fleet's target goes to its other overrides, or is
   * missing, with InsufficientInstanceCapacity in the answer's Errors.
   */
  fleetCapacity(type: string, n: number | undefined, market?: Market): void;
  /**
   * false: DescribeFleets lists an instant fleet only when given its id, as AWS documents ("If a
   * fleet is of type instant, you must specify the fleet ID in the request, otherwise the fleet
   * does not appear in the response"). Default true: moto's answer, every fleet.
   */
  listInstantFleets(on: boolean): void;
}

interface Override {
  n: number;
  type?: string;
  subnet?: string;
}

const tag = (xml: string, name: string): string | undefined =>
  new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1]?.trim();

/** The CreateFleet parameters of its (first) launch template config. */
function overridesOf(params: Record<string, string>): Override[] {
  const out: Override[] = [];
  for (let n = 1; ; n++) {
    const base = `LaunchTemplateConfigs.1.Overrides.${n}.`;
    const keys = Object.keys(params).filter((k) => k.startsWith(base));
    if (keys.length === 0) break;
    const type = params[`${base}InstanceType`];
    const subnet = params[`${base}SubnetId`];
    out.push({ n, ...(type !== undefined && { type }), ...(subnet !== undefined && { subnet }) });
  }
  return out;
}

export const fleetMarket = (params: Record<string, string>): Market =>
  params['TargetCapacitySpecification.DefaultTargetCapacityType'] === 'spot' ? 'spot' : 'on-demand';

/** Every instance a CreateFleet answer names, with its lifecycle and type. */
export function fleetInstances(xml: string): FleetInstance[] {
  const set = /<fleetInstanceSet>([\s\S]*)<\/fleetInstanceSet>/.exec(xml)?.[1] ?? '';
  // One chunk per instance group: each starts with its launch template and overrides.
  return set
    .split('<launchTemplateAndOverrides>')
    .slice(1)
    .flatMap((chunk) => {
      const ids = /<instanceIds>([\s\S]*?)<\/instanceIds>/.exec(chunk)?.[1] ?? '';
      const after = chunk.slice(chunk.indexOf('</launchTemplateAndOverrides>'));
      const lifecycle: Market = tag(after, 'lifecycle') === 'spot' ? 'spot' : 'on-demand';
      const instanceType = tag(after, 'instanceType');
      return [...ids.matchAll(/(i-[0-9a-f]+)/g)].map((m) => ({
        instanceId: m[1]!,
        lifecycle,
        ...(instanceType !== undefined && { instanceType }),
      }));
    });
}

interface Refusal {
  code: string;
  message: string;
}

/** What EC2 answers a spot instance whose template says InstanceInitiatedShutdownBehavior=stop. */
const SPOT_STOP: Refusal = {
  code: 'UnsupportedOperation',
  message: "The instance-initiated shutdown behavior 'stop' is not supported for spot instances (one-time requests).",
};

/**
 * The CreateFleet moto is sent instead: only override `kept` (moto needs one, even for a target of
 * 0, and makes a fleet with no instance), and `count` as its whole target.
 */
function sentToMoto(params: Record<string, string>, kept: number | undefined, count: number): Buffer {
  const sent: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    const m = /^LaunchTemplateConfigs\.1\.Overrides\.(\d+)\.(.*)$/.exec(k);
    if (m) {
      if (Number(m[1]) === kept) sent[`LaunchTemplateConfigs.1.Overrides.1.${m[2]}`] = v;
      continue;
    }
    sent[k] = v;
  }
  sent['TargetCapacitySpecification.TotalTargetCapacity'] = String(count);
  for (const k of ['SpotTargetCapacity', 'OnDemandTargetCapacity']) delete sent[`TargetCapacitySpecification.${k}`];
  return Buffer.from(new URLSearchParams(sent).toString());
}

const idItems = (ids: string[]): string => [...new Set(ids)].map((id) => `<item>${id}</item>`).join('');
const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function fleetModel(deps: { ec2Call(region: string, params: Record<string, string>): Promise<Reply> }) {
  const limits = new Map<string, number>(); // `${type}` or `${type}/${market}` → instances per CreateFleet
  // As AWS documents DescribeFleets: an instant fleet is listed only when asked for by its id.
  let listInstant = false;
  const instantFleets = new Set<string>(); // ids of the instant fleets made here

  const limitOf = (type: string | undefined, market: Market): number =>
    type === undefined ? Infinity : Math.min(limits.get(`${type}/${market}`) ?? Infinity, limits.get(type) ?? Infinity);

  /** Pending work between `before` and `after` of one CreateFleet (by its params object). */
  const plans = new WeakMap<
    Record<string, string>,
    { errors: Override[]; extra: { o: Override; count: number }[]; market: Market; refusal?: Refusal }
  >();

  return {
    control: {
      listInstantFleets(on) {
        listInstant = on;
      },
      fleetCapacity(type, n, market) {
        const key = market ? `${type}/${market}` : type;
        if (n === undefined) limits.delete(key);
        else limits.set(key, n);
      },
    } satisfies FleetControl,

    /**
     * The request moto is sent instead, when a limit makes EC2 short (undefined: as it is): the
     * first type's overrides only, and its share of the target.
     */
    async before(params: Record<string, string>, region: string): Promise<Buffer | undefined> {
      if (params.Type !== 'instant') return undefined;
      const market = fleetMarket(params);
      const overrides = overridesOf(params);
      // A fleet's spot instances are one-time requests, which EC2 will not stop: a template saying
      // `stop` gets no instance, an error for every override (moto would launch them).
      if (market === 'spot' && (await this.template(params, region)).shutdownBehavior === 'stop') {
        plans.set(params, { errors: overrides, extra: [], market, refusal: SPOT_STOP });
        return sentToMoto(params, overrides[0]?.n, 0);
      }
      if (limits.size === 0) return undefined;
      let left = Number(params['TargetCapacitySpecification.TotalTargetCapacity'] ?? 0);
      const used = new Map<string, number>();
      const taken: { o: Override; count: number }[] = [];
      const errors: Override[] = [];
      for (const o of overrides) {
        if (left <= 0) break;
        const room = limitOf(o.type, market) - (used.get(o.type ?? '') ?? 0);
        const count = Math.max(0, Math.min(left, room));
        if (count < left) errors.push(o);
        if (count > 0) {
          taken.push({ o, count });
          used.set(o.type ?? '', (used.get(o.type ?? '') ?? 0) + count);
          left -= count;
        }
      }
      if (errors.length === 0) return undefined;
      const [first, ...extra] = taken;
      plans.set(params, { errors, extra, market });
      // moto's fleet: the first override taken only (none taken: the first, for a target of 0 — moto
      // needs a type, and makes a fleet with no instance).
      return sentToMoto(params, first?.o.n ?? overrides[0]?.n, first?.count ?? 0);
    },

    /** moto's answer with the other types' instances and the Errors of a fleet short of capacity. */
    async after(params: Record<string, string>, reply: Reply, region: string): Promise<Reply> {
      const made = tag(reply.body.toString('utf8'), 'fleetId');
      if (params.Type === 'instant' && reply.status === 200 && made) instantFleets.add(made);
      const plan = plans.get(params);
      if (!plan || reply.status !== 200) return reply;
      plans.delete(params);
      const spec = (p: string) => params[`LaunchTemplateConfigs.1.LaunchTemplateSpecification.${p}`];
      /** An answer's launchTemplateAndOverrides and lifecycle, for an override (instances or an error). */
      const group = (o: Override): string => {
        const id = spec('LaunchTemplateId');
        const version = spec('Version');
        const template =
          (id ? `<launchTemplateId>${escapeXml(id)}</launchTemplateId>` : '') +
          (version ? `<version>${escapeXml(version)}</version>` : '');
        const overrides =
          (o.type ? `<instanceType>${escapeXml(o.type)}</instanceType>` : '') +
          (o.subnet ? `<subnetId>${escapeXml(o.subnet)}</subnetId>` : '');
        return (
          `<launchTemplateAndOverrides><launchTemplateSpecification>${template}</launchTemplateSpecification>` +
          `<overrides>${overrides}</overrides></launchTemplateAndOverrides><lifecycle>${plan.market}</lifecycle>`
        );
      };
      const items: string[] = [];
      for (const { o, count } of plan.extra) {
        const run: Record<string, string> = {
          Action: 'RunInstances',
          MinCount: String(count),
          MaxCount: String(count),
          ...(spec('LaunchTemplateId') && { 'LaunchTemplate.LaunchTemplateId': spec('LaunchTemplateId')! }),
          ...(spec('LaunchTemplateName') && { 'LaunchTemplate.LaunchTemplateName': spec('LaunchTemplateName')! }),
          ...(spec('Version') && { 'LaunchTemplate.Version': spec('Version')! }),
          ...(o.type && { InstanceType: o.type }),
          ...(o.subnet && { SubnetId: o.subnet }),
          ...(plan.market === 'spot' && { 'InstanceMarketOptions.MarketType': 'spot' }),
        };
        // The fleet's instance tags (TagSpecification.N of type instance), as its own instances get them.
        for (const [k, v] of Object.entries(params)) {
          const m = /^TagSpecification\.(\d+)\.ResourceType$/.exec(k);
          if (!m || v !== 'instance') continue;
          for (const [tk, tv] of Object.entries(params))
            if (tk.startsWith(`TagSpecification.${m[1]}.`))
              run[tk.replace(`TagSpecification.${m[1]}.`, 'TagSpecification.1.')] = tv;
        }
        const r = await deps.ec2Call(region, run);
        const ids = [...r.body.toString('utf8').matchAll(/<instanceId>\s*(i-[0-9a-f]+)\s*<\/instanceId>/g)].map(
          (m) => m[1]!,
        );
        if (r.status !== 200 || ids.length === 0) continue;
        items.push(
          `<item>${group(o)}<instanceIds>${idItems(ids)}</instanceIds>` +
            (o.type ? `<instanceType>${escapeXml(o.type)}</instanceType>` : '') +
            `</item>`,
        );
      }
      const spot = plan.market === 'spot' ? 'Spot ' : '';
      const capacity = `There is no ${spot}capacity available that matches your request`;
      const errors = plan.errors.map(
        (o) =>
          `<item>${group(o)}<errorCode>${plan.refusal?.code ?? 'InsufficientInstanceCapacity'}</errorCode>` +
          `<errorMessage>${escapeXml(plan.refusal?.message ?? `${capacity}${o.type ? ` for ${o.type}` : ''}.`)}` +
          `</errorMessage></item>`,
      );
      let xml = reply.body.toString('utf8');
      xml = /<fleetInstanceSet\s*\/>/.test(xml)
        ? xml.replace(/<fleetInstanceSet\s*\/>/, `<fleetInstanceSet>${items.join('')}</fleetInstanceSet>`)
        : /<fleetInstanceSet>/.test(xml)
          ? xml.replace('</fleetInstanceSet>', `${items.join('')}</fleetInstanceSet>`)
          : xml.replace(/(<fleetId>)/, `<fleetInstanceSet>${items.join('')}</fleetInstanceSet>$1`);
      xml = /<errorSet\s*\/>/.test(xml)
        ? xml.replace(/<errorSet\s*\/>/, `<errorSet>${errors.join('')}</errorSet>`)
        : /<errorSet>/.test(xml)
          ? xml.replace('</errorSet>', `${errors.join('')}</errorSet>`)
          : xml.replace(/(<fleetId>)/, `<errorSet>${errors.join('')}</errorSet>$1`);
      return { ...reply, body: Buffer.from(xml) };
    },

    /**
     * DeleteFleets as AWS plays it for instant fleets (moto deletes them whatever is asked): with
     * TerminateInstances=false each is refused ("a deleted instant fleet with running instances is
     * not supported"), in UnsuccessfulFleetDeletions; with true, its live instances are terminated
     * here (`terminated`: the proxy tells their machines, as after a TerminateInstances). `body`:
     * the request moto is sent (the refused left out); `answer`: the whole reply when none is left;
     * `after`: moto's reply with the refusals added.
     */
    async deleting(
      params: Record<string, string>,
      region: string,
    ): Promise<{ body?: Buffer; answer?: Reply; after(r: Reply): Reply; terminated: string[] }> {
      const ids = Object.entries(params)
        .filter(([k]) => /^FleetId\.\d+$/.test(k))
        .map(([, v]) => v);
      const keep = params.TerminateInstances === 'true';
      const refused = keep ? [] : ids.filter((id) => instantFleets.has(id));
      const terminated: string[] = [];
      for (const id of keep ? ids.filter((f) => instantFleets.has(f)) : []) {
        const r = await deps.ec2Call(region, {
          Action: 'DescribeInstances',
          'Filter.1.Name': 'tag:aws:ec2:fleet-id',
          'Filter.1.Value.1': id,
          'Filter.2.Name': 'instance-state-name',
          ...Object.fromEntries(
            ['pending', 'running', 'stopping', 'stopped'].map((v, n) => [`Filter.2.Value.${n + 1}`, v]),
          ),
        });
        terminated.push(
          ...[...r.body.toString('utf8').matchAll(/<instanceId>\s*(i-[0-9a-f]+)\s*<\/instanceId>/g)].map((m) => m[1]!),
        );
      }
      const live = [...new Set(terminated)];
      if (live.length > 0) {
        const call: Record<string, string> = { Action: 'TerminateInstances' };
        live.forEach((id, n) => (call[`InstanceId.${n + 1}`] = id));
        await deps.ec2Call(region, call);
      }
      const items = refused
        .map(
          (id) =>
            `<item><error><code>unexpectedError</code><message>A deleted instant fleet with running instances is ` +
            `not supported: delete it with TerminateInstances true.</message></error><fleetId>${escapeXml(id)}</fleetId></item>`,
        )
        .join('');
      const withRefusals = (xml: string): string =>
        /<unsuccessfulFleetDeletionSet\s*\/>/.test(xml)
          ? xml.replace(
              /<unsuccessfulFleetDeletionSet\s*\/>/,
              `<unsuccessfulFleetDeletionSet>${items}</unsuccessfulFleetDeletionSet>`,
            )
          : /<unsuccessfulFleetDeletionSet>/.test(xml)
            ? xml.replace('</unsuccessfulFleetDeletionSet>', `${items}</unsuccessfulFleetDeletionSet>`)
            : xml.replace(
                '</DeleteFleetsResponse>',
                `<unsuccessfulFleetDeletionSet>${items}</unsuccessfulFleetDeletionSet></DeleteFleetsResponse>`,
              );
      const after = (r: Reply): Reply =>
        refused.length === 0 || r.status !== 200
          ? r
          : { ...r, body: Buffer.from(withRefusals(r.body.toString('utf8'))) };
      if (refused.length === 0) return { after, terminated: live };
      const left = ids.filter((id) => !refused.includes(id));
      if (left.length === 0) {
        const xml =
          '<?xml version="1.0" encoding="UTF-8"?><DeleteFleetsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">' +
          '<requestId>sandbox-delete-fleets</requestId><successfulFleetDeletionSet/><unsuccessfulFleetDeletionSet/>' +
          '</DeleteFleetsResponse>';
        return {
          answer: after({ status: 200, headers: { 'content-type': 'text/xml' }, body: Buffer.from(xml) }),
          after,
          terminated: [],
        };
      }
      const sent: Record<string, string> = {};
      for (const [k, v] of Object.entries(params)) if (!/^FleetId\.\d+$/.test(k)) sent[k] = v;
      left.forEach((id, n) => (sent[`FleetId.${n + 1}`] = id));
      return { body: Buffer.from(new URLSearchParams(sent).toString()), after, terminated: live };
    },

    /**
     * The tags EC2 puts on every instance a fleet launches from a template (aws:ec2:fleet-id, and
     * aws:ec2launchtemplate:id and :version): moto's fleet puts none, so a client finding a fleet's
     * instances by them (an instant fleet is not listed by DescribeFleets without its id) sees AWS's.
     */
    async tagInstances(ids: string[], reply: Reply, template: TemplateLaunch, region: string): Promise<void> {
      const fleetId = tag(reply.body.toString('utf8'), 'fleetId');
      const tags: [string, string | undefined][] = [
        ['aws:ec2:fleet-id', fleetId],
        ['aws:ec2launchtemplate:id', template.templateId],
        ['aws:ec2launchtemplate:version', template.versionNumber],
      ];
      const call: Record<string, string> = { Action: 'CreateTags' };
      ids.forEach((id, i) => (call[`ResourceId.${i + 1}`] = id));
      tags
        .filter((t): t is [string, string] => t[1] !== undefined)
        .forEach(([k, v], i) => {
          call[`Tag.${i + 1}.Key`] = k;
          call[`Tag.${i + 1}.Value`] = v;
        });
      if (ids.length > 0) await deps.ec2Call(region, call);
    },

    describe: (params: Record<string, string>, reply: Reply): Reply => describeFleets(params, reply, listInstant),

    /** What the fleet's launch template (the version it names) gives each instance, as moto keeps it. */
    async template(params: Record<string, string>, region: string): Promise<TemplateLaunch> {
      const spec = (p: string) => params[`LaunchTemplateConfigs.1.LaunchTemplateSpecification.${p}`];
      const id = spec('LaunchTemplateId');
      const name = spec('LaunchTemplateName');
      const r = await deps.ec2Call(region, {
        Action: 'DescribeLaunchTemplateVersions',
        ...(id ? { LaunchTemplateId: id } : name ? { LaunchTemplateName: name } : {}),
        'LaunchTemplateVersion.1': spec('Version') ?? '$Default',
      });
      if (r.status !== 200) return {};
      const text = r.body.toString('utf8');
      const templateId = tag(text, 'launchTemplateId');
      const versionNumber = tag(text, 'versionNumber');
      const data = /<launchTemplateData>([\s\S]*?)<\/launchTemplateData>/.exec(r.body.toString('utf8'))?.[1] ?? '';
      const userData = tag(data, 'userData');
      const shutdown = tag(data, 'instanceInitiatedShutdownBehavior');
      const profile = /<iamInstanceProfile>([\s\S]*?)<\/iamInstanceProfile>/.exec(data)?.[1] ?? '';
      const iamProfile = tag(profile, 'name') ?? tag(profile, 'arn');
      return {
        ...(templateId && { templateId }),
        ...(versionNumber && { versionNumber }),
        ...(userData && { userData: Buffer.from(userData, 'base64').toString('utf8') }),
        ...((shutdown === 'stop' || shutdown === 'terminate') && { shutdownBehavior: shutdown }),
        ...(iamProfile && { iamProfile }),
      };
    },
  };
}

/** The top-level `<item>`s of an XML list, as [start, end) offsets (nested items are inside them). */
function topItems(xml: string, from: number, to: number): [number, number][] {
  const out: [number, number][] = [];
  const re = /<(\/?)item>/g;
  re.lastIndex = from;
  let depth = 0;
  let start = -1;
  for (let m = re.exec(xml); m && m.index < to; m = re.exec(xml)) {
    if (!m[1]) {
      if (depth++ === 0) start = m.index;
    } else if (--depth === 0) out.push([start, m.index + m[0].length]);
  }
  return out;
}

/**
 * DescribeFleets' answer with its tag filters applied (`tag:KEY`, `tag-key`): moto ignores every
 * filter of DescribeFleets, and a client finding a batch's fleets by tag would see every fleet.
 * `listInstant` false: as AWS documents, an instant fleet is listed only when asked for by its id.
 */
export function describeFleets(params: Record<string, string>, reply: Reply, listInstant: boolean): Reply {
  const filters: { name: string; values: string[] }[] = [];
  for (let n = 1; params[`Filter.${n}.Name`] !== undefined; n++) {
    const name = params[`Filter.${n}.Name`]!;
    const values = Object.entries(params)
      .filter(([k]) => new RegExp(`^Filter\\.${n}\\.Value\\.\\d+$`).test(k))
      .map(([, v]) => v);
    if (name.startsWith('tag:') || name === 'tag-key') filters.push({ name, values });
  }
  const byId = Object.keys(params).some((k) => /^FleetId\.\d+$/.test(k));
  if ((filters.length === 0 && (listInstant || byId)) || reply.status !== 200) return reply;
  const xml = reply.body.toString('utf8');
  const open = xml.indexOf('<fleetSet>');
  const close = xml.lastIndexOf('</fleetSet>');
  if (open < 0 || close < 0) return reply;
  const kept = topItems(xml, open, close)
    .map(([a, b]) => xml.slice(a, b))
    .filter((item) => listInstant || byId || !/<type>instant<\/type>/.test(item))
    .filter((item) => {
      const tagSet = /<tagSet>([\s\S]*?)<\/tagSet>/.exec(item)?.[1] ?? '';
      const tags = new Map(
        [...tagSet.matchAll(/<key>([^<]*)<\/key>\s*<value>([^<]*)<\/value>/g)].map((m) => [m[1]!, m[2]!]),
      );
      return filters.every(({ name, values }) =>
        name === 'tag-key' ? values.some((v) => tags.has(v)) : values.includes(tags.get(name.slice(4)) ?? '\0'),
      );
    });
  const body = `${xml.slice(0, open)}<fleetSet>${kept.join('')}${xml.slice(close)}`;
  return { ...reply, body: Buffer.from(body) };
}
