/**
 * Data volumes' pure rules (--volume NAME[:SIZE]): the setting's parse, the tags that find one
 * owner's volume by name, the device and the mount point. No SDK here: options.ts reads it.
 */
import { UsageError } from '../errors.js';

/** The tag naming a data volume (its value: NAME); root volumes never carry it. */
export const DATA_VOLUME_TAG = 'ssh-ec2:data-volume';
/** When it was last attached (ISO time), updated at each attach: what `volumes` shows as last use. */
export const LAST_USE_TAG = 'ssh-ec2:last-use';
/** The value of the `ssh-ec2` tag on a data volume (an instance's is its directory's id). */
export const DATA_VOLUME_KIND = 'data-volume';
export const DEFAULT_DATA_GIB = 100;
/** gp3's bounds. */
const MAX_GIB = 16_384;
/** The device name asked of AttachVolume; on Nitro it shows as an NVMe device named by the volume id. */
export const DATA_DEVICE = '/dev/sdf';
/** Where it is mounted, under the remote project directory: outside both syncs. */
export const DATA_MOUNT = 'data';

export interface VolumeRequest {
  name: string;
  sizeGiB: number;
}

/** `NAME[:SIZE]`: a name EC2's tags and a shell line take as it is, a size in GiB. */
export function parseVolume(raw: string, source: string): VolumeRequest | undefined {
  if (raw === '') return undefined;
  const m = /^([A-Za-z0-9][A-Za-z0-9._-]{0,63})(?::(\d+))?$/.exec(raw.trim());
  const size = m?.[2] === undefined ? DEFAULT_DATA_GIB : Number(m[2]);
  if (!m || size < 1 || size > MAX_GIB)
    throw new UsageError(
      `${source}: expected NAME or NAME:SIZE (letters, digits, . _ -; SIZE in GiB, 1 to ${MAX_GIB}), got "${raw}"`,
    );
  return { name: m[1]!, sizeGiB: size };
}

/** As it is written: NAME:SIZE. */
export const volumeText = (v: VolumeRequest): string => `${v.name}:${v.sizeGiB}`;

/** The tags that find one owner's volume of that name (two owners' `data` are two volumes). */
export function volumeKeyTags(owner: string, name: string): Record<string, string> {
  return { 'ssh-ec2': DATA_VOLUME_KIND, 'ssh-ec2:user': owner, [DATA_VOLUME_TAG]: name };
}

export function volumeTags(owner: string, name: string, now: Date): Record<string, string> {
  return { ...volumeKeyTags(owner, name), Name: name, [LAST_USE_TAG]: now.toISOString() };
}
