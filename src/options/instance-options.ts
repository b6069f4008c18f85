/** The settings of the instance itself: where, what and how it is launched (help group "Instance"). */
import { DEFAULT_IMAGE_PATTERNS } from '../cloud/dlami.js';
import { UsageError } from '../errors.js';
import { DATA_MOUNT, DEFAULT_DATA_GIB, parseVolume, type VolumeRequest } from '../cloud/volume-rules.js';
import { bool, cidr, list, optionalText, positiveInt, spec, subnetId, text, usd } from './spec.js';

export const DEFAULT_INSTANCE_TYPE = 'g4dn.xlarge';
export const DEFAULT_REGION = 'eu-central-1';
/** The original's default instance profile; used only if it exists (see session/provision.ts). */
export const LEGACY_IAM_PROFILE = 'EC2ReadOnlyAccessToS3';
/** Unless --volume-size says otherwise, the root volume is the image's size, and at least this. */
export const MIN_VOLUME_GIB = 100;

export const INSTANCE_OPTIONS = {
  region: spec({
    kind: 'string',
    flag: 'region',
    env: ['AWS_REGION', 'AWS_DEFAULT_REGION'],
    group: 'Instance',
    default: undefined,
    defaultText: `the SDK's profile region, else ${DEFAULT_REGION}`,
    parse: optionalText,
    describe: 'AWS region',
  }),
  instanceTypes: spec({
    kind: 'string',
    flag: 'instance-type',
    env: ['AWS_INSTANCE_TYPE'],
    group: 'Instance',
    default: [DEFAULT_INSTANCE_TYPE],
    parse: (raw, source) => {
      const v = list(raw);
      if (v.length === 0) throw new UsageError(`${source}: empty instance type`);
      return v;
    },
    describe: 'instance type',
  }),
  imageId: spec({
    kind: 'string',
    flag: 'image-id',
    env: ['AWS_IMAGE_ID'],
    group: 'Instance',
    default: undefined,
    parse: optionalText,
    describe: 'image (AMI) id; skips the image lookup',
  }),
  // Unset means the default image (cloud/dlami.ts): its two name patterns, and the instance types it supports.
  imageName: spec({
    kind: 'string',
    flag: 'image-name',
    env: ['AWS_IMAGE_NAME'],
    group: 'Instance',
    default: undefined,
    defaultText: `the Deep Learning OSS Nvidia Driver AMI, "${DEFAULT_IMAGE_PATTERNS.join('" or "')}"`,
    parse: optionalText,
    describe: 'image name pattern; the newest matching image of the pinned owners is used',
  }),
  imageOwners: spec({
    kind: 'strings',
    flag: 'image-owner',
    env: ['SSH_EC2_IMAGE_OWNER'],
    group: 'Instance',
    default: ['amazon'],
    parse: list,
    describe: 'image owners to trust: account ids or aliases',
  }),
  keyName: spec({
    kind: 'string',
    flag: 'key-name',
    env: ['AWS_KEY_NAME'],
    group: 'Instance',
    default: undefined,
    defaultText: '$TRIGRAM, then $USER',
    parse: optionalText,
    describe: 'EC2 key pair name; used with -i',
  }),
  trigram: spec({
    kind: 'string',
    env: ['TRIGRAM'],
    group: 'Instance',
    default: undefined,
    parse: optionalText,
    describe: "the original's per-user key name",
  }),
  name: spec({
    kind: 'string',
    flag: 'name',
    env: ['AWS_NAME_INSTANCE'],
    group: 'Instance',
    default: undefined,
    defaultText: '<key name>-<directory name>',
    parse: optionalText,
    describe: 'instance Name tag',
  }),
  iamProfile: spec({
    kind: 'string',
    flag: 'iam-profile',
    env: ['AWS_IAM_INSTANCE_PROFILE'],
    group: 'Instance',
    default: LEGACY_IAM_PROFILE as string | undefined,
    defaultText: `${LEGACY_IAM_PROFILE} when it exists`,
    emptyIsValue: true,
    parse: optionalText,
    describe: 'instance profile for the instance; "" for none',
  }),
  userData: spec({
    kind: 'string',
    flag: 'user-data',
    env: ['AWS_USER_DATA'],
    group: 'Instance',
    default: undefined,
    parse: optionalText,
    describe: 'user data: a file path, or the script itself',
  }),
  volumeSize: spec({
    kind: 'string',
    flag: 'volume-size',
    env: ['SSH_EC2_VOLUME_SIZE'],
    group: 'Instance',
    default: undefined as number | undefined,
    defaultText: `the image size, at least ${MIN_VOLUME_GIB}`,
    parse: positiveInt,
    describe: 'root volume size in GiB',
  }),
  volume: spec({
    kind: 'string',
    flag: 'volume',
    env: ['SSH_EC2_VOLUME'],
    group: 'Instance',
    default: undefined as VolumeRequest | undefined,
    parse: parseVolume,
    describe: `a data volume NAME[:SIZE in GiB, default ${DEFAULT_DATA_GIB}] kept across instances, mounted at ${DATA_MOUNT}/ in the remote directory`,
  }),
  subnetId: spec({
    kind: 'string',
    flag: 'subnet-id',
    env: ['SSH_EC2_SUBNET_ID'],
    group: 'Instance',
    default: undefined,
    parse: subnetId,
    describe: 'subnet to launch in (its VPC is used); needed where the region has no default VPC',
  }),
  securityGroup: spec({
    kind: 'string',
    flag: 'security-group',
    env: ['SSH_EC2_SECURITY_GROUP'],
    group: 'Instance',
    default: undefined,
    parse: optionalText,
    describe:
      "a security group of the instance's VPC (id sg-… or name), used as it is: ssh-ec2 never changes its rules",
  }),
  spot: spec({
    kind: 'boolean',
    flag: 'spot',
    env: ['SSH_EC2_SPOT'],
    group: 'Instance',
    default: false,
    parse: bool,
    describe: 'launch as spot (a persistent request that stops rather than terminates when interrupted)',
  }),
  maxPrice: spec({
    kind: 'string',
    flag: 'max-price',
    env: ['SSH_EC2_MAX_PRICE'],
    group: 'Instance',
    default: undefined as string | undefined,
    defaultText: "none sent: AWS caps a spot instance at the type's on-demand price",
    parse: usd,
    describe: 'the most a spot instance may cost, USD per hour',
  }),
  spotFallback: spec({
    kind: 'boolean',
    flag: 'spot-fallback',
    env: ['SSH_EC2_SPOT_FALLBACK'],
    group: 'Instance',
    default: false,
    parse: bool,
    describe: 'spot first (every type and zone), then on-demand; implies --spot',
  }),
  availabilityZone: spec({
    kind: 'string',
    flag: 'availability-zone',
    env: ['SSH_EC2_AVAILABILITY_ZONE'],
    group: 'Instance',
    default: undefined,
    defaultText: 'every zone of the region, in turn',
    parse: optionalText,
    describe: 'the availability zone every launch attempt uses',
  }),
  cache: spec({
    kind: 'boolean',
    flag: 'cache',
    env: ['SSH_EC2_CACHE'],
    group: 'Instance',
    default: true,
    parse: bool,
    describe:
      'reuse the network, security group and image looked up by an earlier launch in this region (up to an hour; a day for the image); --no-cache: ask EC2 again',
  }),
  sshCidr: spec({
    kind: 'string',
    flag: 'ssh-cidr',
    env: ['SSH_EC2_SSH_CIDR'],
    group: 'Instance',
    default: undefined,
    defaultText: 'your public address /32',
    parse: cidr,
    describe: 'who may reach port 22',
  }),
  ipUrl: spec({
    kind: 'string',
    env: ['SSH_EC2_IP_URL'],
    group: 'Instance',
    default: 'https://checkip.amazonaws.com',
    parse: text,
    describe: 'where your public address is asked',
  }),
} as const;
