/**
 * Every AWS error is mapped here, once, to a user-facing error with a hint. Capacity errors get
 * their own class so the launcher can try elsewhere before giving up. What each code means is
 * aws-codes.ts's table.
 */
import { CapacityError, CloudError, ConfigError, UserError } from '../errors.js';
import { isCapacityCode, kindOf } from './aws-codes.js';

export function errorCode(err: unknown): string {
  const e = err as { name?: string; Code?: string; code?: string };
  return e?.Code ?? e?.name ?? e?.code ?? '';
}

/**
 * How the SDK's credential and token providers say, before any call is sent, that a login has
 * run out: an SSO session (credential-provider-sso: "The SSO session associated with this profile
 * has expired." / "… is invalid.", both "To refresh this SSO session run aws sso login …"), an SSO
 * token (token-providers: "Token is expired."), an `aws login` session (credential-provider-login:
 * "Your session has expired."). They come as CredentialsProviderError / TokenProviderError, the
 * same class as "no credentials at all", so only the text tells them apart.
 */
const EXPIRED_TEXT = /(token|session)\b.*\b(expired|invalid)|refresh this SSO session/i;

function expiredOne(e: unknown): boolean {
  const code = errorCode(e);
  return kindOf(code) === 'expired' || (/ProviderError$/.test(code) && EXPIRED_TEXT.test((e as Error).message ?? ''));
}

/** A failure (mapped or not) caused by expired credentials. */
export function isExpiredCredentials(err: unknown): boolean {
  for (let e = err; e; e = (e as { cause?: unknown }).cause) if (expiredOne(e)) return true;
  return false;
}

export function isCapacityError(err: unknown): boolean {
  return isCapacityCode(errorCode(err));
}

/** `doing` completes "could not …", e.g. "launch the instance". */
export function mapAwsError(err: unknown, doing: string): UserError | unknown {
  const code = errorCode(err);
  const message = (err as Error)?.message ?? String(err);
  const opts = { cause: err };
  // Already said (a Ctrl-C's Interrupted ending a retry) or our own abort: not AWS's answer.
  if (err instanceof UserError || code === 'AbortError') return err;
  // Before "no credentials": an expired SSO login is a CredentialsProviderError too.
  if (expiredOne(err) || /(token|session).*expired/i.test(message)) {
    // The providers' text goes on with how to refresh: the hint says that.
    const said =
      kindOf(code) === 'expired'
        ? `AWS answered ${code}`
        : `${code || 'AWS'}: ${firstSentence(message).split(/\.\s/)[0]}`;
    return new ConfigError(
      `your AWS credentials have expired (${said} when asked to ${doing})`,
      "Renew them (`aws sso login`, or new keys for your profile) and run again. If they are fresh, check this machine's clock.",
      opts,
    );
  }
  if (code === 'CredentialsProviderError' || /Could not load credentials/i.test(message)) {
    return new ConfigError(
      'no AWS credentials found',
      'Configure them with `aws configure` or `aws sso login` (AWS_PROFILE selects a profile), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.',
      opts,
    );
  }
  if (kindOf(code) === 'rejected') {
    return new ConfigError(`AWS rejected your credentials (${code})`, 'Check AWS_PROFILE / your access keys.', opts);
  }
  if (kindOf(code) === 'denied') {
    const action = /perform: ([\w:-]+)/.exec(message)?.[1];
    return new CloudError(
      `not allowed to ${doing}${action ? ` (${action})` : ''}`,
      'Ask your AWS administrator for the ssh-ec2 policy: policy/ssh-ec2-iam-policy.json for IAM users, policy/ssh-ec2-role-policy.json for SSO and roles.',
      code,
      opts,
    );
  }
  if (code === 'InvalidKeyPair.NotFound') {
    return new ConfigError(
      `${firstSentence(message)}`,
      'Import your public key as an EC2 key pair in this region, set AWS_KEY_NAME, or drop -i to use EC2 Instance Connect.',
      opts,
    );
  }
  if (isCapacityCode(code)) {
    return new CapacityError(
      `could not ${doing}: ${firstSentence(message)}`,
      'Try another instance type (--instance-type a,b) or region (--region), or ask AWS for a quota increase.',
      opts,
    );
  }
  if (/^Invalid|MissingParameter|^Unknown/.test(code)) {
    return new CloudError(`could not ${doing}: ${firstSentence(message)}`, undefined, code, opts);
  }
  if (/ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EAI_AGAIN|ECONNRESET|socket hang up/.test(`${code} ${message}`)) {
    return new CloudError(
      `could not reach AWS to ${doing}: ${firstSentence(message)}`,
      'Check your network connection (and AWS_ENDPOINT_URL if you set it).',
      code,
      opts,
    );
  }
  if (code && code !== 'Error' && code !== 'TypeError') {
    return new CloudError(`could not ${doing}: ${code}: ${firstSentence(message)}`, undefined, code, opts);
  }
  return err;
}

function firstSentence(message: string): string {
  return message.split('\n')[0]!.trim();
}

/** Awaits an AWS call, mapping its failure. */
export async function aws<T>(doing: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw mapAwsError(err, doing);
  }
}
