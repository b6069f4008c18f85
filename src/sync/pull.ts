/**
 * One rsync from the instance into a local directory, minus excludes, with whatever the local
 * rsync can do: as a client, or (openrsync, which cannot receive as one) as a server the
 * instance's rsync sends to. Used by the sync back, and by the sync up for the instance's versions
 * of files changed on both sides.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCrossed, run } from '../remote/exec.js';
import { fileCounter } from './sync-progress.js';
import { shQuote } from '../remote/remote-command.js';
import { excludeFileText, pullArgv, serverPullArgv } from '../remote/rsync.js';
import type { RsyncCapabilities } from '../remote/rsync-capabilities.js';
import { remoteArgv } from '../remote/ssh.js';
import { includeOnlyList, type Entry } from './ignore-rules.js';
import { listTransferred, writeRsh, type SyncParams } from './sync-up.js';

/** How many files it brought, when this rsync can tell. Throws rsync's SubprocessError. */
export async function pullInto(
  p: SyncParams,
  caps: RsyncCapabilities,
  o: {
    localDir: string;
    exclude: readonly Entry[];
    /** Bring these and nothing else (three-way.ts planned): `exclude` is then not needed. */
    only?: readonly Entry[];
    name: string;
    arrow: string;
  },
): Promise<number | undefined> {
  const mounts = p.mounts ?? [];
  const excludes = o.only ? includeOnlyText(o.only, caps, mounts) : excludeFileText(o.exclude, caps, mounts);
  if (caps.pull) {
    const excludeFile = join(p.scratchDir, `pull-${process.pid}${o.name}.exclude`);
    writeFileSync(excludeFile, excludes, { mode: 0o600 });
    const r = await run(
      pullArgv(
        {
          rsh: writeRsh(p),
          remote: p.conn.remote,
          remoteDir: p.remoteDir,
          excludeFile,
          localDir: o.localDir,
          gentle: p.gentle,
        },
        caps,
      ),
      { onStdout: fileCounter(p.onProgress, caps.outFormat) },
    );
    return listTransferred(r.stdout, caps, p.log, o.arrow);
  }
  p.log.detail(
    `this rsync (${caps.version}) receives as a server: the instance's rsync sends; the files are not listed`,
  );
  const remoteExcludeFile = `.ssh-ec2/pull-${process.pid}${o.name}.exclude`;
  await p.conn.exec(`umask 077 && mkdir -p .ssh-ec2 && cat > ${shQuote(remoteExcludeFile)}`, { input: excludes });
  const { local, remote } = serverPullArgv(
    { remoteDir: p.remoteDir, remoteExcludeFile, localDir: o.localDir, gentle: p.gentle },
    caps,
  );
  await runCrossed(local, remoteArgv(p.conn.target, remote));
  return undefined;
}

/**
 * The sync back's whole transfer as an include-only filter: each file to bring, each directory
 * to make, and every directory leading to them (rsync descends only into an included directory),
 * parents first. rsync then touches nothing else: a file saved here during the transfer that the
 * plan left alone stays as saved.
 */
export function planned(files: readonly string[], dirs: readonly string[]): Entry[] {
  const seen = new Set<string>();
  const out: Entry[] = [];
  const add = (path: string, type: 'dir' | 'file') => {
    if (seen.has(path)) return;
    seen.add(path);
    out.push({ path, type });
  };
  const withParents = (path: string, type: 'dir' | 'file') => {
    for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) add(path.slice(0, i), 'dir');
    add(path, type);
  };
  for (const dir of dirs) withParents(dir, 'dir');
  for (const file of files) withParents(file, 'file');
  return out;
}

/**
 * The include-only filter, in the exclude file (`+ ` and `- ` prefixes: every rsync reads them
 * there, 2.6.9 too; with openrsync the instance's rsync reads it). A name with a line break is
 * refused as for excludes when this rsync has no --from0.
 */
function includeOnlyText(only: readonly Entry[], caps: RsyncCapabilities, mounts: readonly string[]): string {
  excludeFileText(only, caps);
  const text = includeOnlyList(only, mounts);
  return caps.from0 ? text : text.replaceAll('\0', '\n');
}
