/**
 * One finished job's files brought into `results/<batch>/<job>/`: from its instance (one rsync of
 * the job's folder there into a private staging folder, then each file put in place here) or from
 * S3 (pull --from-s3's code: streamed, ETag-checked). Never over a local file (README: Nothing
 * lost): one already there with the same content is left; one that differs is kept and the new one
 * put beside it (three-way.ts's beside name); a name taken while it is placed is treated the same.
 */
import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { s3Location, s3Url } from '../cloud/s3-location.js';
import type { ResultsReader } from '../cloud/s3.js';
import { bring, localEntry, placeNew, sameContent } from '../commands/pull/from-s3.js';
import { jobFilesDir } from '../remote/batch-worker.js';
import type { Connection } from '../remote/connection.js';
import { BATCH_JOB_FILES, BATCH_JOB_LOG } from '../remote/instance-contract.js';
import { requireRsync, type RsyncCapabilities, type RsyncSource } from '../remote/rsync-capabilities.js';
import { OWN_DIR } from '../sync/ignore-rules.js';
import { pullInto } from '../sync/pull.js';
import { backupStamp, besideName, nameList } from '../sync/three-way.js';
import type { Logger } from '../ui/logger.js';
import { isJobName } from './job-name.js';
import { JOB_JSON, parseJobJson } from './s3-state.js';

/** Where a batch's jobs' files come home, in the project directory. */
export function resultsDirOf(projectDir: string, batch: string, job: string): string {
  // Names come back from instances and S3: none may reach outside results/<batch>/.
  if (!isJobName(job) || !isJobName(batch)) throw new Error(`"${batch}/${job}" is not a job's name: refused`);
  return join(projectDir, 'results', batch, job);
}

/** The job's log, beside its files. */
export const JOB_LOG = 'ssh-ec2-job.log';

/** The job's folder on its instance, relative to $HOME: its `log` and `files/` (batch-worker.ts). */
const remoteJobDir = (batch: string, job: string): string => dirname(jobFilesDir(batch, job));

export interface Placed {
  placed: number;
  same: number;
  /** The names the new copies got beside local files that differ. */
  beside: string[];
  /** Not written: a directory or a link is at the path, or on the way to it. */
  blocked: string[];
}

/** Each `[source file, path under dest]` put at its path under `dest`, never over anything. */
export async function placeFiles(
  files: readonly (readonly [string, string])[],
  dest: string,
  stamp: Date,
): Promise<Placed> {
  const done: Placed = { placed: 0, same: 0, beside: [], blocked: [] };
  for (const [src, rel] of files) {
    const here = await localEntry(dest, rel);
    if (here.kind === 'blocked') {
      done.blocked.push(rel);
      continue;
    }
    if (here.kind === 'file' && here.size === (await lstat(src)).size && (await sameContent(src, join(dest, rel)))) {
      done.same++;
      continue;
    }
    await mkdir(join(dest, dirname(rel)), { recursive: true });
    if (here.kind === 'none' && (await placeNew(src, join(dest, rel)))) {
      done.placed++;
      continue;
    }
    // Different here (or made here meanwhile): yours stays, this one beside it — once: a beside
    // name holding this same content is this copy (an earlier collect); one taken otherwise, the next.
    const beside = await freeBeside(src, dest, rel, backupStamp(stamp));
    if (beside === undefined) done.blocked.push(rel);
    else if (beside.same) done.same++;
    else done.beside.push(beside.name);
  }
  return done;
}

/** The first beside name (`x.ec2-<stamp>.txt`, then `x.ec2-<stamp>-2.txt`…) free or holding `src`'s content. */
async function freeBeside(
  src: string,
  dest: string,
  rel: string,
  stamp: string,
): Promise<{ name: string; same: boolean } | undefined> {
  for (let n = 1; n <= 100; n++) {
    const name = besideName(rel, n === 1 ? stamp : `${stamp}-${n}`, 'ec2');
    const there = await localEntry(dest, name);
    if (there.kind === 'file' && (await sameContent(src, join(dest, name)))) return { name, same: true };
    if (there.kind === 'none' && (await placeNew(src, join(dest, name)))) return { name, same: false };
  }
  return undefined;
}

/** The regular files under `dir`, relative to it (a link is not followed, nor taken). */
async function walk(dir: string, rel = ''): Promise<string[]> {
  const entries = await readdir(join(dir, rel), { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await walk(dir, path)));
    else if (e.isFile()) out.push(path);
  }
  return out;
}

/** Says what did not land at its own name; the counts are the caller's. */
export function sayPlaced(log: Logger, job: string, p: Placed): void {
  if (p.beside.length > 0)
    log.warn(`${job}: different files already in results/: yours kept, the job's beside them: ${nameList(p.beside)}`);
  if (p.blocked.length > 0) log.warn(`${job}: not written (a directory or a link is there): ${nameList(p.blocked)}`);
}

/**
 * The jobs' folders on their instance, over its connection, each into `results/<batch>/<job>/`.
 * `onJob` is told each job as soon as it is home (the record is written then).
 */
export async function fromInstance(
  p: { conn: Connection; instanceId: string; projectDir: string; scratchDir: string; rsync: RsyncSource; log: Logger },
  batch: string,
  jobs: readonly { name: string; ended?: number }[],
  onJob: (job: string) => void,
): Promise<void> {
  const caps = await requireRsync(p.rsync, ['back']);
  // This process's own staging folder, out of every sync (ssh-ec2's own directory), gone after.
  const stages = join(p.projectDir, OWN_DIR, `collect-${process.pid}`);
  try {
    for (const job of jobs) await fromInstanceOne(p, caps, stages, batch, job, onJob);
  } finally {
    await rm(stages, { recursive: true, force: true });
  }
}

async function fromInstanceOne(
  p: Parameters<typeof fromInstance>[0],
  caps: RsyncCapabilities,
  stages: string,
  batch: string,
  job: { name: string; ended?: number },
  onJob: (job: string) => void,
): Promise<void> {
  const dest = resultsDirOf(p.projectDir, batch, job.name); // the name checked before any path is made of it
  const stage = join(stages, job.name);
  await rm(stage, { recursive: true, force: true });
  await mkdir(stage, { recursive: true });
  try {
    await pullInto({ ...p, localDir: stage, remoteDir: remoteJobDir(batch, job.name) }, caps, {
      localDir: stage,
      exclude: [],
      name: `-collect-${process.pid}`,
      arrow: `↓ ${job.name}:`,
    });
    const files = (await walk(join(stage, BATCH_JOB_FILES))).map((f) => [join(stage, BATCH_JOB_FILES, f), f] as const);
    const log = (await walk(stage)).includes(BATCH_JOB_LOG) ? [[join(stage, BATCH_JOB_LOG), JOB_LOG] as const] : [];
    const stamp = job.ended ? new Date(job.ended * 1000) : new Date();
    const placed = await placeFiles([...files, ...log], dest, stamp);
    sayPlaced(p.log, job.name, placed);
    p.log.info(`${job.name}: ${placed.placed} file(s) into results/${batch}/${job.name}/ from ${p.instanceId}`);
    // Not home while a file could not be written: its instance keeps it for the next collect.
    if (placed.blocked.length > 0)
      p.log.warn(`${job.name}: not collected: move what is in the way, then \`ssh-ec2 batch collect ${batch}\` again`);
    else onJob(job.name);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** One job's folder in S3 (`<resultsUrl><job>/`: its files, log and ssh-ec2-job.json) into results/. */
export async function fromS3(
  store: ResultsReader,
  resultsUrl: string,
  projectDir: string,
  batch: string,
  job: string,
  log: Logger,
): Promise<boolean> {
  const dest = resultsDirOf(projectDir, batch, job);
  const base = s3Location(resultsUrl);
  const folder = { bucket: base.bucket, prefix: `${base.prefix}${job}/` };
  const objects = await store.list(folder);
  if (objects.length === 0) {
    log.warn(`${job}: nothing in ${s3Url(folder)}: its files were not uploaded`);
    return false;
  }
  // Its files there without it: an upload cut short (some files missing), never taken for the job's.
  if (!objects.some((o) => o.path === JOB_JSON)) {
    log.warn(`${job}: no ${JOB_JSON} in ${s3Url(folder)}: its upload did not finish, its files there are not taken`);
    return false;
  }
  // One that does not read as this job's final word (another job's, half a file) is no sign either.
  if (!parseJobJson(job, await store.read(folder, JOB_JSON))) {
    log.warn(`${job}: the ${JOB_JSON} in ${s3Url(folder)} is not this job's final word: its files there are not taken`);
    return false;
  }
  await mkdir(dest, { recursive: true });
  const done = await bring(store, folder, dest, objects, log);
  log.info(`${job}: ${done.fetched} file(s) into results/${batch}/${job}/ from ${s3Url(folder)}`);
  // A file not written (a directory or link in its way) keeps the job not home: said by bring().
  return done.failed.length === 0 && done.unsafe.length === 0;
}
