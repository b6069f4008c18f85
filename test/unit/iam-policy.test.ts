/**
 * The least-privilege policies must allow every AWS call the code makes: a call added without its
 * permission works for admins and fails for everyone else. The calls are found by scanning src/
 * for the SDK commands and paginators it uses. Two policies, one per kind of caller, because the
 * owner in ssh-ec2:user is compared with what AWS knows of the caller (src/cloud/identity.ts):
 * policy/ssh-ec2-iam-policy.json for IAM users (`${aws:username}`), policy/ssh-ec2-role-policy.json
 * for SSO, assumed roles and federated users (`${aws:userid}`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const POLICIES = [
  { file: 'ssh-ec2-iam-policy.json', who: 'IAM users', caller: '${aws:username}' },
  { file: 'ssh-ec2-role-policy.json', who: 'SSO, assumed roles and federated users', caller: '${aws:userid}' },
];
const SERVICES: Record<string, string> = {
  '@aws-sdk/client-ec2': 'ec2',
  '@aws-sdk/client-ec2-instance-connect': 'ec2-instance-connect',
  '@aws-sdk/client-sts': 'sts',
  '@aws-sdk/client-sqs': 'sqs',
};
/** SDK operations whose IAM action has another name (SendMessageBatch is authorised as SendMessage). */
const IAM_ACTION: Record<string, string> = { 'sqs:SendMessageBatch': 'sqs:SendMessage' };
/** Calls AWS answers for everyone: no policy can allow or deny them. */
const NEEDS_NO_PERMISSION = ['sts:GetCallerIdentity'];
const policyText = (file: string) => readFileSync(join(REPO, 'policy', file), 'utf8');

interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}

/** `ec2:RunInstances`, … for every `new XCommand(` and `paginateX` imported from an SDK client. */
function actionsUsed(source: string): string[] {
  const imported = new Map<string, string>(); // local name → IAM service prefix
  for (const m of source.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s*from\s*['"]([^'"]+)['"]/g)) {
    const service = SERVICES[m[2]!];
    if (!service) continue;
    for (const part of m[1]!.split(',')) {
      const words = part
        .trim()
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/);
      if (words[0]) imported.set((words[1] ?? words[0]).trim(), service);
    }
  }
  const actions = new Set<string>();
  for (const m of source.matchAll(/\bnew\s+(\w+)Command\s*\(/g)) {
    const service = imported.get(`${m[1]}Command`);
    if (service) actions.add(IAM_ACTION[`${service}:${m[1]}`] ?? `${service}:${m[1]}`);
  }
  for (const m of source.matchAll(/\bpaginate(\w+)\b/g)) {
    const service = imported.get(`paginate${m[1]}`);
    if (service) actions.add(`${service}:${m[1]}`);
  }
  return [...actions];
}

const asList = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);

describe.each(POLICIES)('the policy for $who ($file)', ({ file, caller }) => {
  const text = policyText(file);
  const policy = JSON.parse(text) as { Version: string; Statement: Statement[] };
  const statements = policy.Statement;

  it('is valid JSON in the current policy language version, with unique alphanumeric Sids', () => {
    expect(policy.Version).toBe('2012-10-17');
    expect(statements.length).toBeGreaterThan(0);
    const sids = statements.map((s) => s.Sid);
    for (const sid of sids) expect(sid).toMatch(/^[A-Za-z0-9]+$/);
    expect(new Set(sids).size).toBe(sids.length);
    for (const s of statements) expect(s.Effect).toBe('Allow');
  });

  it('names every action: no wildcard anywhere', () => {
    for (const s of statements) for (const a of asList(s.Action)) expect(a, s.Sid).not.toContain('*');
  });

  it('allows every EC2, Instance Connect and STS call made anywhere in src/', () => {
    const used = new Set(sourceFiles(join(REPO, 'src')).flatMap((f) => actionsUsed(readFileSync(f, 'utf8'))));
    expect(used).toContain('ec2:RunInstances'); // the scan itself works
    expect(used).toContain('ec2-instance-connect:SendSSHPublicKey');
    expect(used).toContain('sts:GetCallerIdentity');
    const allowed = new Set(statements.flatMap((s) => asList(s.Action)));
    const missing = [...used].filter((a) => !allowed.has(a) && !NEEDS_NO_PERMISSION.includes(a));
    expect(missing, `add these to policy/${file}`).toEqual([]);
  });

  it('already covers the calls planned next', () => {
    const allowed = new Set(statements.flatMap((s) => asList(s.Action)));
    for (const a of [
      'ec2:CreateTags',
      'ec2:DescribeSubnets',
      'ec2:DescribeAvailabilityZones',
      'ec2:DeleteSecurityGroup',
      'ec2:DescribeInstanceTypeOfferings',
    ]) {
      expect(allowed, a).toContain(a);
    }
  });

  it('changes only instances tagged ssh-ec2 whose ssh-ec2:user tag is the caller', () => {
    for (const action of [
      'ec2:StartInstances',
      'ec2:StopInstances',
      'ec2:TerminateInstances',
      'ec2:ModifyInstanceAttribute',
      'ec2-instance-connect:SendSSHPublicKey',
    ]) {
      const granting = statements.filter((s) => asList(s.Action).includes(action));
      expect(granting.length, action).toBeGreaterThan(0);
      for (const s of granting) {
        expect(s.Condition?.Null?.['aws:ResourceTag/ssh-ec2'], `${action} in ${s.Sid}`).toBe('false');
        expect(s.Condition?.StringEquals?.['aws:ResourceTag/ssh-ec2:user'], `${action} in ${s.Sid}`).toBe(caller);
      }
    }
  });

  it('changes only the instance type of an instance (ssh-ec2 restarts a stopped one as another type), never its security groups, user data or shutdown behaviour', () => {
    const granting = statements.filter((s) => asList(s.Action).includes('ec2:ModifyInstanceAttribute'));
    expect(granting.length).toBeGreaterThan(0);
    for (const s of granting) expect(s.Condition?.Null?.['ec2:Attribute/InstanceType'], s.Sid).toBe('false');
  });

  it('launches and creates security groups only with the ssh-ec2 tag, and passes one role to EC2 only', () => {
    const taggedCreate = (action: string, resource: string) =>
      statements.filter(
        (s) => asList(s.Action).includes(action) && asList(s.Resource).some((r) => r.includes(resource)),
      );
    for (const s of taggedCreate('ec2:RunInstances', ':instance/'))
      expect(s.Condition?.Null?.['aws:RequestTag/ssh-ec2']).toBe('false');
    for (const s of taggedCreate('ec2:CreateSecurityGroup', ':security-group/'))
      expect(s.Condition?.Null?.['aws:RequestTag/ssh-ec2']).toBe('false');
    const pass = statements.filter((s) => asList(s.Action).includes('iam:PassRole'));
    expect(pass).toHaveLength(1);
    expect(asList(pass[0]!.Resource)).toEqual(['arn:aws:iam::*:role/EC2ReadOnlyAccessToS3']);
    expect(pass[0]!.Condition?.StringEquals?.['iam:PassedToService']).toBe('ec2.amazonaws.com');
  });

  it('launches and tags instances and volumes only as the caller: nobody can plant an instance that the ssh-ec2 of another user would take as theirs', () => {
    for (const action of ['ec2:RunInstances', 'ec2:CreateTags']) {
      for (const resource of [':instance/', ':volume/']) {
        const granting = statements.filter(
          (s) => asList(s.Action).includes(action) && asList(s.Resource).some((r) => r.includes(resource) || r === '*'),
        );
        expect(granting.length, `${action} on ${resource}`).toBeGreaterThan(0);
        for (const s of granting) {
          const named =
            s.Condition?.StringEquals?.['aws:RequestTag/ssh-ec2:user'] ??
            s.Condition?.StringEqualsIfExists?.['aws:RequestTag/ssh-ec2:user'];
          expect(named, `${action} on ${resource} in ${s.Sid}`).toBe(caller);
        }
      }
    }
  });

  it("launches only into ssh-ec2's security groups, or one an administrator tagged ssh-ec2:usable (--security-group), whose rules it cannot change", () => {
    const onGroups = statements.filter(
      (s) =>
        asList(s.Action).includes('ec2:RunInstances') &&
        asList(s.Resource).some((r) => r.includes(':security-group/') || r === '*'),
    );
    expect(onGroups.map((s) => Object.keys(s.Condition?.Null ?? {})).sort()).toEqual([
      ['aws:ResourceTag/ssh-ec2'],
      ['aws:ResourceTag/ssh-ec2:usable'],
    ]);
    for (const s of onGroups) expect(Object.values(s.Condition!.Null!)).toEqual(['false']);
    // Changing rules (and tagging, by which a group would become usable) needs the ssh-ec2 tag itself.
    for (const action of [
      'ec2:AuthorizeSecurityGroupIngress',
      'ec2:RevokeSecurityGroupIngress',
      'ec2:DeleteSecurityGroup',
      'ec2:CreateTags',
    ]) {
      for (const s of statements.filter(
        (st) => asList(st.Action).includes(action) && asList(st.Resource).some((r) => r.includes(':security-group/')),
      )) {
        expect(
          s.Condition?.Null?.['aws:ResourceTag/ssh-ec2'] ?? s.Condition?.Null?.['aws:RequestTag/ssh-ec2'],
          `${action} in ${s.Sid}`,
        ).toBe('false');
      }
    }
  });

  it("a batch's queues only by the name ssh-ec2-* and the caller's tag; its templates and fleets only tagged ssh-ec2 naming the caller", () => {
    const allowed = new Set(statements.flatMap((s) => asList(s.Action)));
    expect(allowed).toContain('sqs:TagQueue'); // CreateQueue with tags needs it too
    for (const s of statements.filter((st) =>
      asList(st.Action).some((a) => a.startsWith('sqs:') && a !== 'sqs:ListQueues'),
    ))
      expect(asList(s.Resource), s.Sid).toEqual(['arn:aws:sqs:*:*:ssh-ec2-*']);
    // ...and only the caller's: made naming the caller, used only when they name the caller.
    for (const s of statements.filter((st) => asList(st.Action).some((a) => a.startsWith('sqs:')))) {
      for (const action of asList(s.Action)) {
        if (!action.startsWith('sqs:') || action === 'sqs:ListQueues') continue;
        const key = ['sqs:CreateQueue', 'sqs:TagQueue'].includes(action) ? 'RequestTag' : 'ResourceTag';
        expect(s.Condition?.StringEquals?.[`aws:${key}/ssh-ec2:user`], `${action} in ${s.Sid}`).toBe(caller);
      }
    }
    for (const action of ['ec2:CreateLaunchTemplate', 'ec2:CreateFleet']) {
      const granting = statements.filter((s) => asList(s.Action).includes(action));
      expect(granting.length, action).toBeGreaterThan(0);
      for (const s of granting) {
        expect(s.Condition?.Null?.['aws:RequestTag/ssh-ec2'], s.Sid).toBe('false');
        expect(s.Condition?.StringEquals?.['aws:RequestTag/ssh-ec2:user'], s.Sid).toBe(caller);
      }
    }
    for (const action of ['ec2:DeleteLaunchTemplate', 'ec2:DeleteFleets'])
      for (const s of statements.filter((st) => asList(st.Action).includes(action)))
        expect(s.Condition?.StringEquals?.['aws:ResourceTag/ssh-ec2:user'], s.Sid).toBe(caller);
  });

  it('names the caller one way only', () => {
    const variables = new Set(text.match(/\$\{aws:\w+\}/g));
    expect([...variables]).toEqual([caller]);
  });

  it('fits the managed policy size limit (6,144 characters without whitespace)', () => {
    expect(text.replace(/\s/g, '').length).toBeLessThanOrEqual(6144);
  });
});

describe('the two policies', () => {
  it('differ only in who the caller is (a permission added to one is added to both)', () => {
    const [iam, role] = POLICIES.map((p) => policyText(p.file));
    expect(
      role,
      `policy/${POLICIES[1]!.file} must be policy/${POLICIES[0]!.file} with ${POLICIES[0]!.caller} replaced by ${POLICIES[1]!.caller}`,
    ).toBe(iam!.replaceAll(POLICIES[0]!.caller, POLICIES[1]!.caller));
  });
});
