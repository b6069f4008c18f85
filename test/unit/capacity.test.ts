import { describe, expect, it } from 'vitest';
import { fallbackMessage, launchWithFallback, nextStep, planAttempts, type Attempt } from '../../src/cloud/capacity.js';
import { retryStrategy } from '../../src/cloud/retry.js';
import { mapAwsError } from '../../src/cloud/errors.js';
import { NO_IMAGE } from '../../src/cloud/image.js';
import { CapacityError, CloudError } from '../../src/errors.js';
import { createLogger } from '../../src/ui/logger.js';

const ZONES = ['eu-central-1a', 'eu-central-1b', 'eu-central-1c'].map((name, i) => ({ name, subnetId: `subnet-${i}` }));
const label = (a: Attempt) => `${a.instanceType}@${a.zone?.name ?? '-'}`;

/** An AWS error as the cloud port throws it: mapped, the SDK error as its cause. */
function awsError(code: string): unknown {
  return mapAwsError(Object.assign(new Error(`${code} message`), { name: code }), 'launch the instance');
}

function logLines() {
  const lines: string[] = [];
  const log = createLogger({
    stream: { write: (s: string) => lines.push(s.trimEnd()) > 0, isTTY: false } as never,
    env: {},
  });
  return { log, lines };
}

describe('the capacity fallback plan', () => {
  it('tries every zone of a type before the next type', () => {
    expect(planAttempts(['g4dn.xlarge', 'g5.xlarge'], ZONES).map(label)).toEqual([
      'g4dn.xlarge@eu-central-1a',
      'g4dn.xlarge@eu-central-1b',
      'g4dn.xlarge@eu-central-1c',
      'g5.xlarge@eu-central-1a',
      'g5.xlarge@eu-central-1b',
      'g5.xlarge@eu-central-1c',
    ]);
    expect(planAttempts(['g4dn.xlarge', 'g5.xlarge'], []).map(label)).toEqual(['g4dn.xlarge@-', 'g5.xlarge@-']);
  });

  it.each([
    ['InsufficientInstanceCapacity', 'next-zone'],
    ['InsufficientHostCapacity', 'next-zone'],
    ['Unsupported', 'next-zone'],
    ['VcpuLimitExceeded', 'next-type'],
    ['InstanceLimitExceeded', 'next-type'],
    ['UnauthorizedOperation', 'give-up'],
    ['InvalidAMIID.NotFound', 'give-up'],
    ['InternalError', 'give-up'],
  ])('%s → %s', (code, step) => {
    expect(nextStep(code)).toBe(step);
  });

  it('says where it goes next in one line', () => {
    const [a, b, , d] = planAttempts(['g4dn.xlarge', 'g5.xlarge'], ZONES);
    expect(fallbackMessage({ attempt: a!, code: 'InsufficientInstanceCapacity' }, b!, 'eu-central-1')).toBe(
      'no capacity for g4dn.xlarge in eu-central-1a; trying eu-central-1b',
    );
    expect(fallbackMessage({ attempt: a!, code: 'VcpuLimitExceeded' }, d!, 'eu-central-1')).toBe(
      'quota reached (VcpuLimitExceeded) for g4dn.xlarge in eu-central-1; trying g5.xlarge in eu-central-1a',
    );
  });
});

describe('launchWithFallback', () => {
  it('moves to the next zone on no capacity, and past the remaining zones on a quota', async () => {
    const { log, lines } = logLines();
    const tried: string[] = [];
    const result = await launchWithFallback(
      planAttempts(['g4dn.xlarge', 'g5.xlarge', 't3.large'], ZONES),
      async (a) => {
        tried.push(label(a));
        if (a.instanceType === 'g4dn.xlarge' && a.zone!.name !== 'eu-central-1c')
          throw awsError('InsufficientInstanceCapacity');
        if (a.instanceType === 'g4dn.xlarge') throw awsError('VcpuLimitExceeded');
        if (a.instanceType === 'g5.xlarge') throw awsError('InstanceLimitExceeded');
        return label(a);
      },
      { log, region: 'eu-central-1' },
    );
    expect(result).toBe('t3.large@eu-central-1a');
    expect(tried).toEqual([
      'g4dn.xlarge@eu-central-1a',
      'g4dn.xlarge@eu-central-1b',
      'g4dn.xlarge@eu-central-1c',
      'g5.xlarge@eu-central-1a',
      't3.large@eu-central-1a',
    ]);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toBe('ssh-ec2: no capacity for g4dn.xlarge in eu-central-1a; trying eu-central-1b');
  });

  it('when every attempt fails: one CapacityError (exit 5) naming every type and zone tried', async () => {
    const { log } = logLines();
    const err = await launchWithFallback(
      planAttempts(['g4dn.xlarge', 'g5.xlarge'], ZONES.slice(0, 2)),
      async () => {
        throw awsError('InsufficientInstanceCapacity');
      },
      { log, region: 'eu-central-1' },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CapacityError);
    expect((err as CapacityError).exitCode).toBe(5);
    expect((err as Error).message).toBe(
      'no capacity for any instance type tried: g4dn.xlarge in eu-central-1a (InsufficientInstanceCapacity), eu-central-1b (InsufficientInstanceCapacity); g5.xlarge in eu-central-1a (InsufficientInstanceCapacity), eu-central-1b (InsufficientInstanceCapacity)',
    );
    expect((err as CapacityError).hint).toMatch(/--instance-type/);
  });

  it('every zone says the type is not offered: said so, with how to find one that is (not "try later")', async () => {
    const { log } = logLines();
    const err = await launchWithFallback(
      planAttempts(['p5.48xlarge'], ZONES.slice(0, 2)),
      async () => {
        throw awsError('Unsupported');
      },
      { log, region: 'eu-central-1' },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CapacityError);
    expect((err as Error).message).toBe(
      "not offered in eu-central-1's zones: p5.48xlarge in eu-central-1a (Unsupported), eu-central-1b (Unsupported)",
    );
    expect((err as CapacityError).hint).toMatch(/describe-instance-type-offerings .*--region eu-central-1/);
  });

  it('a type with no image for its architecture: on to the next type (its other zones skipped); the final error names what was tried', async () => {
    const { log, lines } = logLines();
    const tried: string[] = [];
    const noImage = new CloudError(
      'no arm64 image named "X" owned by amazon in eu-central-1',
      'Set --image-name.',
      NO_IMAGE,
    );
    const result = await launchWithFallback(
      planAttempts(['g5g.xlarge', 'g5.xlarge'], ZONES),
      async (a) => {
        tried.push(label(a));
        if (a.instanceType === 'g5g.xlarge') throw noImage;
        return label(a);
      },
      { log, region: 'eu-central-1' },
    );
    expect(result).toBe('g5.xlarge@eu-central-1a');
    expect(tried).toEqual(['g5g.xlarge@eu-central-1a', 'g5.xlarge@eu-central-1a']);
    expect(lines).toEqual([
      'ssh-ec2: g5g.xlarge: no arm64 image named "X" owned by amazon in eu-central-1; trying g5.xlarge in eu-central-1a',
    ]);

    const mixed = await launchWithFallback(
      planAttempts(['g5g.xlarge', 'g5.xlarge'], ZONES.slice(0, 1)),
      async (a) => {
        throw a.instanceType === 'g5g.xlarge' ? noImage : awsError('InsufficientInstanceCapacity');
      },
      { log, region: 'eu-central-1' },
    ).catch((e: unknown) => e);
    expect(mixed).toBeInstanceOf(CapacityError);
    expect((mixed as Error).message).toBe(
      'no instance type tried could be launched: g5g.xlarge: no arm64 image named "X" owned by amazon in eu-central-1; g5.xlarge in eu-central-1a (InsufficientInstanceCapacity)',
    );

    const none = await launchWithFallback(
      planAttempts(['g5g.xlarge', 't4g.large'], ZONES),
      async () => {
        throw noImage;
      },
      { log, region: 'eu-central-1' },
    ).catch((e: unknown) => e);
    expect(none).toBeInstanceOf(CloudError);
    expect((none as CloudError).exitCode).toBe(4);
    expect((none as Error).message).toMatch(
      /^no image for any instance type tried: g5g\.xlarge: no arm64 image .*; t4g\.large: no arm64 image/,
    );
    expect((none as CloudError).hint).toBe('Set --image-name.');

    const one = await launchWithFallback(
      planAttempts(['g5g.xlarge'], ZONES),
      async () => {
        throw noImage;
      },
      { log, region: 'eu-central-1' },
    ).catch((e: unknown) => e);
    expect(one).toBe(noImage);
  });

  it('any other error stops at once', async () => {
    const { log } = logLines();
    let calls = 0;
    const err = await launchWithFallback(
      planAttempts(['g4dn.xlarge'], ZONES),
      async () => {
        calls++;
        throw awsError('UnauthorizedOperation');
      },
      { log, region: 'eu-central-1' },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CloudError);
    expect(calls).toBe(1);
  });

  it('an interrupt during an attempt: no further attempt is started', async () => {
    const { log } = logLines();
    const abort = new AbortController();
    const tried: string[] = [];
    const err = await launchWithFallback(
      planAttempts(['g4dn.xlarge', 'g5.xlarge'], ZONES),
      async (a) => {
        tried.push(label(a));
        abort.abort(new Error('SIGINT'));
        throw awsError('InsufficientInstanceCapacity');
      },
      { log, region: 'eu-central-1', signal: abort.signal },
    ).catch((e: unknown) => e);
    expect((err as Error).message).toBe('SIGINT');
    expect(tried).toEqual(['g4dn.xlarge@eu-central-1a']);
  });
});

describe('API retries', () => {
  const strategy = retryStrategy(6, () => 1);
  const sdkError = (name: string, status: number) =>
    Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

  it('retry 5xx and throttling with growing backoff, up to 6 attempts in all', async () => {
    let token = await strategy.acquireInitialRetryToken('');
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      token = await strategy.refreshRetryTokenForRetry(token, {
        errorType: i % 2 ? 'THROTTLING' : 'TRANSIENT',
        error: sdkError('InternalError', 500),
      });
      delays.push(token.getRetryDelay());
    }
    expect(delays).toEqual([100, 1000, 400, 4000, 1600]);
    await expect(strategy.refreshRetryTokenForRetry(token, { errorType: 'TRANSIENT' })).rejects.toThrow();
  });

  it('never retry client errors, nor capacity errors in place (EC2 answers those with a 500)', async () => {
    const token = await strategy.acquireInitialRetryToken('');
    await expect(
      strategy.refreshRetryTokenForRetry(token, {
        errorType: 'CLIENT_ERROR',
        error: sdkError('InvalidParameterValue', 400),
      }),
    ).rejects.toThrow();
    await expect(
      strategy.refreshRetryTokenForRetry(token, {
        errorType: 'TRANSIENT',
        error: sdkError('InsufficientInstanceCapacity', 500),
      }),
    ).rejects.toThrow();
  });
});
