import { describe, expect, it } from 'vitest';
import { batchId, batchSlug } from '../../src/batch/batch-id.js';
import { parseJobs } from '../../src/batch/jobs-file.js';
import { INSTANCES_RULE, makeLanes } from '../../src/batch/lanes.js';
import { UsageError } from '../../src/errors.js';

const refused = (text: string, file = 'jobs.csv') => {
  try {
    parseJobs(file, text);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('not refused');
};

describe('jobs file', () => {
  it('reads a CSV in any column order, with RFC 4180 quotes spanning commas, quotes and lines', () => {
    const jobs = parseJobs(
      'jobs.csv',
      'command,instance_type,name,spot\r\n' +
        'python train.py --lr 0.1,t3.micro,a,yes\r\n' +
        '"python -c ""print(1, 2)""",,b,\r\n' +
        '\r\n' +
        '"echo one\ntwo",c5.large,,0\r\n',
    );
    expect(jobs).toEqual([
      { name: 'a', command: 'python train.py --lr 0.1', instanceType: 't3.micro', spot: true, line: 2 },
      { name: 'b', command: 'python -c "print(1, 2)"', line: 3 },
      { name: 'job-3', command: 'echo one\ntwo', instanceType: 'c5.large', spot: false, line: 5 },
    ]);
  });

  it('reads any other file as one command per line, skipping blanks and comments', () => {
    expect(parseJobs('seeds.txt', '# seeds\npython a.py --seed 1\n\n  \npython a.py --seed 2\n')).toEqual([
      { name: 'job-1', command: 'python a.py --seed 1', line: 2 },
      { name: 'job-2', command: 'python a.py --seed 2', line: 5 },
    ]);
  });

  it('a plain command with a quote mid-line is a command, not a CSV mistake (the first job line decides)', () => {
    const text = 'mkdir -p "a b"\necho "it\'s\n# done\npython x.py, --fast\n';
    expect(parseJobs('cmds.txt', text)).toEqual([
      { name: 'job-1', command: 'mkdir -p "a b"', line: 1 },
      { name: 'job-2', command: 'echo "it\'s', line: 2 },
      { name: 'job-3', command: 'python x.py, --fast', line: 4 },
    ]);
  });

  it('a byte-order mark and CRLF ends are read through, in both formats; comments before a CSV header kept out', () => {
    expect(parseJobs('cmds.txt', '\uFEFFecho "a b"\r\n\r\necho c\r\n')).toEqual([
      { name: 'job-1', command: 'echo "a b"', line: 1 },
      { name: 'job-2', command: 'echo c', line: 3 },
    ]);
    expect(parseJobs('j.csv', '\uFEFF# grid\r\n"instance_type",command\r\nt3.micro,"echo ""x"", y"\r\n')).toEqual([
      { name: 'job-1', command: 'echo "x", y', instanceType: 't3.micro', line: 3 },
    ]);
  });

  it.each([
    ['instance_type,command\nt3.micro,"open\n', 'jobs.csv:2: a quote opened here is never closed'],
    ['instance_type,command\nt3.micro,a,b\n', 'jobs.csv:2: 3 field(s) where the header has 2'],
    ['instance_type,command,colour\nt3.micro,a,red\n', 'jobs.csv:1: unknown column "colour"'],
    ['instance_type,command\nt3.micro,\n', 'jobs.csv:2: empty command'],
    ['instance_type,command,spot\nt3.micro,a,maybe\n', 'jobs.csv:2: spot "maybe" must be'],
    ['instance_type,command,name\n,a,x\n,b,x\n', 'jobs.csv:3: job name "x" is used at line 2 too'],
    ['instance_type,command,name\n,a,-x\n', 'jobs.csv:2: job name "-x" must be'],
    ['instance_type,command\nt3.micro,a "b"\n', 'jobs.csv:2: a quote inside an unquoted field'],
    ['# nothing\n\n', 'jobs.csv: no jobs in it'],
  ])('refuses %j with the file and line', (text, said) => {
    expect(refused(text)).toContain(said);
  });
});

describe('batch id', () => {
  it('is the slug of the file name and the UTC time', () => {
    expect(batchId('/x/Sweep Grid.v2.csv', new Date('2026-11-30T19:24:00Z'))).toBe('sweep-grid-v2-20261130-192400');
    expect(batchSlug('---.csv')).toBe('batch');
    expect(batchSlug('a-very-long-name-for-a-jobs-file.txt')).toBe('a-very-long-name-for');
    expect(batchSlug('abcdefghijklmnopqrs-tuv.csv')).toBe('abcdefghijklmnopqrs');
  });
});

describe('lanes', () => {
  const rows = parseJobs('j.csv', 'instance_type,command,spot\n,a,\nc5.large,b,\n,c,yes\nc5.large,d,\n,e,\n');
  const defaults = { instanceTypes: ['t3.micro', 't3.small'], spot: false };

  it('groups by types and market, one instance per job', () => {
    const lanes = makeLanes(rows, defaults);
    expect(lanes.map((l) => [l.index, l.instanceTypes, l.market, l.count, l.jobs.map((j) => j.name)])).toEqual([
      [1, ['t3.micro', 't3.small'], 'on-demand', 2, ['job-1', 'job-5']],
      [2, ['c5.large'], 'on-demand', 2, ['job-2', 'job-4']],
      [3, ['t3.micro', 't3.small'], 'spot', 1, ['job-3']],
    ]);
    expect(lanes[1]!.jobs[0]).toEqual({
      name: 'job-2',
      command: 'b',
      instanceTypes: ['c5.large'],
      spot: false,
      lane: 2,
    });
  });

  it('with --instances: one lane, never more instances than jobs; mixed types or markets refused', () => {
    const same = parseJobs('j.csv', 'instance_type,command\n,a\nt3.micro,b\n,c\n');
    const lanes = makeLanes(same, { instanceTypes: ['t3.micro'], spot: true }, 2);
    expect(lanes.map((l) => [l.count, l.market, l.jobs.length])).toEqual([[2, 'spot', 3]]);
    expect(makeLanes(same, { instanceTypes: ['t3.micro'], spot: false }, 9)[0]!.count).toBe(3);
    expect(() => makeLanes(rows, defaults, 2)).toThrow(INSTANCES_RULE);
  });
});
