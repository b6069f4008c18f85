/**
 * `npm run demo`: the main job, end to end, against the local sandbox cloud (moto as EC2, a local
 * machine of its own as the instance): a sample project is launched, synced up, trained, synced back and the
 * instance terminated; then a summary of what happened and how long each phase took.
 */
import { execa } from 'execa';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { ensurePrerequisites, startSandbox } from '../test/sandbox/index.js';

const BIN = join(import.meta.dirname, '..', 'bin', 'ssh-ec2.js');
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const TRAIN = `import json, os, random, time
os.makedirs("models", exist_ok=True)
loss = 1.0
for epoch in range(1, 6):
    time.sleep(0.2)
    loss *= 0.6 + random.random() * 0.1
    print(f"epoch {epoch}/5  loss {loss:.4f}", flush=True)
json.dump({"loss": loss}, open("metrics.json", "w"))
open("models/model.bin", "wb").write(os.urandom(4096))
print("saved models/model.bin and metrics.json")
`;

async function main(): Promise<void> {
  await ensurePrerequisites();
  const sb = await startSandbox();
  try {
    const project = join(sb.dir, 'projects', 'demo-project');
    mkdirSync(join(project, 'data'), { recursive: true });
    writeFileSync(join(project, 'train.py'), TRAIN);
    writeFileSync(join(project, 'Makefile'), 'train:\n\tpython3 train.py\n');
    writeFileSync(join(project, 'data', 'huge-dataset.bin'), Buffer.alloc(1 << 20));
    writeFileSync(join(project, '.rsyncignore'), '# not needed on the instance\ndata/\n*.tmp\n');
    console.log(`demo project: ${project}`);
    console.log('$ ssh-ec2 -v make train\n');
    const started = Date.now();
    const r = await execa('node', [BIN, '-v', 'make', 'train'], {
      cwd: project,
      env: sb.env(),
      extendEnv: false,
      stdout: 'inherit',
      stderr: 'inherit',
      reject: false,
    });
    const wall = Date.now() - started;

    const ec2 = new EC2Client({
      region: sb.region,
      endpoint: sb.endpoint,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    const all =
      (await ec2.send(new DescribeInstancesCommand({}))).Reservations?.flatMap((x) => x.Instances ?? []) ?? [];
    const calls = sb.calls();
    console.log('\n── demo summary ─────────────────────────────');
    console.log(`exit status        ${r.exitCode}`);
    console.log(`wall time          ${(wall / 1000).toFixed(1)}s`);
    console.log(`results back       metrics.json = ${readFileSync(join(project, 'metrics.json'), 'utf8')}`);
    console.log(
      `instances          ${all.map((i) => `${i.InstanceId} ${i.InstanceType} ${i.State?.Name}`).join(', ')}`,
    );
    console.log(`EC2 API calls      ${calls.length}: ${[...new Set(calls.map((c) => c.action))].join(', ')}`);
    console.log('(phases and timings: the "ssh-ec2: done in …" line above)');
    process.exitCode = r.exitCode ?? 1;
  } finally {
    await sb.stop();
  }
}

await main();
