import type { Command } from '../types.js';

export const prices: Command = {
  name: 'prices',
  usage: ['prices [TYPE...] [--json]'],
  summary: 'on-demand and spot prices per zone, cheapest first, with GPUs',
  settings: ['region', 'verbose'],
  flags: ['json'],
  examples: [
    ['ssh-ec2 prices g5.xlarge g6.xlarge', 'both types in every zone of the region that offers them, cheapest first'],
    ['ssh-ec2 prices', "the smallest size of each GPU family in ssh-ec2's price table"],
    ['ssh-ec2 prices --region eu-west-1 --json', 'the same as data'],
  ],
  // Reads no project settings: prices are the region's, not a directory's.
  noProjectSettings: true,
  load: () => import('./index.js'),
};
