/**
 * Whether a directory named by an instance's `ssh-ec2:dir` tag is gone from this machine, for
 * down --orphans, which terminates an orphan without bringing anything back: "gone" must be sure.
 * A failed existsSync is not: it is also what a directory behind macOS privacy controls (EPERM on
 * ~/Documents), a permission (EACCES), an unmounted disk or a stale network mount looks like.
 */
import { lstatSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export type DirectoryState = { state: 'here' } | { state: 'gone' } | { state: 'unchecked'; why: string };

const codeOf = (err: unknown) => (err as NodeJS.ErrnoException).code ?? String(err);

/**
 * Gone: lstat answers ENOENT for it and its parent is a directory that is there. A missing parent
 * too (a disk not mounted: /Volumes/X goes with it) or any other answer is "unchecked".
 */
export function directoryState(path: string): DirectoryState {
  try {
    lstatSync(path); // a dangling link or a file is still something there: not gone
    return { state: 'here' };
  } catch (err) {
    if (codeOf(err) !== 'ENOENT') return { state: 'unchecked', why: `${path}: ${codeOf(err)}` };
  }
  const parent = dirname(path);
  try {
    if (statSync(parent).isDirectory()) return { state: 'gone' };
    return { state: 'unchecked', why: `${parent} is not a directory` };
  } catch (err) {
    return { state: 'unchecked', why: `${parent}: ${codeOf(err)}` };
  }
}
