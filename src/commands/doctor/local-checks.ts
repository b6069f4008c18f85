/** doctor's checks of this machine: Node, OpenSSH, rsync (and what it can do). No AWS call. */
import { UserError } from '../../errors.js';
import { requirePrograms, runAllowFailure } from '../../remote/exec.js';
import { lacking, localRsync, missingFor, rsyncSource, tooOld } from '../../remote/rsync-capabilities.js';
import type { LocalContext } from '../../session/context.js';
import { fail, ok, warn, type Check } from './report.js';

/** package.json's engines (^20.19.0 || ^24.0.0), as a test of the running version. */
export function nodeCheck(version = process.versions.node): Check {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const supported = (major === 20 && minor >= 19) || major >= 24;
  return supported
    ? ok('node', `v${version}`)
    : fail('node', `v${version} is not supported (20.19+ or 24+)`, 'Install Node 24 (or 20.19+), e.g. with nvm.');
}

/** ssh and ssh-keygen on PATH, and OpenSSH's version (ssh -V answers on stderr). */
export async function sshCheck(): Promise<Check> {
  try {
    await requirePrograms(['ssh', 'ssh-keygen']);
  } catch (err) {
    if (err instanceof UserError) return fail('ssh', err.message, err.hint);
    throw err;
  }
  const r = await runAllowFailure(['ssh', '-V'], { timeoutMs: 10_000 });
  const version = `${r.stderr}${r.stdout}`.trim().split('\n')[0] ?? '';
  return ok('ssh', version || 'ssh found (no version said)');
}

/** The rsync a run would use: missing or unable to sync is a failure; one that does without extras, a warning. */
export async function rsyncCheck(
  local: LocalContext,
  env: Readonly<Record<string, string | undefined>>,
): Promise<Check> {
  if (!local.options.rsync) return ok('rsync', 'not used (--no-rsync)');
  try {
    // keep: false: a fresh probe's answer is not written to the state directory (doctor writes nothing).
    const caps = await localRsync({ ...rsyncSource(local), env, keep: false });
    const missing = missingFor(caps, ['up', 'back']);
    if (missing.length > 0) {
      const err = tooOld(caps, missing);
      return fail('rsync', err.message, err.hint);
    }
    const found = `${caps.path}: ${caps.version}`;
    // Protocol 30 (rsync 3.0) brought the incremental file list: before it, a whole tree is
    // listed before the first file moves.
    const protocol = Number(/protocol version (\d+)/.exec(caps.version)?.[1] ?? 30);
    const without = [
      ...(protocol < 30 ? ['send the file list as it walks the tree (a large tree is listed whole first)'] : []),
      ...(caps.pull ? [] : ['bring files back as a client (it receives as a server instead)']),
      ...lacking(caps),
    ];
    if (without.length === 0) return ok('rsync', found);
    return warn(
      'rsync',
      `${found}: works, but cannot ${without.join(', ')}`,
      'For the full sync, install a current rsync (macOS: brew install rsync) or point SSH_EC2_RSYNC at one.',
    );
  } catch (err) {
    if (err instanceof UserError) return fail('rsync', err.message, err.hint);
    throw err;
  }
}
