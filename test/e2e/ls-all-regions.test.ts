/**
 * Everything you made, everywhere (issue #12): `ssh-ec2 ls --all-regions` lists what carries
 * ssh-ec2's tags in every enabled region, found by tags (the second region's resources were never
 * seen by this machine's state); `down --orphans` ends this machine's instance whose directory is
 * gone, and leaves a claimed one and another machine's running.
 */
import { rmSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  CreateKeyPairCommand,
  CreateLaunchTemplateCommand,
  CreateVolumeCommand,
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { TAG } from '../../src/session/plan.js';
import { cli, instances, instanceState, makeProject, reportedInstance, useSandbox } from './helpers.js';

const sb = useSandbox();
const OTHER_REGION = 'us-east-1';

/** The tests' own view of EC2 in another region than the CLI's default. */
const regionClient = (region: string) =>
  new EC2Client({
    region,
    endpoint: sb.endpoint,
    credentials: { accessKeyId: 'observer', secretAccessKey: 'testing' },
  });

const stateIn = async (client: EC2Client, id: string) =>
  (await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]?.State
    ?.Name;

interface Listing {
  regions: string[];
  warnings: string[];
  instances: { instanceId: string; region: string; state: string; directory: string; host: string; user: string }[];
  resources: { kind: string; id: string; region: string; directory: string | null; host: string | null }[];
}

describe('ls --all-regions and down --orphans', () => {
  it('lists instances, volumes, groups, key pairs and templates of two regions; ends only the orphan of this machine', async () => {
    expect(sb.region).not.toBe(OTHER_REGION);
    // Two directories of this machine: one then deleted (its instance an orphan), one kept.
    const gone = makeProject(sb, 'inventory-gone');
    const kept = makeProject(sb, 'inventory-kept');
    const first = await cli(sb, ['--leave', 'true'], { cwd: gone });
    expect(first.exitCode, first.stderr).toBe(0);
    const orphan = reportedInstance(first.stderr);
    const second = await cli(sb, ['--leave', 'true'], { cwd: kept });
    expect(second.exitCode, second.stderr).toBe(0);
    const claimed = reportedInstance(second.stderr);
    rmSync(gone, { recursive: true, force: true });

    // In another region, made on another machine of the same owner (its tags, another host), and
    // resources carrying ssh-ec2's tags: nothing this machine's state knows of.
    const ours = (await instances(sb)).find((i) => i.InstanceId === orphan)!.Tags!;
    const theirTags: Tag[] = ours
      .filter((t) => t.Key !== 'aws:ec2launchtemplate:id')
      .map((t) => (t.Key === TAG.host ? { Key: t.Key, Value: 'colleague-laptop' } : t))
      .map((t) => (t.Key === 'Name' ? { Key: 'Name', Value: 'theirs' } : t));
    const other = regionClient(OTHER_REGION);
    const run = await other.send(
      new RunInstancesCommand({
        ImageId: 'ami-0d1a00000000a0001',
        InstanceType: 't3.large',
        MinCount: 1,
        MaxCount: 1,
        TagSpecifications: [{ ResourceType: 'instance', Tags: theirTags }],
      }),
    );
    const theirs = run.Instances![0]!.InstanceId!;
    const volume = await other.send(
      new CreateVolumeCommand({
        AvailabilityZone: `${OTHER_REGION}a`,
        Size: 8,
        TagSpecifications: [{ ResourceType: 'volume', Tags: theirTags }],
      }),
    );
    const key = await other.send(
      new CreateKeyPairCommand({
        KeyName: 'inventory-key',
        TagSpecifications: [{ ResourceType: 'key-pair', Tags: [{ Key: 'ssh-ec2', Value: 'shared' }] }],
      }),
    );
    const template = await other.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: 'inventory-template',
        LaunchTemplateData: { InstanceType: 't3.large' },
        TagSpecifications: [{ ResourceType: 'launch-template', Tags: [{ Key: 'ssh-ec2', Value: 'shared' }] }],
      }),
    );

    const json = await cli(sb, ['ls', '--all-regions', '--json'], { cwd: kept });
    expect(json.exitCode, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as Listing;
    expect(doc.regions).toEqual(expect.arrayContaining([sb.region, OTHER_REGION]));
    const byId = new Map(doc.instances.map((i) => [i.instanceId, i]));
    expect(byId.get(orphan)).toMatchObject({ region: sb.region, state: 'running', directory: gone, host: hostname() });
    expect(byId.get(claimed)).toMatchObject({ region: sb.region, directory: kept, host: hostname() });
    expect(byId.get(theirs)).toMatchObject({ region: OTHER_REGION, directory: gone, host: 'colleague-laptop' });
    const kinds = new Map(doc.resources.map((r) => [r.id, `${r.kind} ${r.region}`]));
    expect(kinds.get(volume.VolumeId!)).toBe(`volume ${OTHER_REGION}`);
    expect(kinds.get(key.KeyPairId!)).toBe(`key-pair ${OTHER_REGION}`);
    expect(kinds.get(template.LaunchTemplate!.LaunchTemplateId!)).toBe(`launch-template ${OTHER_REGION}`);
    expect([...kinds.values()]).toContain(`security-group ${sb.region}`);

    const text = await cli(sb, ['status', '--all-regions'], { cwd: kept });
    expect(text.exitCode, text.stderr).toBe(0);
    for (const id of [orphan, claimed, theirs, volume.VolumeId!]) expect(text.stdout).toContain(id);
    expect(text.stdout).toMatch(new RegExp(`${OTHER_REGION}\\s+instance\\s+${theirs}.*colleague-laptop:${gone}`));

    const down = await cli(sb, ['down', '--orphans', '--all-regions', '--yes'], { cwd: kept });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(down.stderr).toMatch(new RegExp(`${orphan} .*\\n.*its directory is gone from this machine`));
    expect(down.stderr).toMatch(new RegExp(`${theirs} .*not ours \\(made on colleague-laptop\\), left alone`));
    expect(down.stderr).toMatch(new RegExp(`volume ${volume.VolumeId} .*never deleted`));
    expect(await instanceState(sb, orphan)).toMatch(/shutting-down|terminated/);
    expect(await instanceState(sb, claimed)).toBe('running');
    expect(await stateIn(other, theirs)).toBe('running');

    await other.send(new TerminateInstancesCommand({ InstanceIds: [theirs] }));
    const end = await cli(sb, ['down', '--yes'], { cwd: kept });
    expect(end.exitCode, end.stderr).toBe(0);
  });
});
