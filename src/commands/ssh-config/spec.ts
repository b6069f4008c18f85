import { WIRING, type Command } from '../types.js';

export const sshConfig: Command = {
  name: 'ssh-config',
  usage: ['ssh-config [--yes] [--remove]'],
  summary: 'ssh ec2-NAME: an ssh alias per instance (scp, rsync, VS Code)',
  settings: WIRING,
  flags: ['yes', 'remove'],
  examples: [
    ['ssh-ec2 ssh-config', 'write the aliases and ask to add one Include line at the top of ~/.ssh/config'],
    ['ssh ec2-NAME nvidia-smi', 'then: ssh, scp, sftp, rsync -e ssh and VS Code Remote-SSH by name'],
    ['ssh-ec2 ssh-config --remove', 'take the Include line and the aliases away'],
  ],
  load: () => import('./index.js'),
};
