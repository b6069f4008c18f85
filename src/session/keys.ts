/**
 * The two ways in: the user's EC2 key pair (-i / AWS_PEM), or a fresh key made for this run and
 * pushed with EC2 Instance Connect, which accepts it for 60 s — so it is pushed again before any
 * new authentication after that.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import type { Cloud, InstanceInfo } from '../cloud/ec2.js';
import type { KeySource } from '../remote/connection.js';
import { run } from '../remote/exec.js';
import { shortHash } from '../state/paths.js';

/** Instance Connect keys live 60 s; push again when the last push is older than this. */
export const PUSH_VALID_MS = 45_000;

/** Where to fix a missing identity file: from a config file, its file and line (the origin names them). */
export function identityHint(origin?: string): string {
  return `Check ${origin?.includes('.toml:') ? origin.replace(/: identity$/, '') : '-i / AWS_PEM'}.`;
}

/** `origin`: where the path came from (a flag, the environment, .env), for the message. */
export function pemKey(path: string, origin?: string): KeySource {
  if (!existsSync(path))
    throw new ConfigError(`${origin ? `${origin}: ` : ''}identity file ${path} not found`, identityHint(origin));
  return { identityFile: path, refresh: async () => {}, dispose: () => {} };
}

export async function instanceConnectKey(opts: {
  runtimeDir: string;
  cloud: Cloud;
  instance: InstanceInfo;
  user: string;
  now?: () => number;
}): Promise<KeySource> {
  const now = opts.now ?? Date.now;
  const file = join(opts.runtimeDir, `${shortHash(`${opts.instance.id}:${process.pid}:${now()}`)}.key`);
  await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `ssh-ec2-${opts.instance.id}`, '-f', file]);
  const publicKey = readFileSync(`${file}.pub`, 'utf8').trim();
  let pushedAt = -Infinity;
  return {
    identityFile: file,
    async refresh(bounds) {
      if (now() - pushedAt < PUSH_VALID_MS) return;
      await opts.cloud.pushSshKey(
        { instanceId: opts.instance.id, osUser: opts.user, publicKey, az: opts.instance.az },
        bounds,
      );
      pushedAt = now();
    },
    dispose() {
      rmSync(file, { force: true });
      rmSync(`${file}.pub`, { force: true });
    },
  };
}
