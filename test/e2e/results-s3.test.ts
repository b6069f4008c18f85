/**
 * --results s3://bucket/prefix and pull --from-s3 against the sandbox: the instance's AWS CLI
 * uploads the project's new and changed files (never the unchanged ones) to moto's S3 when a
 * detached job or a session's command ends, with credentials it got from the sandbox's metadata
 * service (the instance profile's, never the session's); `pull --from-s3` brings them home once
 * the instance is gone, keeping a local edit; the default, read-only instance profile is said.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { INSTANCE_PROFILE_KEY, INSTANCE_PROFILE_ROLE } from '../sandbox/instance-profile.js';
import {
  cli,
  instanceState,
  letJobGo,
  makeProject,
  remotePath,
  reportedInstance,
  until,
  useSandbox,
  WAIT_FOR_GO,
} from './helpers.js';
import { OBSERVER, resultsBucket, type ResultsBucket } from './s3-results.js';

const sb = useSandbox();
const BUCKET = 'ssh-ec2-results-test';
// A profile of the user's: not the default (read-only) one, so no warning.
const PROFILE = ['--iam-profile', 'results-writer'];

let bucket: ResultsBucket;
const keys = (prefix: string) => bucket.keys(prefix);
const object = (key: string) => bucket.object(key);

/** The instance's S3 calls: signed with the instance profile's key from the sandbox's IMDS. */
const instanceUploads = () => sb.calls('PutObject').filter((c) => c.service === 's3' && c.accessKey !== OBSERVER);

/** What the instance's results.sh logged (its CLI's errors), for a failure's message. */
const resultsLog = () => {
  const log = remotePath(sb, '.ssh-ec2/results.log');
  return existsSync(log) ? readFileSync(log, 'utf8') : '(no results.log)';
};

beforeAll(async () => {
  bucket = await resultsBucket(sb, BUCKET, PROFILE[1]!);
});

describe('--results s3://bucket/prefix', () => {
  it("a detached job's new and changed files go to <prefix>/<directory>/ when it ends, with the instance profile's credentials; pull --from-s3 brings them home after the instance is gone, keeping a local edit", async () => {
    const name = 'results-job';
    const dir = makeProject(sb, name, { 'keep.txt': 'unchanged\n', 'notes.txt': 'v1\n', 'src/a.py': 'print(1)\n' });
    const url = `s3://${BUCKET}/runs/`;
    sb.clearCalls();
    const imdsBefore = sb.imdsRequests().length;
    const started = await cli(
      sb,
      [
        ...PROFILE,
        '--results',
        url,
        '--detach',
        `${WAIT_FOR_GO}; mkdir -p out && echo result > out/r.txt; echo v2 > notes.txt`,
      ],
      { cwd: dir },
    );
    expect(started.exitCode, started.stderr).toBe(0);
    expect(started.stderr).not.toMatch(/read-only|cannot write|will fail/);
    const id = reportedInstance(started.stderr);
    // Nothing goes up before the job ends (a sync up is not a result).
    expect(await keys(`runs/${name}/`)).toEqual([]);
    await letJobGo(sb, name);
    await until(async () => (await keys(`runs/${name}/`)).includes('out/r.txt'), 'the job results in S3', 60_000).catch(
      (err: Error) => {
        throw new Error(`${err.message}\n${resultsLog()}`);
      },
    );
    const uploaded = await keys(`runs/${name}/`);
    // New and changed files; the job's log is one of them; what the sync up brought and nobody changed is not.
    expect(uploaded).toEqual(['notes.txt', 'out/r.txt', 'ssh-ec2-job.log']);
    expect(await object(`runs/${name}/out/r.txt`)).toBe('result\n');
    expect(await object(`runs/${name}/notes.txt`)).toBe('v2\n');

    // The CLI on the instance asked the sandbox's IMDS for the role's credentials (IMDSv2) and signed with them.
    const imds = sb.imdsRequests().slice(imdsBefore);
    expect(imds).toContainEqual(expect.objectContaining({ method: 'PUT', path: '/latest/api/token', status: 200 }));
    expect(imds).toContainEqual(
      expect.objectContaining({
        path: `/latest/meta-data/iam/security-credentials/${INSTANCE_PROFILE_ROLE}`,
        status: 200,
      }),
    );
    const puts = instanceUploads();
    expect(puts.map((c) => c.params.Key).sort()).toEqual(uploaded.map((k) => `runs/${name}/${k}`));
    // Every S3 call the instance made came to the sandbox's endpoint (the proxy), signed with that key:
    // none with the laptop's, which never reaches the instance.
    const fromInstance = sb.calls().filter((c) => c.service === 's3' && c.accessKey !== OBSERVER);
    expect(fromInstance.length).toBeGreaterThan(0);
    for (const c of fromInstance) expect(c.accessKey, `${c.action} ${c.params.Key ?? ''}`).toBe(INSTANCE_PROFILE_KEY);

    // The instance is gone, nothing brought back; meanwhile notes.txt was edited here.
    const down = await cli(sb, ['down', '--yes', '--no-pull'], { cwd: dir });
    expect(down.exitCode, down.stderr).toBe(0);
    await until(async () => (await instanceState(sb, id)) === 'terminated', `${id} terminated`);
    expect(existsSync(join(dir, 'out', 'r.txt'))).toBe(false);
    writeFileSync(join(dir, 'notes.txt'), 'my local edit\n');

    const pulled = await cli(sb, ['pull', '--from-s3', '--results', url], { cwd: dir });
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    expect(readFileSync(join(dir, 'out', 'r.txt'), 'utf8')).toBe('result\n');
    expect(readFileSync(join(dir, 'ssh-ec2-job.log'), 'utf8')).toMatch(/ssh-ec2 job started/);
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('my local edit\n');
    const beside = readdirSync(dir).filter((f) => /^notes\.s3-\d{8}-\d{6}Z\.txt$/.test(f));
    expect(beside).toHaveLength(1);
    expect(readFileSync(join(dir, beside[0]!), 'utf8')).toBe('v2\n');
    expect(pulled.stderr).toMatch(/yours kept, the S3 copy beside it: notes\.s3-/);
    expect(readFileSync(join(dir, 'keep.txt'), 'utf8')).toBe('unchanged\n');
    // Through the laptop's own credentials, reading only.
    const laptop = sb
      .calls()
      .filter((c) => c.service === 's3' && c.accessKey !== INSTANCE_PROFILE_KEY && c.accessKey !== OBSERVER);
    expect(new Set(laptop.map((c) => c.action))).toEqual(new Set(['ListObjectsV2', 'GetObject']));

    // Again: everything is here already, nothing is written twice.
    const again = await cli(sb, ['pull', '--from-s3', '--results', url], { cwd: dir });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/0 file\(s\) brought home, 2 already here, 1 not written over yours/);
    expect(readdirSync(dir).filter((f) => f.startsWith('notes.s3-'))).toHaveLength(1);
  });

  it("a session's command: its new files are uploaded before the sync back, the unchanged ones are not; with the default instance profile a line says it cannot write", async () => {
    const name = 'results-session';
    const dir = makeProject(sb, name, { 'data.csv': 'a,b\n', 'train.sh': 'echo trained > model.bin\n' });
    sb.clearCalls();
    const r = await cli(sb, ['--results', `s3://${BUCKET}/sessions`, 'sh train.sh'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    // One line, before the launch, with what to use.
    const warning = r.stderr.split('\n').filter((l) => /EC2ReadOnlyAccessToS3 is read-only/.test(l));
    expect(warning).toHaveLength(1);
    expect(warning[0]).toMatch(/--iam-profile .*s3:PutObject .*policy\/results-instance-role-example\.json/);
    expect(r.stderr.indexOf(warning[0]!)).toBeLessThan(r.stderr.search(/launching /));
    // The sandbox's instances may write whatever their profile (it keeps no IAM roles): the upload is there.
    expect(await keys(`sessions/${name}/`), `${r.stderr}\n${resultsLog()}`).toEqual(['model.bin']);
    expect(await object(`sessions/${name}/model.bin`)).toBe('trained\n');
    // The final sync back still happened.
    expect(readFileSync(join(dir, 'model.bin'), 'utf8')).toBe('trained\n');
    expect(basename(dir)).toBe(name);
  });

  it('refuses a location that is not s3://bucket/prefix before anything is launched', async () => {
    const dir = makeProject(sb, 'results-bad');
    sb.clearCalls();
    const r = await cli(sb, ['--results', 's3:/no-bucket', 'true'], { cwd: dir });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--results: expected s3:\/\/bucket\/prefix/);
    expect(sb.calls('RunInstances')).toEqual([]);
  });
});
