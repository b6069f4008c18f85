/**
 * proxy-connect's last step: relay ssh's stdin and stdout to the instance's port 22, the way ssh
 * itself would go (route.ts). An instance just started answers `running` 20-60 s before its sshd
 * does (real EC2): the connection is tried again, with backoff, until it answers or the wait ends.
 */
import { connect, type Socket } from 'node:net';
import { ConfigError, ExitCode, UserError } from '../../errors.js';
import { runAllowFailure, runAttached } from '../../remote/exec.js';
import { localSshVersion } from '../../remote/connection.js';
import { isModernSsh } from '../../remote/ssh.js';
import { backoff } from '../../time.js';
import type { CommandContext } from '../types.js';
import { routeFrom, type Route } from './route.js';

/** How long a just-started instance's sshd is waited for (cloud-init on a big image: minutes). */
export const STARTED_SSHD_WAIT_MS = 4 * 60_000;
/** A running one's (it may be rebooting, or just launched by a run elsewhere). */
export const RUNNING_SSHD_WAIT_MS = 20_000;

export async function relay(
  ctx: CommandContext,
  target: { alias: string; address: string; justStarted: boolean },
): Promise<number> {
  const configFile = ctx.options.sshConfig;
  // Asked once, alongside the first ssh -G (each connection of VS Code's pays for both).
  const modernSsh = localSshVersion().then(isModernSsh);
  const waitMs = target.justStarted ? STARTED_SSHD_WAIT_MS : RUNNING_SSHD_WAIT_MS;
  let failure = '';
  for await (const attempt of backoff({ deadline: Date.now() + waitMs, firstDelayMs: 500, maxDelayMs: 5000 })) {
    if (attempt === 2)
      ctx.log.info(`${target.alias}: waiting for sshd on ${target.address} (up to ${Math.round(waitMs / 1000)}s)`);
    // Asked again each time: what ssh's config says may change while an instance boots (a sandbox's).
    const route = await routeNow(configFile, target.address, modernSsh);
    if (route.kind === 'tcp') {
      const socket = await tcpConnect(route.host, route.port).catch((err: Error) => {
        failure = err.message;
        return undefined;
      });
      if (socket) return pipe(socket);
      continue;
    }
    // A program (the user's ProxyJump or ProxyCommand) can only be run once with ssh's stdin: a
    // just-started instance is first asked for its ssh banner through it.
    if (target.justStarted && !(await answers(route.argv, ctx.env))) {
      failure = `no ssh banner through ${route.argv.join(' ')}`;
      continue;
    }
    ctx.log.detail(`relaying through ${route.argv.join(' ')}`);
    return (await runAttached(route.argv, { env: ctx.env }).done).exitCode;
  }
  throw new UserError(`could not reach ${target.address} port 22: ${failure}`, ExitCode.connectionLost);
}

/**
 * The route as `ssh -G` says. When it cannot say (a broken config), proxy-connect fails: going
 * straight to the address would skip the user's ProxyJump without a word.
 */
async function routeNow(configFile: string | undefined, address: string, modern: Promise<boolean>): Promise<Route> {
  const [g, modernSsh] = await Promise.all([
    runAllowFailure(['ssh', ...(configFile ? ['-F', configFile] : []), '-G', '--', address]),
    modern,
  ]);
  if (g.exitCode !== 0) {
    const last = g.stderr.trim().split('\n').at(-1) || `exit ${g.exitCode}`;
    throw new ConfigError(`ssh -G ${address} failed, so the way ssh would go is unknown: ${last}`);
  }
  return routeFrom(g.stdout, { address, configFile, modernSsh });
}

function tcpConnect(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Whether an sshd answers through the program: its banner comes back (stdin closed at once). */
async function answers(argv: readonly string[], env: CommandContext['env']): Promise<boolean> {
  const r = await runAllowFailure(argv, { input: '', env, timeoutMs: 20_000 });
  return r.stdout.startsWith('SSH-');
}

function pipe(socket: Socket): Promise<number> {
  return new Promise((resolve) => {
    process.stdin.pipe(socket);
    socket.pipe(process.stdout);
    socket.on('error', () => resolve(ExitCode.connectionLost));
    socket.on('close', () => resolve(ExitCode.ok));
  });
}
