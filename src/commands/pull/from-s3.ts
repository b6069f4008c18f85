/**
 * ssh-ec2 pull --from-s3: the results --results uploaded (`<prefix>/<directory name>/`) brought
 * into this directory through the laptop's own credentials, with no instance (it may be gone).
 * By the sync back's rules (README: Nothing lost): a new file comes home; one that is here already
 * with the same content is left; one here that differs is yours and stays, the S3 copy is written
 * beside it (`name.s3-<stamp>.ext`, its upload time) and named in one line. Nothing here is deleted,
 * and nothing here is written over: a file that appears at the path while its download runs (an
 * editor, a sync back) is kept, the S3 copy beside it. Files are read as streams, never whole (a
 * result may be larger than memory, or than the 2 GiB a Buffer holds), and one object's failure is
 * said and the others still come.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { copyFile, link, lstat, mkdir, open, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { s3Url, type S3Location } from '../../cloud/s3-location.js';
import type { ResultsStore, StoredObject } from '../../cloud/s3.js';
import { ExitCode, UsageError } from '../../errors.js';
import { resultsFolderOf } from '../../session/results.js';
import { OWN_DIR } from '../../sync/ignore-rules.js';
import { backupStamp, besideName, nameList } from '../../sync/three-way.js';
import type { Logger } from '../../ui/logger.js';
import type { CommandContext } from '../types.js';

/** What is here at an object's path. */
export type LocalEntry =
  | { kind: 'none' }
  /** etag(like): this file's ETag computed as `like` was (an MD5, or a multipart upload's); undefined: cannot tell. */
  | { kind: 'file'; size: number; etag: (like: string) => Promise<string | undefined> }
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
 * What to do with one object, from what is here. The ETag tells without a download: an MD5, or a
 * multipart upload's (results.sh's `aws s3 sync` makes one above 8 MiB), computed here the same
 * way. `compare`: a multipart ETag of a part size not guessed: only the content tells, fetched aside.
 */
export async function decide(o: StoredObject, local: LocalEntry): Promise<Decision> {
  if (!safePath(o.path) || local.kind === 'blocked') return 'unsafe';
  if (local.kind === 'none') return 'fetch';
  if (local.size !== o.size) return 'beside';
  const mine = await local.etag(o.etag);
  if (mine === o.etag) return 'same';
  return mine === undefined || o.etag.includes('-') ? 'compare' : 'beside';
}

/** The MD5 of bytes [start, end) of a file, streamed. */
const md5Of = (file: string, start = 0, end = Infinity): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const h = createHash('md5');
    createReadStream(file, { start, ...(end !== Infinity && { end: end - 1 }) })
      .on('data', (c) => h.update(c))
      .on('end', () => resolve(h.digest()))
      .on('error', reject);
  });

const MiB = 1024 * 1024;
/**
 * A file's ETag in the form of `like`: a plain MD5, or `md5(part MD5s)-N`. The part size is not in
 * the ETag: the AWS CLI's (8 MiB, doubled until 10,000 parts suffice) and the SDKs' 5 MiB minimum
 * are tried where they give N parts for this size.
 */
export async function etagLike(file: string, size: number, like: string): Promise<string | undefined> {
  const multipart = /^[0-9a-f]{32}-(\d+)$/.exec(like);
  if (!multipart) return /^[0-9a-f]{32}$/.test(like) ? (await md5Of(file)).toString('hex') : undefined;
  const parts = Number(multipart[1]);
  const sizes = [5 * MiB, ...Array.from({ length: 12 }, (_, k) => 8 * MiB * 2 ** k)];
  for (const part of sizes.filter((p) => Math.ceil(size / p) === parts || (size === 0 && parts === 1))) {
    const digests: Buffer[] = [];
    for (let i = 0; i < parts; i++) digests.push(await md5Of(file, i * part, Math.min(size, (i + 1) * part)));
    const etag = `${createHash('md5').update(Buffer.concat(digests)).digest('hex')}-${parts}`;
    if (etag === like) return etag;
  }
  return undefined;
}

/** Whether two files of the same size hold the same bytes, read a MiB at a time. */
export async function sameContent(a: string, b: string): Promise<boolean> {
  const [fa, fb] = [await open(a, 'r'), await open(b, 'r')];
  try {
    const [ba, bb] = [Buffer.alloc(MiB), Buffer.alloc(MiB)];
    for (;;) {
      const [ra, rb] = [await fa.read(ba, 0, MiB, null), await fb.read(bb, 0, MiB, null)];
      if (ra.bytesRead !== rb.bytesRead || !ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead)))
        return false;
      if (ra.bytesRead === 0) return true;
    }
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
}

/**
 * The downloaded file at `dest`, never over anything: a hard link fails if the name is taken (a
 * file made there meanwhile). Where links are refused (some file systems), an exclusive copy.
 */
export async function placeNew(tmp: string, dest: string): Promise<boolean> {
  const taken = (err: unknown) => (err as NodeJS.ErrnoException).code === 'EEXIST';
  try {
    await link(tmp, dest);
    return true;
  } catch (err) {
    if (taken(err)) return false;
  }
  try {
    await copyFile(tmp, dest, constants.COPYFILE_EXCL);
    return true;
  } catch (err) {
    if (taken(err)) return false;
    throw err;
  }
}

/** What is at `path` under `root`: a link or a file on the way there blocks it. */
export async function localEntry(root: string, path: string): Promise<LocalEntry> {
  const parts = path.split('/');
  let at = root;
  for (const [i, part] of parts.entries()) {
    at = join(at, part);
    const st = await lstat(at).catch(() => undefined);
    if (!st) return { kind: 'none' };
    const last = i === parts.length - 1;
    if (!last && !st.isDirectory()) return { kind: 'blocked' };
    if (last && !st.isFile()) return { kind: 'blocked' };
    if (last) return { kind: 'file', size: st.size, etag: (like) => etagLike(at, st.size, like) };
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
  const failed = done.failed.length;
  const said = [`${done.fetched} file(s) brought home`, `${done.same} already here`];
  if (kept) said.push(`${kept} not written over yours`);
  if (failed) said.push(`${failed} failed (said above)`);
  log.info(`from ${s3Url(folder)}: ${said.join(', ')}`);
  return failed ? ExitCode.cloud : 0;
}

type Outcome = 'fetched' | 'same' | { beside: string } | 'unsafe';

export async function bring(
  store: ResultsStore,
  folder: S3Location,
  root: string,
  objects: StoredObject[],
  log: Logger,
) {
  const done = { fetched: 0, same: 0, beside: [] as string[], unsafe: [] as string[], failed: [] as string[] };
  for (const o of objects) {
    const outcome = await bringOne(store, folder, root, o).catch((err: unknown) => {
      log.warn(`${o.path}: not brought home: ${err instanceof Error ? err.message : String(err)}`);
      done.failed.push(o.path);
      return undefined;
    });
    if (outcome === 'fetched' || outcome === 'same') done[outcome]++;
    else if (outcome === 'unsafe') done.unsafe.push(o.path);
    else if (outcome) done.beside.push(outcome.beside);
  }
  if (done.beside.length > 0)
    log.warn(`changed here and in S3: yours kept, the S3 copy beside it: ${nameList(done.beside)}`);
  if (done.unsafe.length > 0)
    log.warn(`not written (a directory, a link or ssh-ec2's state is there): ${nameList(done.unsafe)}`);
  return done;
}

async function bringOne(store: ResultsStore, folder: S3Location, root: string, o: StoredObject): Promise<Outcome> {
  const decision = await decide(o, await localEntry(root, o.path));
  if (decision === 'unsafe' || decision === 'same') return decision;
  const beside = besideName(o.path, backupStamp(o.modified), 's3');
  // A name already taken (an earlier pull) is left as it is: nothing to fetch for it.
  if (decision === 'beside' && (await localEntry(root, beside)).kind !== 'none') return { beside };
  await mkdir(join(root, dirname(o.path)), { recursive: true });
  const tmp = join(root, dirname(o.path), `.ssh-ec2-s3.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await store.download(folder, o.path, tmp);
    if (decision === 'compare' && (await sameContent(tmp, join(root, o.path)))) return 'same';
    if (decision === 'fetch' && (await placeNew(tmp, join(root, o.path)))) return 'fetched';
    // Changed here, or made here while it downloaded: yours stays, the S3 copy goes beside it.
    await placeNew(tmp, join(root, beside));
    return { beside };
  } finally {
    await rm(tmp, { force: true });
  }
}

async function loadStore(cfg: { region?: string; endpoint?: string }): Promise<ResultsStore> {
  const { createResultsStore } = await import('../../cloud/s3.js');
  return createResultsStore(cfg);
}
