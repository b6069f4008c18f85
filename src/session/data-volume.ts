/**
 * The data volume (--volume NAME[:SIZE]): found by the owner and its name, created on first use in
 * the instance's zone, attached to this directory's instance (launched, started or reused), and
 * mounted at `<remote dir>/data` over the connection. It is never deleted here: terminate leaves
 * it (AttachVolume's DeleteOnTermination is false), only `ssh-ec2 volumes rm` deletes it.
 */
import type { Cloud, InstanceInfo, VolumeInfo } from '../cloud/port.js';
import { DATA_DEVICE, DATA_MOUNT, LAST_USE_TAG, volumeKeyTags, volumeTags } from '../cloud/volume-rules.js';
import { ConfigError, ExitCode, lastLine, SubprocessError, UserError } from '../errors.js';
import type { Options } from '../options.js';
import type { Connection } from '../remote/connection.js';
import { volumeScript } from '../remote/on-instance.js';
import type { Logger } from '../ui/logger.js';
import { waitFor } from '../time.js';

export interface AttachedVolume {
  id: string;
  name: string;
  device: string;
}

interface VolumeContext {
  cloud: Cloud;
  log: Logger;
  options: Pick<Options, 'volume'>;
  signal?: AbortSignal;
}

/**
 * The owner's volume of that name, if made already. Two runs in two directories may both have made
 * one at once: the oldest is the one, for every run (then the id, should two share a second).
 */
export async function findDataVolume(cloud: Cloud, owner: string, name: string): Promise<VolumeInfo | undefined> {
  return (await cloud.findVolumes(volumeKeyTags(owner, name))).sort(byAge)[0];
}

const when = (v: VolumeInfo) => v.createdAt?.getTime() ?? Infinity;
const byAge = (a: VolumeInfo, b: VolumeInfo): number => when(a) - when(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The zone a launch must use: the data volume's, once it exists (undefined: any zone). */
export async function dataVolumeZone(ctx: VolumeContext, owner: string): Promise<string | undefined> {
  const want = ctx.options.volume;
  return want && (await findDataVolume(ctx.cloud, owner, want.name))?.zone;
}

/** The volume held by another instance, or in another zone: one line saying which and what to do. */
export function unattachable(v: VolumeInfo, instance: InstanceInfo): UserError | undefined {
  if (v.attachedTo && v.attachedTo !== instance.id)
    return new UserError(
      `data volume ${v.name} (${v.id}) is attached to ${v.attachedTo}: a volume is held by one instance at a time`,
      ExitCode.config,
      `End that instance first (ssh-ec2 down in its directory, or: aws ec2 detach-volume --volume-id ${v.id}), or use another name (--volume).`,
    );
  if (v.zone !== instance.az)
    return new ConfigError(
      `data volume ${v.name} (${v.id}) is in ${v.zone}, and ${instance.id} in ${instance.az ?? 'another zone'}: it cannot be attached there`,
      `End this instance (ssh-ec2 down): the next one is launched in ${v.zone}.`,
    );
  return undefined;
}

/** A stopped instance the volume cannot be attached to is refused before it is started (and paid for) in vain. */
export async function checkAttachable(ctx: VolumeContext, instance: InstanceInfo, owner: string): Promise<void> {
  const want = ctx.options.volume;
  const v = want && (await findDataVolume(ctx.cloud, owner, want.name));
  const refused = v && unattachable(v, instance);
  if (refused) throw refused;
}

/** Makes sure the data volume is attached to the instance (made first if it is the first use). */
export async function attachDataVolume(
  ctx: VolumeContext,
  instance: InstanceInfo,
  owner: string,
): Promise<AttachedVolume | undefined> {
  const want = ctx.options.volume;
  if (!want) return undefined;
  const { cloud, log } = ctx;
  let v = await findDataVolume(cloud, owner, want.name);
  if (!v) {
    if (!instance.az) throw new ConfigError(`${instance.id}'s zone is unknown: the data volume cannot be made there`);
    v = await cloud.createVolume({
      zone: instance.az,
      sizeGiB: want.sizeGiB,
      tags: volumeTags(owner, want.name, new Date()),
    });
    log.info(`created data volume ${want.name} (${v.id}, ${want.sizeGiB} GiB gp3, encrypted) in ${v.zone}`);
    // Another run made one of the same name first (two directories at once): its is the one; ours,
    // new and empty, is deleted rather than left as a second volume of that name. Only an older one
    // wins: a listing that lacks ours yet (eventual consistency) never makes both runs delete theirs.
    const first = await findDataVolume(cloud, owner, want.name);
    if (first && first.id !== v.id && byAge(first, v) < 0) {
      await cloud.deleteVolume(v.id);
      log.info(
        `data volume ${want.name} was made meanwhile by another run (${first.id}): ${v.id} deleted, ${first.id} used`,
      );
      v = first;
    }
  }
  const refused = unattachable(v, instance);
  if (refused) throw refused;
  const id = v.id;
  const current = (): Promise<VolumeInfo | undefined> =>
    cloud.findVolumes(volumeKeyTags(owner, want.name)).then((all) => all.find((x) => x.id === id));
  if (v.attachedTo !== instance.id) {
    if (v.state !== 'available')
      await waitFor(async () => ((await current())?.state === 'available' ? true : undefined), {
        timeoutMs: 5 * 60_000,
        what: `data volume ${id} to be available`,
        signal: ctx.signal,
      });
    await cloud.attachVolume(id, instance.id, DATA_DEVICE);
    await waitFor(async () => ((await current())?.attachState === 'attached' ? true : undefined), {
      timeoutMs: 5 * 60_000,
      what: `data volume ${id} to be attached to ${instance.id}`,
      signal: ctx.signal,
    });
    log.info(`attached data volume ${want.name} (${id}) to ${instance.id}`);
  }
  await cloud.tag(id, { [LAST_USE_TAG]: new Date().toISOString() });
  // The instance as this run knows it, and remembers it for a warm start (warm.ts), holds it now:
  // the syncs of a later run without --volume leave the mount point out (syncMounts).
  if (!instance.devices?.includes(DATA_DEVICE)) instance.devices = [...(instance.devices ?? []), DATA_DEVICE];
  return { id, name: want.name, device: DATA_DEVICE };
}

/**
 * The paths of the project the syncs leave out, neither sending, bringing back nor deleting: the
 * mount point, when this run mounts the volume or the instance has it attached. Known from the
 * instance, not only from this command's options: `down`, `pull`, `--attach` or a run without
 * --volume on an instance holding the volume would otherwise bring the whole volume home, or sync
 * a local data/ onto it. (Attached but not mounted, after a stop and start: data/ on its root disk
 * is left out too, which loses nothing.)
 */
export const syncMounts = (o: Pick<Options, 'volume'>, instance?: Pick<InstanceInfo, 'devices'>): string[] =>
  o.volume || instance?.devices?.includes(DATA_DEVICE) ? [DATA_MOUNT] : [];

/** The mount point on the instance, relative to the home. */
export const mountPointOf = (remoteDir: string): string => `${remoteDir}/${DATA_MOUNT}`;

/** Mounts it (formatted on first use only: volume.sh) in the remote directory. */
export async function mountDataVolume(
  conn: Connection,
  v: AttachedVolume,
  o: { remoteDir: string; mountCommand: string; log: Logger },
): Promise<void> {
  const mountPoint = mountPointOf(o.remoteDir);
  await conn
    .exec('sh -s', {
      input: volumeScript({ volumeId: v.id, device: v.device, mountPoint, mountCommand: o.mountCommand }),
    })
    .catch((err: unknown) => {
      // A lost connection stays one (255); the script's own failure is said in one line.
      if (!(err instanceof SubprocessError) || err.exitCode === ExitCode.connectionLost) throw err;
      throw new UserError(
        `could not mount data volume ${v.name} (${v.id}) at ~/${mountPoint}: ${lastLine(err.stderr) || `exit status ${err.exitCode}`}`,
        ExitCode.config,
        'Nothing was run. Look at the instance without --volume (ssh-ec2 lsblk), or end it (ssh-ec2 down) and run again.',
        { cause: err },
      );
    });
  o.log.detail(`data volume ${v.name} (${v.id}) mounted at ~/${mountPoint}`);
}
