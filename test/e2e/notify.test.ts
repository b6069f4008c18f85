/**
 * --notify URL, --on-success CMD and the measure of a command (peak memory, wall time) against the
 * sandbox: a local HTTP server on 127.0.0.1 receives the JSON of a session (sent from here) and of
 * a detached job (sent by the instance's curl: the sandbox's instances are users of this machine);
 * a URL that refuses, or that never answers, changes neither the exit status nor holds the exit
 * past its bound; --on-success runs once the results are home (it reads a file the command wrote
 * there) and not after a failure; a command that holds 200 MB is measured at 200 MB or more.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, makeProject, reportedInstance, useSandbox } from './helpers.js';
// A detached job waits for the test's go, and the test for the instance's state.
import { instanceState, letJobGo, remotePath, until, WAIT_FOR_GO } from './helpers.js';

const sb = useSandbox();

/** The instance's job state, for a failure's message. */
function jobFiles(sandbox: typeof sb): string {
  const jobs = remotePath(sandbox, '.ssh-ec2/jobs');
  if (!existsSync(jobs)) return '(no jobs)';
  return readdirSync(jobs, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map(
      (e) =>
        `${join(e.parentPath, e.name).slice(jobs.length)}: ${readFileSync(join(e.parentPath, e.name), 'utf8').slice(0, 300)}`,
    )
    .join('\n');
}

/** A command that holds 200 MiB in one process, then writes its result. */
const ALLOCATE = `python3 -c "b = bytearray(200 * 1024 * 1024)"`;
const MIB = 1024 * 1024;

interface Received {
  path: string;
  body: Record<string, unknown>;
}

/** An HTTP server on 127.0.0.1 that records each POST; `answer` decides what it does with one. */
function recorder(answer: (res: ServerResponse) => void = (res) => res.end('ok')) {
  const got: Received[] = [];
  const closed: string[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      got.push({ path: req.url ?? '', body: JSON.parse(text) as Record<string, unknown> });
      answer(res);
    });
    // The client gave up on a request never answered (the hanging case).
    req.socket.on('close', () => closed.push(req.url ?? ''));
  });
  return {
    got,
    closed,
    server,
    url: (path: string) => `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    listen: () => new Promise<void>((r) => server.listen(0, '127.0.0.1', r)),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const ok = recorder();
const hanging = recorder(() => undefined); // reads the POST, never answers

beforeAll(async () => {
  await ok.listen();
  await hanging.listen();
});
afterAll(async () => {
  await ok.close();
  await hanging.close();
});

describe('--notify and --on-success', () => {
  it("a session's end is POSTed from here with its measure (a 200 MB command: ≥ 200 MiB); --on-success runs after the results are home, reading what the command wrote", async () => {
    const name = 'notify-session';
    const dir = makeProject(sb, name);
    const secret = '/hook/s3cr3t-token?k=v';
    const r = await cli(
      sb,
      [
        '-v',
        '--notify',
        ok.url(secret),
        '--on-success',
        'cp out/result.txt hook-saw.txt',
        `${ALLOCATE} && mkdir -p out && echo 42 > out/result.txt`,
      ],
      { cwd: dir },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const id = reportedInstance(r.stderr);
    // The hook ran here, in the project directory, after the result came back.
    expect(readFileSync(join(dir, 'hook-saw.txt'), 'utf8')).toBe('42\n');
    const sent = ok.got.filter((g) => g.path === secret);
    expect(sent).toHaveLength(1);
    const body = sent[0]!.body;
    expect(body).toMatchObject({
      job: name,
      command: `${ALLOCATE} && mkdir -p out && echo 42 > out/result.txt`,
      batch: null,
      instance: id,
      region: sb.region,
      exit_status: 0,
      results: { local: dir, s3: null },
      sent_from: 'laptop',
    });
    expect(body.duration_seconds).toEqual(expect.any(Number));
    expect(body.peak_memory_bytes).toBeGreaterThanOrEqual(200 * MIB);
    expect(body.peak_memory_bytes).toBeLessThan(2048 * MIB);
    // The closing line carries the measure; the secret part of the URL is never printed, even with -v.
    expect(r.stderr).toMatch(/peak memory (2\d\d|[3-9]\d\d) MiB, \d+s/);
    expect(r.stderr).not.toContain('s3cr3t');
    expect(r.stderr).toContain(`--notify: sent to http://127.0.0.1:`);
  });

  it("a command that fails: no --on-success, the notification says its status, the status is the command's", async () => {
    const dir = makeProject(sb, 'notify-failing');
    const r = await cli(
      sb,
      ['--notify', ok.url('/failing'), '--on-success', 'echo ran > hook-ran.txt', 'echo partial > partial.txt; exit 3'],
      { cwd: dir },
    );
    expect(r.exitCode, r.stderr).toBe(3);
    expect(readFileSync(join(dir, 'partial.txt'), 'utf8')).toBe('partial\n');
    expect(existsSync(join(dir, 'hook-ran.txt'))).toBe(false);
    expect(ok.got.filter((g) => g.path === '/failing').map((g) => g.body.exit_status)).toEqual([3]);
  });

  it('a sync back that is skipped (--no-rsync) does not run --on-success, and says so in one line', async () => {
    const dir = makeProject(sb, 'notify-no-rsync');
    const r = await cli(sb, ['--no-rsync', '--on-success', 'echo ran > hook-ran.txt', 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(existsSync(join(dir, 'hook-ran.txt'))).toBe(false);
    expect(r.stderr).toMatch(/--on-success not run: the sync back was skipped \(--no-rsync\)/);
  });

  it('a notify URL that refuses, or never answers, changes nothing: exit 0, one warning, the request given up', async () => {
    const refused = recorder();
    await refused.listen();
    const refusedUrl = refused.url('/gone');
    await refused.close(); // nothing listens there any more
    for (const [url, warning] of [
      [refusedUrl, /--notify: could not notify http:\/\/127\.0\.0\.1:\d+\/…: /],
      [hanging.url('/slow'), /--notify: could not notify http:\/\/127\.0\.0\.1:\d+\/…: no answer within 5s/],
    ] as const) {
      const dir = makeProject(sb, `notify-unreachable-${hanging.got.length}`);
      const r = await cli(sb, ['--notify', url, '--on-success', 'echo ran > hook-ran.txt', 'echo fine'], { cwd: dir });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toBe('fine\n');
      expect(r.stderr).toMatch(warning);
      expect(existsSync(join(dir, 'hook-ran.txt'))).toBe(true);
    }
    // The hanging server got the POST, and the CLI closed its connection before it exited.
    expect(hanging.got.map((g) => g.path)).toEqual(['/slow']);
    expect(hanging.closed).toContain('/slow');
  });

  it("a detached job's end is POSTed by the instance (curl), with its measure; --attach says it and runs --on-success once the results are home", async () => {
    const name = 'notify-job';
    const dir = makeProject(sb, name);
    const started = await cli(
      sb,
      ['--notify', ok.url('/job'), '--detach', `${WAIT_FOR_GO}; ${ALLOCATE} && echo 7 > result.txt`],
      { cwd: dir },
    );
    expect(started.exitCode, started.stderr).toBe(0);
    const id = reportedInstance(started.stderr);
    expect(ok.got.filter((g) => g.path === '/job')).toEqual([]);
    // logs follows it to its end, then says its status and measure.
    const logs = cli(sb, ['logs'], { cwd: dir });
    await until(() => existsSync(join(remotePath(sb, name), 'ssh-ec2-job.log')), 'the job to start');
    letJobGo(sb, name);
    const followed = await logs;
    expect(followed.exitCode, followed.stderr).toBe(0);
    expect(followed.stderr).toMatch(/the job ended with status 0: peak memory (2\d\d|[3-9]\d\d) MiB, \d+s/);
    await until(() => ok.got.some((g) => g.path === '/job'), 'the instance to notify the job end', 60_000).catch(
      (err: Error) => {
        const log = remotePath(sb, '.ssh-ec2/notify.log');
        throw new Error(
          `${err.message}\n${existsSync(log) ? readFileSync(log, 'utf8') : '(no notify.log)'}\n${jobFiles(sb)}`,
        );
      },
    );
    const body = ok.got.find((g) => g.path === '/job')!.body;
    expect(body).toMatchObject({
      job: name,
      batch: null,
      instance: id,
      exit_status: 0,
      results: { local: dir, s3: null },
      sent_from: 'instance',
    });
    expect(body.peak_memory_bytes).toBeGreaterThanOrEqual(200 * MIB);
    expect(body.peak_memory_bytes).toBeLessThan(2048 * MIB);
    expect(body.ended_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // The instance's log names the host only.
    expect(readFileSync(remotePath(sb, '.ssh-ec2/notify.log'), 'utf8')).toMatch(/sent to http:\/\/127\.0\.0\.1:\d+\/…/);

    const attached = await cli(sb, ['--attach', '--on-success', 'cp result.txt hook-saw.txt'], { cwd: dir });
    expect(attached.exitCode, attached.stderr).toBe(0);
    expect(attached.stderr).toMatch(/the job finished with status 0/);
    expect(attached.stderr).toMatch(
      /^ssh-ec2: done in .*; \d+ files? brought back; peak memory (2\d\d|[3-9]\d\d) MiB, \d+s; /m,
    );
    expect(readFileSync(join(dir, 'hook-saw.txt'), 'utf8')).toBe('7\n');
    // Sent once, by the instance: --attach sends nothing of its own.
    expect(ok.got.filter((g) => g.path === '/job')).toHaveLength(1);
    await until(async () => (await instanceState(sb, id)) === 'terminated', `${id} terminated`);
  });
});
