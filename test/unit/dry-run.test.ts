// --dry-run (issue #12) through the real entry, main(), against the in-memory cloud: the plan on
// stdout, exit 0, and only lookups made — no launch, no group created or changed, no re-tagging,
// no ssh started; and the words of the plan (dry-run-words.ts), pure.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CloudOp } from '../fakes/cloud.js';
import { FakeCloud } from '../fakes/cloud.js';
import { cli, LOCAL_USER, machine, type Machine } from '../fakes/cli.js';
import { launchTags } from '../../src/session/owner.js';
import { TAG } from '../../src/session/plan.js';
import { argvText, bytesText, groupText } from '../../src/session/dry-run-words.js';

/** The port's calls that only read. */
const READS: readonly CloudOp[] = [
  'caller',
  'findInstances',
  'describeInstance',
  'resolveImage',
  'describeInstanceType',
  // The instance-type checks (issue #13): the types' details, where they are offered, spot prices.
  'instanceTypeDetails',
  'typeOfferings',
  'spotPrices',
  'defaultNetwork',
  'subnet',
  'givenSecurityGroup',
  'findSshSecurityGroup',
  'consoleOutput',
];

const CIDR = { SSH_EC2_SSH_CIDR: '203.0.113.7/32' };

let m: Machine;
beforeEach(() => {
  m = machine();
});
afterEach(() => m.cleanup());

const writes = (cloud: FakeCloud) => cloud.calls.map((c) => c.op).filter((op) => !READS.includes(op));
const stateFiles = () => readdirSync(m.state, { recursive: true }).sort();

describe('--dry-run', () => {
  it('with no instance: what would be launched, and nothing made', async () => {
    const cloud = new FakeCloud();
    writeFileSync(join(m.project, 'train.py'), 'print(1)\n');
    const before = stateFiles();
    const r = await cli(m, cloud, ['--dry-run', 'python', 'train.py'], { env: CIDR });
    expect(r.status, r.lines.join('\n')).toBe(0);
    expect(r.stdout).toMatch(/would launch one/);
    expect(r.stdout).toMatch(/would create ssh-ec2 \(tcp\/22\) allowing 203\.0\.113\.7\/32/);
    expect(r.stdout).toMatch(/^sync up +1 file\(s\), 9 B/m);
    expect(writes(cloud)).toEqual([]);
    expect(cloud.instances.size).toBe(0);
    expect(m.sshStarts()).toEqual([]);
    expect(stateFiles()).toEqual(before);
  });

  it("ssh-ec2's group found: its id, and whether it would let this address in", async () => {
    const cloud = new FakeCloud();
    const groupId = await cloud.ensureSecurityGroup('vpc-default', '198.51.100.1/32', { 'ssh-ec2': 'shared' });
    cloud.calls.length = 0;
    const r = await cli(m, cloud, ['--dry-run'], { env: CIDR });
    expect(r.stdout).toContain(`${groupId} (ssh-ec2's; would let 203.0.113.7/32 in on tcp/22)`);
    expect(writes(cloud)).toEqual([]);
  });

  it('an instance an earlier ssh-ec2 tagged, connected to from here: would be used, not re-tagged', async () => {
    const cloud = new FakeCloud();
    const old = cloud.add({
      state: 'stopped',
      tags: { ...launchTags(m.plan(), 'alice'), [TAG.user]: LOCAL_USER },
    });
    m.pin(old.id);
    const r = await cli(m, cloud, ['--dry-run', '--leave', 'make'], { env: CIDR });
    expect(r.status, r.lines.join('\n')).toBe(0);
    expect(r.stdout).toContain(`would start ${old.id} (`);
    expect(r.stdout).toMatch(/^at the end +leave it running \(as --leave asks\)/m);
    expect(writes(cloud)).toEqual([]);
    expect(cloud.instances.get(old.id)!.tags[TAG.user]).toBe(LOCAL_USER);
  });

  it('is a setting of the session only: a verb refuses it', async () => {
    const r = await cli(m, new FakeCloud(), ['ls', '--dry-run']);
    expect(r.status).toBe(2);
  });
});

describe('the words of a dry run', () => {
  it('shows command lines as a shell takes them, placeholders as they are', () => {
    expect(argvText(['ssh', '-o', 'HostKeyAlias=<instance-id>', '--', '<address>', 'echo hi'])).toBe(
      "ssh -o HostKeyAlias=<instance-id> -- <address> 'echo hi'",
    );
    expect(argvText(['-e', '/bin/sh <rsh-wrapper>'])).toBe("-e '/bin/sh <rsh-wrapper>'");
  });

  it('says sizes and security groups plainly', () => {
    expect([bytesText(0), bytesText(999), bytesText(1500), bytesText(12_345_678)]).toEqual([
      '0 B',
      '999 B',
      '1.5 kB',
      '12 MB',
    ]);
    expect(groupText({ kind: 'create', cidr: '203.0.113.7/32' })).toBe(
      'would create ssh-ec2 (tcp/22) allowing 203.0.113.7/32',
    );
    expect(groupText({ kind: 'given', groupId: 'sg-1' })).toBe('sg-1 (--security-group, used as it is)');
    expect(groupText({ kind: 'found', groupId: 'sg-2', cidr: '203.0.113.7/32', letsIn: true, cached: true })).toBe(
      "sg-2 (ssh-ec2's, lets 203.0.113.7/32 in, from the cache)",
    );
  });
});
