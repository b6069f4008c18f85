/**
 * --results and pull --from-s3, the pure parts: the S3 location, the agent's settings, the warning
 * about a profile that cannot write, pull --from-s3's decision per object, a session's command with
 * the mark and the upload; and results.sh itself under a real sh with a stand-in `aws` that records
 * what it is asked and with which environment (the instance's credentials come from IMDS only).
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { normalS3Url, parseS3Url, resultsFolder, s3Url } from '../../src/cloud/s3-location.js';
import { bring, decide, etagLike, safePath, type LocalEntry } from '../../src/commands/pull/from-s3.js';
import type { ResultsStore } from '../../src/cloud/s3.js';
import type { Logger } from '../../src/ui/logger.js';
import { UsageError } from '../../src/errors.js';
import { prepareScript, RESULTS_COMMANDS, resultsConf } from '../../src/remote/on-instance.js';
import { sessionCommand } from '../../src/remote/remote-command.js';
import { SECRET_DIRS, SECRET_FILES } from '../../src/sync/ignore-rules.js';
import { profileCannotWrite, resultsUpload } from '../../src/session/results.js';

const AGENT = join(__dirname, '..', '..', 'src', 'agent');

describe('the S3 location', () => {
  it.each([
    ['s3://bucket', { bucket: 'bucket', prefix: '' }],
    ['s3://my.bucket-1/runs', { bucket: 'my.bucket-1', prefix: 'runs/' }],
    ['s3://b12/a//b/', { bucket: 'b12', prefix: 'a/b/' }],
  ])('%s', (raw, loc) => {
    expect(parseS3Url(raw, '--results')).toEqual(loc);
    expect(s3Url(resultsFolder(loc, 'proj'))).toBe(`s3://${loc.bucket}/${loc.prefix}proj/`);
  });

  it.each(['bucket/prefix', 'http://b/x', 's3://', 's3://Upper/x', 's3://a/x', 's3://b..c/x', 's3://bkt/../x'])(
    'refuses %s (a usage error)',
    (raw) => {
      expect(() => parseS3Url(raw, '--results')).toThrow(UsageError);
    },
  );

  it('is off when empty, and written one way', () => {
    expect(parseS3Url('', 'SSH_EC2_RESULTS')).toBeUndefined();
    expect(normalS3Url('s3://bkt//runs', '--results')).toBe('s3://bkt/runs/');
  });
});

describe("the agent's settings and the warning", () => {
  const results = 's3://bkt/runs/';
  const plan = { projectDir: '/home/me/my proj', remoteDir: 'my proj' };

  it('carry the folder of this directory, the endpoint and the region; empty without --results', () => {
    const upload = resultsUpload({ results, resultsEndpoint: 'http://127.0.0.1:1' }, plan, 'eu-west-1');
    expect(upload).toEqual({
      url: 's3://bkt/runs/my proj/',
      dir: 'my proj',
      endpoint: 'http://127.0.0.1:1',
      region: 'eu-west-1',
    });
    const base = { instanceId: 'i-1', imdsUrl: 'http://x', poweroffCommand: 'p', idleTimeout: 0, deadline: 0 };
    const conf = resultsConf(upload);
    expect(conf).toContain(`RESULTS_URL='s3://bkt/runs/my proj/'\n`);
    expect(conf).toContain(`RESULTS_ENDPOINT='http://127.0.0.1:1'\n`);
    expect(resultsUpload({ results: undefined, resultsEndpoint: undefined }, plan, 'r')).toBeUndefined();
    expect(resultsConf(undefined)).toContain(`RESULTS_URL=''\n`);
    // Written by a run that starts something (off included); an --attach leaves the job's as it was.
    const settings = { ...base, jobGrace: 0, maxTime: 0 };
    expect(prepareScript(settings)).toContain(`RESULTS_URL=''`);
    expect(prepareScript({ ...settings, results: upload })).toContain(`RESULTS_URL='s3://bkt/runs/my proj/'`);
    expect(prepareScript(settings)).toContain('cat > results.conf.new');
    expect(prepareScript({ ...settings, results: 'keep' })).not.toContain('cat > results.conf.new');
  });

  it('says in one line when the instance profile cannot write: the default one, or none', () => {
    expect(profileCannotWrite({ results }, 'EC2ReadOnlyAccessToS3')).toMatch(
      /^--results s3:\/\/bkt\/runs\/: the instance profile EC2ReadOnlyAccessToS3 is read-only.*--iam-profile.*s3:PutObject.*policy\//,
    );
    expect(profileCannotWrite({ results }, undefined)).toMatch(/no instance profile/);
    expect(profileCannotWrite({ results }, 'my-writer')).toBeUndefined();
    expect(profileCannotWrite({ results: undefined }, 'EC2ReadOnlyAccessToS3')).toBeUndefined();
  });
});

describe('pull --from-s3, per object', () => {
  const object = (path: string, etag = '0cc175b9c0f1b6a831c399e269772661') => ({
    path,
    size: 1,
    etag,
    modified: new Date(0),
  });
  const file = (size: number, etag: string | undefined): LocalEntry => ({
    kind: 'file',
    size,
    etag: () => Promise.resolve(etag),
  });

  it.each([
    ['new here: fetched', object('a'), { kind: 'none' } as LocalEntry, 'fetch'],
    ['the same content: left', object('a'), file(1, '0cc175b9c0f1b6a831c399e269772661'), 'same'],
    ['a local edit (another size): beside', object('a'), file(2, 'x'), 'beside'],
    ['a local edit (same size): beside', object('a'), file(1, '92eb5ffee6ae2fec3ad71c777531578f'), 'beside'],
    [
      'a multipart ETag of a part size not guessed: compared by content',
      object('a', 'abc-2'),
      file(1, undefined),
      'compare',
    ],
    ['a multipart ETag computed the same here: left', object('a', 'abc-2'), file(1, 'abc-2'), 'same'],
    ['a directory or link here: not written', object('a'), { kind: 'blocked' } as LocalEntry, 'unsafe'],
    ['outside the directory: not written', object('../x'), { kind: 'none' } as LocalEntry, 'unsafe'],
  ])('%s', async (_what, o, local, decision) => {
    expect(await decide(o, local)).toBe(decision);
  });

  it("computes a multipart upload's ETag as the AWS CLI makes it (8 MiB parts), streamed", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'etag-'));
    const f = join(dir, 'big');
    const data = randomBytes(17 * 1024 * 1024 + 5);
    writeFileSync(f, data);
    const md5 = (b: Buffer) => createHash('md5').update(b).digest();
    const M = 8 * 1024 * 1024;
    const parts = [data.subarray(0, M), data.subarray(M, 2 * M), data.subarray(2 * M)].map(md5);
    const etag = `${createHash('md5').update(Buffer.concat(parts)).digest('hex')}-3`;
    expect(await etagLike(f, data.length, etag)).toBe(etag);
    expect(await etagLike(f, data.length, md5(data).toString('hex'))).toBe(md5(data).toString('hex'));
    expect(await etagLike(f, data.length, `${'0'.repeat(32)}-3`)).toBeUndefined();
  });

  describe('bringing objects home', () => {
    const folder = { bucket: 'b', prefix: 'p/' };
    const logged: string[] = [];
    const log = { info: () => {}, warn: (m: string) => logged.push(m) } as unknown as Logger;
    const obj = (path: string, content: string) => ({
      path,
      size: content.length,
      etag: createHash('md5').update(content).digest('hex'),
      modified: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
    });

    it('never over a file made here while it downloaded: yours kept, the S3 copy beside it', async () => {
      const root = mkdtempSync(join(tmpdir(), 'pull-'));
      const store: ResultsStore = {
        list: () => Promise.resolve([]),
        download: (_f, path, file) => {
          writeFileSync(join(root, path), 'an editor saved this meanwhile');
          writeFileSync(file, 'from s3');
          return Promise.resolve();
        },
      };
      const done = await bring(store, folder, root, [obj('r.txt', 'from s3')], log);
      expect(readFileSync(join(root, 'r.txt'), 'utf8')).toBe('an editor saved this meanwhile');
      expect(done.beside).toHaveLength(1);
      expect(readFileSync(join(root, done.beside[0]!), 'utf8')).toBe('from s3');
      expect(readdirSync(root).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    });

    it("says one object's failure and brings the others; a file already here is not downloaded", async () => {
      const root = mkdtempSync(join(tmpdir(), 'pull-'));
      writeFileSync(join(root, 'here.txt'), 'same');
      const asked: string[] = [];
      const store: ResultsStore = {
        list: () => Promise.resolve([]),
        download: (_f, path, file) => {
          asked.push(path);
          if (path === 'a.txt') return Promise.reject(new Error('connection reset'));
          writeFileSync(file, 'b');
          return Promise.resolve();
        },
      };
      logged.length = 0;
      const done = await bring(
        store,
        folder,
        root,
        [obj('a.txt', 'a'), obj('b.txt', 'b'), obj('here.txt', 'same')],
        log,
      );
      expect(done).toMatchObject({ fetched: 1, same: 1, failed: ['a.txt'] });
      expect(readFileSync(join(root, 'b.txt'), 'utf8')).toBe('b');
      expect(asked).toEqual(['a.txt', 'b.txt']);
      expect(logged).toEqual(['a.txt: not brought home: connection reset']);
    });
  });

  it.each(['a/../b', '/abs', '.ssh-ec2/x', 'a//b', '', './a'])('never writes %j', (path) => {
    expect(safePath(path)).toBe(false);
  });
});

/** A home with the scripts installed, agent.conf with results, and a stand-in aws on PATH. */
function instanceHome(conf: Record<string, string>) {
  const home = mkdtempSync(join(tmpdir(), 'results-'));
  const state = join(home, '.ssh-ec2');
  mkdirSync(state);
  for (const s of ['lib.sh', 'results.sh']) writeFileSync(join(state, s), readFileSync(join(AGENT, s)));
  const lines = (keys: (k: string) => boolean) =>
    Object.entries(conf)
      .filter(([k]) => keys(k))
      .map(([k, v]) => `${k}='${v}'\n`)
      .join('');
  writeFileSync(
    join(state, 'agent.conf'),
    lines((k) => !k.startsWith('RESULTS_')),
  );
  writeFileSync(
    join(state, 'results.conf'),
    lines((k) => k.startsWith('RESULTS_')),
  );
  const bin = join(home, 'bin');
  mkdirSync(bin);
  // Records its arguments, the environment it got, and the tree it was asked to send.
  writeFileSync(
    join(bin, 'aws'),
    `#!/bin/sh\nprintf '%s\\n' "$@" > "$HOME/aws-args"\nenv > "$HOME/aws-env"\n(cd "$3" && find . -type f | sort) > "$HOME/aws-tree"\n`,
    { mode: 0o755 },
  );
  const sh = (script: string, env: Record<string, string> = {}) =>
    execFileSync('/bin/sh', ['-c', script], {
      env: { PATH: `${bin}:${process.env.PATH}`, HOME: home, ...env },
      cwd: home,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  return { home, sh, read: (f: string) => readFileSync(join(home, f), 'utf8') };
}

describe('results.sh on the instance', () => {
  const conf = {
    RESULTS_URL: 's3://bkt/runs/proj/',
    RESULTS_DIR: 'proj',
    RESULTS_ENDPOINT: 'http://127.0.0.1:9/',
    RESULTS_REGION: 'eu-west-1',
    IMDS_URL: 'http://127.0.0.1:8',
  };

  it('sends the files changed since the mark only, ~/.ssh-ec2 never, with IMDS as the only source of credentials', () => {
    const i = instanceHome(conf);
    mkdirSync(join(i.home, 'proj', 'sub'), { recursive: true });
    for (const f of ['old.txt', 'sub/old.txt', 'edited.txt']) writeFileSync(join(i.home, 'proj', f), 'x');
    // As the sync up leaves them: the laptop's times, before the mark.
    const past = new Date(Date.now() - 3600_000);
    for (const f of ['old.txt', 'sub/old.txt', 'edited.txt']) utimesSync(join(i.home, 'proj', f), past, past);
    i.sh('sh ~/.ssh-ec2/results.sh mark');
    writeFileSync(join(i.home, 'proj', 'edited.txt'), 'y');
    writeFileSync(join(i.home, 'proj', 'sub', "new 'file'.txt"), 'z');
    const out = i.sh('sh ~/.ssh-ec2/results.sh upload job-end 2>&1', {
      AWS_ACCESS_KEY_ID: 'LAPTOPKEY',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_PROFILE: 'mine',
    });
    expect(out).toMatch(/results \(job-end\): uploading 2 new or changed file\(s\) to s3:\/\/bkt\/runs\/proj\//);
    expect(i.read('aws-tree')).toBe(`./edited.txt\n./sub/new 'file'.txt\n`);
    const args = i.read('aws-args').trim().split('\n');
    expect(args.slice(0, 2)).toEqual(['s3', 'sync']);
    expect(args).toContain('s3://bkt/runs/proj/');
    expect(args.join(' ')).toContain('--endpoint-url http://127.0.0.1:9/');
    const env = i.read('aws-env');
    expect(env).toContain('AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:8/\n');
    expect(env).toContain('AWS_DEFAULT_REGION=eu-west-1\n');
    expect(env).not.toMatch(/AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_PROFILE=/);
    expect(env).toContain('AWS_SHARED_CREDENTIALS_FILE=/dev/null\n');
  });

  it('never sends a data volume, a .git, what .rsyncignore ignores, or what looks like a secret; counts odd names right', () => {
    const i = instanceHome(conf);
    const proj = join(i.home, 'proj');
    for (const d of ['data', '.venv/lib', 'sub/node_modules', 'out/cache', 'keys', '.aws', '.git', 'vendor/lib/.git'])
      mkdirSync(join(proj, d), { recursive: true });
    writeFileSync(join(proj, '.rsyncignore'), '# deps\n.venv/\nnode_modules/\n/out/cache\n*.tmp\n!keep.tmp\n');
    utimesSync(join(proj, '.rsyncignore'), new Date(0), new Date(0));
    // ./data is a mount point (the stand-in mountpoint says so): the volume is not a result.
    writeFileSync(join(i.home, 'bin', 'mountpoint'), '#!/bin/sh\n[ "$2" = ./data ]\n', { mode: 0o755 });
    i.sh('sh ~/.ssh-ec2/results.sh mark');
    const made = [
      'data/big.bin',
      '.venv/lib/x.py',
      'sub/node_modules/m.js',
      'out/cache/c',
      'scratch.tmp',
      '.env',
      '.env.local',
      'keys/server.pem',
      'keys/id_ed25519',
      '.aws/credentials',
      // A --git checkout's: fetched into after the mark, its config may hold an https token.
      '.git/config',
      '.git/FETCH_HEAD',
      'vendor/lib/.git/config',
      'keys/id_ed25519.pub',
      'out/model.pt',
      'sub/node_modules.txt',
      'two\nlines.txt',
    ];
    for (const f of made) writeFileSync(join(proj, f), 'x');
    const out = i.sh('sh ~/.ssh-ec2/results.sh upload job-end 2>&1');
    expect(i.read('aws-tree').split('./').filter(Boolean).sort()).toEqual(
      ['keys/id_ed25519.pub\n', 'out/model.pt\n', 'sub/node_modules.txt\n', 'two\nlines.txt\n'].sort(),
    );
    expect(out).toMatch(/uploading 4 new or changed file/);
  });

  it('clears every credential source and everything that could send the CLI elsewhere: only what it sets is there', () => {
    const i = instanceHome(conf);
    mkdirSync(join(i.home, 'proj'));
    i.sh('sh ~/.ssh-ec2/results.sh mark; echo new > proj/n.txt');
    const redirects = [
      'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
      'AWS_CONTAINER_CREDENTIALS_FULL_URI',
      'AWS_CONTAINER_AUTHORIZATION_TOKEN',
      'AWS_WEB_IDENTITY_TOKEN_FILE',
      'AWS_ROLE_ARN',
      'AWS_ROLE_SESSION_NAME',
      'AWS_REGION',
      'AWS_CA_BUNDLE',
      'AWS_USE_FIPS_ENDPOINT',
      'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
      'AWS_ENDPOINT_URL',
      'AWS_ENDPOINT_URL_S3',
      'AWS_ENDPOINT_URL_STS',
      'AWS_DATA_PATH',
      'HTTPS_PROXY',
      'HTTP_PROXY',
      'https_proxy',
      'http_proxy',
      'ALL_PROXY',
      'NO_PROXY',
      'PYTHONPATH',
    ];
    i.sh('sh ~/.ssh-ec2/results.sh upload job-end', Object.fromEntries(redirects.map((k) => [k, 'from-elsewhere'])));
    const env = i.read('aws-env');
    expect(env).not.toContain('from-elsewhere');
    expect(env).toContain('AWS_REGION=eu-west-1\n');
    const names = env
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(0, l.indexOf('=')))
      .filter((k) => !['PWD', 'SHLVL', '_', 'OLDPWD'].includes(k)) // the stand-in shell's own
      .sort();
    expect(names).toEqual([
      'AWS_CONFIG_FILE',
      'AWS_DEFAULT_REGION',
      'AWS_EC2_METADATA_SERVICE_ENDPOINT',
      'AWS_REGION',
      'AWS_SHARED_CREDENTIALS_FILE',
      'HOME',
      'PATH',
    ]);
  });

  it('holds back every name the sync up holds back as a secret', () => {
    const script = readFileSync(join(AGENT, 'results.sh'), 'utf8');
    for (const name of [...SECRET_FILES.map((n) => n.replace(/^!/, '')), ...SECRET_DIRS])
      expect(script).toContain(`'${name}'`.includes('*') ? `'${name}'` : name);
  });

  it("a job's upload is the one it started with, since its own mark, whatever a later run writes", () => {
    const i = instanceHome(conf);
    mkdirSync(join(i.home, 'proj'));
    mkdirSync(join(i.home, '.ssh-ec2', 'jobs', 'j1'), { recursive: true });
    i.sh('. ~/.ssh-ec2/lib.sh; . ~/.ssh-ec2/results.sh; results_mark "$JOBS/j1"');
    writeFileSync(join(i.home, 'proj', 'made.txt'), 'x');
    // A later plain session without --results: its own settings and mark.
    writeFileSync(join(i.home, '.ssh-ec2', 'results.conf'), "RESULTS_URL=''\n");
    i.sh('sh ~/.ssh-ec2/results.sh mark');
    i.sh('. ~/.ssh-ec2/lib.sh; . ~/.ssh-ec2/results.sh; upload_results job-end "$JOBS/j1"');
    expect(i.read('aws-tree')).toBe('./made.txt\n');
    expect(i.read('aws-args')).toContain('s3://bkt/runs/proj/');
  });

  it('does nothing without --results, and never fails its caller', () => {
    const off = instanceHome({ ...conf, RESULTS_URL: '' });
    mkdirSync(join(off.home, 'proj'));
    off.sh('sh ~/.ssh-ec2/results.sh mark; echo new > proj/n.txt; sh ~/.ssh-ec2/results.sh upload job-end');
    expect(() => off.read('aws-args')).toThrow();
    const failing = instanceHome(conf);
    mkdirSync(join(failing.home, 'proj'));
    writeFileSync(join(failing.home, 'bin', 'aws'), '#!/bin/sh\nexit 255\n', { mode: 0o755 });
    const out = failing.sh(
      'sh ~/.ssh-ec2/results.sh mark; echo new > proj/n.txt; sh ~/.ssh-ec2/results.sh upload x 2>&1; echo "status $?"',
    );
    expect(out).toMatch(/the upload to s3:\/\/bkt\/runs\/proj\/ failed/);
    expect(out).toMatch(/status 0/);
  });

  it("a session's command: marked before it runs, uploaded after it ends, its own status kept", () => {
    const i = instanceHome(conf);
    mkdirSync(join(i.home, 'proj'));
    writeFileSync(join(i.home, 'proj', 'before.txt'), 'x');
    utimesSync(join(i.home, 'proj', 'before.txt'), new Date(0), new Date(0));
    const line = sessionCommand('proj', 'echo made > made.txt; exit 7', { results: RESULTS_COMMANDS });
    let status = 0;
    try {
      i.sh(line, { SHELL: '/bin/sh' });
    } catch (err) {
      status = (err as { status: number }).status;
    }
    expect(status).toBe(7);
    expect(i.read('aws-tree')).toBe('./made.txt\n');
  });
});
