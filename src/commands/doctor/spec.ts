import type { Command } from '../types.js';

export const doctor: Command = {
  name: 'doctor',
  usage: ['doctor [--json]'],
  summary: 'check everything a run needs, one line each, with the fix for what fails',
  settings: 'all',
  flags: ['json'],
  examples: [
    ['ssh-ec2 doctor', 'this machine, your AWS access, and this directory’s instance if one runs'],
    ['ssh-ec2 doctor -i ~/.ssh/key.pem --subnet-id subnet-0abc', 'also the key pair and that subnet'],
  ],
  load: () => import('./index.js'),
};
