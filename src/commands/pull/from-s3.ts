/**
 * ssh-ec2 pull --from-s3: the results --results uploaded (`<prefix>/<directory name>/`) brought
 * into this directory through the laptop's own credentials, with no instance (it may be gone).
 * By the sync back's rules (README: Nothing lost): a new file comes home; one that is here already
 * with the same content is left; one here that differs is yours and stays, the S3 copy is written
 * beside it (`name.s3-<stamp>.ext`, its upload time) and named in one line. Nothing here is deleted.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { s3Url, type S3Location } from '../../cloud/s3-location.js';
import type { ResultsStore, StoredObject } from '../../cloud/s3.js';
import { UsageError } from '../../errors.js';
import { resultsFolderOf } from '../../session/results.js';
import { OWN_DIR } from '../../sync/ignore-rules.js';
import { backupStamp, besideName, nameList } from '../../sync/three-way.js';
import type { Logger } from '../../ui/logger.js';
import type { CommandContext } from '../types.js';

/** What is here at an object's path. */
export type LocalEntry =
  | { kind: 'none' }
  | { kind: 'file'; size: number; md5: () => Promise<string> }
  /** A directory or a link where S3 has a file, or a path through a link or a file: never written through. */
  | { kind: 'blocked' };

export type Decision = 'fetch' | 'same' | 'beside' | 'compare' | 'unsafe';

/**
 * A key that would land outside the directory (`..`, an absolute path) or in ssh-ec2's own state
 * there is never written.
 */
export function safePath(path: string): boolean {
  const parts = path.split('/');
  return (
    path !== '' &&
    !path.startsWith('/') &&
    !parts.some((p) => p === '' || p === '.' || p === '..') &&
    parts[0] !== OWN_DIR &&
    !path.includes('\0')
  );
}

/**
 * What to do with one object, from what is here. `compare`: same size, an ETag that is no MD5
 * (a multipart upload): only the content tells, fetched aside first.
 */
export async function decide(o: StoredObject, local: LocalEntry): Promise<Decision> {
  if (!safePath(o.path) || local.kind === 'blocked') return 'unsafe';
  if (local.kind === 'none') return 'fetch';
  if (local.size !== o.size) return 'beside';
  if (o.etag.includes('-') || !/^[0-9a-f]{32}$/.test(o.etag)) return 'compare';
  return (await local.md5()) === o.etag ? 'same' : 'beside';
}

const md5Of = (file: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const h = createHash('md5');
    createReadStream(file)
      .on('data', (c) => h.update(c))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });

/** What is at `path` under `root`: a link or a file on the way there blocks it. */
async function localEntry(root: string, path: string): Promise<LocalEntry> {
  const parts = path.split('/');
  let at = root;
  for (const [i, part] of parts.entries()) {
    at = join(at, part);
    const st = await lstat(at).catch(() => undefined);
    if (!st) return { kind: 'none' };
    const last = i === parts.length - 1;
    if (!last && !st.isDirectory()) return { kind: 'blocked' };
    if (last && !st.isFile()) return { kind: 'blocked' };
    if (last) return { kind: 'file', size: st.size, md5: () => md5Of(at) };
  }
  return { kind: 'none' };
}

export async function pullFromS3(ctx: CommandContext, load = loadStore): Promise<number> {
  const { options, log } = ctx;
  if (!options.results)
    throw new UsageError(
      'pull --from-s3 needs the S3 location the results went to: --results s3://bucket/prefix (or SSH_EC2_RESULTS)',
    );
  const root = ctx.cwd;
  const folder = resultsFolderOf(options.results, { projectDir: root });
  const store = await load({ region: options.region, endpoint: options.resultsEndpoint });
  const objects = await store.list(folder);
  if (objects.length === 0) {
    log.info(`nothing in ${s3Url(folder)}: no results were uploaded for this directory there`);
    return 0;
  }
  const done = await bring(store, folder, root, objects, log);
  const kept = done.beside.length + done.unsafe.length;
  log.info(
    `from ${s3Url(folder)}: ${done.fetched} file(s) brought home, ${done.same} already here${kept ? `, ${kept} not written over yours` : ''}`,
  );
  return 0;
}

async function bring(store: ResultsStore, folder: S3Location, root: string, objects: StoredObject[], log: Logger) {
  const done = { fetched: 0, same: 0, beside: [] as string[], unsafe: [] as string[] };
  const tmpName = (path: string) => join(root, dirname(path), `.ssh-ec2-s3.${randomBytes(6).toString('hex')}.tmp`);
  for (const o of objects) {
    const local = await localEntry(root, o.path);
    let decision = await decide(o, local);
    if (decision === 'unsafe') {
      done.unsafe.push(o.path);
      continue;
    }
    await mkdir(join(root, dirname(o.path)), { recursive: true });
    const tmp = tmpName(o.path);
    try {
      await store.download(folder, o.path, tmp);
      if (decision === 'compare')
        decision = (await readFile(tmp)).equals(await readFile(join(root, o.path))) ? 'same' : 'beside';
      if (decision === 'same') done.same++;
      else if (decision === 'fetch') {
        await rename(tmp, join(root, o.path));
        done.fetched++;
      } else {
        const beside = besideName(o.path, backupStamp(o.modified), 's3');
        // Never over anything: a name already taken (an earlier pull) is left as it is.
        if ((await localEntry(root, beside)).kind === 'none') await rename(tmp, join(root, beside));
        done.beside.push(beside);
      }
    } finally {
      await rm(tmp, { force: true });
    }
  }
  if (done.beside.length > 0)
    log.warn(`changed here and in S3: yours kept, the S3 copy beside it: ${nameList(done.beside)}`);
  if (done.unsafe.length > 0)
    log.warn(`not written (a directory, a link or ssh-ec2's state is there): ${nameList(done.unsafe)}`);
  return done;
}

async function loadStore(cfg: { region?: string; endpoint?: string }): Promise<ResultsStore> {
  const { createResultsStore } = await import('../../cloud/s3.js');
  return createResultsStore(cfg);
}
