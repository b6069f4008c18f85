/**
 * One ssh master connection per instance carries the sync up, the session and the sync back.
 * Opening it is also the readiness probe: a cheap ssh retried with short backoff, never EC2
 * status checks (they report minutes after ssh already works).
 */
import { readFileSync, rmSync } from 'node:fs';
import { ConnectionError, lastLine } from '../errors.js';
import type { CallBounds } from '../cloud/consistency.js';
import type { Logger } from '../ui/logger.js';
import { backoff } from '../time.js';
import { run, runAllowFailure, runAttached, type RunResult } from './exec.js';
import {
  isModernSsh,
  masterControlArgv,
  masterStartArgv,
  parseOpensshVersion,
  remoteArgv,
  rsyncSshArgv,
  type ForwardSpecs,
  type SshTarget,
} from './ssh.js';

export interface KeySource {
  /** Private key file given to ssh, if any (else the user's own ssh configuration decides). */
  identityFile?: string;
  /**
   * Makes the key acceptable for one new authentication (Instance Connect keys live 60 s).
   * `bounds`: the connect's signal and deadline, which end a push still waiting for the instance.
   */
  refresh(bounds?: CallBounds): Promise<void>;
  dispose(): void;
}

const FATAL =
  /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|Bad configuration option|Can't open user config file|no argument after keyword|terminating, \d+ bad configuration options/i;

/** The local ssh's version, asked once per run (undefined: not OpenSSH, or no ssh at all). */
let localSsh: Promise<number | undefined> | undefined;
function localSshVersion(): Promise<number | undefined> {
  localSsh ??= runAllowFailure(['ssh', '-V'], { timeoutMs: 10_000 }).then(
    (r) => parseOpensshVersion(r.stderr + r.stdout),
    () => undefined,
  );
  return localSsh;
}

export class Connection {
  private opened = false;
  private sshKnown = false;

  constructor(
    private t: SshTarget,
    private readonly keys: KeySource,
    private readonly log: Logger,
    private readonly stderrLog: string,
  ) {}

  get target(): SshTarget {
    return this.t;
  }

  /** Before the first ssh: which options the local ssh takes (the builders stay pure). */
  private async knowLocalSsh(): Promise<void> {
    if (this.sshKnown) return;
    this.t = { ...this.t, modernSsh: isModernSsh(await localSshVersion()) };
    this.sshKnown = true;
  }

  /** The ssh rsync runs over this connection (see rsync.ts rshScript). */
  get rsyncSsh(): string[] {
    return rsyncSshArgv(this.target);
  }

  get remote(): string {
    return `${this.target.user}@${this.target.host}`;
  }

  /** Waits until ssh works and the master is up. */
  async open(opts: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    await this.knowLocalSsh();
    if (await this.alive()) {
      this.log.detail('reusing the ssh connection already open to this instance');
      this.opened = true;
      return;
    }
    const deadline = Date.now() + opts.timeoutMs;
    let attempts = 0;
    let last = '';
    // Small steps (issue #11, readiness): ssh is tried every second at most once the instance is
    // near up, so a command starts well within a second of sshd answering; a refused try costs
    // a local connect only.
    for await (const attempt of backoff({ firstDelayMs: 100, maxDelayMs: 1000, deadline, signal: opts.signal })) {
      attempts = attempt;
      await this.keys.refresh({ signal: opts.signal, deadline });
      rmSync(this.stderrLog, { force: true });
      // One try never outlasts the deadline by much (ssh's own ConnectTimeout is 10 s).
      const r = await runAllowFailure(masterStartArgv(this.target), {
        stderrFile: this.stderrLog,
        timeoutMs: Math.min(30_000, Math.max(12_000, deadline - Date.now())),
        signal: opts.signal,
      });
      if (r.exitCode === 0) {
        this.opened = true;
        this.log.detail(`ssh ready after ${attempts} attempt${attempts > 1 ? 's' : ''}`);
        return;
      }
      last = lastLine(readText(this.stderrLog)) || `ssh exit status ${r.exitCode}`;
      if (FATAL.test(readText(this.stderrLog))) {
        throw new ConnectionError(`ssh to ${this.target.hostKeyAlias} refused: ${last}`, hostKeyHint(this.target));
      }
      this.log.detail(`ssh not ready yet (${last})`);
    }
    throw new ConnectionError(
      `could not ssh to ${this.target.user}@${this.target.host} (${this.target.hostKeyAlias}) after ${attempts} attempts: ${last}`,
      'Check that the security group lets your address in (--ssh-cidr), the login user (--user) and your ssh configuration (--ssh-config).',
    );
  }

  /** One connection beside the master (ControlPath none), so ssh checks the host key and pins it if new. */
  async learnHostKey(): Promise<void> {
    await this.keys.refresh();
    await run(remoteArgv({ ...this.target, controlPath: 'none' }, 'true'), { timeoutMs: 30_000 });
  }

  async alive(): Promise<boolean> {
    await this.knowLocalSsh();
    const r = await runAllowFailure(masterControlArgv(this.target, 'check'), { timeoutMs: 10_000 });
    return r.exitCode === 0;
  }

  /** A non-interactive command over the master (our own plumbing, never the user's command). */
  exec(command: string, opts: { input?: string } = {}): Promise<RunResult> {
    return run(remoteArgv(this.target, command), { input: opts.input, timeoutMs: 120_000 });
  }

  /**
   * The user's session, attached to this terminal. `ownGroup`: out of the terminal's reach (see
   * runAttached), so that a Ctrl-C is ssh-ec2's to pass on; `relayInput` with it when stdin is a
   * terminal: ssh-ec2 reads it for ssh (see run-session.ts).
   */
  attach(
    command: string,
    opts: { tty: boolean; forwards?: ForwardSpecs; ownGroup?: boolean; relayInput?: boolean; follow?: boolean },
  ) {
    // `follow`: a log followed, reading nothing from here: out of the terminal's reach, so that a
    // Ctrl-C reaches ssh-ec2 alone, which stops following (a race with ssh's own death otherwise).
    return runAttached(remoteArgv(this.target, command, opts), {
      ownGroup: opts.ownGroup || opts.follow,
      input: opts.follow ? 'none' : opts.relayInput ? 'relay' : 'inherit',
    });
  }

  /** Closes the master; `keep` leaves it for the next run (it expires on its own). */
  async close(opts: { keep?: boolean } = {}): Promise<void> {
    if (this.opened && !opts.keep) await runAllowFailure(masterControlArgv(this.target, 'exit'), { timeoutMs: 10_000 });
    this.opened = false;
    this.keys.dispose();
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function hostKeyHint(t: SshTarget): string {
  return `The host key differs from the one recorded for ${t.hostKeyAlias} in ${t.knownHostsFile}. If you trust the change, delete that file.`;
}
