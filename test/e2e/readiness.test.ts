/**
 * Readiness on a booting instance (issue #11): the sandbox holds sshd back after RunInstances, as
 * a machine that is still booting. ssh is probed often, but each probe is only an ssh try: the
 * Instance Connect key is not pushed again per try, the console is not asked per try, and the
 * host key is still checked against the console before anything is sent. Behaviour, not timing:
 * how fast is for the bench (npm run bench, "sshd accepting → command started").
 */
import { describe, expect, it } from 'vitest';
import { cli, instanceState, makeProject, reportedInstance, useSandbox } from './helpers.js';

/**
 * Long enough for several probes to be refused whatever the machine's load: the hold starts at
 * RunInstances, and a loaded CI machine can take a few seconds to get from there to the first probe.
 */
const BOOT_DELAY_MS = 6000;
const sb = useSandbox({ bootDelayMs: BOOT_DELAY_MS });

describe('an instance whose sshd answers a while after it is running', () => {
  it('is probed until sshd answers; the key pushed once it is accepted, the console not per probe', async () => {
    sb.aws.setLateConsole(1);
    const dir = makeProject(sb, 'booting', { 'in.txt': 'x' });
    sb.clearCalls();
    const r = await cli(sb, ['-v', 'cat in.txt; echo ran'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('xran\n');
    const id = reportedInstance(r.stderr);
    const machine = sb.latestMachine();
    expect(machine.sshReachableAt).toBeDefined();

    // Instance Connect refuses the first key after a boot: pushed again, then not per probe.
    expect(sb.calls('SendSSHPublicKey').map((c) => [c.params.InstanceId, c.status])).toEqual([
      [id, 400],
      [id, 200],
    ]);
    // Several refused tries, each one ssh; said once for a reason that does not change.
    const attempts = Number(/ssh ready after (\d+) attempts/.exec(r.stderr)?.[1]);
    expect(attempts).toBeGreaterThan(2);
    expect(r.stderr.match(/ssh not ready yet/g)).toHaveLength(1);
    // The console looked at with its own backoff, not per ssh try; the key checked against it.
    const looks = sb.calls('GetConsoleOutput');
    expect(looks.length).toBeGreaterThanOrEqual(1);
    expect(r.stderr).toMatch(new RegExp(`host key of ${id} matches its console output \\(SHA256:`));
    expect(r.stderr).not.toMatch(/trusted on first use/);
    // Checked before anything was sent: the agent and the sync up come after.
    const checked = r.stderr.indexOf(`host key of ${id} matches`);
    expect(checked).toBeLessThan(r.stderr.indexOf('agent: idle timeout'));
    expect(checked).toBeLessThan(r.stderr.indexOf('↑ in.txt'));
    expect(await instanceState(sb, id)).toBe('terminated');
  });
});
