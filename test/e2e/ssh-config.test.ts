/**
 * A user's own ssh config whose `Host *` block would break ssh-ec2's ssh and rsync (a
 * RemoteCommand, a forced terminal, a LocalCommand allowed to run, a port forward, their own
 * multiplexing, user and host key files): prepended to a config that Includes the sandbox's, so
 * ssh still reaches the sandbox's sshd. A command, the sync both ways and a --detach job work as
 * without it, and nothing of the block runs.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostileSshBlock, localSshIsModern } from '../fixtures/hostile-ssh-config.js';
import { freePort, tcpAccepts } from '../sandbox/util.js';
import { cli, instanceState, makeProject, reportedInstance, useSandbox } from './helpers.js';

const sb = useSandbox();

describe("a user's hostile ssh config", () => {
  it('a command, a sync up and back, a --detach job and its --attach work through it, and nothing of it runs', async () => {
    const marker = join(sb.dir, 'local-command-ran');
    const forwardPort = await freePort();
    const config = join(sb.dir, 'hostile ssh config');
    writeFileSync(
      config,
      `${hostileSshBlock({ localCommandMarker: marker, forwardPort, controlDir: sb.dir, modernSsh: localSshIsModern() })}Include "${sb.sshConfig}"\n`,
    );
    const env = { SSH_EC2_SSH_CONFIG: config };
    const dir = makeProject(sb, 'hostile-config', { 'in.txt': 'data\n' });

    const run = await cli(sb, ['--leave', 'cat in.txt; echo out > out.txt'], { cwd: dir, env });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toBe('data\n'); // no RemoteCommand's or LocalCommand's output, no terminal's \r
    expect(readFileSync(join(dir, 'out.txt'), 'utf8')).toBe('out\n');
    const id = reportedInstance(run.stderr);

    const detached = await cli(sb, ['--detach', 'echo job > job.txt'], { cwd: dir, env });
    expect(detached.exitCode, detached.stderr).toBe(0);
    const attached = await cli(sb, ['--attach'], { cwd: dir, env });
    expect(attached.exitCode, attached.stderr).toBe(0);
    expect(readFileSync(join(dir, 'job.txt'), 'utf8')).toBe('job\n');

    for (const r of [run, detached, attached])
      expect(r.stdout + r.stderr).not.toMatch(/hostile-(remote|local)-command|debug1:/);
    expect(existsSync(marker)).toBe(false);
    expect(await tcpAccepts(forwardPort)).toBe(false); // the config's forward was never opened
    expect(await instanceState(sb, id)).toBe('terminated');
  });
});

describe('an ssh config that ssh itself refuses', () => {
  it.each([
    [
      'a line it does not know',
      'NoSuchOptionHere yes',
      /ssh refused its configuration: .* line \d+: Bad configuration option: nosuchoptionhere/,
    ],
    [
      'a %-token it does not know',
      'IdentityFile /nonexistent/key-%q',
      /ssh refused its configuration: .*unknown key %q/,
    ],
  ])(
    '%s: one line naming it, at once (not after the readiness wait), and nothing left running',
    async (_, line, said) => {
      const config = join(sb.dir, `refused ssh config ${line.length}`);
      writeFileSync(config, `Host *\n  ${line}\nInclude "${sb.sshConfig}"\n`);
      const dir = makeProject(sb, `refused-config-${line.length}`, { 'in.txt': 'data\n' });
      const r = await cli(sb, ['touch ran.txt'], { cwd: dir, env: { SSH_EC2_SSH_CONFIG: config } });
      expect(r.exitCode, r.stderr).toBe(3);
      const errors = r.stderr.split('\n').filter((l) => /error:/.test(l));
      expect(errors, r.stderr).toHaveLength(1);
      expect(errors[0]).toMatch(said);
      expect(r.stderr).toMatch(/correct what it names in your ssh config/i);
      expect(r.stderr).not.toMatch(/could not ssh|attempts/);
      expect(existsSync(join(dir, 'ran.txt'))).toBe(false);
      const id = reportedInstance(r.stderr);
      expect(await instanceState(sb, id)).toBe('terminated');
    },
  );
});
