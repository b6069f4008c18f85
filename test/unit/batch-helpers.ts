/**
 * For the batch verbs' unit tests (batch-state, batch-verbs): a small in-memory batch port (its
 * queues, templates and fleets as plain lists) and a command context on a test machine.
 */
import type { BatchCloud, FleetInfo, QueueInfo, TemplateInfo } from '../../src/cloud/batch-port.js';
import type { CommandContext } from '../../src/commands/types.js';
import { resolveOptions } from '../../src/options.js';
import { createLogger } from '../../src/ui/logger.js';
import type { Machine } from '../fakes/cli.js';

export class SmallBatchCloud implements BatchCloud {
  region = 'eu-central-1';
  queues: QueueInfo[] = [];
  templates: TemplateInfo[] = [];
  fleets: FleetInfo[] = [];
  readonly calls: string[] = [];

  createLaunchTemplate(): Promise<{ id: string; name: string }> {
    return Promise.reject(new Error('not in these tests'));
  }
  deleteLaunchTemplate(id: string) {
    this.calls.push(`deleteLaunchTemplate ${id}`);
    return Promise.resolve();
  }
  findLaunchTemplates(tags: Record<string, string>) {
    this.calls.push('findLaunchTemplates');
    return Promise.resolve(this.templates.filter((t) => matches(t.tags, tags)));
  }
  createFleet(): Promise<never> {
    return Promise.reject(new Error('not in these tests'));
  }
  deleteFleets() {
    return Promise.resolve();
  }
  findFleets(tags: Record<string, string>) {
    this.calls.push('findFleets');
    return Promise.resolve(this.fleets.filter((f) => matches(f.tags, tags)));
  }
  createQueue(): Promise<string> {
    return Promise.reject(new Error('not in these tests'));
  }
  sendJobs() {
    return Promise.resolve();
  }
  queueInfo(url: string) {
    this.calls.push(`queueInfo ${url}`);
    return Promise.resolve(this.queues.find((q) => q.url === url));
  }
  findQueues(prefix: string) {
    this.calls.push(`findQueues ${prefix}`);
    return Promise.resolve(this.queues.filter((q) => q.name.startsWith(prefix)));
  }
  purgeQueue() {
    return Promise.resolve();
  }
  deleteQueue() {
    return Promise.resolve();
  }

  queue(batch: string, lane: number, visible: number, inFlight: number, more: Record<string, string> = {}): QueueInfo {
    const name = `ssh-ec2-${batch}-${lane}`;
    const q = {
      url: `http://sqs.local/123456789012/${name}`,
      name,
      tags: { 'ssh-ec2:batch': batch, 'ssh-ec2:batch-lane': String(lane), ...more },
      visible,
      inFlight,
    };
    this.queues.push(q);
    return q;
  }
}

const matches = (have: Record<string, string>, want: Record<string, string>) =>
  Object.entries(want).every(([k, v]) => have[k] === v);

/** What main() gives a verb, on machine `m`: its stdout and log collected. */
export function commandContext(m: Machine): { ctx: CommandContext; stdout: () => string; said: () => string } {
  let out = '';
  let err = '';
  const ctx: CommandContext = {
    options: resolveOptions({ flags: {}, env: {}, dotenv: {}, command: [] }),
    env: m.env,
    cwd: m.project,
    log: createLogger({ env: { NO_COLOR: '1' }, stream: { write: (s: string) => ((err += s), true) } as never }),
    stdinIsTTY: false,
    stdoutIsTTY: false,
    stdout: { write: (s: string) => ((out += s), true) } as never,
    word: 'batch',
    flags: {},
  };
  return { ctx, stdout: () => out, said: () => err };
}
