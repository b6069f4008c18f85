/**
 * Who these credentials were to AWS at an earlier run, kept by the session (state/cache.ts) by a
 * key naming the endpoint and the access key id. An access key id is never given to another
 * identity (a temporary one is new with each session), so a run with the same key is the same
 * caller; a new login is a new key, and is asked (issue #11: one STS call fewer).
 */
import type { CallerIdentity } from './identity.js';

export interface CallerMemory {
  get(key: string): CallerIdentity | undefined;
  set(key: string, identity: CallerIdentity): void;
}

/** The identity `memory` holds for these credentials, else `ask()`'s (then remembered). */
export async function rememberedCaller(
  memory: CallerMemory | undefined,
  credentials: () => Promise<{ accessKeyId: string }>,
  endpoint: string | undefined,
  ask: () => Promise<CallerIdentity>,
): Promise<CallerIdentity> {
  // Credentials that cannot be had are reported by the STS call, as without a memory.
  const accessKey =
    memory &&
    (await credentials().then(
      (c) => c.accessKeyId,
      () => undefined,
    ));
  const key = accessKey && `${endpoint ?? 'aws'}\n${accessKey}`;
  const known = key ? memory!.get(key) : undefined;
  if (known) return known;
  const identity = await ask();
  if (key) memory!.set(key, identity);
  return identity;
}
