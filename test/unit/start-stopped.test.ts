import { describe, expect, it } from 'vitest';
import { isQuota, isShortage } from '../../src/cloud/capacity.js';
import { mapAwsError } from '../../src/cloud/errors.js';
import { mayHaveStarted } from '../../src/session/start-stopped.js';

/** An AWS error as the cloud port throws it: mapped, the SDK error (with its HTTP status) as its cause. */
function startError(code: string, status?: number): unknown {
  const sdk = Object.assign(new Error(`${code} message`), { name: code, ...(status !== undefined && { $metadata: { httpStatusCode: status } }) });
  return mapAwsError(sdk, 'start the instance');
}

describe('what a failed start of a stopped instance means', () => {
  it('only a zone short of capacity is worth waiting for; a quota or an unoffered type is not', () => {
    expect(isShortage('InsufficientInstanceCapacity')).toBe(true);
    expect(isShortage('InsufficientHostCapacity')).toBe(true);
    for (const code of ['VcpuLimitExceeded', 'InstanceLimitExceeded', 'Unsupported']) expect(isShortage(code)).toBe(false);
    expect(isQuota('VcpuLimitExceeded')).toBe(true);
    expect(isQuota('Unsupported')).toBe(false);
  });

  it.each([
    ['InsufficientInstanceCapacity', 500, false],
    ['VcpuLimitExceeded', 400, false],
    ['IncorrectInstanceState', 400, false],
    ['UnauthorizedOperation', 403, false],
    ['InvalidParameterValue', 400, false],
    ['InternalError', 500, true],
    ['ServiceUnavailable', 503, true],
    ['RequestLimitExceeded', 400, true],
    ['ECONNRESET', undefined, true],
  ] as const)('%s (HTTP %s): EC2 may have started it all the same: %s', (code, status, may) => {
    expect(mayHaveStarted(startError(code, status))).toBe(may);
  });
});
