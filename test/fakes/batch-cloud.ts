/**
 * An in-memory batch port (src/cloud/batch-port.ts) for unit tests: launch templates, instant
 * fleets and SQS queues in a few maps. It works with a FakeCloud (test/fakes/cloud.ts): a fleet
 * adds its instances there (the template's instance tags, plus the fleet's), so the code under
 * test finds, starts and ends them through the Cloud port as it would on AWS.
 *
 * As AWS: a fleet launches at most `capacity[type]` instances of a type (none: unlimited; 0: no
 * capacity, an error per override as EC2 answers InsufficientInstanceCapacity), in the overrides'
 * order; DeleteFleets ends an instant fleet's live instances with it (EC2 does, whatever
 * TerminateInstances says); deleting a queue or template already gone is fine; a second template
 * of one name fails with InvalidLaunchTemplateName.AlreadyExistsException.
 *
 * Its templates and fleets are also the FakeCloud's `resources` (what taggedResources lists, as
 * EC2's DescribeLaunchTemplates and DescribeFleets would), kept in step as they are made and ended.
 *
 * Knobs: `capacity`, `fail(op, code | Injection)` (as FakeCloud's), `onCall(op, args)`.
 * Record: `calls`, `callsOf(op)`; the world: `templates`, `fleets`, `queues` (maps), with each
 * queue's `messages` (`visible`, `inFlight`: take(url) moves one from visible to in flight, as a
 * worker's receive; done(url) deletes one in flight).
 */
import type {
  BatchCloud,
  FleetInfo,
  FleetLaunch,
  FleetResult,
  QueueInfo,
  TemplateInfo,
  TemplateSpec,
} from '../../src/cloud/batch-port.js';
import { answer, awsFailure, type FakeCloud, type Injection } from './cloud.js';

export type BatchOp = Exclude<keyof BatchCloud, 'region'>;

export interface FakeTemplate extends TemplateInfo {
  spec: TemplateSpec;
}
export interface FakeFleet extends FleetInfo {
  launch: FleetLaunch;
  instanceIds: string[];
}
export interface FakeQueue {
  url: string;
  name: string;
  tags: Record<string, string>;
  visibilitySeconds: number;
  createdAt: Date;
  /** The bodies not taken, and those taken (in flight). */
  visible: string[];
  inFlight: string[];
}

const LIVE = ['pending', 'running', 'stopping', 'stopped'];

export class FakeBatchCloud implements BatchCloud {
  region: string;
  /** Instances of a type a fleet can launch (none: as many as asked). */
  capacity: Record<string, number> = {};
  onCall: ((op: BatchOp, args: unknown[]) => void) | undefined;

  readonly templates = new Map<string, FakeTemplate>();
  readonly fleets = new Map<string, FakeFleet>();
  readonly queues = new Map<string, FakeQueue>();
  readonly calls: { op: BatchOp; args: unknown[] }[] = [];
  private readonly injections = new Map<BatchOp, Injection[]>();
  private next = 1;

  /** `cloud`: the FakeCloud the fleets' instances go into (its region is this port's). */
  constructor(readonly cloud: FakeCloud) {
    this.region = cloud.region;
  }

  fail(op: BatchOp, injection: string | Injection): this {
    const i = typeof injection === 'string' ? { code: injection } : injection;
    this.injections.set(op, [...(this.injections.get(op) ?? []), { times: 1, ...i }]);
    return this;
  }

  callsOf(op: BatchOp): unknown[][] {
    return this.calls.filter((c) => c.op === op).map((c) => c.args);
  }

  /** A worker's receive: one visible message taken (in flight); undefined when none is visible. */
  take(url: string): string | undefined {
    const q = this.queue(url);
    const body = q.visible.shift();
    if (body !== undefined) q.inFlight.push(body);
    return body;
  }

  /** A worker's delete of a message it took (the first in flight when `body` is none). */
  done(url: string, body?: string): void {
    const q = this.queue(url);
    const k = body === undefined ? 0 : q.inFlight.indexOf(body);
    if (k >= 0) q.inFlight.splice(k, 1);
  }

  // --- the port ---

  createLaunchTemplate(spec: TemplateSpec) {
    return this.call('createLaunchTemplate', [spec], () => {
      if ([...this.templates.values()].some((t) => t.name === spec.name))
        throw awsFailure(`create the launch template ${spec.name}`, {
          code: 'InvalidLaunchTemplateName.AlreadyExistsException',
        });
      const t: FakeTemplate = {
        id: this.id('lt'),
        name: spec.name,
        tags: { ...spec.tags },
        createdAt: new Date(),
        spec,
      };
      this.templates.set(t.id, t);
      this.cloud.taggable.set(t.id, t);
      this.cloud.resources.push({
        kind: 'launch-template',
        id: t.id,
        name: t.name,
        createdAt: t.createdAt,
        tags: t.tags,
      });
      return { id: t.id, name: t.name };
    });
  }

  deleteLaunchTemplate(id: string) {
    return this.call('deleteLaunchTemplate', [id], () => {
      this.templates.delete(id);
      this.cloud.taggable.delete(id);
      this.unlist(id);
    });
  }

  findLaunchTemplates(tags: Record<string, string>) {
    return this.call('findLaunchTemplates', [tags], () =>
      [...this.templates.values()].filter((t) => matches(t.tags, tags)).map(({ spec: _, ...t }) => structuredClone(t)),
    );
  }

  createFleet(f: FleetLaunch) {
    return this.call('createFleet', [f], (): FleetResult => {
      const t = this.templates.get(f.templateId);
      if (!t) throw awsFailure('launch the fleet', { code: 'InvalidLaunchTemplateId.NotFound' });
      const fleet: FakeFleet = {
        id: this.id('fleet'),
        state: 'active',
        tags: { ...f.tags },
        createdAt: new Date(),
        launch: f,
        instanceIds: [],
      };
      const errors: FleetResult['errors'] = [];
      for (const o of f.overrides) {
        const needed = f.count - fleet.instanceIds.length;
        if (needed <= 0) break;
        const n = Math.min(this.capacity[o.instanceType] ?? Infinity, needed);
        for (let k = 0; k < n; k++) fleet.instanceIds.push(this.launchOne(t, f, o).id);
        if (this.capacity[o.instanceType] !== undefined) this.capacity[o.instanceType]! -= n;
        if (n < needed)
          errors.push({
            code: 'InsufficientInstanceCapacity',
            message: `There is no ${f.market} capacity for ${o.instanceType} (fake)`,
            instanceType: o.instanceType,
          });
      }
      this.fleets.set(fleet.id, fleet);
      this.cloud.resources.push({
        kind: 'fleet',
        id: fleet.id,
        state: 'active',
        createdAt: fleet.createdAt,
        tags: fleet.tags,
      });
      return { fleetId: fleet.id, instanceIds: [...fleet.instanceIds], errors };
    });
  }

  deleteFleets(ids: readonly string[]) {
    return this.call('deleteFleets', [ids], () => {
      for (const id of ids) {
        const f = this.fleets.get(id);
        if (!f || f.state.startsWith('deleted')) continue;
        // EC2 ends an instant fleet's instances with it.
        for (const i of f.instanceIds.map((x) => this.cloud.get(x)))
          if (i && LIVE.includes(i.state)) i.state = 'terminated';
        f.state = 'deleted_terminating';
        this.unlist(id);
      }
    });
  }

  findFleets(tags: Record<string, string>) {
    return this.call('findFleets', [tags], () =>
      [...this.fleets.values()]
        .filter((f) => matches(f.tags, tags))
        .map((f): FleetInfo => ({ id: f.id, state: f.state, tags: { ...f.tags }, createdAt: f.createdAt })),
    );
  }

  createQueue(name: string, tags: Record<string, string>, visibilitySeconds: number) {
    return this.call('createQueue', [name, tags, visibilitySeconds], () => {
      const url = `https://sqs.${this.region}.amazonaws.com/123456789012/${name}`;
      // SQS answers a second CreateQueue of one name and the same attributes with the same queue.
      if (!this.queues.has(url))
        this.queues.set(url, {
          url,
          name,
          tags: { ...tags },
          visibilitySeconds,
          createdAt: new Date(),
          visible: [],
          inFlight: [],
        });
      return url;
    });
  }

  sendJobs(url: string, bodies: readonly string[]) {
    return this.call('sendJobs', [url, bodies], () => {
      this.queue(url).visible.push(...bodies);
    });
  }

  queueInfo(url: string) {
    return this.call('queueInfo', [url], () => {
      const q = this.queues.get(url);
      return q && info(q);
    });
  }

  findQueues(prefix: string) {
    return this.call('findQueues', [prefix], () =>
      [...this.queues.values()].filter((q) => q.name.startsWith(prefix)).map(info),
    );
  }

  purgeQueue(url: string) {
    return this.call('purgeQueue', [url], () => {
      const q = this.queue(url);
      q.visible = [];
      q.inFlight = [];
    });
  }

  deleteQueue(url: string) {
    return this.call('deleteQueue', [url], () => {
      this.queues.delete(url);
    });
  }

  // --- the machinery ---

  /** One instance of a fleet, in the FakeCloud: the template's tags and the fleet's; spot: a one-time request. */
  private launchOne(t: FakeTemplate, f: FleetLaunch, o: FleetLaunch['overrides'][number]) {
    const zone = this.cloud.zones.find((z) => z.subnetId === o.subnetId) ?? this.cloud.zones[0];
    const i = this.cloud.add({
      state: 'pending',
      publicIp: undefined,
      type: o.instanceType,
      az: zone?.name,
      securityGroups: t.spec.securityGroupIds.map((id) => ({ id, name: id })),
      tags: { ...t.spec.instanceTags, ...f.tags },
    });
    if (f.market === 'spot') {
      i.spotRequestId = this.id('sir');
      this.cloud.spotRequests.set(i.spotRequestId, { type: 'one-time', state: 'active', instanceId: i.id });
    }
    return i;
  }

  private unlist(id: string): void {
    const k = this.cloud.resources.findIndex((r) => r.id === id);
    if (k >= 0) this.cloud.resources.splice(k, 1);
  }

  private queue(url: string): FakeQueue {
    const q = this.queues.get(url);
    if (!q) throw awsFailure(`look at the queue ${url}`, { code: 'AWS.SimpleQueueService.NonExistentQueue' });
    return q;
  }

  private call<T>(op: BatchOp, args: unknown[], effect: () => T): Promise<T> {
    this.calls.push({ op, args });
    this.onCall?.(op, args);
    return answer(this.injections, op, args, effect);
  }

  private id(prefix: string): string {
    return `${prefix}-${(this.next++).toString(16).padStart(8, '0')}`;
  }
}

/** The port's tag rule: every tag asked for; none asked: anything carrying the key ssh-ec2. */
function matches(have: Record<string, string>, want: Record<string, string>): boolean {
  const wanted = Object.entries(want);
  return wanted.length === 0 ? 'ssh-ec2' in have : wanted.every(([k, v]) => have[k] === v);
}

function info(q: FakeQueue): QueueInfo {
  return {
    url: q.url,
    name: q.name,
    tags: { ...q.tags },
    visible: q.visible.length,
    inFlight: q.inFlight.length,
    createdAt: q.createdAt,
  };
}
