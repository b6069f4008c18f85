import type { Command } from '../types.js';

export const ls: Command = {
  name: 'ls',
  aliases: ['status'],
  usage: ['ls'],
  summary: 'your ssh-ec2 instances: directory, state, type, uptime, job, limits',
  settings: ['region', 'identity', 'user', 'sshConfig', 'verbose'],
  flags: ['all'],
  examples: [['ssh-ec2 ls', 'every ssh-ec2 instance of yours in the region, running or stopped']],
  load: () => import('./index.js'),
};
