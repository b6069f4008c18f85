/**
 * Every command, in the order the help lists them. A new verb: its folder (spec.ts, index.ts
 * exporting `run`), and its line here.
 */
import { completion } from './completion/spec.js';
import { config } from './config/spec.js';
import { doctor } from './doctor/spec.js';
import { down } from './down/spec.js';
import { logs } from './logs/spec.js';
import { ls } from './ls/spec.js';
import { prices } from './prices/spec.js';
import { pull } from './pull/spec.js';
import { proxyConnect } from './proxy-connect/spec.js';
import { session } from './session/spec.js';
import { sshConfig } from './ssh-config/spec.js';
import type { Command } from './types.js';
import { volumes } from './volumes/spec.js';
import { push } from './push/spec.js';
import { batch } from './batch/spec.js';

export const DEFAULT_COMMAND: Command = session;

/** Verbs are only verbs as the very first word: `ssh-ec2 -v ls` runs ls on the instance. */
export const VERBS: readonly Command[] = [
  ls,
  logs,
  pull,
  push,
  volumes,
  down,
  doctor,
  config,
  sshConfig,
  completion,
  proxyConnect,
  prices,
  batch,
];

export function findVerb(word: string | undefined): Command | undefined {
  return VERBS.find((c) => c.name === word || c.aliases?.includes(word ?? ''));
}
