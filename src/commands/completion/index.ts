/**
 * ssh-ec2 completion bash|zsh|fish: prints the script. The script holds no list of its own: it asks
 * `ssh-ec2 __complete WORDS…` (candidates.ts) at each Tab, so the verbs, flags and names it offers
 * are always those of the ssh-ec2 installed.
 */
import { UsageError } from '../../errors.js';
import type { CommandContext } from '../types.js';
import { SCRIPTS, SHELLS, type Shell } from './scripts.js';

export async function run(ctx: CommandContext): Promise<number> {
  const words = ctx.options.command;
  const shell = words[0] as Shell | undefined;
  if (words.length !== 1 || !shell || !SHELLS.includes(shell)) {
    throw new UsageError(`ssh-ec2 completion takes one shell: ${SHELLS.join(', ')}`);
  }
  ctx.stdout.write(SCRIPTS[shell]);
  return 0;
}
