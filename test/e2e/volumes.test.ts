/**
 * Data volumes (issue #13): `--volume NAME[:SIZE]` makes an encrypted gp3 volume on first use,
 * attaches it to the directory's instance and mounts it at data/ (the sandbox plays the block
 * device with a directory per volume id: test/sandbox/volumes.ts); it survives terminate and is
 * attached to the next instance — a separate machine — launched in its zone; `push` fills it;
 * `volumes` lists it with its cost, `volumes rm` refuses while it is attached and deletes it after;
 * the mount point is outside both syncs.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeSubnetsCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { cli, ec2Client, instanceState, makeProject, remotePath, reportedInstance, useSandbox } from './helpers.js';

const sb = useSandbox();

const volumesNamed = async (name: string) =>
  (
    await ec2Client(sb).send(
      new DescribeVolumesCommand({ Filters: [{ Name: 'tag:ssh-ec2:data-volume', Values: [name] }] }),
    )
  ).Volumes ?? [];

describe('a data volume', () => {
  it('is made, mounted, written, kept through terminate, attached to the next instance in its zone, filled by push, listed, and removed only once free', async () => {
    const dir = makeProject(sb, 'vol-project');
    // A local data/ of the same name: never sent up, never deleted by the sync back.
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'local-only.txt'), 'mine\n');

    // No room in the region's first zone for the first launch: the volume is made in the second,
    // so the next launch must go there rather than to the first zone it would try.
    sb.inject({ action: 'RunInstances', status: 500, code: 'InsufficientInstanceCapacity', message: 'no room' });
    const first = await cli(sb, ['--volume', 'data:5', 'echo hello > data/x.txt; ls data; echo done'], { cwd: dir });
    expect(first.exitCode, first.stderr).toBe(0);
    const firstId = reportedInstance(first.stderr);
    expect(first.stderr).toMatch(/created data volume data \(vol-[0-9a-f]+, 5 GiB gp3, encrypted\)/);
    expect(first.stdout).toBe('x.txt\ndone\n'); // the local data/ did not go up
    const [created] = sb.calls('CreateVolume');
    expect(created?.params).toMatchObject({ Size: '5', VolumeType: 'gp3', Encrypted: 'true' });
    const [vol] = await volumesNamed('data');
    const volId = vol!.VolumeId!;
    expect(vol!.Tags).toEqual(
      expect.arrayContaining([
        { Key: 'ssh-ec2', Value: 'data-volume' },
        { Key: 'Name', Value: 'data' },
        expect.objectContaining({ Key: 'ssh-ec2:user' }),
      ]),
    );
    expect(sb.calls('AttachVolume').map((c) => [c.params.VolumeId, c.params.InstanceId])).toEqual([[volId, firstId]]);
    // Terminated; the volume is not, and holds what the command wrote.
    expect(await instanceState(sb, firstId)).toBe('terminated');
    expect(vol!.State).toBe('available');
    expect(readFileSync(join(sb.volumes.dirOf(volId), 'x.txt'), 'utf8')).toBe('hello\n');
    // The local data/ went neither onto the volume nor under it (the mount point on the disk).
    expect(readdirSync(join(remotePath(sb, 'vol-project', firstId), 'data'))).toEqual([]);
    expect(readdirSync(sb.volumes.dirOf(volId))).toEqual(['x.txt']);
    // The sync back neither brought the volume's files home nor touched the local data/.
    expect(existsSync(join(dir, 'data', 'x.txt'))).toBe(false);
    expect(readFileSync(join(dir, 'data', 'local-only.txt'), 'utf8')).toBe('mine\n');

    // The next instance of the directory: another machine, in the volume's zone, sees the file.
    sb.clearCalls();
    const second = await cli(sb, ['--volume', 'data', '--leave', 'cat data/x.txt'], { cwd: dir });
    expect(second.exitCode, second.stderr).toBe(0);
    const secondId = reportedInstance(second.stderr);
    expect(secondId).not.toBe(firstId);
    expect(second.stdout).toBe('hello\n');
    expect(second.stderr).toContain(`data volume data is in ${vol!.AvailabilityZone}: launching there only`);
    const subnets = sb.calls('RunInstances').map((c) => c.params.SubnetId!);
    const zones = (await ec2Client(sb).send(new DescribeSubnetsCommand({ SubnetIds: subnets }))).Subnets!.map(
      (s) => s.AvailabilityZone,
    );
    expect(vol!.AvailabilityZone).toBe(`${sb.region}b`);
    expect(new Set(zones)).toEqual(new Set([vol!.AvailabilityZone]));
    expect(sb.calls('CreateVolume')).toEqual([]);
    expect(sb.volumes.mounts().map((m) => [m.volumeId, m.instanceId])).toEqual([
      [volId, firstId],
      [volId, secondId],
    ]);

    // push: one file into the volume, nothing run; the next command reads it.
    writeFileSync(join(dir, 'data', 'y.txt'), 'pushed\n');
    const pushed = await cli(sb, ['push', 'data/y.txt'], { cwd: dir, env: { SSH_EC2_VOLUME: 'data' } });
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    expect(readFileSync(join(sb.volumes.dirOf(volId), 'y.txt'), 'utf8')).toBe('pushed\n');
    expect(existsSync(join(sb.volumes.dirOf(volId), 'local-only.txt'))).toBe(false);
    const read = await cli(sb, ['--volume', 'data', '--leave', 'cat data/y.txt'], { cwd: dir });
    expect(read.exitCode, read.stderr).toBe(0);
    expect(read.stdout).toBe('pushed\n');
    const outside = await cli(sb, ['push', '/etc/hostname'], { cwd: dir });
    expect(outside.exitCode).toBe(2);
    expect(outside.stderr).toContain('is not inside the project directory');

    // Another directory cannot take it while this one's instance holds it.
    const other = makeProject(sb, 'vol-other');
    const taken = await cli(sb, ['--volume', 'data', 'true'], { cwd: other });
    expect(taken.exitCode).toBe(3);
    expect(taken.stderr).toContain(`data volume data (${volId}) is attached to ${secondId}`);

    // Listed with its size, zone, instance and monthly cost (gp3 in eu-central-1: 5 × 0.0952).
    const listed = await cli(sb, ['volumes'], { cwd: dir });
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(
      new RegExp(
        `^data\\s+${volId}\\s+5 GiB\\s+${vol!.AvailabilityZone}\\s+in-use\\s+${secondId}\\s+\\$0\\.48/month\\s+\\d+m ago$`,
        'm',
      ),
    );
    const all = await cli(sb, ['ls', '--all-regions'], { cwd: dir });
    expect(all.exitCode, all.stderr).toBe(0);
    expect(all.stdout).toMatch(new RegExp(`volume\\s+${volId}\\s+data\\s.*5 GiB: \\$0\\.48/month`));

    // rm: refused while attached, saying to what; deleted once free.
    const refused = await cli(sb, ['volumes', 'rm', 'data', '--yes'], { cwd: dir });
    expect(refused.exitCode).toBe(3);
    expect(refused.stderr).toContain(`data volume data (${volId}) is attached to ${secondId}: not deleted`);
    expect(sb.calls('DeleteVolume')).toEqual([]);
    const down = await cli(sb, ['down', '--yes', '--no-pull'], { cwd: dir });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(await volumesNamed('data')).toHaveLength(1); // down's terminate leaves it
    // down --orphans names it, with its cost and the command that deletes it, and leaves it.
    const orphans = await cli(sb, ['down', '--orphans', '--yes'], { cwd: dir });
    expect(orphans.exitCode, orphans.stderr).toBe(0);
    expect(orphans.stderr).toContain(
      `  data volume data ${volId} (${sb.region}, 5 GiB, $0.48/month): kept, never deleted unless named — ssh-ec2 volumes rm data --region ${sb.region}`,
    );
    expect(sb.calls('DeleteVolume')).toEqual([]);
    const removed = await cli(sb, ['volumes', 'rm', 'data', '--yes'], { cwd: dir });
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(removed.stderr).toContain(`deleted data volume data (${volId})`);
    expect(await volumesNamed('data')).toEqual([]);
  });
});

describe('an instance holding the data volume', () => {
  it('keeps its mount point out of every sync, whatever the command asks: a run without --volume, pull, down; push keeps what it replaces, and refuses data/ unmounted', async () => {
    const dir = makeProject(sb, 'vol-held');
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'local-only.txt'), 'mine\n');
    const first = await cli(sb, ['--volume', 'held', '--leave', 'echo v > data/v.txt'], { cwd: dir });
    expect(first.exitCode, first.stderr).toBe(0);
    const there = remotePath(sb, 'vol-held', reportedInstance(first.stderr));
    const [vol] = await volumesNamed('held');
    const onVolume = () => readdirSync(sb.volumes.dirOf(vol!.VolumeId!)).sort();
    const here = () => readdirSync(join(dir, 'data')).sort();
    // Without --volume, on the instance that has it mounted: the local data/ is not sent onto it,
    // and what the command wrote there is not brought home; the rest is synced as ever.
    const plain = await cli(sb, ['--leave', 'echo w > data/w.txt; echo r > out.txt'], { cwd: dir });
    expect(plain.exitCode, plain.stderr).toBe(0);
    expect(readFileSync(join(dir, 'out.txt'), 'utf8')).toBe('r\n');
    expect(onVolume()).toEqual(['v.txt', 'w.txt']);
    expect(here()).toEqual(['local-only.txt']);
    const pulled = await cli(sb, ['pull'], { cwd: dir });
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    expect(here()).toEqual(['local-only.txt']);

    // push: a file changed on the instance is replaced, its version kept there (outside the syncs) and said.
    writeFileSync(join(there, 'out.txt'), 'changed there\n');
    writeFileSync(join(dir, 'out.txt'), 'changed here\n');
    const pushed = await cli(sb, ['push', 'out.txt'], { cwd: dir });
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    expect(readFileSync(join(there, 'out.txt'), 'utf8')).toBe('changed here\n');
    expect(pushed.stderr).toContain('1 file(s) replaced on the instance: its versions are kept in ~/');
    const [stamp] = readdirSync(join(there, '.ssh-ec2', 'pushed'));
    expect(readFileSync(join(there, '.ssh-ec2', 'pushed', stamp!, 'out.txt'), 'utf8')).toBe('changed there\n');

    // Stopped, then started by push without --volume: not mounted (a mount does not outlive a
    // stop). push data/ is refused: it would land on the root disk, under the mount point.
    const stopped = await cli(sb, ['--stop', 'true'], { cwd: dir });
    expect(stopped.exitCode, stopped.stderr).toBe(0);
    const refused = await cli(sb, ['push', 'data/local-only.txt'], { cwd: dir });
    expect(refused.exitCode, refused.stderr).toBe(3);
    expect(refused.stderr).toContain('but not mounted at data/');
    expect(readdirSync(join(there, 'data'))).toEqual([]);

    const down = await cli(sb, ['down', '--yes'], { cwd: dir });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(here()).toEqual(['local-only.txt']);
    expect(onVolume()).toEqual(['v.txt', 'w.txt']);
    const removed = await cli(sb, ['volumes', 'rm', 'held', '--yes'], { cwd: dir });
    expect(removed.exitCode, removed.stderr).toBe(0);
  });
});
