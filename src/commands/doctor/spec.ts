import { REACH_SETTINGS, type Command } from '../types.js';

export const doctor: Command = {
  name: 'doctor',
  usage: ['doctor [--json]'],
  summary: 'check what a run needs, each failure with its fix',
  // What a run would use: the launch's (image, network, group, key pair, and what else shapes its
  // RunInstances: instance profile, volume, user data), the reach of this directory's instance, and
  // the sync's rsync.
  settings: [
    ...REACH_SETTINGS,
    'instanceTypes',
    'iamProfile',
    'volumeSize',
    'userData',
    'cache',
    'imageId',
    'imageName',
    'imageOwners',
    'subnetId',
    'securityGroup',
    'sshCidr',
    'remoteDir',
    'rsync',
  ],
  flags: ['json'],
  examples: [
    ['ssh-ec2 doctor', "this machine, your AWS access, this directory's instance if one runs"],
    ['ssh-ec2 doctor -i key.pem --subnet-id subnet-0abc', 'also the key pair, and that subnet'],
  ],
  load: () => import('./index.js'),
};
