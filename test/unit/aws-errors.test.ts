import { describe, expect, it } from 'vitest';
import { type CodeKind, codesOf, kindOf, unanswered } from '../../src/cloud/aws-codes.js';
import { isShortage, nextStep, type NextStep } from '../../src/cloud/capacity.js';
import { isNotFound, NewResources, retrying } from '../../src/cloud/consistency.js';
import { isCapacityError, isExpiredCredentials, mapAwsError } from '../../src/cloud/errors.js';
import { CloudError, ConfigError, ExitCode, UserError } from '../../src/errors.js';

/** An error as the AWS SDK throws it: its name is AWS's code. */
const awsError = (code: string, message = `${code} message`) => Object.assign(new Error(message), { name: code });

describe('expired credentials', () => {
  it.each([
    ['RequestExpired', 'Request has expired.'],
    ['ExpiredToken', 'The security token included in the request is expired'],
    ['ExpiredTokenException', 'The security token included in the request is expired'],
    ['UnrecognizedClientException', 'The security token included in the request is invalid.'],
    ['InvalidSignatureException', 'Signature expired: 20261130T040000Z is now earlier than 20261130T040500Z'],
  ])('%s → exit 3, "your AWS credentials have expired", renew them', (code, message) => {
    const mapped = mapAwsError(awsError(code, message), 'push the ssh key with EC2 Instance Connect') as UserError;
    expect(mapped).toBeInstanceOf(ConfigError);
    expect(mapped.exitCode).toBe(ExitCode.config);
    expect(mapped.message).toBe(
      `your AWS credentials have expired (AWS answered ${code} when asked to push the ssh key with EC2 Instance Connect)`,
    );
    expect(mapped.hint).toMatch(/^Renew them/);
    expect(isExpiredCredentials(mapped)).toBe(true);
    expect(isExpiredCredentials(awsError(code))).toBe(true);
  });

  it('other refusals are not taken for expiry', () => {
    for (const code of ['UnauthorizedOperation', 'AuthFailure', 'InvalidInstanceID.NotFound', 'InternalError']) {
      expect(isExpiredCredentials(mapAwsError(awsError(code), 'launch the instance')), code).toBe(false);
    }
    expect(mapAwsError(awsError('UnauthorizedOperation'), 'launch the instance')).toBeInstanceOf(CloudError);
  });
});

describe('expired logins, as the SDK reports them before sending anything', () => {
  // The exact texts of node_modules/@aws-sdk/credential-provider-sso/dist-cjs/index.js
  // (resolveSSOCredentials), token-providers/dist-cjs/index.js (validateTokenExpiry,
  // validateTokenKey) and credential-provider-login/dist-cjs/index.js (TOKEN_EXPIRED).
  const SSO_REFRESH = 'To refresh this SSO session run aws sso login with the corresponding profile.';
  const TOKEN_REFRESH = "To refresh this SSO session run 'aws sso login' with the corresponding profile.";
  it.each([
    ['CredentialsProviderError', `The SSO session associated with this profile has expired. ${SSO_REFRESH}`],
    ['CredentialsProviderError', `The SSO session associated with this profile is invalid. ${SSO_REFRESH}`],
    ['TokenProviderError', `Token is expired. ${TOKEN_REFRESH}`],
    ['CredentialsProviderError', `Token is expired. ${TOKEN_REFRESH}`], // fromSso's error rethrown by resolveSSOCredentials
    ['TokenProviderError', `Value not present for 'refreshToken' in SSO Token. Cannot refresh. ${TOKEN_REFRESH}`],
    ['CredentialsProviderError', 'Your session has expired. Please reauthenticate.'],
  ])('%s "%s" → your AWS credentials have expired, not "no credentials"', (code, message) => {
    const err = awsError(code, message);
    const mapped = mapAwsError(err, 'launch the instance') as UserError;
    expect(mapped).toBeInstanceOf(ConfigError);
    expect(mapped.message).toMatch(/^your AWS credentials have expired \(/);
    expect(mapped.message).toContain(`${code}: ${message.split('. ')[0]}`);
    expect(mapped.hint).toMatch(/aws sso login/);
    expect(isExpiredCredentials(err)).toBe(true);
    expect(isExpiredCredentials(mapped)).toBe(true);
  });

  it('no credentials at all stays "no AWS credentials found", and is not expiry', () => {
    // credential-provider-node's chain end.
    const err = awsError('CredentialsProviderError', 'Could not load credentials from any providers');
    expect((mapAwsError(err, 'launch the instance') as UserError).message).toBe('no AWS credentials found');
    expect(isExpiredCredentials(err)).toBe(false);
  });
});

describe('eventual consistency', () => {
  it('NotFound codes of instances and security groups', () => {
    expect(isNotFound(awsError('InvalidInstanceID.NotFound'))).toBe(true);
    expect(isNotFound(awsError('InvalidGroup.NotFound'))).toBe(true);
    expect(isNotFound(awsError('InvalidAMIID.NotFound'))).toBe(false);
  });

  /** A call failing with `errors` in turn, then answering "ok"; counts its calls. */
  const failing = (...errors: Error[]) => {
    let calls = 0;
    const call = async () => {
      const err = errors[calls++];
      if (err) throw err;
      return 'ok';
    };
    return { call, calls: () => calls };
  };

  it('NotFound about a resource this run created is retried until EC2 knows it', async () => {
    const created = new NewResources();
    created.add('i-new');
    const c = failing(awsError('InvalidInstanceID.NotFound'), awsError('InvalidInstanceID.NotFound'));
    await expect(created.settle(['i-new'], c.call)).resolves.toBe('ok');
    expect(c.calls()).toBe(3);
  });

  it('NotFound about anything else keeps its meaning: not retried', async () => {
    const created = new NewResources();
    created.add('i-new');
    const c = failing(awsError('InvalidInstanceID.NotFound'));
    await expect(created.settle(['i-old'], c.call)).rejects.toThrow('InvalidInstanceID.NotFound');
    expect(c.calls()).toBe(1);
  });

  it('other errors about a new resource are not retried here', async () => {
    const created = new NewResources();
    created.add('sg-new');
    const c = failing(awsError('UnauthorizedOperation'));
    await expect(created.settle(['sg-new'], c.call)).rejects.toThrow('UnauthorizedOperation');
    expect(c.calls()).toBe(1);
  });

  it('retrying is bounded: past its time the last error is thrown', async () => {
    const c = failing(...Array.from({ length: 100 }, () => awsError('EC2InstanceStateInvalidException')));
    await expect(retrying(c.call, () => true, { timeoutMs: 300 })).rejects.toThrow('EC2InstanceStateInvalidException');
    expect(c.calls()).toBeLessThan(100);
  });

  const notYet = () => Array.from({ length: 100 }, () => awsError('EC2InstanceStateInvalidException'));

  it('an aborted signal ends the retrying at once, with its reason, even of a call still failing', async () => {
    const c = failing(...notYet());
    const abort = new AbortController();
    const stop = new Error('interrupted');
    // Aborted by the second failure: no third call, and no wait for the backoff.
    const call = () => {
      if (c.calls() === 1) abort.abort(stop);
      return c.call();
    };
    await expect(retrying(call, () => true, { signal: abort.signal })).rejects.toBe(stop);
    expect(c.calls()).toBe(2);
    // Aborted before: not called at all.
    const d = failing(...notYet());
    await expect(retrying(d.call, () => true, { signal: abort.signal })).rejects.toBe(stop);
    expect(d.calls()).toBe(0);
  });

  it("a deadline ends it as its own time limit does: the caller's deadline already past, one call, its error", async () => {
    const c = failing(...notYet());
    await expect(retrying(c.call, () => true, { deadline: Date.now() - 1 })).rejects.toThrow(
      'EC2InstanceStateInvalidException',
    );
    expect(c.calls()).toBe(1);
    const created = new NewResources();
    created.add('i-new');
    const d = failing(...Array.from({ length: 100 }, () => awsError('InvalidInstanceID.NotFound')));
    await expect(created.settle(['i-new'], d.call, { deadline: Date.now() - 1 })).rejects.toThrow(
      'InvalidInstanceID.NotFound',
    );
    expect(d.calls()).toBe(1);
  });

  it("an abort is not mapped as AWS's answer", () => {
    const stop = new ConfigError('interrupted');
    expect(mapAwsError(stop, 'push the ssh key with EC2 Instance Connect')).toBe(stop);
    const aborted = new DOMException('This operation was aborted', 'AbortError');
    expect(mapAwsError(aborted, 'read the console output')).toBe(aborted);
  });
});

describe('the one table of AWS error codes, as every mapping reads it', () => {
  /** Each code's kind, and what each mapping makes of it: the table's meaning, in one place. */
  const MEANING: [code: string, kind: CodeKind, exit: number, launch: NextStep, waitable: boolean][] = [
    ['InsufficientInstanceCapacity', 'shortage', ExitCode.capacity, 'next-zone', true],
    ['InsufficientHostCapacity', 'shortage', ExitCode.capacity, 'next-zone', true],
    // "Not enough available Reserved Instances … wait for additional capacity": a shortage.
    ['InsufficientReservedInstanceCapacity', 'shortage', ExitCode.capacity, 'next-zone', true],
    ['Unsupported', 'not-offered', ExitCode.capacity, 'next-zone', false],
    ['VcpuLimitExceeded', 'quota', ExitCode.capacity, 'next-type', false],
    ['InstanceLimitExceeded', 'quota', ExitCode.capacity, 'next-type', false],
    // Issue #13: the spot quota rules out spot, not a type: --spot-fallback goes on at on-demand.
    ['MaxSpotInstanceCountExceeded', 'spot-quota', ExitCode.capacity, 'next-market', false],
    // A spot price above --max-price in this zone: another zone's may be lower.
    ['SpotMaxPriceTooLow', 'price', ExitCode.capacity, 'next-zone', false],
    ['UnfulfillableCapacity', 'shortage', ExitCode.capacity, 'next-zone', true],
    ['RequestExpired', 'expired', ExitCode.config, 'give-up', false],
    ['AuthFailure', 'rejected', ExitCode.config, 'give-up', false],
    ['InvalidClientTokenId', 'rejected', ExitCode.config, 'give-up', false],
    ['SignatureDoesNotMatch', 'rejected', ExitCode.config, 'give-up', false],
    ['UnauthorizedOperation', 'denied', ExitCode.cloud, 'give-up', false],
    ['AccessDenied', 'denied', ExitCode.cloud, 'give-up', false],
    ['AccessDeniedException', 'denied', ExitCode.cloud, 'give-up', false],
    ['InvalidInstanceID.NotFound', 'not-found', ExitCode.cloud, 'give-up', false],
    ['InvalidGroup.NotFound', 'not-found', ExitCode.cloud, 'give-up', false],
    ['IncorrectInstanceState', 'wrong-state', ExitCode.cloud, 'give-up', false],
    ['InsufficientFreeAddressesInSubnet', 'subnet-full', ExitCode.cloud, 'give-up', false],
    ['RequestLimitExceeded', 'throttled', ExitCode.cloud, 'give-up', false],
    // The batch engine's (issue #14): a launch template or fleet just made may be unknown a moment.
    ['InvalidLaunchTemplateId.NotFound', 'not-found', ExitCode.cloud, 'give-up', false],
    ['InvalidLaunchTemplateName.NotFoundException', 'not-found', ExitCode.cloud, 'give-up', false],
    ['InvalidFleetId.NotFound', 'not-found', ExitCode.cloud, 'give-up', false],
    // SQS's query and JSON protocols name one error two ways.
    ['AWS.SimpleQueueService.NonExistentQueue', 'gone', ExitCode.cloud, 'give-up', false],
    ['QueueDoesNotExist', 'gone', ExitCode.cloud, 'give-up', false],
    ['InvalidLaunchTemplateName.AlreadyExistsException', 'exists', ExitCode.cloud, 'give-up', false],
    ['QueueAlreadyExists', 'exists', ExitCode.cloud, 'give-up', false],
    ['QueueNameExists', 'exists', ExitCode.cloud, 'give-up', false],
    ['AWS.SimpleQueueService.PurgeQueueInProgress', 'under-way', ExitCode.cloud, 'give-up', false],
    ['PurgeQueueInProgress', 'under-way', ExitCode.cloud, 'give-up', false],
  ];

  it.each(MEANING)('%s: %s, exit %i, a launch goes %s, a start waits: %s', (code, kind, exit, launch, waitable) => {
    expect(kindOf(code)).toBe(kind);
    expect((mapAwsError(awsError(code), 'launch the instance') as UserError).exitCode).toBe(exit);
    expect(isCapacityError(awsError(code))).toBe(exit === ExitCode.capacity);
    expect(nextStep(code)).toBe(launch);
    expect(isShortage(code)).toBe(waitable);
    expect(isNotFound(awsError(code))).toBe(kind === 'not-found');
    expect(isExpiredCredentials(awsError(code))).toBe(kind === 'expired');
  });

  it('every code of these kinds has its row above (a new one gets its meaning written there)', () => {
    const held = new Set(MEANING.map(([code]) => code));
    for (const kind of [
      'shortage',
      'not-offered',
      'quota',
      'spot-quota',
      'price',
      'rejected',
      'denied',
      'not-found',
      'gone',
      'exists',
      'under-way',
    ] as const)
      for (const code of codesOf(kind)) expect(held.has(code), code).toBe(true);
  });

  it('throttling however a service spells it; codes the table does not hold have no kind', () => {
    for (const code of ['Throttling', 'ThrottlingException', 'RequestLimitExceeded'])
      expect(kindOf(code)).toBe('throttled');
    for (const code of ['InternalError', 'InvalidParameterValue', 'toString', '']) expect(kindOf(code)).toBeUndefined();
  });

  it('"EC2 may have done it all the same": no HTTP status, a 5xx or throttling; not a clear refusal', () => {
    const answered = (status?: number) => (status === undefined ? {} : { $metadata: { httpStatusCode: status } });
    expect(unanswered(answered(), 'ECONNRESET')).toBe(true);
    expect(unanswered(answered(503), 'ServiceUnavailable')).toBe(true);
    expect(unanswered(answered(400), 'RequestLimitExceeded')).toBe(true);
    expect(unanswered(answered(400), 'InvalidParameterValue')).toBe(false);
    expect(unanswered(answered(403), 'UnauthorizedOperation')).toBe(false);
  });
});
