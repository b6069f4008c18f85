import { REACH_SETTINGS, SYNC_BACK_SETTINGS, type Command } from '../types.js';

export const pull: Command = {
  name: 'pull',
  usage: ['pull'],
  summary: 'sync back now; the instance is left as it was',
  settings: [...REACH_SETTINGS, ...SYNC_BACK_SETTINGS],
  examples: [['ssh-ec2 pull', "bring a running job's results so far into this directory"]],
  load: () => import('./index.js'),
};
