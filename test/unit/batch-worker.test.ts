// The laptop ⇄ worker interface (src/remote/batch-worker.ts): batch.conf read back by a real sh
// whatever its values hold, the start script's files, and the report of every state parsed.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  batchCancelCommand,
  batchConf,
  batchLogCommand,
  batchReportCommand,
  jobFilesDir,
  parseBatchReport,
  startWorkerScript,
  workerJobId,
  type BatchConf,
} from '../../src/remote/batch-worker.js';

const HOSTILE = `it's "a" $HOME \`id\` $(id) \\ ; & | * ?\nline two\ttab '' "`;

const conf = (over: Partial<BatchConf> = {}): BatchConf => ({
  batch: 'sweep-20261130-192400',
  lane: 2,
  queueUrl: 'http://127.0.0.1:5000/123456789012/ssh-ec2-sweep-20261130-192400-2',
  region: 'eu-west-1',
  projectDir: 'work/proj',
  retries: 2,
  ...over,
});

let home: string | undefined;
afterEach(() => {
  if (home) rmSync(home, { recursive: true, force: true });
  home = undefined;
});
const tempHome = () => (home = mkdtempSync(join(tmpdir(), 'batch-worker-')));

/** Sources `text` in dash and prints each variable, NUL-separated. */
function sourced(text: string, names: string[]): Record<string, string> {
  const dir = tempHome();
  writeFileSync(join(dir, 'conf'), text);
  const out = execFileSync(
    'dash',
    ['-c', `. ./conf; for v in ${names.join(' ')}; do eval "printf '%s\\0' \\"\\$$v\\""; done`],
    {
      cwd: dir,
      encoding: 'utf8',
    },
  );
  const values = out.split('\0').slice(0, -1);
  return Object.fromEntries(names.map((n, i) => [n, values[i]!]));
}

describe('batch.conf', () => {
  it('reads back as given in sh, hostile values included, and never runs them', () => {
    const c = conf({
      queueEndpoint: HOSTILE,
      setup: `pip install -r req.txt && echo "$HOME" 'x'`,
      resultsUrl: `s3://b/p/${HOSTILE}/`,
      resultsEndpoint: 'http://127.0.0.1:9/',
      notifyUrl: `https://u:p@h/x?a=1&b='2'`,
      notifyFields: `"batch":"b","instance":"i-1","region":"r","odd":"${HOSTILE.replaceAll('\n', '\\n')}"`,
      projectDir: `dir with 'quote'`,
      visibilitySeconds: 30,
      pollSeconds: 1,
    });
    const v = sourced(batchConf(c), [
      'BATCH',
      'LANE',
      'QUEUE_URL',
      'QUEUE_ENDPOINT',
      'REGION',
      'PROJECT_DIR',
      'RETRIES',
      'SETUP_B64',
      'RESULTS_URL',
      'RESULTS_ENDPOINT',
      'NOTIFY_URL',
      'NOTIFY_FIELDS',
      'VISIBILITY',
      'POLL_SECONDS',
    ]);
    expect(v).toEqual({
      BATCH: c.batch,
      LANE: '2',
      QUEUE_URL: c.queueUrl,
      QUEUE_ENDPOINT: HOSTILE,
      REGION: 'eu-west-1',
      PROJECT_DIR: c.projectDir,
      RETRIES: '2',
      SETUP_B64: Buffer.from(c.setup!).toString('base64'),
      RESULTS_URL: c.resultsUrl,
      RESULTS_ENDPOINT: c.resultsEndpoint,
      NOTIFY_URL: c.notifyUrl,
      NOTIFY_FIELDS: c.notifyFields,
      VISIBILITY: '30',
      POLL_SECONDS: '1',
    });
  });

  it('leaves what is not given empty, and the waits at their defaults', () => {
    const v = sourced(batchConf(conf()), [
      'QUEUE_ENDPOINT',
      'SETUP_B64',
      'RESULTS_URL',
      'NOTIFY_URL',
      'VISIBILITY',
      'POLL_SECONDS',
    ]);
    expect(v).toEqual({
      QUEUE_ENDPOINT: '',
      SETUP_B64: '',
      RESULTS_URL: '',
      NOTIFY_URL: '',
      VISIBILITY: '300',
      POLL_SECONDS: '10',
    });
  });
});

describe('the start script', () => {
  it("writes batch.conf and the manifest whole under the batch's directory, then starts the worker's detached tmux job there", () => {
    const dir = tempHome();
    mkdirSync(join(dir, '.ssh-ec2'));
    // A job.sh that records how it was called.
    writeFileSync(join(dir, '.ssh-ec2', 'job.sh'), 'printf "%s\\n" "$@" > "$HOME/job-args"; exit ${RC:-0}\n');
    const manifest = JSON.stringify({ batch: 'b-1', jobs: [{ name: 'j.1', command: HOSTILE }] });
    const script = startWorkerScript(conf({ batch: 'b-1', notifyFields: HOSTILE }), manifest);
    const run = (rc: number) =>
      execFileSync('dash', ['-s'], {
        input: script,
        env: { PATH: process.env.PATH, HOME: dir, RC: String(rc) },
        encoding: 'utf8',
      });
    expect(run(0)).toBe('started\n');
    const base = join(dir, '.ssh-ec2', 'batch', 'b-1');
    expect(readFileSync(join(base, 'manifest.json'), 'utf8')).toBe(manifest);
    expect(readFileSync(join(base, 'batch.conf'), 'utf8')).toBe(
      batchConf(conf({ batch: 'b-1', notifyFields: HOSTILE })),
    );
    const args = readFileSync(join(dir, 'job-args'), 'utf8').split('\n');
    expect(args.slice(0, 5)).toEqual(['start', 'batch-b-1', 'tmux', '.ssh-ec2/batch/b-1', '1']);
    expect(Buffer.from(args[5]!, 'base64').toString()).toBe("sh ~/.ssh-ec2/worker.sh 'b-1'");
    expect(run(75)).toBe('running\n');
    expect(run(76)).toBe('no-mux\n');
    expect(run(1)).toBe('failed 1\n');
  });

  it('names the worker job and the files folder as docs/BATCH.md says', () => {
    expect(workerJobId('sweep-20261130-192400')).toBe('batch-sweep-20261130-192400');
    expect(jobFilesDir('b-1', 'seed.1-a')).toBe('.ssh-ec2/batch/b-1/jobs/seed.1-a/files');
  });
});

describe('the report', () => {
  it('is printed from the batch directory and parsed back: every job state, a name with dots and dashes', () => {
    const dir = tempHome();
    const base = join(dir, '.ssh-ec2', 'batch', 'b-1');
    const job = (name: string, files: Record<string, string>) => {
      mkdirSync(join(base, 'jobs', name), { recursive: true });
      for (const [f, text] of Object.entries(files)) writeFileSync(join(base, 'jobs', name, f), `${text}\n`);
    };
    mkdirSync(join(base, 'setup'), { recursive: true });
    writeFileSync(join(base, 'worker'), 'running 1700000000\n');
    writeFileSync(join(base, 'setup', 'status'), '0\n');
    job('seed.1-a', { state: 'running 2 1700000100', started: '1700000100', progress: '42', usage: '900 3' });
    job('done', { state: 'done 1 0 1700000050', started: '1700000010', usage: '2048 40', progress: '100' });
    job('failed', { state: 'failed 3 1 1700000060', usage: '- 2' });
    job('retried', { state: 'retried 1 137 1700000070' });
    job('interrupted', { state: 'interrupted 2 1700000080' });
    job('fresh', {});
    const out = execFileSync('dash', ['-c', batchReportCommand('b-1')], {
      env: { HOME: dir, PATH: process.env.PATH },
      encoding: 'utf8',
    });
    const report = parseBatchReport(out);
    expect(report.worker).toEqual({ state: 'running', at: 1700000000 });
    expect(report.setupStatus).toBe(0);
    const byName = Object.fromEntries(report.jobs.map((j) => [j.name, j]));
    expect(Object.keys(byName).sort()).toEqual(['done', 'failed', 'interrupted', 'retried', 'seed.1-a']);
    expect(byName['seed.1-a']).toEqual({
      name: 'seed.1-a',
      state: 'running',
      attempt: 2,
      started: 1700000100,
      progress: 42,
    });
    expect(byName.done).toEqual({
      name: 'done',
      state: 'done',
      attempt: 1,
      status: 0,
      ended: 1700000050,
      started: 1700000010,
      progress: 100,
      peakKiB: 2048,
      wallSeconds: 40,
    });
    expect(byName.failed).toEqual({
      name: 'failed',
      state: 'failed',
      attempt: 3,
      status: 1,
      ended: 1700000060,
      wallSeconds: 2,
    });
    expect(byName.retried).toEqual({ name: 'retried', state: 'retried', attempt: 1, status: 137, ended: 1700000070 });
    expect(byName.interrupted).toEqual({ name: 'interrupted', state: 'interrupted', attempt: 2, ended: 1700000080 });
  });

  it('says nothing for a batch this instance never saw, and every worker state', () => {
    const dir = tempHome();
    expect(execFileSync('dash', ['-c', batchReportCommand('none')], { env: { HOME: dir }, encoding: 'utf8' })).toBe('');
    expect(parseBatchReport('')).toEqual({ jobs: [] });
    for (const state of ['running', 'done', 'setup-failed', 'interrupted', 'stalled', 'upload-failed'] as const)
      expect(parseBatchReport(`worker ${state} 17\nsetup 3\n`)).toEqual({
        worker: { state, at: 17 },
        setupStatus: 3,
        jobs: [],
      });
    expect(parseBatchReport('worker exploded 17\njob x weird 1 2\njob y done x 1 2\nprogress x 101\n')).toEqual({
      jobs: [],
    });
  });

  it("prints a job's log, and cancels by the cancel file and the worker job's process group", () => {
    const dir = tempHome();
    const jobDir = join(dir, '.ssh-ec2', 'batch', 'b-1', 'jobs', 'a.b-c');
    mkdirSync(jobDir, { recursive: true });
    writeFileSync(join(jobDir, 'log'), '=== attempt 1\nhello\n');
    const sh = (cmd: string) =>
      execFileSync('dash', ['-c', cmd], { env: { HOME: dir, PATH: process.env.PATH }, encoding: 'utf8' });
    expect(sh(batchLogCommand('b-1', 'a.b-c'))).toBe('=== attempt 1\nhello\n');
    expect(sh(batchLogCommand('b-1', 'nope'))).toBe('');
    // No worker running: only the file (a worker started later finds it and takes nothing).
    writeFileSync(join(dir, '.ssh-ec2', 'job.sh'), 'echo none\n');
    expect(sh(batchCancelCommand('b-1'))).toBe('');
    expect(readFileSync(join(dir, '.ssh-ec2', 'batch', 'b-1', 'cancel'), 'utf8')).toBe('');
  });
});
