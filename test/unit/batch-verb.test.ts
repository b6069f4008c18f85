// ssh-ec2 batch's refusals through the real entry (main()), before any AWS call: a session's
// options a batch cannot take, a mistake in the jobs file, and a session given a batch's settings.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { FakeCloud } from '../fakes/cloud.js';
import { cli, machine, type Machine } from '../fakes/cli.js';

let m: Machine;
beforeEach(() => {
  m = machine();
  writeFileSync(join(m.project, 'jobs.txt'), 'echo one\necho two\n');
});
afterEach(() => m.cleanup());

describe('ssh-ec2 batch refuses before AWS', () => {
  it.each([
    [['--attach'], '--attach is not for ssh-ec2 batch'],
    [['--detach'], '--detach is not for ssh-ec2 batch'],
    [['-L', '8888:localhost:8888'], '-L is not for ssh-ec2 batch'],
    [['--tty'], '--tty is not for ssh-ec2 batch'],
    [['--stop'], 'is not for ssh-ec2 batch'],
    [['--sync-every', '5m'], '--sync-every is not for ssh-ec2 batch'],
    [['--dry-run'], '--dry-run is not for ssh-ec2 batch'],
  ])('%j: one line, exit 2', async (flags, said) => {
    const cloud = new FakeCloud();
    const r = await cli(m, cloud, ['batch', 'jobs.txt', ...flags]);
    expect(r.status, r.lines.join('\n')).toBe(ExitCode.usage);
    expect(r.lines[0]).toContain(said);
    expect(r.regions).toEqual([]);
  });

  it('a jobs file mistake names the file and line; --instances with mixed types is refused', async () => {
    writeFileSync(join(m.project, 'bad.csv'), 'instance_type,command\nt3.large,"echo\n');
    const bad = await cli(m, new FakeCloud(), ['batch', 'bad.csv']);
    expect(bad.status).toBe(ExitCode.usage);
    expect(bad.lines[0]).toMatch(/bad\.csv:2: a quote opened here is never closed/);
    writeFileSync(join(m.project, 'mixed.csv'), 'instance_type,command\nt3.large,a\ng5.xlarge,b\n');
    const mixed = await cli(m, new FakeCloud(), ['batch', 'mixed.csv', '--instances', '2']);
    expect(mixed.status).toBe(ExitCode.usage);
    expect(mixed.lines[0]).toContain("with --instances, every job runs on any of the batch's instances");
    expect(mixed.regions).toEqual([]);
  });

  it('a batch with spot jobs (--spot, --spot-fallback, a spot=yes row) needs --results: one line with why and the fix', async () => {
    writeFileSync(join(m.project, 'spot.csv'), 'instance_type,command,spot\nt3.large,a,no\nt3.large,b,yes\n');
    for (const argv of [['jobs.txt', '--spot'], ['jobs.txt', '--spot-fallback'], ['spot.csv']]) {
      const r = await cli(m, new FakeCloud(), ['batch', ...argv]);
      expect(r.status, argv.join(' ')).toBe(ExitCode.usage);
      expect(r.lines[0]).toBe(
        'ssh-ec2: error: a batch with spot jobs needs --results s3://bucket/prefix: a one-time spot instance cannot be stopped, so its files would go with it',
      );
      expect(r.regions).toEqual([]);
    }
  });

  it("--max-price goes with the jobs file's spot column as with --spot; refused where no job is spot", async () => {
    writeFileSync(join(m.project, 'spot.csv'), 'instance_type,command,spot\nt3.large,a,no\nt3.large,b,yes\n');
    const r = await cli(m, new FakeCloud(), ['batch', 'spot.csv', '--max-price', '0.5']);
    expect(r.lines[0]).toContain('needs --results');
    const plain = await cli(m, new FakeCloud(), ['batch', 'jobs.txt', '--max-price', '0.5']);
    expect(plain.status).toBe(ExitCode.usage);
    expect(plain.lines[0]).toContain('--max-price is a spot price');
  });

  it.each(['--instances', '--retries', '--setup', '--parallel'])('a session refuses %s in one line', async (flag) => {
    const r = await cli(m, new FakeCloud(), [flag, '2', 'echo', 'hi']);
    expect(r.status).toBe(ExitCode.usage);
    expect(r.lines[0]).toContain(`${flag} is for ssh-ec2 batch`);
    expect(r.regions).toEqual([]);
  });
});
