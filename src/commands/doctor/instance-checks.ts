/**
 * doctor's checks on this directory's instance, when one is running and answers ssh: a terminal
 * multiplexer (--detach, --multi), free disk in the project directory, a GPU nvidia-smi sees.
 * Nothing is launched or started for them; one command over ssh asks all three. The instance is
 * reached as `ssh-ec2 logs` reaches it: its host key pinned on first contact (checked against the
 * console first), so that what doctor learnt is what the next run checks rather than learns again.
 */
import { rmSync } from 'node:fs';
import { isAccelerated } from '../../cloud/dlami.js';
import type { InstanceInfo } from '../../cloud/port.js';
import { UserError } from '../../errors.js';
import { shQuote } from '../../remote/remote-command.js';
import type { Run } from '../../session/context.js';
import { sshLog } from '../../state/leftovers.js';
import { connectFound } from '../existing-instance.js';
import { fail, ok, warn, type Check } from './report.js';

/** Below this much free space in the project directory a run is likely to fail writing its results. */
const LOW_DISK_KB = 2 * 1024 * 1024;

/** One script, its answers one a line as `name:value`. */
export function probeScript(remoteDir: string): string {
  return [
    `cd ${shQuote(remoteDir)} 2>/dev/null || cd`,
    'echo "tmux:$(command -v tmux)"',
    'echo "screen:$(command -v screen)"',
    'df -Pk . | tail -n 1 | sed "s/^/df:/"',
    'out=$(nvidia-smi -L 2>&1); echo "gpu-status:$?"',
    'printf "%s\\n" "$out" | sed "s/^/gpu:/"',
  ].join('\n');
}

const GiB = (kb: number) => `${(kb / 1024 / 1024).toFixed(1)} GiB`;
const shown = (dir: string) => (dir.startsWith('/') ? dir : `~/${dir}`);

/** The three checks from the script's answer. */
export function readProbe(out: string, instance: InstanceInfo, remoteDir: string): Check[] {
  const values = (name: string) =>
    out
      .split('\n')
      .filter((l) => l.startsWith(`${name}:`))
      .map((l) => l.slice(name.length + 1));
  const [tmux, screen] = [values('tmux')[0], values('screen')[0]];
  const checks: Check[] = [];
  checks.push(
    tmux || screen
      ? ok('multiplexer', [tmux && `tmux (${tmux})`, screen && `screen (${screen})`].filter(Boolean).join(', '))
      : warn(
          'multiplexer',
          `neither tmux nor screen on ${instance.id}: --detach and --multi need one`,
          'Install one there: ssh-ec2 -- sudo apt-get install -y tmux (or dnf).',
        ),
  );
  // df -Pk: filesystem, size, used, available, capacity, mount.
  const [, size, , avail] = (values('df')[0] ?? '').trim().split(/\s+/).map(Number);
  if (avail === undefined || Number.isNaN(avail)) checks.push(warn('disk', 'df said nothing readable'));
  else if (avail < LOW_DISK_KB)
    checks.push(
      fail(
        'disk',
        `${GiB(avail)} free of ${GiB(size ?? 0)} in ${shown(remoteDir)}`,
        'Free space there (ssh-ec2 -- du -sh ...), or launch a new instance with --volume-size larger.',
      ),
    );
  else checks.push(ok('disk', `${GiB(avail)} free of ${GiB(size ?? 0)} in ${shown(remoteDir)}`));
  const status = Number(values('gpu-status')[0] ?? '127');
  const gpus = values('gpu').filter((l) => /^GPU \d+/.test(l));
  if (status === 0 && gpus.length > 0) checks.push(ok('gpu', gpus.join('; ')));
  else if (!isAccelerated(instance.type)) checks.push(ok('gpu', `none (${instance.type} has no GPU)`));
  else
    checks.push(
      fail(
        'gpu',
        status === 127
          ? `nvidia-smi not found on ${instance.id} (${instance.type}): no NVIDIA driver`
          : `nvidia-smi sees no GPU on ${instance.id} (${instance.type}): ${values('gpu')[0] ?? `exit ${status}`}`,
        'Use an image with the NVIDIA driver (the default Deep Learning AMI), or install it there; then reboot the instance.',
      ),
    );
  return checks;
}

/** The checks on `instance` (undefined: none here, nothing checked). */
export async function instanceChecks(
  run: Run,
  instance: InstanceInfo | undefined,
  signal: AbortSignal,
): Promise<Check[]> {
  if (!instance) return [ok('instance', 'none for this directory: nothing to check on one')];
  if (instance.state !== 'running')
    return [ok('instance', `${instance.id} is ${instance.state}: not started to check it`)];
  try {
    // Not letting this address in (a change to the group): doctor only looks.
    const conn = await connectFound(run, instance, signal, { letIn: false });
    try {
      const r = await conn.exec(probeScript(run.plan.remoteDir));
      return [
        ok('instance', `${instance.id} (${instance.type}) answers ssh`),
        ...readProbe(r.stdout, instance, run.plan.remoteDir),
      ];
    } finally {
      // A master doctor opened is closed (and its ssh log gone with it); one another run had open
      // is left to that run.
      await conn.close({ keep: conn.reused });
      if (!conn.reused) rmSync(sshLog(run.paths, instance.id), { force: true });
    }
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    return [warn('instance', `${instance.id} is running but did not answer ssh: ${err.message}`, err.hint)];
  }
}
