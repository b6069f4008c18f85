// Placeholder while the batch verbs are being built (issue #14): replaced, never shipped as is.
import { UsageError } from '../../errors.js';
import type { CommandContext } from '../types.js';

export function run(_ctx: CommandContext, _args: readonly string[]): Promise<number> {
  return Promise.reject(new UsageError('ssh-ec2 batch cancel is not built yet'));
}
