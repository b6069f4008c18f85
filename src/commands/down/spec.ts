import { REACH_SETTINGS, SYNC_BACK_SETTINGS, type Command } from '../types.js';

export const down: Command = {
  name: 'down',
  usage: ['down [NAME | --all] [--yes]', 'down --orphans [--all-regions] [--stopped-for 7d] [--yes]'],
  summary: 'sync back what can be, then terminate (asks first)',
  settings: [...REACH_SETTINGS, ...SYNC_BACK_SETTINGS],
  flags: ['yes', 'all', 'pull', 'orphans', 'allRegions', 'stoppedFor'],
  examples: [
    ['ssh-ec2 down', "end this directory's instance, its results brought back first"],
    ['ssh-ec2 down --all --yes', 'end every ssh-ec2 instance of yours without asking'],
    ['ssh-ec2 down NAME --no-pull', 'end one instance as it is: nothing brought back, a stopped one not started'],
    [
      'ssh-ec2 down --orphans --all-regions',
      "end what this machine made whose directory is gone, or stopped over 7 days; others' left alone",
    ],
  ],
  load: () => import('./index.js'),
};
