/**
 * Owner-pinned image resolution. The newest image by name alone would let anyone publish a newer
 * image with a matching name and have it booted with your credentials' reach (the "whoAMI"
 * name-confusion attack): only the owners given (Amazon by default) are searched.
 */
import type { Image } from '@aws-sdk/client-ec2';
import { CloudError } from '../errors.js';

/**
 * The code of "no image of this name for this architecture": another instance type of the
 * fallback list (another architecture) may have one (capacity.ts).
 */
export const NO_IMAGE = 'NoImageForArchitecture';

export interface ImageQuery {
  imageId?: string;
  /** EC2 name patterns, any of which may match (the default image has two: see dlami.ts). */
  namePatterns: readonly string[];
  owners: readonly string[];
  architecture?: string;
  region: string;
}

export interface ImageInfo {
  id: string;
  name: string;
  rootDevice: string;
  rootSizeGiB: number;
  /** The login user the image's distribution uses. */
  defaultUser: string;
  /** Its owner's account id, and when it was made (EC2's CreationDate, ISO 8601; absent in an older cache). */
  owner?: string;
  created?: string;
}

export function pickImage(images: readonly Image[], q: ImageQuery): ImageInfo {
  const sorted = [...images]
    .filter((i) => i.ImageId)
    .sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''));
  const image = sorted[0];
  if (!image) {
    throw q.imageId
      ? new CloudError(
          `image ${q.imageId} not found in ${q.region}`,
          'Check AWS_IMAGE_ID / --image-id for this region.',
        )
      : new CloudError(
          `no ${q.architecture ?? ''} image named "${q.namePatterns.join('" or "')}" owned by ${q.owners.join(', ')} in ${q.region}`.replace(
            '  ',
            ' ',
          ),
          'Set AWS_IMAGE_NAME / --image-name to an existing name pattern, --image-owner to widen the owners, or --image-id.',
          NO_IMAGE,
        );
  }
  const root = image.BlockDeviceMappings?.find((m) => m.DeviceName === image.RootDeviceName);
  return {
    id: image.ImageId!,
    name: image.Name ?? image.ImageId!,
    rootDevice: image.RootDeviceName ?? '/dev/sda1',
    rootSizeGiB: root?.Ebs?.VolumeSize ?? 0,
    defaultUser: userForImage(image.Name ?? ''),
    owner: image.OwnerId,
    created: image.CreationDate,
  };
}

/** The usual login user of an image, from its name (as the original did). */
export function userForImage(name: string): string {
  const n = name.toLowerCase();
  if (/amazon linux|\bal20|amzn|\brhel|red hat|suse|sles/.test(n)) return 'ec2-user';
  if (/centos/.test(n)) return 'centos';
  if (/debian/.test(n)) return 'admin';
  if (/fedora/.test(n)) return 'fedora';
  return 'ubuntu';
}

/** x86_64 or arm64, for the image filter, from the instance type's supported architectures. */
export function architectureFor(supported: readonly string[]): string | undefined {
  if (supported.includes('x86_64')) return 'x86_64';
  if (supported.includes('arm64')) return 'arm64';
  return undefined;
}
