/**
 * The programs exec.ts has started and that still run: what the journal lists (so the run after a
 * SIGKILL can end what this one left behind), and what goes with ssh-ec2 when it ends abnormally.
 * Bookkeeping only: starting them is exec.ts's.
 */

/** Programs started in a process group of their own and still running. */
const running = new Set<number>();
let spawnListener: (() => void) | undefined;

/** Called each time a program has started (the journal notes the run's children). */
export function onSpawn(listener: (() => void) | undefined): void {
  spawnListener = listener;
}

/** A program started here and still running: its argv, and a moment at which it surely ran. */
export interface Spawned {
  pid: number;
  argv: readonly string[];
  /** Epoch ms, noted right after the spawn: the process with this pid then was this program. */
  seenAt: number;
}

// Kept here rather than read from /proc (which a Mac does not have): the journal lists them so
// that the run after a SIGKILL can end what this one left behind.
const spawned = new Map<number, Spawned>();

/** Every program started here (runAllowFailure, runCrossed, runAttached) that has not ended yet. */
export function runningPrograms(): Spawned[] {
  return [...spawned.values()];
}

/**
 * Notes a program just started; the function returned forgets it (call it once it ended).
 * `ownGroup`: it leads a process group of its own (detached), ended with ssh-ec2 (below).
 */
export function track(pid: number | undefined, argv: readonly string[], o: { ownGroup: boolean }): () => void {
  if (!pid) return () => undefined;
  if (o.ownGroup) running.add(pid);
  spawned.set(pid, { pid, argv: [...argv], seenAt: Date.now() });
  spawnListener?.();
  return () => {
    running.delete(pid);
    spawned.delete(pid);
  };
}

// Out of our process group, they would outlive an ssh-ec2 that ends abnormally: they go with it.
process.on('exit', () => {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
});
