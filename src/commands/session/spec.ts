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
  examples: [
    ['ssh-ec2 make train', 'launch, sync up, run `make train`, sync back, terminate'],
    ['ssh-ec2', 'an interactive shell in the project directory on the instance'],
    ['ssh-ec2 --stop -i my_key.pem "who am i"', 'with a key pair of yours; stop (not end) it afterwards'],
    ['ssh-ec2 -L 8888:localhost:8888 jupyter lab', 'forward a port for the session'],
    ['ssh-ec2 --detach make train', 'start a long job and return; `ssh-ec2 --attach` comes back to it'],
    ['ssh-ec2 -- ls -la', 'run ls on the instance (`ssh-ec2 ls` is the verb that lists your instances)'],
  ],
  load: () => import('./index.js'),
};
