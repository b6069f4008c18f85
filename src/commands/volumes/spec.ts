import type { Command } from '../types.js';

export const volumes: Command = {
  name: 'volumes',
  usage: ['volumes', 'volumes rm NAME [--yes]'],
  summary: 'your data volumes: size, zone, cost, last use; rm deletes one',
  settings: ['region', 'verbose', 'silent'],
  flags: ['yes'],
  examples: [
    ['ssh-ec2 volumes', 'every data volume of yours in the region'],
    ['ssh-ec2 volumes rm data', 'delete the volume named data and everything on it (asks first; not while attached)'],
  ],
  load: () => import('./index.js'),
};
