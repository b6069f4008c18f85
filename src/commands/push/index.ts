/**
 * ssh-ec2 push PATH...: these paths (files or directories inside the project) up to this
 * directory's instance now, nothing run. The instance is reached as pull reaches it: found, or
 * started if stopped (then stopped again), never launched; its data volume (--volume) attached and
 * mounted first, so `push data/` fills it. What is named is sent as it is (no ignore rules: the
 * paths were chosen), never deleting anything there; what it replaces there is kept (sayKept).
 */
import { realpathSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { ExitCode, SubprocessError, UsageError, UserError } from '../../errors.js';
import { run as runProgram } from '../../remote/exec.js';
import { excludeFileText, pushArgv } from '../../remote/rsync.js';
import { requireRsync, rsyncSource } from '../../remote/rsync-capabilities.js';
import { localContext } from '../../session/context.js';
import { syncParams } from '../../session/run-session.js';
import { runStory } from '../../session/story.js';
import { includeOnlyList, OWN_DIR, type Entry } from '../../sync/ignore-rules.js';
import { backupStamp } from '../../sync/three-way.js';
import type { Connection } from '../../remote/connection.js';
import { shQuote } from '../../remote/remote-command.js';
import type { Logger } from '../../ui/logger.js';
import { listTransferred, rsyncFailed, writeRsh } from '../../sync/sync-up.js';
import { reachExisting } from '../existing-instance.js';
import { requireLocalPrograms } from '../shared.js';
import type { CommandContext } from '../types.js';

/** Each path as the project's relative '/'-path and its kind; outside the project: a usage error. */
export function projectPaths(projectDir: string, cwd: string, args: readonly string[]): Entry[] {
  if (args.length === 0) throw new UsageError('ssh-ec2 push takes the paths to send (files or directories here)');
  const root = realpathSync(projectDir);
  return args.map((arg) => {
    const st = statSync(resolve(cwd, arg), { throwIfNoEntry: false });
    if (!st) throw new UsageError(`push: ${arg} does not exist`);
    const rel = relative(root, realpathSync(resolve(cwd, arg)));
    if (rel === '' || rel.startsWith('..') || rel.startsWith(sep))
      throw new UsageError(
        `push: ${arg} is not inside the project directory ${projectDir}`,
        rel === ''
          ? 'Name what to send (ssh-ec2 CMD syncs the whole directory).'
          : 'Move or copy it into the project first.',
      );
    return { path: rel.split(sep).join('/'), type: st.isDirectory() ? 'dir' : 'file' };
  });
}

/** The include-only filter: each path, its parents, a directory's whole content; nothing else. */
export function pushFilter(paths: readonly Entry[]): string {
  const parents = new Set<string>();
  for (const p of paths)
    for (let i = p.path.indexOf('/'); i !== -1; i = p.path.indexOf('/', i + 1)) parents.add(p.path.slice(0, i));
  const only: Entry[] = [...[...parents].map((path) => ({ path, type: 'dir' as const })), ...paths];
  const list = includeOnlyList(only);
  // Everything below a named directory: `+ /dir/**` before the final `- *`.
  const below = paths.filter((p) => p.type === 'dir').map((p) => `+ /${p.path.replace(/[\\*?[]/g, '\\$&')}/**\0`);
  return list.replace(/- \*\0$/, `${below.join('')}- *\0`);
}

export async function run(ctx: CommandContext): Promise<number> {
  const state = localContext(ctx, ctx.cwd);
  const paths = projectPaths(state.plan.projectDir, ctx.cwd, ctx.options.command);
  await requireLocalPrograms(ctx);
  const caps = await requireRsync(rsyncSource(state), ['up']);
  return runStory(ctx, state, async (s, signal) => {
    const conn = await reachExisting(s, signal, 'push');
    s.facts.finalState = s.facts.origin === 'started' ? 'stop' : 'leave';
    const p = { ...syncParams(s, conn, s.facts.instance), instanceId: conn.target.hostKeyAlias };
    if (!ctx.options.volume && p.mounts.length > 0) await refuseUnmounted(conn, p.remoteDir, paths, p.mounts);
    const kept = `${OWN_DIR}/pushed/${backupStamp(new Date())}`;
    const filter = pushFilter(paths);
    const excludeFile = join(p.scratchDir, `push-${process.pid}.filter`);
    writeFileSync(excludeFile, caps.from0 ? filter : filter.replaceAll('\0', '\n'), { mode: 0o600 });
    excludeFileText(paths, caps); // a name rsync cannot be told without --from0 is refused here
    const r = await ctx.log.progress(
      `pushing ${paths.map((x) => x.path).join(' ')} to ${conn.target.hostKeyAlias}`,
      () =>
        runProgram(
          pushArgv(
            {
              rsh: writeRsh(p),
              remote: conn.remote,
              remoteDir: p.remoteDir,
              excludeFile,
              localDir: p.localDir,
              keepDirLinks: true,
              backupDir: kept,
            },
            caps,
          ),
        ).catch((err: unknown) => {
          if (!(err instanceof SubprocessError)) throw err;
          const why = rsyncFailed(err, 'up', caps);
          throw new UserError(`push failed: ${why.message}`, ExitCode.syncUp, why.hint, { cause: err });
        }),
    );
    const n = listTransferred(r.stdout, caps, ctx.log, '→');
    ctx.log.info(`pushed ${n ?? 'the'} file(s) to ${conn.target.hostKeyAlias}`);
    await sayKept(conn, p.remoteDir, kept, ctx.log);
  });
}

/**
 * A push has no base to tell a file changed on the instance from one only changed here: every
 * file it replaces there is kept, in `<remote dir>/.ssh-ec2/pushed/<stamp>/` (outside the syncs),
 * and said. (A file of the data volume kept so is copied onto the root disk.)
 */
async function sayKept(conn: Connection, remoteDir: string, kept: string, log: Logger): Promise<void> {
  const r = await conn
    .exec(`cd ${shQuote(remoteDir)} && find ${shQuote(kept)} -type f 2>/dev/null | wc -l`)
    .catch(() => undefined);
  const n = Number(r?.stdout.trim() ?? 0);
  if (n > 0) log.warn(`${n} file(s) replaced on the instance: its versions are kept in ~/${remoteDir}/${kept}/`);
}

/**
 * Paths into the data volume's mount point on an instance holding the volume unmounted (started
 * again without --volume: a mount does not outlive a stop) would land on its root disk, hidden
 * by the next mount: refused.
 */
async function refuseUnmounted(conn: Connection, remoteDir: string, paths: readonly Entry[], mounts: string[]) {
  const into = mounts.filter((m) => paths.some((e) => e.path === m || e.path.startsWith(`${m}/`)));
  for (const m of into) {
    const r = await conn.exec(`mountpoint -q ${shQuote(`${remoteDir}/${m}`)} && echo mounted || true`);
    if (r.stdout.trim() !== 'mounted')
      throw new UserError(
        `push: the data volume is attached to ${conn.target.hostKeyAlias} but not mounted at ${m}/: ` +
          'what is pushed there would land on its root disk, under the mount point',
        ExitCode.config,
        'Push with --volume NAME: it is mounted first.',
      );
  }
}
