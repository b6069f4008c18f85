import { createInterface } from 'node:readline/promises';
import { UsageError } from '../../errors.js';
import type { CommandContext } from '../types.js';

/** Asks on the terminal; without one, down (or `verb`) needs --yes (exit 2). */
export async function confirm(ctx: CommandContext, question: string, verb = 'ssh-ec2 down'): Promise<boolean> {
  if (!ctx.stdinIsTTY)
    throw new UsageError(
      `${verb} asks for confirmation, but stdin is not a terminal`,
      `Add --yes to ${verb === 'ssh-ec2 down' ? 'terminate' : 'go on'} without asking.`,
    );
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question}[y/N] `)).trim());
  } finally {
    rl.close();
  }
}
