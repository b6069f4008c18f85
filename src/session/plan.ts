/**
 * Options → who and where: the project's identity (this local user, host and absolute path),
 * the instance's name and tags (all but the owner, which AWS tells: owner.ts), the remote
 * directory. Pure: everything comes in as arguments.
 */
import { basename } from 'node:path';
import type { Options } from '../options.js';
import { normalizeRemoteDir } from '../remote/remote-command.js';
import { shortHash } from '../state/paths.js';

export const TAG = {
  project: 'ssh-ec2',
  user: 'ssh-ec2:user',
  host: 'ssh-ec2:host',
  dir: 'ssh-ec2:dir',
  remoteDir: 'ssh-ec2:remote-dir',
} as const;

export interface Identity {
  cwd: string;
  localUser: string;
  localHost: string;
}

export interface Plan {
  projectDir: string;
  /** Hash of user@host:path — the one tag value that finds this directory's instance. */
  projectId: string;
  /** The local login name: the owner earlier versions wrote into ssh-ec2:user (see owner.ts). */
  localUser: string;
  keyName: string;
  name: string;
  remoteDir: string;
  /**
   * The directory's tags: the original's Name plus ours. Its instance is the one that also carries
   * the caller's ssh-ec2:user, which the IAM policies let nobody else put on an instance (owner.ts
   * adds it: it comes from AWS, not from here).
   */
  dirTags: Record<string, string>;
  /** Tags put on everything launched for it, with the owner's ssh-ec2:user (owner.ts). */
  instanceTags: Record<string, string>;
}

export function makePlan(opts: Options, id: Identity): Plan {
  const dirName = basename(id.cwd) || 'root';
  const keyName = opts.keyName ?? opts.trigram ?? id.localUser;
  const name = opts.name ?? `${keyName}-${dirName}`;
  const projectId = shortHash(`${id.localUser}@${id.localHost}:${id.cwd}`, 16);
  const dirTags = { Name: name, [TAG.project]: projectId };
  const remoteDir = normalizeRemoteDir(opts.remoteDir ?? dirName);
  return {
    projectDir: id.cwd,
    projectId,
    localUser: id.localUser,
    keyName,
    name,
    remoteDir,
    dirTags,
    instanceTags: {
      ...dirTags,
      [TAG.host]: id.localHost,
      [TAG.dir]: tagValue(id.cwd),
      [TAG.remoteDir]: tagValue(remoteDir),
    },
  };
}

/** EC2 tag values hold at most 256 characters; a longer path keeps its end and a hash. */
function tagValue(v: string): string {
  return v.length <= 256 ? v : `…${shortHash(v, 8)}${v.slice(-240)}`;
}
