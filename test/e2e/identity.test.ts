/**
 * Whose instance: the owner in ssh-ec2:user comes from the AWS identity (STS GetCallerIdentity,
 * answered by moto behind the proxy), not from the local login; instances tagged the old way are
 * still found and re-tagged.
 */
import { CreateTagsCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fakeAuthorization, rawRequest } from '../sandbox/moto.js';
import {
  cli,
  ec2Client,
  instances,
  instanceState,
  launches,
  localState,
  makeProject,
  reportedInstance,
  useSandbox,
} from './helpers.js';

const sb = useSandbox();
let localUser: string;
beforeAll(() => {
  localUser = sb.env().USER!;
});

const sts = (
  credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' } as {
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken?: string;
  },
) => new STSClient({ endpoint: sb.endpoint, region: sb.region, credentials });

async function tagsOf(id: string): Promise<Record<string, string>> {
  const i = (await instances(sb)).find((x) => x.InstanceId === id);
  return Object.fromEntries((i?.Tags ?? []).map((t) => [t.Key!, t.Value!]));
}

const retag = (id: string, user: string) =>
  ec2Client(sb).send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'ssh-ec2:user', Value: user }] }));

describe('the owner comes from the AWS identity', () => {
  it('an IAM user: ssh-ec2:user is the IAM user name GetCallerIdentity reports, asked once per run (through the proxy, as STS)', async () => {
    const me = await sts().send(new GetCallerIdentityCommand({}));
    expect(me.Arn).toMatch(/:user\//); // moto's default caller is an IAM user
    const userName = me.Arn!.slice(me.Arn!.lastIndexOf('/') + 1);
    expect(userName).not.toBe(localUser); // else this test could not tell the two apart
    const dir = makeProject(sb, 'iam-user');
    sb.clearCalls();
    const r = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    const id = reportedInstance(r.stderr);
    expect((await tagsOf(id))['ssh-ec2:user']).toBe(userName);
    const asked = sb.calls().filter((c) => c.action === 'GetCallerIdentity');
    expect(asked.map((c) => [c.service, c.status])).toEqual([['sts', 200]]);
    // The next run finds it by that owner.
    sb.clearCalls();
    const again = await cli(sb, ['true'], { cwd: dir });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(reportedInstance(again.stderr)).toBe(id);
    expect(launches(sb)).toEqual([]);
    expect(await instanceState(sb, id)).toBe('terminated');
  });

  it('an instance tagged the old way (the local login name) that this machine used is reused, not launched again, and re-tagged with the owner', async () => {
    const dir = makeProject(sb, 'migrate');
    const first = await cli(sb, ['--stop', 'true'], { cwd: dir });
    expect(first.exitCode, first.stderr).toBe(0);
    const id = reportedInstance(first.stderr);
    const owner = (await tagsOf(id))['ssh-ec2:user'];
    await retag(id, localUser); // as earlier versions tagged it
    const ls = await cli(sb, ['ls'], { cwd: dir });
    expect(ls.stdout, ls.stderr).toContain(id); // listed as yours; ls only looks:
    expect((await tagsOf(id))['ssh-ec2:user']).toBe(localUser);
    sb.clearCalls();
    const r = await cli(sb, ['-v', 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(reportedInstance(r.stderr)).toBe(id);
    expect(launches(sb)).toEqual([]);
    expect(r.stderr).toContain(`ssh-ec2:user ${localUser} → ${owner}`);
    expect((await tagsOf(id))['ssh-ec2:user']).toBe(owner);
    expect(await instanceState(sb, id)).toBe('terminated');
  });

  it('one tagged the old way that this machine never connected to is not taken (it may have been planted): named, left alone, a new one launched', async () => {
    const dir = makeProject(sb, 'migrate-unproven');
    const first = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(first.exitCode, first.stderr).toBe(0);
    const planted = reportedInstance(first.stderr);
    await retag(planted, localUser);
    rmSync(localState(sb, 'known_hosts', planted)); // as if someone else had launched it with these tags
    expect((await cli(sb, ['ls'], { cwd: dir })).stdout).not.toContain(planted);
    sb.clearCalls();
    const r = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain(`${planted} (running) carries this directory's tags with ssh-ec2:user=${localUser}`);
    const own = /launched (i-\w+)/.exec(r.stderr)?.[1];
    expect(own, r.stderr).toBeDefined();
    expect(own).not.toBe(planted);
    expect(launches(sb)).toHaveLength(1);
    expect((await tagsOf(planted))['ssh-ec2:user']).toBe(localUser);
    expect((await cli(sb, ['down', '--yes'], { cwd: dir })).exitCode).toBe(0);
    expect(await instanceState(sb, own!)).toBe('terminated');
    expect(await instanceState(sb, planted)).toBe('running');
    await ec2Client(sb).send(new TerminateInstancesCommand({ InstanceIds: [planted] }));
  });
});

describe('an assumed role (as SSO sessions are)', () => {
  beforeAll(async () => {
    // moto reports a role's own unique id (AROA…) only for a role that exists in its IAM.
    const trust = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::123456789012:root' }, Action: 'sts:AssumeRole' }],
    });
    const body = new URLSearchParams({
      Action: 'CreateRole',
      Version: '2010-05-08',
      RoleName: 'ssh-ec2-dev',
      AssumeRolePolicyDocument: trust,
    }).toString();
    const r = await rawRequest(sb.endpoint, body, {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      authorization: fakeAuthorization('iam', 'us-east-1'),
    });
    expect(r.status, r.body).toBe(200);
  });

  async function assume(sessionName: string) {
    const r = await sts().send(
      new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::123456789012:role/ssh-ec2-dev', RoleSessionName: sessionName }),
    );
    const c = r.Credentials!;
    const env = {
      AWS_ACCESS_KEY_ID: c.AccessKeyId!,
      AWS_SECRET_ACCESS_KEY: c.SecretAccessKey!,
      AWS_SESSION_TOKEN: c.SessionToken!,
    };
    const me = await sts({
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      sessionToken: env.AWS_SESSION_TOKEN,
    }).send(new GetCallerIdentityCommand({}));
    return { env, userId: me.UserId!, arn: me.Arn! };
  }

  it('ssh-ec2:user is aws:userid (role id:session name); another session name of the role is another owner, the same one the same owner', async () => {
    const alice = await assume('alice');
    expect(alice.arn).toMatch(/:assumed-role\/ssh-ec2-dev\/alice$/);
    expect(alice.userId).toMatch(/^AROA\w+:alice$/);
    const dir = makeProject(sb, 'role');
    const first = await cli(sb, ['--leave', 'true'], { cwd: dir, env: alice.env });
    expect(first.exitCode, first.stderr).toBe(0);
    const id = reportedInstance(first.stderr);
    expect((await tagsOf(id))['ssh-ec2:user']).toBe(alice.userId);

    // Same role, same machine and directory, another session name: not alice's instance.
    const bob = await assume('bob');
    sb.clearCalls();
    const other = await cli(sb, ['--leave', 'true'], { cwd: dir, env: bob.env });
    expect(other.exitCode, other.stderr).toBe(0);
    const bobs = reportedInstance(other.stderr);
    expect(bobs).not.toBe(id);
    expect(launches(sb)).toHaveLength(1);

    // A new session named alice (new credentials) is alice again: it finds her instance. So
    // whoever may assume the role with that session name is her, to ssh-ec2 and to the policy.
    const aliceAgain = await assume('alice');
    sb.clearCalls();
    const back = await cli(sb, ['true'], { cwd: dir, env: aliceAgain.env });
    expect(back.exitCode, back.stderr).toBe(0);
    expect(reportedInstance(back.stderr)).toBe(id);
    expect(launches(sb)).toEqual([]);
    expect(await instanceState(sb, id)).toBe('terminated');
    expect((await cli(sb, ['down', '--yes'], { cwd: dir, env: bob.env })).exitCode).toBe(0);
    expect(await instanceState(sb, bobs)).toBe('terminated');
  });

  it('a role profile (role_arn + source_profile) is assumed once per run for every call; with role_session_name the next run finds its instance, without one ssh-ec2 warns', async () => {
    const config = join(sb.dir, 'aws-config');
    const credentials = join(sb.dir, 'aws-credentials');
    const role = 'role_arn = arn:aws:iam::123456789012:role/ssh-ec2-dev\nsource_profile = base\n';
    writeFileSync(
      config,
      `[profile base]\nregion = ${sb.region}\n[profile dev]\n${role}role_session_name = carol\n[profile adhoc]\n${role}`,
    );
    writeFileSync(credentials, '[base]\naws_access_key_id = testing\naws_secret_access_key = testing\n');
    const env = {
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
      AWS_CONFIG_FILE: config,
      AWS_SHARED_CREDENTIALS_FILE: credentials,
      AWS_PROFILE: 'dev',
    };
    const dir = makeProject(sb, 'role-profile');
    sb.clearCalls();
    const first = await cli(sb, ['--leave', 'true'], { cwd: dir, env });
    expect(first.exitCode, first.stderr).toBe(0);
    const id = reportedInstance(first.stderr);
    expect((await tagsOf(id))['ssh-ec2:user']).toMatch(/^AROA\w+:carol$/);
    // EC2, Instance Connect and STS share one resolution: two would be two sessions.
    expect(sb.calls('AssumeRole').map((c) => [c.service, c.params.RoleSessionName])).toEqual([['sts', 'carol']]);
    sb.clearCalls();
    const again = await cli(sb, ['true'], { cwd: dir, env });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(reportedInstance(again.stderr)).toBe(id);
    expect(launches(sb)).toEqual([]);

    sb.clearCalls();
    const adhoc = await cli(sb, ['true'], {
      cwd: makeProject(sb, 'role-adhoc'),
      env: { ...env, AWS_PROFILE: 'adhoc' },
    });
    expect(adhoc.exitCode, adhoc.stderr).toBe(0);
    expect(adhoc.stderr).toMatch(
      /your role session name aws-sdk-js-\d+ is made up anew for each session.*Set role_session_name in your AWS profile/,
    );
    expect(sb.calls('AssumeRole')).toHaveLength(1);
  });
});
