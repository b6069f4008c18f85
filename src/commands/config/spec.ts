import type { Command } from '../types.js';

export const config: Command = {
  name: 'config',
  usage: ['config [--json]', 'config --presets'],
  summary: 'every setting as a run here takes it, and where it came from',
  settings: 'all',
  flags: ['json', 'presets'],
  examples: [
    ['ssh-ec2 config', 'every setting, its value and its origin (e.g. ".ssh-ec2.toml:3")'],
    ['ssh-ec2 config --preset big', 'what a run with the preset big would use'],
    ['ssh-ec2 config --json', 'the same as {setting: {value, from, …}}'],
  ],
  load: () => import('./index.js'),
};
