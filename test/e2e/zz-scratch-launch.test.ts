import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { cli, instances, makeProject, until, useSandbox } from './helpers.js';

const sb = useSandbox();

it('scratch: launch and prepare', async () => {
  const dir = makeProject(sb, 'scratch', { 'jobs.txt': 'echo fine > out.txt\nexit 3\n' });
  const r = await cli(sb, ['batch', 'jobs.txt', '--instances', '1', '--retries', '0', '-v'], { cwd: dir, timeoutMs: 300_000 });
  console.log(r.exitCode, r.stdout, r.stderr);
  const rec = readdirSync(join(dir, '.ssh-ec2', 'batches'));
  console.log(rec, readFileSync(join(dir, '.ssh-ec2', 'batches', rec[0]!), 'utf8'));
  const batch = rec[0]!.slice(0, -5);
  const all = (await instances(sb)).filter((i) => i.Tags?.some((t) => t.Key === 'ssh-ec2:batch'));
  console.log(all.map((i) => [i.InstanceId, i.State?.Name, JSON.stringify(i.Tags)]));
  const id = all[0]!.InstanceId!;
  const m = sb.machine(id);
  const w = () => join(m.homeAtTermination ?? m.home, '.ssh-ec2', 'batch', batch, 'worker');
  await until(() => existsSync(w()) && /^done/.test(readFileSync(w(), 'utf8')), 'worker done', 120_000).catch((e) => console.log(String(e)));
  const jobs = join(m.homeAtTermination ?? m.home, '.ssh-ec2', 'batch', batch, 'jobs');
  for (const j of existsSync(jobs) ? readdirSync(jobs) : []) console.log(j, readFileSync(join(jobs, j, 'state'), 'utf8'));
  console.log(existsSync(w()) ? readFileSync(w(), 'utf8') : 'no worker file');
  expect(r.exitCode).toBe(0);
});
