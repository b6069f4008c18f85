/** Is a local process alive? A zombie is not: it only waits for its parent to read its status. */
import { readFileSync } from 'node:fs';

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  let stat = '';
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    // not Linux, or gone meanwhile
  }
  return !/^\d+ \(.*\) Z /s.test(stat);
}
