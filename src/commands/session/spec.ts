import type { Command } from '../types.js';

/** The default command: no verb first. */
export const session: Command = {
  name: 'session',
  usage: ['[options] [--] [command words...]', '--detach [options] [--] command...   |   ssh-ec2 --attach [options]'],
  summary:
    'Runs this directory on an EC2 instance as if it were local: launches (or reuses) the\n' +
    'instance, syncs the directory up (minus .rsyncignore), runs the command (or a shell) there,\n' +
    'syncs new and changed files back, then terminates, stops or leaves the instance.',
  settings: 'all',
  load: () => import('./index.js'),
};
