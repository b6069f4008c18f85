// Programs every instance of the sandbox has beyond this machine's own: overlaid on /usr/local/bin
// in each instance's mount namespace (machine.ts), which is on the PATH sshd gives a session.
//  - nvidia-smi: a stand-in for NVIDIA's tool, seeing one GPU as on a g4dn.xlarge; switched to
//    the failure of an instance without a driver (setGpuVisible(false)) by a file outside the
//    overlay, so the change is seen at once by sessions already open.
//  - docker: a recording stand-in (docker-stand-in.ts) that checks what --docker sends and runs it.
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dockerStandIn } from './docker-stand-in.js';

const NVIDIA_SMI = (offFlag: string) => `#!/bin/sh
# The ssh-ec2 sandbox's stand-in for nvidia-smi.
if [ -e '${offFlag}' ]; then
  echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."
  exit 9
fi
case "$1" in
  -L) echo 'GPU 0: Tesla T4 (UUID: GPU-5a5e0000-0000-4000-8000-000000000000)' ;;
  *) echo 'NVIDIA-SMI 535.183.01   Driver Version: 535.183.01   CUDA Version: 12.2 (ssh-ec2 sandbox stand-in)' ;;
esac
`;

export interface InstanceTools {
  /** The directory overlaid on every instance's /usr/local/bin. */
  dir: string;
  /** false: nvidia-smi fails as it does on an instance whose driver is missing; true (the default): one GPU. */
  setGpuVisible(visible: boolean): void;
}

export function makeInstanceTools(sandboxDir: string): InstanceTools {
  const dir = join(sandboxDir, 'instance-tools');
  const off = join(sandboxDir, 'gpu-off');
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'nvidia-smi'), NVIDIA_SMI(off), { mode: 0o755 });
  writeFileSync(join(dir, 'docker'), dockerStandIn(process.execPath), { mode: 0o755 });
  return {
    dir,
    setGpuVisible: (visible) => (visible ? rmSync(off, { force: true }) : writeFileSync(off, '', { mode: 0o644 })),
  };
}
