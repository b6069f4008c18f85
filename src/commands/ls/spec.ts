import type { Command } from '../types.js';

export const ls: Command = {
  name: 'ls',
  aliases: ['status'],
  usage: ['ls', 'ls --all-regions [--json]'],
  summary: 'your ssh-ec2 instances: directory, state, type, uptime, cost, job',
  settings: ['region', 'identity', 'user', 'sshConfig', 'verbose'],
  flags: ['all', 'allRegions', 'json'],
  examples: [
    ['ssh-ec2 ls', 'every ssh-ec2 instance of yours in the region, running or stopped'],
    ['ssh-ec2 ls --all-regions', "everything carrying ssh-ec2's tags in every enabled region, with its directory"],
    ['ssh-ec2 ls --json | jq .instances', 'the same as data (README: Machine-readable output)'],
  ],
  load: () => import('./index.js'),
};
