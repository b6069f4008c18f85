/**
 * The completion scripts. Each hands the words typed so far (without the program's name, the word
 * under the cursor last, possibly empty) to `ssh-ec2 __complete` and offers what it prints, one
 * candidate a line. Nothing printed means "a file name or a remote command": the shell's own file
 * completion takes over.
 */
export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

const bash = `# ssh-ec2 completion for bash: source <(ssh-ec2 completion bash)
_ssh_ec2() {
  local IFS=$'\\n'
  COMPREPLY=($(command ssh-ec2 __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _ssh_ec2 ssh-ec2
`;

// Sourced (source <(ssh-ec2 completion zsh), after compinit) or put in $fpath as _ssh-ec2.
const zsh = `#compdef ssh-ec2
# ssh-ec2 completion for zsh: source <(ssh-ec2 completion zsh) after compinit
_ssh_ec2() {
  local -a candidates
  candidates=("\${(@f)$(command ssh-ec2 __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  candidates=(\${candidates:#})
  if (( \${#candidates} )); then
    compadd -a candidates
  else
    _files
  fi
}
if (( \${+functions[compdef]} )); then
  compdef _ssh_ec2 ssh-ec2
fi
`;

const fish = `# ssh-ec2 completion for fish: ssh-ec2 completion fish > ~/.config/fish/completions/ssh-ec2.fish
function __ssh_ec2_complete
    set -l words (commandline -opc) (commandline -ct)
    command ssh-ec2 __complete $words[2..-1] 2>/dev/null
end
complete -c ssh-ec2 -a '(__ssh_ec2_complete)'
`;

export const SCRIPTS: Record<Shell, string> = { bash, zsh, fish };
