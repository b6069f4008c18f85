// The sandbox's data volumes: what stands in for an EBS block device (SSH_EC2_MOUNT_COMMAND in
// env(), as the poweroff command stands in for `shutdown`). Each volume id has one directory in
// the sandbox dir, outside every instance's home, so it outlives a terminate; "mounting" it on an
// instance bind-mounts it at the mount point in that machine's namespace, and gives its files to
// that instance's user (a new instance is a new unix user here; on EC2 the login user's uid is the
// same on every instance).
// The mount is refused unless EC2 (moto) says the volume is attached to the asking instance.
import { execa } from 'execa';
import { mkdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface VolumeMachine {
  instanceId: string;
  home: string;
  uid: number;
  gid: number;
  bindInside(source: string, target: string): Promise<boolean>;
}

export interface SandboxVolumes {
  /** The directory playing a volume's file system (made on first mount). */
  dirOf(volumeId: string): string;
  /** Every mount played so far, oldest first. */
  mounts(): { volumeId: string; instanceId: string; path: string }[];
  mount(m: VolumeMachine, volumeId: string, path: string, attachedTo: string | undefined): Promise<string | undefined>;
}

/** The sandbox's mount command (run on an instance as its user): asks the proxy to play the mount. */
export function mountScript(endpoint: string): string {
  return `#!/bin/sh
# ssh-ec2 test sandbox: what mounting the EBS volume SSH_EC2_VOLUME_ID does, played on this machine.
set -e
path=$(cd "$SSH_EC2_MOUNT_POINT" && pwd)
curl -fsS --max-time 20 -X POST --data-urlencode "volume=$SSH_EC2_VOLUME_ID" --data-urlencode "path=$path" '${endpoint}/sandbox/mount' >/dev/null
`;
}

export function sandboxVolumes(sandboxDir: string, remoteHome: string): SandboxVolumes {
  const root = join(sandboxDir, 'volumes');
  mkdirSync(root, { recursive: true, mode: 0o711 });
  const played: { volumeId: string; instanceId: string; path: string }[] = [];
  const dirOf = (volumeId: string) => join(root, volumeId);
  return {
    dirOf,
    mounts: () => played.map((x) => ({ ...x })),
    /** Undefined when done; else why not (the instance's script fails with it). */
    async mount(m, volumeId, path, attachedTo) {
      if (!/^vol-[0-9a-f]+$/.test(volumeId)) return `volume=vol-... wanted, got ${volumeId}`;
      if (attachedTo !== m.instanceId)
        return `${volumeId} is not attached to ${m.instanceId} (EC2 says: ${attachedTo ?? 'nowhere'})`;
      const inHome = relative(remoteHome, path);
      if (inHome.startsWith('..') || inHome === '') return `${path} is not in the home`;
      const point = join(m.home, inHome);
      const dir = dirOf(volumeId);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      await execa('chown', ['-R', `${m.uid}:${m.gid}`, dir]);
      // `mount` over a directory hides what it held (the mount point is outside both syncs: empty).
      if (!statSync(point, { throwIfNoEntry: false })?.isDirectory()) return `${path} is not a directory`;
      if (!(await m.bindInside(dir, path))) return undefined; // mounted already
      played.push({ volumeId, instanceId: m.instanceId, path });
      return undefined;
    },
  };
}
