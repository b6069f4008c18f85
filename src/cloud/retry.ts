/** How one AWS call is retried (the SDK client's retry strategy): what is retried, how often, how long apart. */
import { isCapacityError } from './errors.js';

/** Attempts per call, the first included. */
export const MAX_ATTEMPTS = 6;

interface RetryToken {
  getRetryCount(): number;
  getRetryDelay(): number;
}

/**
 * The SDK's standard retries, spelled out: 5xx answers, timeouts and throttling
 * (RequestLimitExceeded, 429) are retried up to `maxAttempts` in all, with exponential backoff
 * and full jitter (bases 100 ms, and 500 ms when throttled; at most 20 s). A retry re-sends the
 * same request, so a RunInstances keeps its ClientToken and cannot launch twice. Unlike the
 * SDK's, capacity errors are never retried in place: EC2 answers InsufficientInstanceCapacity
 * with a 500, and retrying the same zone only delays the fallback (capacity.ts). No retry quota
 * (token bucket) either: one user's CLI makes a handful of calls.
 */
export function retryStrategy(maxAttempts: number, random: () => number = Math.random) {
  const token = (count: number, delay: number): RetryToken => ({
    getRetryCount: () => count,
    getRetryDelay: () => delay,
  });
  return {
    acquireInitialRetryToken: async (_scope: string) => token(0, 0),
    refreshRetryTokenForRetry: async (previous: RetryToken, info: { error?: unknown; errorType: string }) => {
      const retries = previous.getRetryCount();
      const retryable = info.errorType === 'THROTTLING' || info.errorType === 'TRANSIENT';
      if (!retryable || retries + 1 >= maxAttempts || isCapacityError(info.error)) throw new Error('not retried');
      const base = info.errorType === 'THROTTLING' ? 500 : 100;
      return token(retries + 1, Math.floor(random() * Math.min(20_000, base * 2 ** retries)));
    },
    recordSuccess: (_token: RetryToken) => {},
  };
}

/** What every SDK client of ours is made with (EC2, SQS, S3, STS…): the region, these retries, our user agent. */
export function clientConfig(region: string) {
  return {
    region,
    maxAttempts: MAX_ATTEMPTS,
    retryStrategy: retryStrategy(MAX_ATTEMPTS),
    customUserAgent: [['ssh-ec2', '0.1.0'] as [string, string]],
  };
}
