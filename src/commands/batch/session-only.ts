/**
 * What a session does that a batch cannot (README: Batches). Given on this command line — a flag,
 * or a preset named there — it is refused in one line (exit 2): the user asked for it now. From a
 * config file, the environment or .env it is a default for sessions: the batch does without it,
 * said in one line, rather than making a project that sets `volume` for its sessions unable to run
 * any batch. A few are refused whatever their source: doing without them would surprise badly.
 */
import { UsageError } from '../../errors.js';
import { flagSpelling, OPTION_SPECS, originOf, type OptionKey, type Options } from '../../options.js';

interface SessionOnly {
  key: OptionKey;
  given: (o: Options) => boolean;
  why: string;
  /** Refused from any source, with why doing without it would be worse than stopping. */
  always?: string;
  /** With `always`: how to do without it for this batch. */
  hint?: string;
}

const FORWARDS = 'port forwards need one attached session';

// attach, detach, tty and dry-run are run modes: flags only (options/file-rules.ts RUN_MODES).
const SESSION_ONLY: readonly SessionOnly[] = [
  {
    key: 'attach',
    given: (o) => o.attach,
    why: 'a batch has no one job to attach to: ssh-ec2 batch status, batch logs BATCH JOB',
  },
  {
    key: 'detach',
    given: (o) => o.detach,
    why: 'a batch always runs detached: ssh-ec2 batch returns once its jobs are done, or at Ctrl-C',
  },
  { key: 'localForwards', given: (o) => o.localForwards.length > 0, why: FORWARDS },
  { key: 'remoteForwards', given: (o) => o.remoteForwards.length > 0, why: FORWARDS },
  { key: 'dynamicForwards', given: (o) => o.dynamicForwards.length > 0, why: FORWARDS },
  { key: 'tty', given: (o) => o.tty !== undefined, why: "a batch's jobs run without a terminal" },
  { key: 'multiplex', given: (o) => o.multiplex !== undefined, why: "each instance's worker runs in tmux" },
  {
    key: 'finalState',
    given: (o) => originOf(o, 'finalState') !== undefined,
    why: 'a batch instance ends when collected (README: Batches)',
  },
  { key: 'syncEvery', given: (o) => o.syncEvery > 0, why: "a batch's results come home with ssh-ec2 batch collect" },
  { key: 'volume', given: (o) => o.volume !== undefined, why: 'a data volume attaches to one instance' },
  {
    key: 'docker',
    given: (o) => o.docker !== undefined,
    why: 'not built for batches yet: run docker from the jobs file',
  },
  // Set aside, the batch syncs up this directory, which --git holds to its pushed commit anyway.
  { key: 'git', given: (o) => o.git, why: 'not built for batches yet: the directory is synced up' },
  {
    key: 'gitUrl',
    given: (o) => o.gitUrl !== undefined,
    why: 'not built for batches yet: the directory is synced up',
    always: "the jobs would run this directory's files, not that repository's",
    hint: "--git-url '' runs the batch from this directory's files.",
  },
  {
    key: 'onSuccess',
    given: (o) => o.onSuccess !== undefined,
    why: 'a batch has no one command to follow: use --notify',
  },
  {
    key: 'dryRun',
    given: (o) => o.dryRun,
    why: 'not built for batches yet',
    always: 'without it, the batch would launch its instances',
  },
];

/**
 * The options a batch runs with: a session-only setting from this command line (or one of those
 * refused from any source) is a UsageError; one from elsewhere is back to its default, one line
 * each through `say`, before anything reads it (the volume, the container, the final state…).
 */
export function withoutSessionOnly(o: Options, say: (line: string) => void): Options {
  const given = SESSION_ONLY.filter((s) => s.given(o));
  // Refused first: a refusal is the one line said, none of the set-aside ones before it.
  for (const { key, why, always, hint } of given) {
    const asked = o.flagged?.has(key) === true || originOf(o, key) === undefined;
    if (asked) throw new UsageError(`${described(o, key)} is not for ssh-ec2 batch: ${why}`);
    if (always) throw new UsageError(`${described(o, key)} is not for ssh-ec2 batch: ${why}; ${always}`, hint);
  }
  const kept: Options = { ...o, origins: { ...o.origins }, from: { ...o.from } };
  for (const { key } of given) {
    (kept as Record<OptionKey, unknown>)[key] = OPTION_SPECS[key].default;
    delete kept.origins![key];
    delete kept.from![key];
    say(`${described(o, key)} is a session setting: this batch does without it`);
  }
  return kept;
}

/** The setting as its flag, with its origin when another: `--volume (from .ssh-ec2.toml:2: volume)`. */
function described(o: Options, key: OptionKey): string {
  const name = flagSpelling(key, o.finalState);
  const origin = originOf(o, key);
  return origin && origin !== name ? `${name} (from ${origin})` : name;
}
