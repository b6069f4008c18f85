/**
 * The host key check of a new instance. cloud-init prints the instance's host key fingerprints on
 * its console near the end of boot, usually a little after sshd first answers, and EC2's buffered
 * console output lags further behind (minutes). So the console is watched from the moment ssh is
 * first tried, asking for the latest serial output where the instance type allows it (Nitro), and
 * after ssh answers it is waited for a bounded time (--host-key-timeout) before anything is sent.
 * Only when EC2 never shows the fingerprints is the key trusted on first use, and the run says so.
 */
import { rmSync } from 'node:fs';
import type { Cloud } from '../cloud/ec2.js';
import { ConnectionError } from '../errors.js';
import type { Connection } from '../remote/connection.js';
import { run } from '../remote/exec.js';
import { backoff } from '../time.js';
import type { Logger } from '../ui/logger.js';

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 5000;
/** At most one look a second on nudges (a slow link makes every ssh try slow). */
const NUDGE_GAP_MS = 1000;

export interface ConsoleWatch {
  /**
   * Called once ssh answers: the watch goes on for at most `waitMs` more (0: one more look), and
   * resolves to the fingerprints cloud-init printed, or to why there are none.
   */
  fingerprints(waitMs: number): Promise<string[] | { none: string }>;
  /**
   * ssh is likely answering (a try is going on longer than a refusal takes): look now rather than
   * at the next step of the backoff, unless a look began less than NUDGE_GAP_MS ago. cloud-init
   * prints the fingerprints about when sshd starts; so they are usually known by the time ssh has
   * authenticated, and the check costs no round trip after it.
   */
  nudge(): void;
  /** Stops watching (ssh never answered). */
  cancel(): void;
}

/** Starts watching an instance's console for cloud-init's host key fingerprints. */
export function watchConsole(cloud: Cloud, id: string, log: Logger, signal?: AbortSignal): ConsoleWatch {
  const stop = new AbortController();
  const abort = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  // Aborted when ssh answers: that ends the first wait at once (cloud-init prints about then).
  const answered = new AbortController();
  // Aborted by a nudge: the backoff before ssh answers starts again, with a look at once.
  let nudged = new AbortController();
  let lookedAt = -Infinity;
  let deadline = Date.now();
  let latest = true;
  let asked = 0;
  const none = () => ({
    none: `EC2 showed no host key fingerprints on its console (asked ${asked} time${asked > 1 ? 's' : ''})`,
  });

  /** One look: the fingerprints, why there are none for good, or undefined (not there yet). */
  const look = async (): Promise<string[] | { none: string } | undefined> => {
    for (;;) {
      asked++;
      lookedAt = Date.now();
      let output: string | undefined;
      try {
        output = await cloud.consoleOutput(id, latest, { signal: stop.signal });
      } catch (err) {
        if (abort.aborted) return { none: 'no longer asked' };
        // Only Nitro types have a live serial console; EC2 refuses the others' Latest=true.
        if (latest) {
          log.detail(
            `latest console output of ${id} not available (${(err as Error).message}); asking for the buffered one`,
          );
          latest = false;
          continue;
        }
        return { none: `its console output could not be read (${(err as Error).message})` };
      }
      const found = consoleFingerprints(output ?? '');
      if (found.length === 0) return undefined;
      log.detail(`host key fingerprints of ${id} on its console (asked ${asked} time${asked > 1 ? 's' : ''})`);
      return found;
    }
  };

  /** Looks with backoff until an answer: undefined once `to` has passed, 'cut short' when `until` aborts. */
  const looksUntil = async (until: AbortSignal, to?: number) => {
    try {
      const o = { firstDelayMs: FIRST_DELAY_MS, maxDelayMs: MAX_DELAY_MS, deadline: to, signal: until };
      for await (const _ of backoff(o)) {
        const found = await look();
        if (found !== undefined) return found;
      }
      return undefined;
    } catch {
      return 'cut short';
    }
  };

  const watch = async (): Promise<string[] | { none: string }> => {
    // While ssh is being tried, for as long as that takes: ssh answering cuts it short (as do an
    // interrupt and a cancel).
    let first: Awaited<ReturnType<typeof looksUntil>>;
    do {
      if (nudged.signal.aborted) nudged = new AbortController();
      first = await looksUntil(AbortSignal.any([abort, answered.signal, nudged.signal]));
    } while (first === 'cut short' && nudged.signal.aborted && !abort.aborted && !answered.signal.aborted);
    if (first !== undefined && first !== 'cut short') return first;
    if (stop.signal.aborted) return { none: 'no longer asked' };
    if (!signal?.aborted) {
      // ssh answered: look now, then until the deadline (a look under way then was not enough).
      const then = await looksUntil(abort, deadline);
      if (then !== 'cut short') return then ?? none();
      if (stop.signal.aborted) return { none: 'no longer asked' };
    }
    // An interrupt (Ctrl-C) ends the wait after one last look, so the finish can still use a
    // connection whose key was checked (to see whether another run uses the instance). Without
    // the fingerprints the key is not trusted then: see checkHostKey.
    return (await look()) ?? none();
  };
  const result = watch();
  return {
    fingerprints(waitMs) {
      deadline = Date.now() + waitMs;
      answered.abort(); // ssh answers about when cloud-init prints: look again now
      return result;
    },
    nudge() {
      if (Date.now() - lookedAt >= NUDGE_GAP_MS) nudged.abort();
    },
    cancel() {
      stop.abort();
      result.catch(() => undefined);
    },
  };
}

/**
 * Checks the host key ssh just accepted against the console's fingerprints. A key matching none
 * of them means someone else answered: the connection is closed, its key forgotten, and nothing
 * is sent. So too after an interrupt (`signal`) before the fingerprints were seen: the wait was
 * cut short, which is no reason to trust the key; the interrupt is thrown.
 */
export async function checkHostKey(
  watch: ConsoleWatch,
  conn: Connection,
  o: { id: string; waitMs: number; log: Logger; signal?: AbortSignal },
): Promise<void> {
  const { id, log, signal } = o;
  const expected = await watch.fingerprints(o.waitMs);
  if (!Array.isArray(expected) && signal?.aborted) {
    await notChecked(conn, id, log);
    signal.throwIfAborted();
  }
  if (!Array.isArray(expected)) {
    log.info(`host key of ${id} trusted on first use: ${expected.none}`);
    return;
  }
  const seen = consoleFingerprints((await run(['ssh-keygen', '-l', '-f', conn.target.knownHostsFile])).stdout, false);
  if (seen.some((f) => expected.includes(f))) {
    log.detail(`host key of ${id} matches its console output (${seen.join(', ')})`);
    return;
  }
  await forget(conn);
  throw new ConnectionError(
    `the host key of ${id} (${seen.join(', ')}) matches none of the fingerprints in its console output: refusing to use the connection`,
    'Someone may be between you and the instance. Nothing was sent. Check your network and ssh configuration (ProxyJump, proxies), then run again.',
  );
}

/** Interrupted before the key was checked: whatever ssh accepted is not kept, and nothing is sent. */
export async function notChecked(conn: Connection, id: string, log: Logger): Promise<void> {
  await forget(conn);
  log.info(
    `host key of ${id} not checked (interrupted before its console showed the fingerprints): not kept, nothing sent`,
  );
}

/** Closes a connection whose host key is not to be trusted, and unpins the key ssh wrote. */
async function forget(conn: Connection): Promise<void> {
  await conn.close();
  rmSync(conn.target.knownHostsFile, { force: true });
}

/** SHA256 fingerprints, from cloud-init's block of a console log (or from any text when `block` is false). */
export function consoleFingerprints(text: string, block = true): string[] {
  const m = block
    ? /-----BEGIN SSH HOST KEY FINGERPRINTS-----([\s\S]*?)-----END SSH HOST KEY FINGERPRINTS-----/.exec(text)
    : [text, text];
  return [...(m?.[1] ?? '').matchAll(/SHA256:[A-Za-z0-9+/]+/g)].map((x) => x[0]);
}
