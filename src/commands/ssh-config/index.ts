/**
 * ssh-ec2 ssh-config: an ssh alias per instance of yours (state/aliases.ts), and the one Include
 * line that makes ssh read them (include.ts). The list is asked of AWS here, like `ls` (instances
 * of yours whose host key this machine has pinned: an alias checks the key strictly, so one never
 * reached from here could not be used); the refreshes that follow a launch, start or end use
 * local records only.
 */
import { createInterface } from 'node:readline/promises';
import { resolve } from 'node:path';
import { ConfigError, ExitCode } from '../../errors.js';
import { loginUser } from '../../options.js';
import {
  addAlias,
  aliasConfigFile,
  aliasName,
  aliasProgram,
  awsContext,
  dropAlias,
  readAliases,
  sharedNames,
  writeAliasConfig,
} from '../../state/aliases.js';
import { resolvePaths, type Paths } from '../../state/paths.js';
import { rmSync } from 'node:fs';
import { pinnedIn } from '../../session/run-session.js';
import { loadCloud } from '../../session/story.js';
import { mine, takesNoArguments } from '../shared.js';
import type { CommandContext } from '../types.js';
import { addInclude, hasInclude, includeLine, removeInclude, userSshConfig } from './include.js';

export async function run(ctx: CommandContext): Promise<number> {
  takesNoArguments(ctx);
  const paths = resolvePaths(ctx.env);
  const ours = aliasConfigFile(paths);
  const userConfig = userSshConfig(ctx.env);
  if (ctx.flags.remove) return remove(ctx, paths, userConfig);

  const cloud = await loadCloud(ctx);
  const pinned = pinnedIn(paths);
  const found = (await mine(ctx, cloud)).filter((i) => pinned(i.id));
  // Records of this region that AWS no longer lists as yours (ended, or never reachable) go.
  for (const r of readAliases(paths))
    if (r.region === cloud.region && !found.some((i) => i.id === r.id)) dropAlias(paths, r.id);
  const sshConfigFile = ctx.options.sshConfig ? resolve(ctx.cwd, ctx.options.sshConfig) : undefined;
  for (const i of found) {
    const user = loginUser(ctx.options, i.tags);
    await addAlias(paths, {
      id: i.id,
      name: i.tags.Name ?? i.id,
      user,
      region: cloud.region,
      sshConfig: sshConfigFile,
      ...awsContext(ctx.env),
    });
  }
  writeAliasConfig(paths, aliasProgram());
  const shared = sharedNames(readAliases(paths));
  for (const name of shared)
    ctx.log.warn(
      `several instances are named ${name}: it is no alias (each is reached by its id); rename one with --name`,
    );
  for (const i of found) {
    const name = aliasName(i.tags.Name ?? i.id);
    ctx.stdout.write(`${shared.has(name) ? i.id : name}\t${i.id}\t${i.state}\n`);
  }
  ctx.log.info(`${found.length} alias${found.length === 1 ? '' : 'es'} in ${ours}`);

  if (hasInclude(userConfig, ours)) {
    ctx.log.detail(`${userConfig} already includes it`);
  } else if (
    ctx.flags.yes ||
    (ctx.stdinIsTTY && (await ask(`Add "${includeLine(ours)}" at the top of ${userConfig}? `)))
  ) {
    try {
      addInclude(userConfig, ours);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      throw new ConfigError(`${err.message}; put this line at its top yourself: ${includeLine(ours)}`);
    }
    ctx.log.info(
      `added "${includeLine(ours)}" at the top of ${userConfig} (ssh-ec2 ssh-config --remove takes it away)`,
    );
  } else {
    ctx.log.info(
      `${userConfig} not changed. To use the aliases, run ssh-ec2 ssh-config --yes, or put this line at its top: ${includeLine(ours)}`,
    );
  }
  return ExitCode.ok;
}

/** The Include line, our file and the aliases' records and keys go; the rest of the user's file stays as it is. */
function remove(ctx: CommandContext, paths: Paths, userConfig: string): number {
  const ours = aliasConfigFile(paths);
  const removed = removeInclude(userConfig, ours);
  for (const r of readAliases(paths)) dropAlias(paths, r.id);
  rmSync(ours, { force: true });
  ctx.log.info(
    removed
      ? `removed "${includeLine(ours)}" from ${userConfig} and the aliases`
      : `no Include of ours in ${userConfig}; aliases removed`,
  );
  return ExitCode.ok;
}

async function ask(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question}[y/N] `)).trim());
  } finally {
    rl.close();
  }
}
