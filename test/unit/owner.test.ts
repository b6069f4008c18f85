/**
 * Identity → the ssh-ec2:user tag (cloud/identity.ts) and the migration rule for instances that
 * earlier versions of ssh-ec2 tagged with the local login name (session/owner.ts).
 */
import { describe, expect, it } from 'vitest';
import type { InstanceInfo } from '../../src/cloud/ec2.js';
import { callerKind, generatedSessionName, ownerTag } from '../../src/cloud/identity.js';
import { launchTags, whose } from '../../src/session/owner.js';
import { makePlan, TAG } from '../../src/session/plan.js';
import { resolveOptions } from '../../src/options.js';

describe('the owner written into ssh-ec2:user', () => {
  it.each([
    // [what, GetCallerIdentity's Arn, its UserId, the owner, the kind of caller]
    [
      'an IAM user: the user name (aws:username)',
      'arn:aws:iam::123456789012:user/alice',
      'AIDAEXAMPLEALICE0001',
      'alice',
      'iam-user',
    ],
    [
      'an IAM user with a path: the name without it',
      'arn:aws:iam::123456789012:user/division/team/bob',
      'AIDAEXAMPLEBOB000001',
      'bob',
      'iam-user',
    ],
    [
      'an IAM user in another partition',
      'arn:aws-cn:iam::123456789012:user/carol',
      'AIDAEXAMPLECAROL0001',
      'carol',
      'iam-user',
    ],
    [
      'an assumed role: the role id and session name (aws:userid)',
      'arn:aws:sts::123456789012:assumed-role/Dev/alice',
      'AROAEXAMPLEROLE00001:alice',
      'AROAEXAMPLEROLE00001:alice',
      'assumed-role',
    ],
    [
      'an SSO session (a role whose session name Identity Center sets)',
      'arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_PowerUser_0123456789abcdef/alice@example.com',
      'AROAEXAMPLESSO000001:alice@example.com',
      'AROAEXAMPLESSO000001:alice@example.com',
      'assumed-role',
    ],
    [
      'a federated user (GetFederationToken): account:name (aws:userid)',
      'arn:aws:sts::123456789012:federated-user/dave',
      '123456789012:dave',
      '123456789012:dave',
      'federated-user',
    ],
    [
      'the root user: the account id (aws:userid)',
      'arn:aws:iam::123456789012:root',
      '123456789012',
      '123456789012',
      'root',
    ],
  ])('%s', (_what, arn, userId, owner, kind) => {
    expect(callerKind(arn)).toBe(kind);
    expect(ownerTag({ account: '123456789012', arn, userId })).toBe(owner);
  });

  it('never depends on the local login name, host or directory', () => {
    const id = { account: '123456789012', arn: 'arn:aws:sts::123456789012:assumed-role/Dev/s1', userId: 'AROAX:s1' };
    const plan = makePlan(resolveOptions({ flags: {}, env: {}, dotenv: {}, command: [] }), {
      cwd: '/home/root/proj',
      localUser: 'root',
      localHost: 'box',
    });
    const tags = launchTags(plan, ownerTag(id));
    expect(tags[TAG.user]).toBe('AROAX:s1');
    expect(tags).toMatchObject(plan.dirTags);
    expect(plan.dirTags[TAG.user]).toBeUndefined(); // the owner comes from AWS, never from the plan
  });
});

describe('a role session name the SDK made up (a new owner every session)', () => {
  const role = (session: string) => ({
    account: '1',
    arn: `arn:aws:sts::1:assumed-role/Dev/${session}`,
    userId: `AROAX:${session}`,
  });
  it.each([
    'aws-sdk-js-1732945000000',
    'botocore-session-1732945000',
    'aws-go-sdk-1732945000000000000',
    'aws-sdk-java-1732945000000',
  ])('%s is recognised', (session) => {
    expect(generatedSessionName(role(session))).toBe(session);
  });
  it.each(['alice', 'alice@example.com', 'aws-sdk-js', 'ci-1732945000'])('%s is a chosen one', (session) => {
    expect(generatedSessionName(role(session))).toBeUndefined();
  });
  it('an IAM user has no session name', () => {
    expect(
      generatedSessionName({ account: '1', arn: 'arn:aws:iam::1:user/aws-sdk-js-1', userId: 'AIDAX' }),
    ).toBeUndefined();
  });
});

describe("which instances are the caller's (the migration rule)", () => {
  const instance = (id: string, user: string | undefined): InstanceInfo => ({
    id,
    state: 'stopped',
    type: 't3.micro',
    tags: user === undefined ? {} : { [TAG.user]: user },
  });
  const owners = (pinned: string[]) => ({
    owner: 'AROAX:alice',
    localUser: 'alice',
    pinned: (id: string) => pinned.includes(id),
  });

  it('takes instances tagged with the owner, connected to from here or not', () => {
    const w = whose([instance('i-own', 'AROAX:alice')], owners([]));
    expect(w.own.map((i) => i.id)).toEqual(['i-own']);
  });

  it('adopts an instance an earlier ssh-ec2 tagged with the local login name when this machine has connected to it', () => {
    const w = whose([instance('i-old', 'alice')], owners(['i-old']));
    expect(w).toMatchObject({ own: [], adopt: [{ id: 'i-old' }], unproven: [] });
  });

  it('does not take one tagged with the local login name that this machine never connected to (anyone whose IAM user name is that login may have planted it)', () => {
    const w = whose([instance('i-planted', 'alice')], owners([]));
    expect(w).toMatchObject({ own: [], adopt: [], unproven: [{ id: 'i-planted' }] });
  });

  it('ignores other owners, another session name of the same role, and untagged instances, pinned or not', () => {
    const found = [
      instance('i-bob', 'bob'),
      instance('i-s2', 'AROAX:alice2'),
      instance('i-none', undefined),
      instance('i-empty', ''),
    ];
    const w = whose(found, owners(found.map((i) => i.id)));
    expect(w).toEqual({ own: [], adopt: [], unproven: [] });
  });

  it('an IAM user whose login name is their IAM user name has nothing to migrate: the old tag is the owner', () => {
    const w = whose([instance('i-1', 'alice')], { owner: 'alice', localUser: 'alice', pinned: () => false });
    expect(w.own.map((i) => i.id)).toEqual(['i-1']);
  });
});
