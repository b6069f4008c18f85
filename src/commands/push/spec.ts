import { REACH_SETTINGS, SYNC_BACK_SETTINGS, type Command } from '../types.js';

export const push: Command = {
  name: 'push',
  usage: ['push PATH...'],
  summary: 'send these paths up now, nothing run (e.g. into the data volume)',
  settings: [...REACH_SETTINGS, ...SYNC_BACK_SETTINGS, 'volume'],
  examples: [
    ['ssh-ec2 push --volume data data/', 'fill the data volume once; every later instance here mounts it'],
    ['ssh-ec2 push config.yaml', 'one file up to the running instance, without running anything'],
  ],
  load: () => import('./index.js'),
};
