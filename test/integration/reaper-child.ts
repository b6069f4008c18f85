// Run by sandbox-reaper.test.ts: a sandbox with one running instance and a process on it; prints
// what the test needs, then waits to be killed outright (SIGKILL), as a crashed test run would be.
import { EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { startSandbox } from '../sandbox/index.js';
const sb = await startSandbox();
const ec2 = new EC2Client({
  region: sb.region,
  endpoint: sb.endpoint,
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
});
const out = await ec2.send(
  new RunInstancesCommand({ ImageId: 'ami-0d1a00000000a0004', InstanceType: 'g4dn.xlarge', MinCount: 1, MaxCount: 1 }),
);
const m = sb.machine(String(out.Instances?.[0]?.InstanceId));
await m.runAsUser('(sleep 600 >/dev/null 2>&1 &)');
console.log(JSON.stringify({ dir: sb.dir, user: m.unixUser, uid: m.uid }));
await new Promise(() => undefined);
