// The large project of the sync figures: 20,000 files, 500 MB in all, and a .rsyncignore of 100
// patterns, each of which means the same to ssh-ec2 (gitignore rules) and to rsync's
// --exclude-from (plain names and directory names, no slash inside, no negation), so plain rsync
// can be given the very same file as its excludes.
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const FILES = 20_000;
const BIG_FILES = 20;
const BIG_BYTES = Math.round(21.5 * 2 ** 20); // 20 × 21.5 MiB ≈ 450 MB: most of the bytes in a few files, as data or weights
const IGNORED_DIRS = 50;
const IGNORED_PER_DIR = 100; // 5,000 ignored files, small
const SMALL_BYTES = 3 << 10; // the ~15,000 kept source files: 3 KiB each, ≈ 45 MB

/** 100 patterns: 50 directories that exist (ignored, with their files), 50 that match nothing here. */
export function ignorePatterns(): string[] {
  const dirs = Array.from({ length: IGNORED_DIRS }, (_, i) => `cache${i}/`);
  const others = Array.from({ length: 50 }, (_, i) =>
    i % 2 ? `*.tmp${i}` : ['__pycache__/', '*.pyc', '.ipynb_checkpoints/', 'wandb/', '*.log'][i % 5] + (i > 9 ? i : ''),
  );
  return [...dirs, ...others];
}

/** Writes the tree below root; returns the ignore file's path (also what plain rsync excludes). */
export function writeTree(root: string): string {
  mkdirSync(root, { recursive: true });
  const patterns = ignorePatterns();
  const rsyncignore = join(root, '.rsyncignore');
  writeFileSync(rsyncignore, patterns.join('\n') + '\n');
  let written = 1;
  for (let d = 0; d < IGNORED_DIRS; d++) {
    const dir = join(root, `cache${d}`);
    mkdirSync(dir);
    for (let f = 0; f < IGNORED_PER_DIR; f++, written++) writeFileSync(join(dir, `c${f}.bin`), randomBytes(1024));
  }
  mkdirSync(join(root, 'data'));
  for (let f = 0; f < BIG_FILES; f++, written++)
    writeFileSync(join(root, 'data', `shard${f}.bin`), randomBytes(BIG_BYTES));
  const small = FILES - written;
  for (let f = 0; f < small; f++) {
    const dir = join(root, 'src', `pkg${Math.floor(f / 100)}`);
    if (f % 100 === 0) mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `m${f % 100}.py`), randomBytes(SMALL_BYTES / 2).toString('hex'));
  }
  return rsyncignore;
}

/**
 * Changes one kept file, by a new file renamed over it (so a hard-linked copy of the tree, the
 * other link's project, keeps its own). `n` picks which: each change is a fresh one.
 */
export function changeOneFile(root: string, n: number): void {
  const path = join(root, 'src', `pkg${n % 100}`, `m${n % 100}.py`);
  writeFileSync(`${path}.new`, `# changed ${n} ${Date.now()}\n${randomBytes(SMALL_BYTES / 2).toString('hex')}`);
  renameSync(`${path}.new`, path);
}
