/**
 * Who the caller is to AWS, and the owner value ssh-ec2 writes into the `ssh-ec2:user` tag.
 * Pure: the STS answer comes in (sts.ts asks for it).
 *
 * The owner is chosen so that an IAM policy can compare the tag with a policy variable that only
 * AWS sets, never the caller:
 * - an IAM user: the user name, which is `${aws:username}` (policy/ssh-ec2-iam-policy.json);
 * - anyone else (an assumed role, an SSO session, a federated user): the `UserId` STS reports,
 *   which is `${aws:userid}` (policy/ssh-ec2-role-policy.json): `AROA…:session-name` for a role
 *   session (the role's unique id, which a deleted and re-created role does not get back, and the
 *   session name), `account:name` for a federated user. IAM users have no `aws:userid` of that
 *   form to compare with a name, and roles have no `aws:username`: hence two policies.
 */
export interface CallerIdentity {
  account: string;
  arn: string;
  userId: string;
}

export type CallerKind = 'iam-user' | 'assumed-role' | 'federated-user' | 'root' | 'other';

export function callerKind(arn: string): CallerKind {
  const resource = /^arn:[^:]+:(?:iam|sts)::\d*:(.*)$/.exec(arn)?.[1] ?? '';
  if (resource === 'root') return 'root';
  if (resource.startsWith('user/')) return 'iam-user';
  if (resource.startsWith('assumed-role/')) return 'assumed-role';
  if (resource.startsWith('federated-user/')) return 'federated-user';
  return 'other';
}

/** The `ssh-ec2:user` tag value for this caller (see the top of this file). */
export function ownerTag(id: CallerIdentity): string {
  // An IAM user's ARN is arn:aws:iam::ACCOUNT:user/PATH/NAME; aws:username is NAME, without the path.
  if (callerKind(id.arn) === 'iam-user') return id.arn.slice(id.arn.lastIndexOf('/') + 1);
  return id.userId;
}

/**
 * The session name of a role assumed through a profile without `role_session_name`: the AWS SDKs
 * and CLI make one up per session (`aws-sdk-js-<time>`, `botocore-session-<time>`, …), so the
 * owner changes with every session and ssh-ec2 cannot find its instances again.
 */
export function generatedSessionName(id: CallerIdentity): string | undefined {
  if (callerKind(id.arn) !== 'assumed-role') return undefined;
  const session = id.arn.slice(id.arn.lastIndexOf('/') + 1);
  return /^(aws-sdk-[a-z]+|botocore-session|aws-go-sdk)-\d+$/.test(session) ? session : undefined;
}
