import type { Command } from '../types.js';

export const completion: Command = {
  name: 'completion',
  usage: ['completion bash|zsh|fish'],
  summary: 'a shell completion script: verbs, flags, values, instance names',
  settings: [],
  examples: [
    ['source <(ssh-ec2 completion bash)', 'in ~/.bashrc'],
    ['source <(ssh-ec2 completion zsh)', 'in ~/.zshrc, after compinit'],
    ['ssh-ec2 completion fish > ~/.config/fish/completions/ssh-ec2.fish', 'fish, once'],
  ],
  load: () => import('./index.js'),
};
