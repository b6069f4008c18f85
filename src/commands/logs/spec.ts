import { REACH_SETTINGS, type Command } from '../types.js';

export const logs: Command = {
  name: 'logs',
  usage: ['logs'],
  summary: "follow this directory's job log without attaching",
  settings: REACH_SETTINGS,
  examples: [
    ['ssh-ec2 --detach make train && ssh-ec2 logs', 'start a job, then follow its output (Ctrl-C stops following)'],
  ],
  load: () => import('./index.js'),
};
