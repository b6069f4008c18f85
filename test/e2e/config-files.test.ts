/**
 * A project's config file reaches a real run (issue #12): `.ssh-ec2.toml` and its preset chosen by
 * --preset decide what the built CLI asks the sandbox's EC2 for. The precedence itself is a unit
 * table (test/unit/config.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { cli, instances, makeProject, reportedInstance, useSandbox } from './helpers.js';

const sb = useSandbox();

describe('.ssh-ec2.toml', () => {
  it('its instance type and the chosen preset’s max time are what the launch asks for', async () => {
    const dir = makeProject(sb, 'config-file', {
      // A GPU type (a GPU-less one with the default GPU image is refused: issue #13).
      '.ssh-ec2.toml': '# this project\ninstance-type = "g5.xlarge"\n\n[presets.short]\nmax-time = "30m"\n',
    });
    sb.clearCalls();
    // The instance's AWS rights are the user's to give, never a cloned project's: the environment here.
    const env = { AWS_IAM_INSTANCE_PROFILE: '' };
    const r = await cli(sb, ['--preset', 'short', 'echo ran'], { cwd: dir, env });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran\n');
    expect(sb.calls('RunInstances').map((c) => c.params.InstanceType)).toEqual(['g5.xlarge']);
    const id = reportedInstance(r.stderr);
    const tags = (await instances(sb)).find((i) => i.InstanceId === id)?.Tags ?? [];
    expect(tags.find((t) => t.Key === 'ssh-ec2:max-time')?.Value).toBe('30m');
  });

  it('a cloned project cannot open port 22 wider: exit 2 naming the line, before any AWS call', async () => {
    const dir = makeProject(sb, 'config-file-user-only', {
      '.ssh-ec2.toml': 'instance-type = "t3.micro"\nssh-cidr = "10.0.0.0/8"\n',
    });
    sb.clearCalls();
    const r = await cli(sb, ['echo ran'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain('.ssh-ec2.toml:2: ssh-cidr cannot be set in the project file');
    expect(r.stdout).toBe('');
    expect(sb.calls()).toEqual([]);
  });
});
