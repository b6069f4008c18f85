// The instance profile's credentials, as EC2's metadata service hands them to the software of an
// instance (the AWS CLI that uploads --results): GET latest/meta-data/iam/security-credentials/
// names the role, .../<role> answers its temporary credentials (IMDSv2: with a token the proxy
// issued to that instance). Every instance of the sandbox has the same role, whatever profile it
// was launched with (moto keeps no IAM roles for it to check); the keys are the sandbox's own, so a
// test tells an instance's S3 calls (signed with INSTANCE_PROFILE_KEY) from the laptop's.
import type { Reply } from './proxy.js';

export const INSTANCE_PROFILE_ROLE = 'ssh-ec2-sandbox-instance-role';
export const INSTANCE_PROFILE_KEY = 'ASIASANDBOXINSTANCE01';
const CREDENTIALS_PATH = '/latest/meta-data/iam/security-credentials/';

/** How long each set of credentials is good for, as EC2's are (hours). */
const LIFETIME_MS = 6 * 3600_000;

/**
 * The answer to a metadata request under latest/meta-data/iam/, or undefined for any other path.
 * `tokenGood`: the request carries a live token issued to the instance asking.
 */
export function instanceProfileAnswer(
  path: string,
  method: string,
  tokenGood: boolean,
  now: number,
): Reply | undefined {
  if (!path.startsWith('/latest/meta-data/iam/')) return undefined;
  const reply = (status: number, body: string, type = 'text/plain'): Reply => ({
    status,
    headers: { 'content-type': type },
    body: Buffer.from(body),
  });
  if (method !== 'GET') return reply(405, 'Method Not Allowed');
  if (!tokenGood) return reply(401, 'Unauthorized');
  if (path === CREDENTIALS_PATH) return reply(200, INSTANCE_PROFILE_ROLE);
  if (path === `${CREDENTIALS_PATH}${INSTANCE_PROFILE_ROLE}`) {
    const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
    return reply(
      200,
      JSON.stringify({
        Code: 'Success',
        LastUpdated: iso(now),
        Type: 'AWS-HMAC',
        AccessKeyId: INSTANCE_PROFILE_KEY,
        SecretAccessKey: 'sandbox-instance-secret',
        Token: 'sandbox-instance-session-token',
        Expiration: iso(now + LIFETIME_MS),
      }),
      'application/json',
    );
  }
  return reply(404, 'Not Found');
}
