import type { Command } from '../types.js';

/** ssh-ec2 batch: many jobs on many instances (src/batch/; README: Batches). */
export const batch: Command = {
  name: 'batch',
  usage: [
    'batch JOBS [--instances N]',
    'batch status [BATCH]',
    'batch logs BATCH JOB',
    'batch collect [BATCH]',
    'batch cancel BATCH [--yes]',
    'batch ls',
  ],
  summary: 'many jobs on many instances: run, follow, collect, cancel',
  settings: 'all',
  flags: ['yes', 'json'],
  examples: [
    [
      'ssh-ec2 batch jobs.csv',
      'one instance per job of jobs.csv (instance_type,command), a live table until all are done',
    ],
    [
      'ssh-ec2 batch seeds.txt --instances 4 -t g5.xlarge',
      'four instances take the commands of seeds.txt from a queue',
    ],
    ['ssh-ec2 batch status', "this directory's newest batch: each job's state, instance, time, exit status"],
    ['ssh-ec2 batch collect', "each finished job's new files into results/<batch>/<job>/, then its instance ended"],
  ],
  load: () => import('./index.js'),
};
