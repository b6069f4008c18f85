/**
 * ssh-ec2 batch: the sub-word decides. A first word that is none of them is the jobs file (a file
 * named like a sub-word is given as ./status).
 */
import { UsageError } from '../../errors.js';
import type { CommandContext } from '../types.js';

const SUBWORDS = {
  status: () => import('./status.js'),
  logs: () => import('./logs.js'),
  collect: () => import('./collect.js'),
  cancel: () => import('./cancel.js'),
  ls: () => import('./ls.js'),
} as const;

export async function run(ctx: CommandContext): Promise<number> {
  const [first, ...rest] = ctx.options.command;
  if (first === undefined)
    throw new UsageError('ssh-ec2 batch needs a jobs file (or status, logs, collect, cancel, ls)');
  const sub = SUBWORDS[first as keyof typeof SUBWORDS];
  if (sub) return (await sub()).run(ctx, rest);
  return (await import('./launch.js')).run(ctx, first, rest);
}
