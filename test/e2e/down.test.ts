/**
 * ssh-ec2 down tells the truth before it acts (issue #10, problem 5): the job it will kill (its
 * command, since when), that a stopped instance will be started to bring results back (or not, with
 * --no-pull), in the future tense, then what happened; and its flags in any order (`down NAME --yes`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliInTerminal, instances, instanceState, makeProject, reportedInstance, useSandbox } from './helpers.js';

const sb = useSandbox();

/** A local day as down writes it before a clock time not of today: `2026-11-30`. */
const day = (d: Date) =>
  `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

const nameOf = async (id: string) =>
  (await instances(sb)).find((i) => i.InstanceId === id)?.Tags?.find((t) => t.Key === 'Name')?.Value;

describe('ssh-ec2 down', () => {
  it('`down NAME --yes` names the running job and says it will be killed, then what happened', async () => {
    const dir = makeProject(sb, 'down-job');
    const before = new Date();
    const started = await cli(sb, ['--detach', 'echo epoch 7/60 > progress.txt; sleep 300'], { cwd: dir });
    expect(started.exitCode, started.stderr).toBe(0);
    const id = reportedInstance(started.stderr);
    const name = (await nameOf(id))!;
    expect(name).toBeTruthy();

    const r = await cli(sb, ['down', name, '--yes'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    // The job's start is a clock time of today; in a run across midnight (CI runs at any hour) it
    // started yesterday as down sees it, and down rightly names that day.
    const after = new Date();
    const dated = day(before) === day(after) ? '' : `(?:${day(before)} )?`;
    expect(r.stderr).toMatch(
      new RegExp(
        `Terminating 1 instance\\(s\\):\\n  ${name} ${id} \\(running, g4dn\\.xlarge\\)\\n` +
          `    its job is running since ${dated}\\d\\d:\\d\\d` +
          ' \\(\\d+m\\): echo epoch 7/60 > progress\\.txt; sleep 300 — it will be killed\\n' +
          `    results will be synced back into ${dir}, then it is terminated`,
      ),
    );
    expect(r.stderr).not.toMatch(/results synced back into .*\n(.|\n)*Terminating/);
    expect(r.stderr).toContain(`${name}: results synced back into ${dir}; terminated`);
    expect(readFileSync(join(dir, 'progress.txt'), 'utf8')).toBe('epoch 7/60\n');
    expect(await instanceState(sb, id)).toBe('terminated');
  });

  it('a stopped instance: the prompt, on a real terminal, says it will be started; --no-pull ends it as it is', async () => {
    const dir = makeProject(sb, 'down-stopped');
    const stopped = await cli(sb, ['--stop', 'echo first > first.txt'], { cwd: dir });
    expect(stopped.exitCode, stopped.stderr).toBe(0);
    const id = reportedInstance(stopped.stderr);
    expect(await instanceState(sb, id)).toBe('stopped');

    // A real terminal; the answer "n" leaves everything as it is.
    const term = cliInTerminal(sb, ['down'], { cwd: dir });
    let screen = '';
    // The question, or the end of the command without it (then the assertions below say what it printed).
    await new Promise<void>((resolve) => {
      term.stdout!.on('data', (d: Buffer) => {
        screen += d.toString();
        if (screen.includes('[y/N]')) resolve();
      });
      term.stdout!.on('end', resolve);
    });
    term.stdin!.write('n\r');
    const asked = await term;
    expect(asked.exitCode).toBe(0);
    expect(screen.replaceAll('\r', '')).toMatch(
      new RegExp(
        `Terminate 1 instance\\(s\\)\\?\\n  \\S+ ${id} \\(stopped, g4dn\\.xlarge\\)\\n` +
          `    it is stopped: it will be started to bring its results back into ${dir}, then terminated\\n\\[y/N\\]`,
      ),
    );
    expect(screen).toContain('nothing done');
    expect(await instanceState(sb, id)).toBe('stopped');

    sb.clearCalls();
    const r = await cli(sb, ['down', '--no-pull', '--yes'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('    results are NOT brought back (--no-pull)');
    expect(r.stderr).toMatch(new RegExp(`: terminated\\n`));
    expect(sb.calls('StartInstances')).toEqual([]);
    expect(await instanceState(sb, id)).toBe('terminated');
  });
});
