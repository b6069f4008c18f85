/**
 * For the batch verbs' unit tests (batch-state, batch-verbs): queues and templates seeded into the
 * in-memory batch port as a batch leaves them, and a command context on a test machine.
 */
import type { TemplateSpec } from '../../src/cloud/batch-port.js';
import type { CommandContext } from '../../src/commands/types.js';
import { resolveOptions } from '../../src/options.js';
import { createLogger } from '../../src/ui/logger.js';
import type { FakeBatchCloud } from '../fakes/batch-cloud.js';
import type { Machine } from '../fakes/cli.js';

/** A queue of `batch`'s lane as SQS would show it: `visible` messages waiting, `inFlight` being run. */
export function seedQueue(fake: FakeBatchCloud, batch: string, lane: number, visible: number, inFlight: number) {
  const name = `ssh-ec2-${batch}-${lane}`;
  const url = `https://sqs.${fake.region}.amazonaws.com/123456789012/${name}`;
  fake.queues.set(url, {
    url,
    name,
    tags: { 'ssh-ec2:batch': batch, 'ssh-ec2:batch-lane': String(lane) },
    visibilitySeconds: 300,
    createdAt: new Date(),
    visible: Array.from({ length: visible }, (_, k) => `v${k}`),
    inFlight: Array.from({ length: inFlight }, (_, k) => `f${k}`),
  });
  return { url, name };
}

/** A launch template of a batch, with its tags (its spec is not read by these tests). */
export function seedTemplate(fake: FakeBatchCloud, id: string, name: string, tags: Record<string, string>): void {
  fake.templates.set(id, { id, name, tags, spec: {} as TemplateSpec });
}

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
