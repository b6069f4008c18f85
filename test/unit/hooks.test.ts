/**
 * The pieces of --notify, --on-success and a command's measure that need no instance: the JSON
 * (the same from here and from notify.sh under a real sh, with a stand-in curl), the URL's check
 * and how logs show it, when --on-success is skipped, the measure's words, and usage.sh itself
 * (a real python3 holding 200 MB is measured at 200 MiB or more; statuses pass through).
 */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { HOOK_OPTIONS, redactUrl } from '../../src/options/hook-options.js';
import { parseJobStatus } from '../../src/remote/on-instance.js';
import { formatBytes, usageWords } from '../../src/session/command-usage.js';
import { notifyBody, notifyConf, sendNotification, type NotifyKnown } from '../../src/session/notify.js';
import { onSuccessSkipped } from '../../src/session/on-success.js';

const AGENT = join(import.meta.dirname, '..', '..', 'src', 'agent');
const MIB = 1024 * 1024;

const KNOWN: NotifyKnown = {
  job: 'it\'s "quoted"',
  command: "python train.py --name 'a b' \\ \n next",
  batch: null,
  instance: 'i-0123456789abcdef0',
  region: 'eu-west-1',
  results: { local: '/home/me/proj', s3: 's3://bucket/runs/proj/' },
};

/** A home with lib.sh, usage.sh and notify.sh installed, and a stand-in curl that records its argv and stdin. */
function instanceHome() {
  const home = mkdtempSync(join(tmpdir(), 'hooks-'));
  const state = join(home, '.ssh-ec2');
  mkdirSync(join(state, 'jobs', 'j1'), { recursive: true });
  for (const s of ['lib.sh', 'usage.sh', 'notify.sh']) writeFileSync(join(state, s), readFileSync(join(AGENT, s)));
  const bin = join(home, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'curl'), `#!/bin/sh\ncat > "$HOME/curl-config"\nprintf '%s\\n' "$@" > "$HOME/curl-args"\n`, {
    mode: 0o755,
  });
  const sh = (script: string) =>
    execFileSync('/bin/sh', ['-c', `. ~/.ssh-ec2/lib.sh; . ~/.ssh-ec2/usage.sh; . ~/.ssh-ec2/notify.sh; ${script}`], {
      env: { PATH: `${bin}:${process.env.PATH}`, HOME: home },
      cwd: home,
      encoding: 'utf8',
    });
  const read = (f: string) => readFileSync(join(home, f), 'utf8');
  return { home, job: join(state, 'jobs', 'j1'), sh, read, config: () => curlConfig(read('curl-config')) };
}

/** A curl config (-K) of `name = "value"` lines, read by curl's rules: within quotes, \\X is X. */
function curlConfig(text: string): Record<string, string> {
  const entries = text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const m = /^([a-z-]+) = "((?:[^"\\]|\\.)*)"$/.exec(line);
      if (!m) throw new Error(`not a quoted config line: ${line}`);
      return [m[1]!, m[2]!.replace(/\\(.)/g, '$1')] as const;
    });
  return Object.fromEntries(entries);
}

describe('the notification', () => {
  it('from the instance (notify.sh) is the JSON sent from here, but for where it was sent from', () => {
    const i = instanceHome();
    writeFileSync(join(i.job, 'notify.conf'), notifyConf('https://hooks.example/t0k3n?x=1', KNOWN));
    writeFileSync(join(i.job, 'usage'), '218268 2472\n');
    i.sh('notify_end "$JOBS/j1" 3; wait');
    const sent = JSON.parse(i.config()['data-binary']!) as Record<string, unknown>;
    const here = JSON.parse(
      notifyBody(KNOWN, {
        exitStatus: 3,
        usage: { peakBytes: 218268 * 1024, wallSeconds: 2472 },
        endedAt: new Date(String(sent.ended_at)),
        sentFrom: 'laptop',
      }),
    ) as Record<string, unknown>;
    expect(sent).toEqual({ ...here, sent_from: 'instance' });
    expect(Object.keys(sent)).toEqual(Object.keys(here));
    // curl: the URL whole, in the config on its stdin, never in its argv (ps shows that to anyone);
    // bounded; http(s) only. The log names the host only.
    expect(i.config().url).toBe('https://hooks.example/t0k3n?x=1');
    const args = i.read('curl-args').split('\n');
    expect(args.join(' ')).not.toContain('t0k3n');
    expect(args).toEqual(expect.arrayContaining(['-K', '-', '--max-time', '--retry', '--proto', '=http,https']));
    expect(i.read('.ssh-ec2/notify.log')).toMatch(/ sent to https:\/\/hooks\.example\/…\n$/);
    expect(i.read('.ssh-ec2/notify.log')).not.toContain('t0k3n');
  });

  it('an unknown peak is null; without a URL nothing is sent', () => {
    const i = instanceHome();
    writeFileSync(join(i.job, 'notify.conf'), notifyConf('http://127.0.0.1:9/x', KNOWN));
    writeFileSync(join(i.job, 'usage'), '- 5\n');
    i.sh('notify_end "$JOBS/j1" 0; wait');
    expect(JSON.parse(i.config()['data-binary']!)).toMatchObject({ peak_memory_bytes: null, duration_seconds: 5 });
    const j = instanceHome();
    writeFileSync(join(j.job, 'notify.conf'), notifyConf(undefined, KNOWN));
    j.sh('notify_end "$JOBS/j1" 0; wait');
    expect(() => j.read('curl-config')).toThrow();
  });

  it.each([
    ['HTTPS://user:pa55@hooks.example:8443/t0k3n?x=1', 'HTTPS://hooks.example:8443/…'],
    ['http://user:pa55@127.0.0.1:8080/x?token=1', 'http://127.0.0.1:8080/…'],
    ['https://hooks.slack.com/services/T0/B0/secret', 'https://hooks.slack.com/…'],
  ])('notify.sh logs %s as %s, as redactUrl does; curl gets it whole', (url, shown) => {
    const i = instanceHome();
    writeFileSync(join(i.job, 'notify.conf'), notifyConf(url, KNOWN));
    i.sh('notify_end "$JOBS/j1" 0; wait');
    expect(redactUrl(url)).toBe(shown);
    expect(i.read('.ssh-ec2/notify.log')).toMatch(new RegExp(` sent to ${shown.replace(/[.?]/g, '\\$&')}\n$`));
    expect(i.read('.ssh-ec2/notify.log')).not.toMatch(/pa55|t0k3n|secret|token/);
    expect(i.config().url).toBe(url);
  });

  it.each([
    ['https://hooks.slack.com/services/T0/B0/secret', 'https://hooks.slack.com/…'],
    ['http://user:pass@127.0.0.1:8080/x?token=1', 'http://127.0.0.1:8080/…'],
    ['https://example.com', 'https://example.com/…'],
  ])('logs show %s as %s', (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });

  it.each(['ftp://example.com/x', 'file:///etc/passwd', 'example.com/hook', 'http://'])(
    '--notify %s is refused (exit 2)',
    (raw) => {
      let err: unknown;
      try {
        HOOK_OPTIONS.notify.parse(raw, '--notify');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).exitCode).toBe(2);
    },
  );
});

describe('a notification from here', () => {
  it("sends a URL's user and password as a Basic header (fetch refuses them in the URL), and never prints them", async () => {
    const got: { url?: string; authorization?: string }[] = [];
    const server = createServer((req, res) => {
      got.push({ url: req.url, authorization: req.headers.authorization });
      req.resume().on('end', () => res.end(req.url === '/redirect' ? undefined : 'ok'));
      if (req.url === '/redirect') res.writeHead(302, { location: 'http://u:SECRET3@127.0.0.1:9/x?token=SECRET4' });
      else res.writeHead(200);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const said: string[] = [];
    const log = { warn: (l: string) => said.push(l), detail: (l: string) => said.push(l) };
    try {
      const url = `http://hook%40user:pa%3Ass@127.0.0.1:${port}/T/SECRET1?key=SECRET2`;
      expect(await sendNotification(url, '{}', log)).toBe(true);
      expect(got).toEqual([
        {
          url: '/T/SECRET1?key=SECRET2',
          authorization: `Basic ${Buffer.from('hook@user:pa:ss').toString('base64')}`,
        },
      ]);
      expect(await sendNotification(`http://u:SECRET0@127.0.0.1:${port}/redirect`, '{}', log)).toBe(false);
      expect(said).toEqual([
        `--notify: sent to http://127.0.0.1:${port}/…`,
        `--notify: could not notify http://127.0.0.1:${port}/…: unexpected redirect`,
      ]);
      expect(said.join('\n')).not.toMatch(/SECRET|pa%3Ass|hook%40user/);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('--on-success', () => {
  it.each([
    [{ exitStatus: 0, resultsBack: 'back', rsync: true }, undefined],
    [{ exitStatus: 0, resultsBack: 'not back', rsync: true }, 'the results did not come back'],
    [{ exitStatus: 0, resultsBack: 'not needed', rsync: false }, 'the sync back was skipped (--no-rsync)'],
    [{ exitStatus: 1, resultsBack: 'back', rsync: true }, undefined],
  ] as const)('%j → %s', (facts, why) => {
    expect(onSuccessSkipped(facts)).toBe(why);
  });
});

describe('the measure of a command', () => {
  it('a job status line carries it', () => {
    expect(parseJobStatus('finished 0 1700000000 218268 2472')).toEqual({
      state: 'finished',
      status: 0,
      ended: 1700000000,
      usage: { peakBytes: 218268 * 1024, wallSeconds: 2472 },
    });
    expect(parseJobStatus('finished 1 1700000000 - 3')).toMatchObject({ usage: { wallSeconds: 3 } });
    // An older job.sh's line, or a shell's: no measure.
    expect(parseJobStatus('finished 1 1700000000')).not.toHaveProperty('usage');
    expect(parseJobStatus('finished 1 1700000000 - -')).not.toHaveProperty('usage');
  });

  it.each([
    [{ peakBytes: 3.2 * 1024 * MIB, wallSeconds: 2472 }, 'peak memory 3.2 GiB, 41m12s'],
    [{ peakBytes: 213 * MIB, wallSeconds: 0 }, 'peak memory 213 MiB, 0s'],
    [{ wallSeconds: 61 }, '1m1s'],
  ])('%j in words: %s', (u, words) => {
    expect(usageWords(u)).toBe(words);
  });

  it.each([
    [512, '512 B'],
    [1536, '1.5 KiB'],
    [10 * MIB, '10 MiB'],
  ])('%d bytes: %s', (n, s) => expect(formatBytes(n)).toBe(s));

  it('usage.sh measures the largest process of the command (200 MB held: ≥ 200 MiB, < 2 GiB); its status passes through', () => {
    const i = instanceHome();
    const out = i.sh(
      `measured u1 sh -c 'python3 -c "b = bytearray(200 * 1024 * 1024)"'; echo "s=$?"; ` +
        `measured u2 sh -c 'exit 3'; echo "s=$?"; measured u3 sh -c 'kill -INT $$'; echo "s=$?"`,
    );
    expect(out).toBe('s=0\ns=3\ns=130\n');
    const [peak, wall] = i.read('u1').trim().split(' ').map(Number);
    expect(peak! * 1024).toBeGreaterThanOrEqual(200 * MIB);
    expect(peak! * 1024).toBeLessThan(2048 * MIB);
    expect(wall).toBeGreaterThanOrEqual(0);
    expect(Number(i.read('u2').split(' ')[0])).toBeLessThan(200 * 1024);
  });
});
