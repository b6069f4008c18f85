/**
 * The batch's instances over ssh, as every verb reaches one (Instance Connect, the host key checked
 * on first contact: existing-instance.ts connectFound), one master each, kept from one look to the
 * next (follow.ts polls through them) and left open at the end for the next command (they expire
 * on their own). An instance that cannot be reached now is said with -v and tried again next time:
 * its last report stands meanwhile (an instance that powered off keeps the jobs it finished).
 */
import type { Cloud, InstanceInfo } from '../cloud/ec2.js';
import { ExitCode, SubprocessError } from '../errors.js';
import type { Connection } from '../remote/connection.js';
import { connectFound } from '../commands/existing-instance.js';
import { newRun, type LocalContext, type Run } from '../session/context.js';

/** How long one look waits for an instance's ssh: a poll goes on without it. */
const CONNECT_TIMEOUT_MS = 20_000;
/** After a failed connection, the looks go on without that instance this long (the table keeps moving). */
const RETRY_AFTER_MS = 30_000;

export interface InstanceAsker {
  /** The command's output on a running instance, or undefined: not reachable now. */
  ask(instance: InstanceInfo, command: string): Promise<string | undefined>;
  close(): Promise<void>;
}

/** `signal`: a connection under way is given up (follow.ts's Ctrl-C). */
export function sshAsker(local: LocalContext, cloud: Cloud, signal?: AbortSignal): InstanceAsker {
  const held = new Map<string, { run: Run; conn: Connection }>();
  const connecting = new Map<string, Promise<{ run: Run; conn: Connection } | undefined>>();
  const failedAt = new Map<string, number>();
  const open = (instance: InstanceInfo) => {
    const had = held.get(instance.id);
    if (had) return Promise.resolve(had);
    if (Date.now() - (failedAt.get(instance.id) ?? -Infinity) < RETRY_AFTER_MS) return Promise.resolve(undefined);
    let p = connecting.get(instance.id);
    if (!p) {
      const run = newRun(local, cloud);
      p = connectFound(run, instance, signal, { timeoutMs: CONNECT_TIMEOUT_MS })
        .then((conn) => {
          held.set(instance.id, { run, conn });
          return { run, conn };
        })
        .catch((err: unknown) => {
          failedAt.set(instance.id, Date.now());
          local.log.detail(`${instance.id} not reachable now: ${(err as Error).message}`);
          return undefined;
        })
        .finally(() => connecting.delete(instance.id));
      connecting.set(instance.id, p);
    }
    return p;
  };
  return {
    async ask(instance, command) {
      const got = await open(instance);
      if (!got) return undefined;
      try {
        return (await got.conn.exec(command)).stdout;
      } catch (err) {
        // A lost connection is opened again at the next look; anything else is said.
        if (err instanceof SubprocessError && err.exitCode === ExitCode.connectionLost) {
          held.delete(instance.id);
          await got.conn.close({ keep: false }).catch(() => undefined);
        } else local.log.detail(`${instance.id}: ${(err as Error).message}`);
        return undefined;
      }
    },
    async close() {
      await Promise.all([...connecting.values()]);
      await Promise.all(
        [...held.values()].map(async ({ run, conn }) => {
          await conn.close({ keep: true });
          await run.lettingIn;
        }),
      );
      held.clear();
    },
  };
}
