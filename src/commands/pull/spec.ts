import { REACH_SETTINGS, SYNC_BACK_SETTINGS, type Command } from '../types.js';

export const pull: Command = {
  name: 'pull',
  usage: ['pull', 'pull --from-s3'],
  summary: 'sync back now; the instance is left as it was',
  settings: [...REACH_SETTINGS, ...SYNC_BACK_SETTINGS, 'results', 'resultsEndpoint'],
  flags: ['fromS3'],
  examples: [
    ['ssh-ec2 pull', "bring a running job's results so far into this directory"],
    [
      'ssh-ec2 pull --from-s3 --results s3://my-bucket/runs',
      'bring home what the instance uploaded, even once it is gone',
    ],
  ],
  load: () => import('./index.js'),
};
