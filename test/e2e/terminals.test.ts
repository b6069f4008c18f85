/**
 * Issue #10, problems 4 and 6: refusals before anything changes, Ctrl-C and exit statuses, and when
 * a terminal is allocated — through real terminals (tmux panes) where a terminal matters.
 */
import { execa } from 'execa';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BIN,
  cli,
  instanceState,
  letJobGo,
  makeProject,
  NODE,
  remotePath,
  reportedInstance,
  shq,
  tmuxPane,
  tmuxScreen,
  until,
  useSandbox,
  WAIT_FOR_GO,
} from './helpers.js';

const sb = useSandbox();

/**
 * A real terminal: a tmux pane running one ssh-ec2 after another (each `run`), each one's stderr
 * and exit status kept in files. The pane's shell only notes a Ctrl-C (`trap :`), as an
 * interactive shell does, so it lives on to write the status.
 */
class Terminal {
  private static count = 0;
  private readonly base: string;
  private runs = 0;

  constructor(readonly dir: string) {
    this.base = join(sb.dir, `terminal-${++Terminal.count}`);
  }

  /** Starts `ssh-ec2 <args> <redirect>` in the pane (args already shell words); returns at once. */
  async run(args: string, redirect = ''): Promise<void> {
    const env = Object.entries(sb.env()).map(([k, v]) => shq(`${k}=${v}`));
    const n = ++this.runs;
    const line = `trap : INT; env -i TERM=xterm ${env.join(' ')} ${shq(NODE)} ${shq(BIN)} ${args} 2>${shq(this.stderrFile(n))} ${redirect}; echo $? > ${shq(this.exitFile(n))}; sleep 600`;
    if (n > 1) await execa('tmux', ['-S', this.socketOf(n - 1), 'kill-server'], { reject: false });
    await tmuxPane(this.sock, this.dir, line);
  }

  /**
   * Each run's own tmux server: a new server on the socket of one just killed could meet it still
   * exiting ("server exited unexpectedly", seen on a loaded run).
   */
  private socketOf = (n: number) => `${this.base}.${n}.sock`;
  get sock(): string {
    return this.socketOf(this.runs);
  }

  private stderrFile = (n = this.runs) => `${this.base}.${n}.stderr`;
  private exitFile = (n = this.runs) => `${this.base}.${n}.exit`;

  stderr(): string {
    return existsSync(this.stderrFile()) ? readFileSync(this.stderrFile(), 'utf8') : '';
  }

  screen(): Promise<string> {
    return tmuxScreen(this.sock);
  }

  async ctrlC(): Promise<void> {
    await execa('tmux', ['-S', this.sock, 'send-keys', 'C-c']);
  }

  /** Types `text` (literally), then Enter. */
  async typeLine(text: string): Promise<void> {
    await execa('tmux', ['-S', this.sock, 'send-keys', '-l', text]);
    await execa('tmux', ['-S', this.sock, 'send-keys', 'Enter']);
  }

  async ctrlD(): Promise<void> {
    await execa('tmux', ['-S', this.sock, 'send-keys', 'C-d']);
  }

  async exited(timeoutMs = 90_000): Promise<number> {
    try {
      await until(() => existsSync(this.exitFile()), 'ssh-ec2 to exit', timeoutMs);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- screen:\n${await this.screen()}\n--- stderr:\n${this.stderr()}`);
    }
    return Number(readFileSync(this.exitFile(), 'utf8').trim());
  }

  async close(): Promise<void> {
    await execa('tmux', ['-S', this.sock, 'kill-server'], { reject: false });
  }
}

const terminals: Terminal[] = [];
function terminal(dir: string): Terminal {
  const t = new Terminal(dir);
  terminals.push(t);
  return t;
}
afterEach(async () => {
  for (const t of terminals.splice(0)) await t.close();
});

/** Whether this directory's job still runs on the instance (its wrapper's status). */
async function jobRunning(id: string): Promise<boolean> {
  const r = await sb
    .machine(id)
    .runAsUser('for d in ~/.ssh-ec2/jobs/*/; do sh ~/.ssh-ec2/job.sh status "$(basename "$d")"; done');
  return /^running /m.test(r.stdout);
}

describe('checks before changes', () => {
  it('a --detach refused because a job runs sends nothing: the running job keeps its files', async () => {
    const name = 'refused-detach';
    const dir = makeProject(sb, name, { 'train.py': 'version 1\n' });
    const first = await cli(sb, ['--detach', `${WAIT_FOR_GO}; cat train.py > used.txt`], { cwd: dir });
    expect(first.exitCode, first.stderr).toBe(0);
    const id = reportedInstance(first.stderr);

    writeFileSync(join(dir, 'train.py'), 'version 2\n');
    writeFileSync(join(dir, 'new.txt'), 'new\n');
    const again = await cli(sb, ['-d', '--', 'make', 'train'], { cwd: dir });
    expect(again.exitCode, again.stderr).toBe(8);
    expect(again.stderr).toMatch(/a job is already running/);
    expect(again.stderr).not.toMatch(/sync up/);
    expect(readFileSync(join(remotePath(sb, name), 'train.py'), 'utf8')).toBe('version 1\n');
    expect(existsSync(join(remotePath(sb, name), 'new.txt'))).toBe(false);

    letJobGo(sb, name);
    const attached = await cli(sb, ['--attach'], { cwd: dir });
    expect(attached.exitCode, attached.stderr).toBe(0);
    expect(readFileSync(join(dir, 'used.txt'), 'utf8')).toBe('version 1\n');
    expect(await instanceState(sb, id)).toBe('terminated');
  });
});

describe('Ctrl-C while following a job', () => {
  it('in ssh-ec2 logs, and in --attach without a terminal: stops following quietly (exit 0), the job untouched', async () => {
    const name = 'ctrl-c-logs';
    const dir = makeProject(sb, name);
    const detached = await cli(sb, ['--detach', `echo started-job; ${WAIT_FOR_GO}; echo done > done.txt`], {
      cwd: dir,
    });
    expect(detached.exitCode, detached.stderr).toBe(0);
    const id = reportedInstance(detached.stderr);

    for (const args of ['logs', '--attach --no-tty']) {
      const term = terminal(dir);
      await term.run(args);
      await until(async () => (await term.screen()).includes('started-job'), `${args} to follow the job's output`);
      await term.ctrlC();
      expect(await term.exited(), `${args}\n${term.stderr()}`).toBe(0);
      expect(term.stderr()).not.toMatch(/SIGINT|stopping|connection was lost/);
      expect(await jobRunning(id)).toBe(true);
      expect(await instanceState(sb, id)).toBe('running');
      await term.close();
    }

    letJobGo(sb, name);
    const attached = await cli(sb, ['--attach'], { cwd: dir });
    expect(attached.exitCode, attached.stderr).toBe(0);
    expect(readFileSync(join(dir, 'done.txt'), 'utf8')).toBe('done\n');
  });
});

describe('Ctrl-C of a command', () => {
  /** What the command printed: on the screen, or in the file its stdout went to. */
  const shown = async (term: Terminal, out: string) =>
    (await term.screen()) + (existsSync(out) ? readFileSync(out, 'utf8') : '');
  // stdin a terminal, stdout in a file: no terminal there, yet ssh-ec2 reads the keyboard (for ssh).
  const ways = [
    ['in a terminal', ''],
    ['with stdin not a terminal', '</dev/null'],
    ['with stdin a terminal and stdout in a file', '>'],
  ] as const;
  const label = (redirect: string) => (redirect === '' ? 'tty' : redirect === '>' ? 'file' : 'pipe');

  it.each(ways)('%s: the status the shell on the instance reports, 130', async (what, redirect) => {
    const name = `ctrl-c-${label(redirect)}`;
    const dir = makeProject(sb, name);
    const out = join(sb.dir, `${name}.out`);
    const term = terminal(dir);
    await term.run(
      shq('echo begun > begun.txt; echo begun-on-screen; sleep 60'),
      redirect === '>' ? `>${shq(out)}` : redirect,
    );
    await until(() => existsSync(join(remotePath(sb, name), 'begun.txt')), 'the command to start');
    await until(async () => (await shown(term, out)).includes('begun-on-screen'), 'its output');
    await term.ctrlC();
    expect(await term.exited(), what).toBe(130);
    // The 130 is the shell's there, not ssh-ec2's own for an interrupted run.
    expect(term.stderr()).not.toMatch(/SIGINT received/);
    expect(readFileSync(join(dir, 'begun.txt'), 'utf8')).toBe('begun\n');
    expect(await instanceState(sb, reportedInstance(term.stderr())), term.stderr()).toBe('terminated');
  });

  it.each(ways.map(([what, redirect]) => [what, redirect, redirect === '>' ? 7 : 0] as const))(
    "%s: a command that handles it itself ends as it chooses, and its status is the run's",
    async (what, redirect, status) => {
      const name = `ctrl-c-own-${label(redirect)}`;
      const dir = makeProject(sb, name);
      const out = join(sb.dir, `${name}.out`);
      const term = terminal(dir);
      await term.run(
        shq(
          `trap 'echo saved > saved.txt; exit ${status}' INT; echo begun > begun.txt; echo begun-on-screen; sleep 60`,
        ),
        redirect === '>' ? `>${shq(out)}` : redirect,
      );
      await until(() => existsSync(join(remotePath(sb, name), 'begun.txt')), 'the command to start');
      await until(async () => (await shown(term, out)).includes('begun-on-screen'), 'its output');
      await term.ctrlC();
      expect(await term.exited(), `${what}: ${term.stderr()}`).toBe(status);
      expect(readFileSync(join(dir, 'saved.txt'), 'utf8')).toBe('saved\n');
      expect(await instanceState(sb, reportedInstance(term.stderr())), term.stderr()).toBe('terminated');
    },
  );

  it('with stdin a terminal and stdout in a file: what is typed reaches the command, Ctrl-D ends its input', async () => {
    const name = 'typed-to-file';
    const dir = makeProject(sb, name);
    const out = join(sb.dir, `${name}.out`);
    const term = terminal(dir);
    await term.run(
      shq('echo ready-for-input >&2; read first; echo "got:$first"; cat > typed.txt; echo input-ended'),
      `>${shq(out)}`,
    );
    await until(() => term.stderr().includes('ready-for-input'), 'the command to start');
    await term.typeLine('first line');
    await until(() => existsSync(out) && readFileSync(out, 'utf8').includes('got:first line'), 'the line read there');
    await term.typeLine('second');
    await term.typeLine('third');
    await term.ctrlD();
    expect(await term.exited(), term.stderr()).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('got:first line\ninput-ended\n');
    expect(readFileSync(join(dir, 'typed.txt'), 'utf8')).toBe('second\nthird\n');
  });

  it('a shell fed by a pipe (no command, no terminal): 130, not a lost connection', async () => {
    const name = 'ctrl-c-shell-pipe';
    const dir = makeProject(sb, name);
    writeFileSync(join(dir, 'script.sh'), 'echo begun > begun.txt\necho begun-on-screen\nsleep 60\n');
    const term = terminal(dir);
    await term.run('', `< ${shq(join(dir, 'script.sh'))}`);
    await until(() => existsSync(join(remotePath(sb, name), 'begun.txt')), 'the shell to start');
    await until(async () => (await term.screen()).includes('begun-on-screen'), 'its output on the screen');
    await term.ctrlC();
    expect(await term.exited(), term.stderr()).toBe(130);
    expect(await instanceState(sb, reportedInstance(term.stderr())), term.stderr()).toBe('terminated');
  });

  // A job in the foreground with no terminal there follows the job's log: Ctrl-C reaches the job's
  // command as a terminal's would (its pane), and the job's status is the run's.
  const BEGIN = 'echo begun > begun.txt; echo begun-on-screen';
  /** `ssh-ec2 --multi MUX JOB` in a terminal (stdout in a file with `toFile`), once JOB did BEGIN. */
  async function jobBegun(name: string, mux: string, job: string, toFile: boolean) {
    const dir = makeProject(sb, name);
    const out = join(sb.dir, `${name}.out`);
    const term = terminal(dir);
    await term.run(`--multi ${mux} ${shq(job)}`, toFile ? `>${shq(out)}` : '');
    await until(() => existsSync(join(remotePath(sb, name), 'begun.txt')), 'the job to start');
    await until(async () => (await shown(term, out)).includes('begun-on-screen'), 'its output followed');
    return { dir, out, term };
  }

  it.each(['tmux', 'screen'])(
    'of a --multi %s job with stdout in a file: the status the shell in the job reports, 130',
    async (mux) => {
      const { dir, term } = await jobBegun(`ctrl-c-job-${mux}`, mux, `${BEGIN}; sleep 60`, true);
      await term.ctrlC();
      expect(await term.exited(), term.stderr()).toBe(130);
      expect(term.stderr()).not.toMatch(/SIGINT received|still running/);
      expect(term.stderr()).toMatch(/the job finished with status 130/);
      expect(readFileSync(join(dir, 'begun.txt'), 'utf8')).toBe('begun\n');
      expect(await instanceState(sb, reportedInstance(term.stderr())), term.stderr()).toBe('terminated');
    },
  );

  it('of a --multi tmux job in a terminal: the job ends with the status its shell reports, 130', async () => {
    const { term } = await jobBegun('ctrl-c-job-tty', 'tmux', `${BEGIN}; sleep 60`, false);
    await term.ctrlC();
    // Not killed with its wrapper (137): the wrapper outlives the Ctrl-C to write the status.
    expect(await term.exited(), term.stderr()).toBe(130);
    expect(term.stderr()).toMatch(/the job finished with status 130/);
    expect(await instanceState(sb, reportedInstance(term.stderr())), term.stderr()).toBe('terminated');
  });

  it('of a --multi screen job that handles it itself, stdout in a file: the status it chooses', async () => {
    const job = `trap 'echo saved > saved.txt; exit 7' INT; ${BEGIN}; sleep 60`;
    const { dir, term } = await jobBegun('ctrl-c-job-own', 'screen', job, true);
    await term.ctrlC();
    expect(await term.exited(), term.stderr()).toBe(7);
    expect(readFileSync(join(dir, 'saved.txt'), 'utf8')).toBe('saved\n');
    expect(await instanceState(sb, reportedInstance(term.stderr())), term.stderr()).toBe('terminated');
  });

  it('of a --multi tmux job that ignores it, stdout in a file: a second Ctrl-C stops following, the job left running', async () => {
    const name = 'ctrl-c-job-twice';
    const job = `trap 'echo got-it' INT; ${BEGIN}; ${WAIT_FOR_GO}`;
    const { out, term } = await jobBegun(name, 'tmux', job, true);
    await term.ctrlC();
    await until(async () => (await shown(term, out)).includes('got-it'), 'the job to get the Ctrl-C');
    await term.ctrlC();
    expect(await term.exited(), term.stderr()).toBe(130);
    expect(term.stderr()).toMatch(/the job is still running/);
    const id = reportedInstance(term.stderr());
    expect(await jobRunning(id)).toBe(true);
    expect(await instanceState(sb, id)).toBe('running');
    letJobGo(sb, name);
  });

  it('in a terminal, a lost connection is still 255: the results come back, terminated', async () => {
    const dir = makeProject(sb, 'lost-in-terminal');
    const term = terminal(dir);
    // The sshd serving the connection dies: the grandparent of the command's shell.
    await term.run(shq('echo saved > result.txt; kill -9 $(ps -o ppid= -p $PPID); sleep 5'));
    expect(await term.exited(), term.stderr()).toBe(255);
    expect(term.stderr()).toMatch(/connection was lost; reconnecting/);
    expect(readFileSync(join(dir, 'result.txt'), 'utf8')).toBe('saved\n');
    expect(await instanceState(sb, reportedInstance(term.stderr())), term.stderr()).toBe('terminated');
  });
});

describe('the terminal on the instance', () => {
  it('from a terminal with stdout in a file: no terminal there (no CR, stderr not mixed in)', async () => {
    const dir = makeProject(sb, 'stdout-file');
    const out = join(sb.dir, 'stdout-file.txt');
    const term = terminal(dir);
    await term.run(`-- ${shq('echo out; echo err >&2')}`, `>${shq(out)}`);
    expect(await term.exited(), term.stderr()).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('out\n');
    expect(term.stderr()).toContain('err\n');
  });

  it('--no-tty in a terminal gives none; --tty without one forces one', async () => {
    const dir = makeProject(sb, 'tty-flags');
    const probe = shq('if [ -t 0 ]; then echo ON-A-TERMINAL; else echo NO-TERMINAL; fi');
    const term = terminal(dir);
    await term.run(`--leave --no-tty ${probe}`);
    expect(await term.exited(), term.stderr()).toBe(0);
    expect(await term.screen()).toContain('NO-TERMINAL');
    await term.run(`--leave ${probe}`);
    expect(await term.exited(), term.stderr()).toBe(0);
    expect(await term.screen()).toContain('ON-A-TERMINAL');

    const forced = await cli(sb, ['--tty', '--', 'if [ -t 0 ]; then echo ON-A-TERMINAL; fi'], { cwd: dir });
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/^ON-A-TERMINAL\r?\n$/);
  });
});

describe('--attach on an ended job', () => {
  it('shows the end of its output and its end time in local time', async () => {
    const name = 'attach-ended';
    const dir = makeProject(sb, name);
    const rows = 'for i in $(seq -w 1 15); do echo row-$i; done';
    const detached = await cli(sb, ['--detach', `${rows}; ${WAIT_FOR_GO}; exit 4`], { cwd: dir });
    expect(detached.exitCode, detached.stderr).toBe(0);
    const id = reportedInstance(detached.stderr);
    letJobGo(sb, name);
    await until(async () => !(await jobRunning(id)), 'the job to end');

    // A zone far from UTC, without summer time: a UTC time cannot pass for it.
    const attached = await cli(sb, ['--attach'], { cwd: dir, env: { TZ: 'Asia/Kathmandu' } });
    expect(attached.exitCode, attached.stderr).toBe(4);
    // Local time, with the zone's name where the platform gives one.
    const at = /the job finished with status 4 at (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)( \S+)?\n/.exec(attached.stderr);
    expect(at, attached.stderr).not.toBeNull();
    const ended = Date.parse(`${at![1]}T${at![2]}+05:45`);
    expect(Math.abs(Date.now() - ended)).toBeLessThan(10 * 60_000);
    expect(attached.stderr).toMatch(/row-06\n(.*\n)*row-15\n/);
    expect(attached.stderr).not.toContain('row-05');
    expect(await instanceState(sb, id)).toBe('terminated');
  });
});
