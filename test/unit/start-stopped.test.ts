import { describe, expect, it } from 'vitest';
import { isQuota, isShortage } from '../../src/cloud/capacity.js';
import { mapAwsError } from '../../src/cloud/errors.js';
import { ExitCode, type UserError } from '../../src/errors.js';
import { mayHaveStarted, startStopped } from '../../src/session/start-stopped.js';
import { createLogger } from '../../src/ui/logger.js';

/** An AWS error as the cloud port throws it: mapped, the SDK error (with its HTTP status) as its cause. */
function startError(code: string, status?: number): unknown {
  const sdk = Object.assign(new Error(`${code} message`), {
    name: code,
    ...(status !== undefined && { $metadata: { httpStatusCode: status } }),
  });
  return mapAwsError(sdk, 'start the instance');
}

describe('what a failed start of a stopped instance means', () => {
  it('only a zone short of capacity is worth waiting for; a quota or an unoffered type is not', () => {
    expect(isShortage('InsufficientInstanceCapacity')).toBe(true);
    expect(isShortage('InsufficientHostCapacity')).toBe(true);
    expect(isShortage('InsufficientReservedInstanceCapacity')).toBe(true);
    for (const code of ['VcpuLimitExceeded', 'InstanceLimitExceeded', 'Unsupported'])
      expect(isShortage(code)).toBe(false);
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

describe('startStopped with a list of types', () => {
  /** A cloud port whose StartInstances answers, per type, the codes given in turn (then success). */
  function cloudAnswering(answers: Record<string, string[]>) {
    const calls: string[] = [];
    let type = 'g4dn.xlarge';
    const cloud = {
      region: 'eu-central-1',
      setInstanceType: async (_id: string, t: string) => {
        type = t;
      },
      start: async () => {
        calls.push(type);
        const code = answers[type]?.shift();
        if (code) throw startError(code, 400);
      },
    };
    return { cloud: cloud as never, calls };
  }
  const log = createLogger({ stream: { write: () => true, isTTY: false } as never, env: {} });
  const instance = { id: 'i-1', type: 'g4dn.xlarge', state: 'stopped', az: 'eu-central-1a', tags: {} } as never;
  const options = (types: string[]) =>
    ({ instanceTypes: types, capacityTimeout: 60_000, flagged: new Set(['instanceTypes']) }) as never;

  it('a type over its quota is not tried again while another waits for capacity', async () => {
    const { cloud, calls } = cloudAnswering({
      'g5.xlarge': ['VcpuLimitExceeded'],
      'g4dn.xlarge': ['InsufficientInstanceCapacity'],
    });
    await expect(startStopped({ cloud, log, options: options(['g5.xlarge', 'g4dn.xlarge']) }, instance)).resolves.toBe(
      'g4dn.xlarge',
    );
    expect(calls).toEqual(['g5.xlarge', 'g4dn.xlarge', 'g4dn.xlarge']);
  });

  it('every type over its quota or not offered: exit 5 at once, each reason said', async () => {
    const { cloud, calls } = cloudAnswering({ 'g5.xlarge': ['VcpuLimitExceeded'], 'g4dn.xlarge': ['Unsupported'] });
    const err = (await startStopped({ cloud, log, options: options(['g5.xlarge', 'g4dn.xlarge']) }, instance).then(
      () => expect.unreachable('started'),
      (e: unknown) => e,
    )) as UserError;
    expect(calls).toEqual(['g5.xlarge', 'g4dn.xlarge']);
    expect(err.exitCode).toBe(ExitCode.capacity);
    expect(err.message).toBe(
      'cannot start i-1: g5.xlarge: quota reached in eu-central-1 (VcpuLimitExceeded); g4dn.xlarge: not offered in eu-central-1a (Unsupported); it is still stopped, with its disk; nothing is lost',
    );
    expect(err.hint).toMatch(/^Ask AWS for a quota increase/);
  });
});
