/**
 * STS GetCallerIdentity: who the credentials belong to. It needs no permission (an explicit deny
 * cannot block it), so every ssh-ec2 user can ask. Loaded only when a run needs the owner.
 */
import './quiet-sdk.js';
import { GetCallerIdentityCommand, STSClient, type STSClientConfig } from '@aws-sdk/client-sts';
import { aws } from './errors.js';
import type { CallerIdentity } from './identity.js';

export async function callerIdentity(config: STSClientConfig): Promise<CallerIdentity> {
  const sts = new STSClient(config);
  try {
    const r = await aws('find out who you are to AWS (STS GetCallerIdentity)', () =>
      sts.send(new GetCallerIdentityCommand({})),
    );
    if (!r.Arn || !r.UserId) throw new Error('STS GetCallerIdentity answered without an Arn or UserId');
    return { account: r.Account ?? '', arn: r.Arn, userId: r.UserId };
  } finally {
    sts.destroy();
  }
}
