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
      '.ssh-ec2.toml':
        '# this project\ninstance-type = "t3.micro"\niam-profile = ""\n\n[presets.short]\nmax-time = "30m"\n',
    });
    sb.clearCalls();
    const r = await cli(sb, ['--preset', 'short', 'echo ran'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran\n');
    expect(sb.calls('RunInstances').map((c) => c.params.InstanceType)).toEqual(['t3.micro']);
    const id = reportedInstance(r.stderr);
    const tags = (await instances(sb)).find((i) => i.InstanceId === id)?.Tags ?? [];
    expect(tags.find((t) => t.Key === 'ssh-ec2:max-time')?.Value).toBe('30m');
  });
});
