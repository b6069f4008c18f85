// What a user would type instead of ssh-ec2: plain ssh and rsync to the same instance, through the
// same ssh config (so over the same link: on the delayed one, through the same delaying relay), with
// a key of the bench's own. Its copy of a project lives in ~/by-hand/<name>/ there, apart from
// ssh-ec2's (whose bookkeeping an rsync --delete would otherwise remove).
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sandbox } from '../../test/sandbox/index.js';
import { bare } from './runner.js';

export class ByHand {
  private readonly key: string;
  private readonly knownHosts: string;
  private readonly controlPath: string;
  /** Its HOME: the sandbox's local one (ssh reads nothing there but what -F and -i name). */
  private readonly home: string;

  private constructor(
    private readonly sb: Sandbox,
    dir: string,
  ) {
    this.key = join(dir, 'by-hand-key');
    this.knownHosts = join(dir, 'by-hand-known-hosts');
    this.controlPath = join(dir, 'by-hand-%C');
    this.home = sb.env().HOME ?? dir;
  }

  static async create(sb: Sandbox): Promise<ByHand> {
    const b = new ByHand(sb, sb.dir);
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench', '-f', b.key], { stdin: 'ignore' });
    sb.authorizeKey(readFileSync(`${b.key}.pub`, 'utf8'));
    return b;
  }

  /** ssh's options as a careful script has them: its key only, host keys learnt once, no questions. */
  private sshOptions(address: string, master: boolean): string[] {
    return [
      ...['-F', this.sb.sshConfig, '-i', this.key, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes'],
      ...['-o', `UserKnownHostsFile=${this.knownHosts}`, '-o', 'StrictHostKeyChecking=accept-new'],
      ...['-o', `HostKeyAlias=${address}`, '-o', 'LogLevel=ERROR', '-l', this.sb.user],
      ...(master ? ['-o', `ControlPath=${this.controlPath}`] : ['-o', 'ControlPath=none']),
    ];
  }

  private rsh(address: string, master: boolean): string {
    return ['ssh', ...this.sshOptions(address, master)].join(' ');
  }

  ssh(address: string, command: string, cwd: string) {
    return bare(['ssh', ...this.sshOptions(address, false), address, command], cwd, this.home);
  }

  /** A master connection for "over the same connection" figures (what ssh-ec2's phases use). */
  async openMaster(address: string): Promise<void> {
    // No pipes: the master (and its ProxyCommand) lives on after ssh -f returns, holding them open.
    await execa('ssh', [...this.sshOptions(address, true), '-o', 'ControlMaster=yes', '-fN', address], {
      stdio: 'ignore',
    });
  }

  async closeMaster(address: string): Promise<void> {
    await execa('ssh', [...this.sshOptions(address, true), '-O', 'exit', address], { reject: false, stdin: 'ignore' });
  }

  /** rsync -a --delete of the project to its copy there, with the equivalent excludes. */
  push(address: string, local: string, name: string, o: { excludeFrom?: string; master?: boolean } = {}) {
    return bare(
      [
        'rsync',
        '-a',
        '--delete',
        ...(o.excludeFrom ? [`--exclude-from=${o.excludeFrom}`] : []),
        '--rsync-path=mkdir -p by-hand && rsync',
        '-e',
        this.rsh(address, o.master ?? false),
        `${local}/`,
        `${address}:by-hand/${name}/`,
      ],
      local,
      this.home,
    );
  }

  /** rsync -a of its copy there back into the project (what a script's "bring the results back" does). */
  pull(address: string, local: string, name: string, o: { excludeFrom?: string; master?: boolean } = {}) {
    return bare(
      [
        'rsync',
        '-a',
        ...(o.excludeFrom ? [`--exclude-from=${o.excludeFrom}`] : []),
        '-e',
        this.rsh(address, o.master ?? false),
        `${address}:by-hand/${name}/`,
        `${local}/`,
      ],
      local,
      this.home,
    );
  }
}
