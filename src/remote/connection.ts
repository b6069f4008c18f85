/**
 * One ssh master connection per instance carries the sync up, the session and the sync back.
 * Opening it is also the readiness probe: a cheap ssh retried with short backoff, never EC2
 * status checks (they report minutes after ssh already works).
 */
import { readFileSync, rmSync } from 'node:fs';
import { ConnectionError, ExitCode, lastLine, UserError } from '../errors.js';
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

/** A host key ssh will never accept, however long we try. */
const HOST_KEY = /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i;
/**
 * A configuration ssh refuses: a file's line, a command-line option, a %-token it does not know (in
 * an IdentityFile of the user's config, say). Retried, each would wait out the readiness deadline.
 */
const BAD_CONFIG = new RegExp(
  [
    'Bad configuration option',
    "Can't open user config file",
    'no argument after keyword',
    'terminating, \\d+ bad configuration options',
    'command-line line \\d+:',
    'percent_expand: unknown key',
    'percent_dollar_expand: failed',
  ].join('|'),
  'i',
);

/** The local ssh's version, asked once per run (undefined: not OpenSSH, or no ssh at all). */
let localSsh: Promise<number | undefined> | undefined;
export function localSshVersion(): Promise<number | undefined> {
  localSsh ??= runAllowFailure(['ssh', '-V'], { timeoutMs: 10_000 }).then(
    (r) => parseOpensshVersion(r.stderr + r.stdout),
    () => undefined,
  );
  return localSsh;
}

/**
 * The readiness probe's pace (issue #11: a command within a second of sshd answering). A try sshd
 * refuses costs one ssh process and one connect: cheap enough to make four times a second, so at
 * most a quarter of a second is lost after sshd comes up, without knowing when it will.
 */
const PROBE_CAP_MS = 250;
const READINESS_PROBE = { firstDelayMs: 100, maxDelayMs: PROBE_CAP_MS } as const;
/** A refused try ends within a round trip; one going on longer is likely past the TCP connect. */
const SLOW_TRY_MS = 100;

export class Connection {
  private opened = false;
  private sshKnown = false;
  private reusedMaster = false;

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

  /**
   * Waits until ssh works and the master is up. `onSlowTry`: told once per try that goes on past
   * SLOW_TRY_MS (a try sshd refuses ends sooner): sshd has likely answered, and is authenticating.
   */
  async open(opts: { timeoutMs: number; signal?: AbortSignal; onSlowTry?: () => void }): Promise<void> {
    await this.knowLocalSsh();
    if (await this.alive()) {
      this.log.detail('reusing the ssh connection already open to this instance');
      this.opened = true;
      this.reusedMaster = true;
      return;
    }
    const deadline = Date.now() + opts.timeoutMs;
    let attempts = 0;
    let last = '';
    for await (const attempt of backoff({ ...READINESS_PROBE, deadline, signal: opts.signal })) {
      attempts = attempt;
      await this.keys.refresh({ signal: opts.signal, deadline });
      rmSync(this.stderrLog, { force: true });
      const slow = opts.onSlowTry && setTimeout(opts.onSlowTry, SLOW_TRY_MS);
      // One try never outlasts the deadline by much (ssh's own ConnectTimeout is 10 s).
      const r = await runAllowFailure(masterStartArgv(this.target), {
        stderrFile: this.stderrLog,
        timeoutMs: Math.min(30_000, Math.max(12_000, deadline - Date.now())),
        signal: opts.signal,
      }).finally(() => clearTimeout(slow));
      if (r.exitCode === 0) {
        this.opened = true;
        this.log.detail(`ssh ready after ${attempts} attempt${attempts > 1 ? 's' : ''}`);
        return;
      }
      const said = readText(this.stderrLog);
      const why = lastLine(said) || `ssh exit status ${r.exitCode}`;
      if (HOST_KEY.test(said))
        throw new ConnectionError(`ssh to ${this.target.hostKeyAlias} refused: ${why}`, hostKeyHint(this.target));
      // The line that names the fault ("…/config line 3: Bad configuration option: x"), not ssh's "terminating".
      const refused = said.split('\n').find((l) => BAD_CONFIG.test(l));
      if (refused)
        throw new UserError(`ssh refused its configuration: ${refused.trim()}`, ExitCode.config, CONFIG_HINT);
      // Said once per reason: the probe tries several times a second.
      if (why !== last) this.log.detail(`ssh not ready yet (${why}); trying again every ${PROBE_CAP_MS} ms or so`);
      last = why;
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
   * A command over the master that waits for something on the instance (our own plumbing), for as
   * long as it takes or until `signal`: its output if it ended well (also just before the signal),
   * else nothing.
   */
  async watch(command: string, signal: AbortSignal): Promise<string | undefined> {
    const r = await runAllowFailure(remoteArgv(this.target, command), { signal });
    return r.exitCode === 0 ? r.stdout : undefined;
  }

  /**
   * A command of ours that may take long (a git checkout: session/git-checkout.ts), its script on
   * stdin (an https token in it stays out of every argv). `forwardAgent`: on a connection of its
   * own with your ssh agent forwarded, the only one that ever is — the master never forwards it,
   * or every command over it would reach your agent.
   */
  async execLong(
    command: string,
    opts: { input?: string; forwardAgent?: boolean; signal?: AbortSignal } = {},
  ): Promise<RunResult> {
    if (opts.forwardAgent) await this.keys.refresh();
    const t = opts.forwardAgent ? { ...this.target, controlPath: 'none' } : this.target;
    return run(remoteArgv(t, command, { forwardAgent: opts.forwardAgent }), { input: opts.input, signal: opts.signal });
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

  /** The master was open already (another run's) when this connection opened. */
  get reused(): boolean {
    return this.reusedMaster;
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

const CONFIG_HINT = 'Correct what it names in your ssh config (--ssh-config, else ~/.ssh/config), then run again.';

function hostKeyHint(t: SshTarget): string {
  return `The host key differs from the one recorded for ${t.hostKeyAlias} in ${t.knownHostsFile}. If you trust the change, delete that file.`;
}
