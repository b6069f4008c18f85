/**
 * Following a batch from another machine (issue #14: "another laptop can follow it"): while a
 * batch runs from one copy of a project, a second copy elsewhere — no .ssh-ec2/batches record, a
 * home and XDG directories of its own (its own host keys, its own Instance Connect keys) — sees the
 * same jobs with `batch status BATCH` (from the tags, the queues and the instances' reports alone)
 * and a job's output with `batch logs BATCH JOB`. Waits for evidence (a job's state file on its
 * instance), never for time; the batch ends collected, nothing left running.
 */
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { cli, instances, makeProject, until, useSandbox, type CliResult } from './helpers.js';

const sb = useSandbox();
const LONG = 600_000;

/** The batch started in `dir`, from its record. */
function startedIn(dir: string): string | undefined {
  const records = join(dir, '.ssh-ec2', 'batches');
  const found = existsSync(records) ? readdirSync(records).filter((f) => f.endsWith('.json')) : [];
  return found[0]?.slice(0, -'.json'.length);
}

/** A file of a job's folder on an instance: `state` (`running 1 <epoch>`, `done 1 0 <epoch>`…), `progress`. */
function jobFile(id: string, batch: string, job: string, name = 'state'): string | undefined {
  // A fleet's instance is in EC2's answers a moment before its machine is up.
  const m = sb.machines().find((x) => x.instanceId === id);
  if (!m) return undefined;
  const file = join(m.homeAtTermination ?? m.home, '.ssh-ec2', 'batch', batch, 'jobs', job, name);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}
const jobState = (id: string, batch: string, job: string) => jobFile(id, batch, job);

async function batchInstances(batch: string) {
  return (await instances(sb)).filter((i) => i.Tags?.some((t) => t.Key === 'ssh-ec2:batch' && t.Value === batch));
}

/** The table's row of `job`, as its cells (JOB STATE INSTANCE ELAPSED EXIT PROGRESS PEAK MEM ATTEMPT). */
function row(r: CliResult, job: string): string[] {
  const line = r.stdout.split('\n').find((l) => l.split(/\s{2,}/)[0] === job);
  if (!line) throw new Error(`no row for ${job} in:\n${r.stdout}\n${r.stderr}`);
  return line.split(/\s{2,}/);
}

it(
  'batch status from another laptop shows the same jobs (state, instance, progress); batch logs shows a job’s output',
  async () => {
    const marks = join(sb.dir, 'batch-marks', 'follow');
    mkdirSync(marks, { recursive: true });
    chmodSync(join(sb.dir, 'batch-marks'), 0o777);
    chmodSync(marks, 0o777);
    const dir = makeProject(sb, 'batch-follow', {
      'jobs.csv':
        'name,instance_type,command\n' +
        'quick,,echo out-of-quick\n' +
        `slow,,"echo progress: 40%; while [ ! -f ${marks}/go ]; do sleep 0.1; done; echo out-of-slow"\n`,
    });
    const running = cli(sb, ['batch', 'jobs.csv', '--retries', '0'], { cwd: dir, timeoutMs: LONG });
    await until(() => startedIn(dir) !== undefined, 'the batch record', 120_000);
    const batch = startedIn(dir)!;
    let ids: string[] = [];
    await until(
      async () => {
        ids = (await batchInstances(batch)).map((i) => i.InstanceId!);
        return (
          ids.some((id) => jobState(id, batch, 'quick')?.startsWith('done')) &&
          // Its progress is parsed from its output a moment after it starts: the evidence the table reads.
          ids.some(
            (id) =>
              jobState(id, batch, 'slow')?.startsWith('running') && jobFile(id, batch, 'slow', 'progress') === '40',
          )
        );
      },
      'quick done and slow running at 40%',
      LONG,
    );
    const quickOn = ids.find((id) => jobState(id, batch, 'quick')?.startsWith('done'))!;
    const slowOn = ids.find((id) => jobState(id, batch, 'slow')?.startsWith('running'))!;

    // Another laptop: a copy of the project without its batch record, a home and state of its own.
    const away = join(sb.dir, 'other-laptop');
    const copy = join(away, 'batch-follow');
    cpSync(dir, copy, { recursive: true, filter: (src) => !src.includes(join('.ssh-ec2', 'batches')) });
    expect(existsSync(join(copy, '.ssh-ec2', 'batches'))).toBe(false);
    const home = join(away, 'home');
    mkdirSync(home, { recursive: true });
    const env = {
      HOME: home,
      XDG_STATE_HOME: join(home, 'state'),
      XDG_CACHE_HOME: join(home, 'cache'),
      XDG_RUNTIME_DIR: join(home, 'run'),
    };
    const there = await cli(sb, ['batch', 'status', batch], { cwd: copy, env, timeoutMs: 300_000 });
    expect(there.exitCode, `${there.stdout}\n${there.stderr}`).toBe(0);
    expect(row(there, 'quick').slice(0, 3)).toEqual(['quick', 'done', quickOn]);
    expect(row(there, 'quick')[4]).toBe('0');
    expect(row(there, 'slow').slice(0, 3)).toEqual(['slow', 'running', slowOn]);
    expect(row(there, 'slow')[5]).toBe('40%');
    expect(existsSync(join(copy, '.ssh-ec2', 'batches'))).toBe(false);
    // Here (from the record) the same jobs, on the same instances, in the same states.
    const here = await cli(sb, ['batch', 'status', batch], { cwd: dir, timeoutMs: 300_000 });
    for (const job of ['quick', 'slow']) expect(row(here, job).slice(0, 3)).toEqual(row(there, job).slice(0, 3));

    const logs = await cli(sb, ['batch', 'logs', batch, 'quick'], { cwd: copy, env, timeoutMs: 300_000 });
    expect(logs.exitCode, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('out-of-quick');

    writeFileSync(join(marks, 'go'), '');
    const r = await running;
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    await until(
      async () => (await batchInstances(batch)).every((i) => i.State?.Name === 'terminated'),
      `every instance of ${batch} terminated`,
      120_000,
    );
  },
  LONG,
);
