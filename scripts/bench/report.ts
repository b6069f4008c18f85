// BENCHMARKS.md: where and when it was measured, then one table of figures and one of API calls.
import { cpus, loadavg, totalmem } from 'node:os';
import type { CallTable, Row } from './figures.js';
import { formatStats } from './stats.js';

export interface Machine {
  date: string;
  cores: number;
  cpu: string;
  memoryGiB: number;
  node: string;
  loadAtStart: string;
  commit: string;
}

/** Taken when the bench starts, before it loads the machine itself. */
export function machine(commit: string): Machine {
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cores: cpus().length,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadAtStart: loadavg()
      .map((l) => l.toFixed(2))
      .join(', '),
    commit,
  };
}

const ratio = (r: Row): string =>
  r.byHand && r.byHand.runs > 0 && r.figure.unit === 'ms'
    ? `**${(r.tool.median / r.byHand.median).toFixed(2)}×**`
    : '—';

const byHand = (r: Row): string =>
  r.byHand ? `${formatStats(r.byHand, r.figure.unit)}: ${r.figure.byHand ?? ''}` : '—';

export function figuresTable(rows: Row[]): string {
  const lines = [
    '| figure | link | ssh-ec2: median (min–max) | by hand: median (min–max) | ratio | target |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.figure.name} | ${r.link} | ${formatStats(r.tool, r.figure.unit)} | ${byHand(r)} | ${ratio(r)} | ${r.figure.target} |`,
    ),
  ];
  return lines.join('\n');
}

function callsTable(tables: CallTable[]): string {
  const actions = [...new Set(tables.flatMap((t) => Object.keys(t.byAction)))].sort();
  return [
    `| action | ${tables.map((t) => `${t.what} (${t.link})`).join(' | ')} |`,
    `|---|${tables.map(() => '---').join('|')}|`,
    ...actions.map((a) => `| ${a} | ${tables.map((t) => String(t.byAction[a] ?? 0)).join(' | ')} |`),
    `| **total** | ${tables.map((t) => `**${formatStats(t.total, 'calls')}**`).join(' | ')} |`,
  ].join('\n');
}

export function report(
  m: Machine,
  o: { runs: number; linkDelayMs: number; bootDelayMs: number; seconds: number },
  rows: Row[],
  calls: CallTable[],
): string {
  return `# ssh-ec2 benchmarks

Written by \`npm run bench\` (scripts/bench.ts); do not edit by hand.

- **date**: ${m.date}, commit ${m.commit}; the bench took ${Math.round(o.seconds)} s
- **machine**: ${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB memory, Node ${m.node}, load average at start ${m.loadAtStart}
- **where**: the test sandbox (test/sandbox/): moto behind the recording, AWS-like proxy (eventual
  consistency, Instance Connect after boot and the other behaviours on; the console shows the host key
  fingerprints as soon as sshd answers, as on a quick boot), one sshd per instance, all on this machine.
- **links**: loopback, and a link with ${2 * o.linkDelayMs} ms round-trip time between the tool and the instances
  (a relay as the ssh ProxyCommand delivers each chunk ${o.linkDelayMs} ms late each way) and between the tool
  and the API (the proxy waits ${o.linkDelayMs} ms before handling each request and ${o.linkDelayMs} ms before answering).
  The bare-hands references go over the same link, through the same relay.
- **runs**: each figure is the median of ${o.runs} runs (min–max in brackets), ssh-ec2's and the reference's
  measured one after the other in the same bench run. Ratio: ssh-ec2's median over the reference's.
- The sync figures are the phases ssh-ec2 reports on its closing line, which it rounds to 0.1 s.
- The booting instance holds its sshd back ${o.bootDelayMs / 1000} s after RunInstances; its cold runs are not
  among the cold-cycle figures, whose instances answer ssh at once.

${figuresTable(rows)}

## API calls of a cold cycle, by action (median over the runs)

${callsTable(calls)}
`;
}
