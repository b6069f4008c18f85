// The sandbox speaks STS too (moto behind the proxy): its calls are told from EC2's and recorded
// as such, and a fault injected into one comes back in STS's own error format.
import { DescribeRegionsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callerIdentity } from '../../src/cloud/sts.js';
import { ConfigError } from '../../src/errors.js';
import { startSandbox, type Sandbox } from '../sandbox/index.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

describe('STS in the sandbox', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox();
  });
  afterAll(async () => {
    await sb?.stop();
  });
  const config = () => ({ region: sb.region, endpoint: sb.endpoint, credentials, maxAttempts: 1 });

  it('GetCallerIdentity is answered by moto and recorded as an STS call; EC2 calls stay EC2 ones', async () => {
    sb.clearCalls();
    const me = await new STSClient(config()).send(new GetCallerIdentityCommand({}));
    expect(me.Arn).toMatch(/^arn:aws:sts::\d{12}:user\/\w+$/);
    await new EC2Client(config()).send(new DescribeRegionsCommand({}));
    expect(sb.calls().map((c) => [c.service, c.action, c.status])).toEqual([
      ['sts', 'GetCallerIdentity', 200],
      ['ec2', 'DescribeRegions', 200],
    ]);
  });

  it("an injected STS fault (in STS's error format, as AWS sends it) reaches the SDK with its code, and ssh-ec2 reads expired credentials as such", async () => {
    sb.inject({
      action: 'GetCallerIdentity',
      status: 400,
      code: 'ExpiredToken',
      message: 'The security token included in the request is expired',
    });
    const err = await callerIdentity(config()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe(
      'your AWS credentials have expired (AWS answered ExpiredToken when asked to find out who you are to AWS (STS GetCallerIdentity))',
    );
    expect(((err as Error).cause as Error).name).toBe('ExpiredToken');
    expect(sb.calls('GetCallerIdentity').at(-1)).toMatchObject({ service: 'sts', status: 400, injected: true });
  });
});
