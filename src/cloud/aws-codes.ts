/**
 * The one table of the AWS error codes ssh-ec2 gives a meaning to. Every mapping reads it: the
 * user-facing errors (errors.ts), the capacity fallback and the restart of a stopped instance
 * (capacity.ts, session/start-stopped.ts), the API retries (retry.ts) and eventual consistency
 * (consistency.ts). A code missing here is mapped by its shape (errors.ts: Invalid…, Unknown…).
 * Meanings from https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html.
 */

export type CodeKind =
  /** No room in this zone right now: another zone may have some, and so may this one later. */
  | 'shortage'
  /** The type is not offered in this zone: another zone may offer it; waiting does not help. */
  | 'not-offered'
  /** A regional quota: no other zone helps, nor waiting; another (smaller) type may. */
  | 'quota'
  /** The account's spot quota: no spot launch of any type helps; on-demand (--spot-fallback) may. */
  | 'spot-quota'
  /** --max-price below this zone's spot price: another zone's price may be lower. */
  | 'price'
  /** Credentials that were good and have run out (a session token, a signature's clock). */
  | 'expired'
  /** Credentials AWS does not accept at all. */
  | 'rejected'
  /** Credentials accepted, the action not allowed by their policy. */
  | 'denied'
  /** A resource EC2 does not know: for one this run just created, "not yet" (consistency.ts). */
  | 'not-found'
  /** The instance is not in a state the call accepts. */
  | 'wrong-state'
  /** The subnet has no free address left for the instance. */
  | 'subnet-full'
  /** Too many requests: EC2 may have done what it was asked before refusing the retries. */
  | 'throttled'
  /** An SQS queue that is no more (deleted, or never made): deleting it again is done already. */
  | 'gone'
  /** A name already taken (a launch template, a queue with other attributes). */
  | 'exists'
  /** The same asked moments ago and still under way (a purge within 60 s of another): done already. */
  | 'under-way';

const KINDS: Readonly<Record<string, CodeKind>> = {
  InsufficientInstanceCapacity: 'shortage',
  InsufficientHostCapacity: 'shortage',
  // "Not enough available Reserved Instances to satisfy your minimum request … or wait for
  // additional capacity to become available": a shortage, worth waiting for like the others.
  InsufficientReservedInstanceCapacity: 'shortage',
  // A spot request's "no spare capacity": spot's own word for a shortage.
  UnfulfillableCapacity: 'shortage',
  // RunInstances and StartInstances answer it for a type the zone does not offer.
  Unsupported: 'not-offered',
  VcpuLimitExceeded: 'quota',
  InstanceLimitExceeded: 'quota',
  MaxSpotInstanceCountExceeded: 'spot-quota',
  SpotMaxPriceTooLow: 'price',
  // EC2 (RequestExpired, ExpiredToken), STS-style services (ExpiredTokenException), and EC2
  // Instance Connect, which answers an expired session token as an unrecognised client or a
  // stale signature.
  RequestExpired: 'expired',
  ExpiredToken: 'expired',
  ExpiredTokenException: 'expired',
  UnrecognizedClientException: 'expired',
  InvalidSignatureException: 'expired',
  TokenRefreshRequired: 'expired',
  InvalidGrantException: 'expired',
  AuthFailure: 'rejected',
  InvalidClientTokenId: 'rejected',
  SignatureDoesNotMatch: 'rejected',
  UnauthorizedOperation: 'denied',
  AccessDeniedException: 'denied',
  AccessDenied: 'denied',
  'InvalidInstanceID.NotFound': 'not-found',
  'InvalidGroup.NotFound': 'not-found',
  // A launch template or fleet this run just made may be unknown for a moment, as an instance.
  'InvalidLaunchTemplateId.NotFound': 'not-found',
  'InvalidLaunchTemplateName.NotFoundException': 'not-found',
  'InvalidFleetId.NotFound': 'not-found',
  // SQS names one error two ways: its query protocol's code, and its JSON protocol's.
  'AWS.SimpleQueueService.NonExistentQueue': 'gone',
  QueueDoesNotExist: 'gone',
  'InvalidLaunchTemplateName.AlreadyExistsException': 'exists',
  QueueAlreadyExists: 'exists',
  QueueNameExists: 'exists',
  'AWS.SimpleQueueService.PurgeQueueInProgress': 'under-way',
  PurgeQueueInProgress: 'under-way',
  IncorrectInstanceState: 'wrong-state',
  InsufficientFreeAddressesInSubnet: 'subnet-full',
  RequestLimitExceeded: 'throttled',
};

/** What AWS meant by `code`; undefined for a code the table does not hold. */
export function kindOf(code: string): CodeKind | undefined {
  if (Object.hasOwn(KINDS, code)) return KINDS[code];
  // Throttling, ThrottlingException, ThrottledException: the SDK's services spell it several ways.
  return /Throttl/.test(code) ? 'throttled' : undefined;
}

/** The codes of one kind (for tests and documentation). */
export function codesOf(kind: CodeKind): string[] {
  return Object.keys(KINDS).filter((c) => KINDS[c] === kind);
}

/** No room for the type: in this zone (shortage, not offered, its spot price) or in the region (quotas). */
export const isCapacityCode = (code: string): boolean =>
  ['shortage', 'not-offered', 'quota', 'spot-quota', 'price'].includes(kindOf(code) ?? '');

/**
 * A call that failed without EC2 saying no (a 5xx or throttling after the SDK's retries, the
 * network: no HTTP status at all): EC2 may have done what it was asked all the same. `cause`: the
 * SDK's error (a mapped error's `cause`).
 */
export function unanswered(cause: unknown, code: string): boolean {
  const status = (cause as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  return status === undefined || status >= 500 || kindOf(code) === 'throttled';
}
