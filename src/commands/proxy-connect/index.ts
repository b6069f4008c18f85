/**
 * ssh-ec2 proxy-connect INSTANCE-ID: the ProxyCommand of an alias (`ssh ec2-NAME`). Makes the
 * instance reachable — running (a stopped one started only for a person at a terminal), the
 * caller's address let in, the alias key pushed with Instance Connect when the last push may have
 * expired — then relays its stdin and stdout to the instance's port 22 (route.ts). ssh itself then
 * checks the pinned host key and logs in with the alias key (state/aliases.ts).
 */
import { existsSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { ConfigError, ExitCode, UsageError, UserError } from '../../errors.js';
import { PUSH_VALID_MS } from '../../session/keys.js';
import { bringUp } from '../../session/provision.js';
import { letCallerIn } from '../../session/ssh-access.js';
import { loadCloud } from '../../session/story.js';
import { aliasKey, aliasName, pushedStamp, readAliases } from '../../state/aliases.js';
import { forgetInstance } from '../../state/leftovers.js';
import { resolvePaths, type Paths } from '../../state/paths.js';
import type { CommandContext } from '../types.js';
import { relay } from './relay.js';

export async function run(ctx: CommandContext): Promise<number> {
  const [id, ...rest] = ctx.options.command;
  if (!id || !/^i-[0-9a-f]+$/.test(id) || rest.length > 0)
    throw new UsageError('usage: ssh-ec2 proxy-connect INSTANCE-ID (the ProxyCommand of an alias)');
  const paths = resolvePaths(ctx.env);
  const alias = aliasName(readAliases(paths).find((r) => r.id === id)?.name ?? id);
  const key = aliasKey(paths, id);
  if (!existsSync(`${key}.pub`) || !existsSync(paths.knownHosts(id)))
    throw new ConfigError(
      `${alias} (${id}) has no alias key or pinned host key here`,
      'Run ssh-ec2 in its directory once, then ssh-ec2 ssh-config.',
    );
  // Who the caller is is not needed here: the alias names the instance (no GetCallerIdentity).
  const cloud = await loadCloud(ctx, { askCaller: false });
  let instance = await cloud.describeInstance(id);
  // Not found may only mean other credentials or another endpoint than the alias's: nothing is
  // forgotten on that word (ls, ssh-config and a run's finish do, with the right account's).
  if (!instance)
    throw new UserError(
      `${alias}: ${id} not found in ${cloud.region} with these credentials (AWS_PROFILE ${ctx.env.AWS_PROFILE || 'unset'}); nothing removed — ssh-ec2 ls says whether it ended`,
      ExitCode.connectionLost,
    );
  if (instance.state === 'shutting-down' || instance.state === 'terminated') {
    forgetInstance(paths, id); // its alias goes with it
    throw new ConfigError(`${id} has ended (${instance.state}): alias ${alias} removed`);
  }
  if (instance.state === 'stopped' || instance.state === 'stopping') {
    // ssh gives its ProxyCommand its own stderr: a terminal only when a person ran ssh there.
    // VS Code, scripts and background reconnects read ssh's stderr through a pipe; /dev/tty would
    // not tell (an editor started from a shell still has that shell's controlling terminal).
    if (!process.stderr.isTTY)
      throw new ConfigError(
        `${alias} (${id}) is ${instance.state}: not started without a person at a terminal`,
        `Start it from a terminal: ssh ${alias} (or run ssh-ec2 in its directory).`,
      );
    ctx.log.info(`${alias}: starting ${id} (it was ${instance.state})`);
  }
  const justStarted = instance.state !== 'running';
  if (justStarted) instance = await bringUp({ cloud, log: ctx.log }, instance);
  const address = instance.publicIp ?? instance.privateIp;
  if (!address) throw new ConfigError(`${id} has no IP address`);
  await letCallerIn(ctx.options, cloud, instance, ctx.log);
  await pushIfStale(paths, id, async () =>
    cloud.pushSshKey({
      instanceId: id,
      osUser: ctx.options.user ?? 'ubuntu',
      publicKey: readFileSync(`${key}.pub`, 'utf8').trim(),
      az: instance.az,
    }),
  );
  return relay(ctx, { alias, address, justStarted });
}

/**
 * Instance Connect accepts a key for 60 s after its push: pushed again only when the last push
 * (any connection's: the stamp's time) is older than keys.ts's margin, so a burst of reconnects
 * (VS Code's) costs one call.
 */
async function pushIfStale(paths: Paths, id: string, push: () => Promise<void>): Promise<void> {
  const stamp = pushedStamp(paths, id);
  let last = -Infinity;
  try {
    last = statSync(stamp).mtimeMs;
  } catch {
    // never pushed
  }
  if (Date.now() - last < PUSH_VALID_MS) return;
  await push();
  if (existsSync(stamp)) utimesSync(stamp, new Date(), new Date());
  else writeFileSync(stamp, '', { mode: 0o600 });
}
