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
import { sleep } from '../time.js';
import type { Logger } from '../ui/logger.js';

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 5000;

export interface ConsoleWatch {
  /**
   * Called once ssh answers: the watch goes on for at most `waitMs` more (0: one more look), and
   * resolves to the fingerprints cloud-init printed, or to why there are none.
   */
  fingerprints(waitMs: number): Promise<string[] | { none: string }>;
  /** Stops watching (ssh never answered). */
  cancel(): void;
}

/** Starts watching an instance's console for cloud-init's host key fingerprints. */
export function watchConsole(cloud: Cloud, id: string, log: Logger, signal?: AbortSignal): ConsoleWatch {
  const stop = new AbortController();
  const abort = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  let deadline = Infinity;
  let wake: () => void = () => undefined;
  // ssh answered while a look was under way: one more look is owed, whatever the deadline.
  let owed = false;

  const watch = async (): Promise<string[] | { none: string }> => {
    let latest = true;
    let delay = FIRST_DELAY_MS;
    // An interrupt (Ctrl-C) ends the wait after one last look, so the finish can still use a
    // connection whose key was checked (to see whether another run uses the instance). Without
    // the fingerprints the key is not trusted then: see checkHostKey.
    let lastLook = false;
    for (let asked = 1; ; asked++) {
      if (stop.signal.aborted) return { none: 'no longer asked' };
      let output: string | undefined;
      owed = false;
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
      if (found.length > 0) {
        log.detail(`host key fingerprints of ${id} on its console (asked ${asked} time${asked > 1 ? 's' : ''})`);
        return found;
      }
      if (signal?.aborted && !lastLook) {
        lastLook = true;
        continue;
      }
      if (owed && !abort.aborted) continue;
      const left = deadline - Date.now();
      if (left <= 0 || abort.aborted)
        return {
          none: `EC2 showed no host key fingerprints on its console (asked ${asked} time${asked > 1 ? 's' : ''})`,
        };
      await Promise.race([
        sleep(Math.min(delay, left), abort).catch(() => undefined),
        new Promise<void>((r) => (wake = r)),
      ]);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  };
  const result = watch();
  return {
    fingerprints(waitMs) {
      deadline = Date.now() + waitMs;
      owed = true;
      wake(); // ssh answers about when cloud-init prints: look again now
      return result;
    },
    cancel() {
      stop.abort();
      wake();
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
    await forget(conn);
    log.info(
      `host key of ${id} not checked (interrupted before its console showed the fingerprints): not kept, nothing sent`,
    );
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
