/** The plan of a --dry-run (dry-run.ts) as the user reads it on stdout. Pure. */
import { formatDuration } from './limits.js';
import { shellWord } from '../ui/words.js';
import type { DryRun, FoundInstance, NewInstance } from './dry-run.js';
import type { GroupPlan } from './launch-lookups.js';
import type { Entry } from '../sync/ignore-rules.js';
import { heldBackMessage } from '../sync/secrets-notice.js';
import { priceLine } from './price-line.js';

/** How many held-back paths are named. */
const SHOWN = 5;

export function dryRunText(d: DryRun): string {
  const lines = [
    'ssh-ec2 --dry-run: nothing was changed and nothing started. A run here would:',
    '',
    row(
      'as',
      `${d.identity.arn} (account ${d.identity.account}; its instances tagged ssh-ec2:user=${d.identity.owner})`,
    ),
    row('in', d.region),
    row('for', `${shellWord(d.plan.projectDir)} → ~/${d.plan.remoteDir} on the instance named ${d.plan.name}`),
    '',
    ...instanceLines(d),
    row('login', `${d.user}, with ${d.key}`),
    row('limits', limitsText(d)),
    '',
    row('runs', runsText(d)),
    ...commandLines(d),
    '',
    ...syncLines(d),
    row('at the end', finishText(d)),
  ];
  if (d.fromCache.length > 0)
    lines.push(`(from the cache, not asked of EC2: ${d.fromCache.map(cacheWhat).join(', ')}; --no-cache asks)`);
  return `${lines.join('\n')}\n`;
}

const row = (label: string, text: string) => `${label.padEnd(11)}${text}`;
const sub = (label: string, text: string) => `  ${label.padEnd(11)}${text}`;

function instanceLines(d: DryRun): string[] {
  const i = d.instance;
  if (i.kind === 'none') return [row('instance', i.why)];
  return i.kind === 'existing' ? existingLines(i) : launchLines(i);
}

function existingLines(f: FoundInstance): string[] {
  const { instance: i } = f;
  const what = `${i.id} (${i.type}, ${i.state})`;
  const action =
    f.action === 'reuse'
      ? `use ${what}, this directory's`
      : f.action === 'start'
        ? `start ${what}, this directory's`
        : `wait for ${what} to stop, then start it`;
  const lines = [row('instance', `would ${action}`)];
  if (f.newType) lines.push(sub('type', `changed to ${f.newType} before it starts (--instance-type)`));
  if (f.others.length > 0)
    lines.push(sub('others', `${f.others.map((o) => `${o.id} (${o.state})`).join(', ')} belong here too: not used`));
  return lines;
}

function launchLines(n: NewInstance): string[] {
  const lines = [row('instance', 'would launch one (this directory has none)')];
  for (const t of n.types) {
    lines.push(sub('type', `${t.type}${t.architecture ? ` (${t.architecture})` : ''}`));
    // The launch's own line, word for word.
    lines.push(sub('says', priceLine(t.price)));
    const img = t.image;
    const from = [img.owner && `owner ${img.owner}`, img.created && `made ${img.created.slice(0, 10)}`]
      .filter(Boolean)
      .join(', ');
    lines.push(sub('image', `${img.name} (${img.id})${from ? `, ${from}` : ''}`));
  }
  const tries = n.attempts.map((a) => {
    const type = `${a.market ? `${a.market} ` : ''}${a.type}`;
    return a.zone ? `${type} in ${a.zone} (${a.subnet})` : `${type}, zone chosen by EC2`;
  });
  lines.push(
    sub('tries', `${tries.join(', then ')}${n.attempts.length > 1 ? ' (the next when EC2 has no capacity)' : ''}`),
  );
  lines.push(sub('group', groupText(n.group)));
  lines.push(sub('volume', `${n.volumeSizeGiB} GiB gp3, encrypted`));
  lines.push(sub('profile', n.iamProfile ?? 'none'));
  if (n.keyName) lines.push(sub('key pair', n.keyName));
  lines.push(sub('user data', `${n.userData.bytes} bytes: ${n.userData.parts.join(' + ')}`));
  lines.push(
    sub(
      'tags',
      Object.entries(n.tags)
        .map(([k, v]) => `${k}=${v}`)
        .join(', '),
    ),
  );
  return lines;
}

export function groupText(g: GroupPlan): string {
  if (g.kind === 'given') return `${g.groupId} (--security-group, used as it is)`;
  if (g.kind === 'create') return `would create ssh-ec2 (tcp/22) allowing ${g.cidr}`;
  const cached = g.cached ? ', from the cache' : '';
  return g.letsIn
    ? `${g.groupId} (ssh-ec2's, lets ${g.cidr} in${cached})`
    : `${g.groupId} (ssh-ec2's; would let ${g.cidr} in on tcp/22)`;
}

function limitsText(d: DryRun): string {
  const l = d.limits;
  const max = l.maxTimeMs > 0 ? formatDuration(l.maxTimeMs) : 'off';
  return `stops itself after ${formatDuration(l.idleTimeoutMs)} idle (--idle-timeout), max time ${max}, ${formatDuration(l.jobGraceMs)} after a detached job (--job-grace)`;
}

function commandLines(d: DryRun): string[] {
  const c = d.commands;
  const lines = [
    row('ssh', argvText(c.ssh)),
    row('command', argvText(c.session)),
    ...(c.rsync ? [row('rsync up', argvText(c.rsync)), sub('its ssh', argvText(c.rsyncSsh ?? []))] : []),
  ];
  lines.push(
    `(${d.placeholders ? '<address>, <instance-id>, <control-socket>: known once it runs; ' : ''}` +
      '<instance-connect-key>: made for the run; <exclude-file>: what is held back; <rsh-wrapper>: runs the ssh below)',
  );
  return lines;
}

/** A command line as a shell would take it, `<placeholders>` shown as they are. */
export function argvText(argv: readonly string[]): string {
  return argv
    .map((w) => {
      const plain = w.replace(/<[\w-]+>/g, 'x');
      return plain !== w && shellWord(plain) === plain ? w : shellWord(w);
    })
    .join(' ');
}

function runsText(d: DryRun): string {
  const { command, mux, tty } = d.runs;
  if (d.finish.attach) return `nothing new: reattaches to this directory's ${mux} job`;
  const what = command === undefined ? 'a login shell' : command;
  const how = mux === 'none' ? (tty ? 'with a terminal' : 'without a terminal') : `as a ${mux} job`;
  return `${what} in ~/${d.plan.remoteDir}, ${how}${d.finish.detached ? ', detached' : ''}`;
}

function syncLines(d: DryRun): string[] {
  const s = d.sync;
  if (!s) return [row('sync up', 'none (--no-rsync or --attach)')];
  const lines = [
    row(
      'sync up',
      d.instance.kind === 'launch'
        ? `${s.files} file(s), ${bytesText(s.bytes)}: everything not held back (a new instance has nothing yet)`
        : `at most ${s.files} file(s), ${bytesText(s.bytes)}: what differs from the instance's copy`,
    ),
  ];
  if (s.ignored.length > 0) lines.push(row('held back', `by .rsyncignore: ${names(s.ignored)}`));
  if (s.secrets.length > 0) lines.push(row('secrets', heldBackMessage(s.secrets)));
  return lines;
}

function names(entries: readonly Entry[]): string {
  const shown = entries.slice(0, SHOWN).map((e) => (e.type === 'dir' ? `${e.path}/` : e.path));
  return `${entries.length} path(s): ${shown.join(', ')}${entries.length > SHOWN ? `, and ${entries.length - SHOWN} more` : ''}`;
}

export function bytesText(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

function finishText(d: DryRun): string {
  const { state, source, detached, attach } = d.finish;
  const by = `(${source ? `as ${source} asks` : 'the default'})`;
  if (detached)
    return `leave it running with the job; ssh-ec2 --attach after the job has ended brings the results back, then: ${state} ${by}`;
  if (attach && d.instance.kind === 'none') return 'nothing: there is no instance';
  const end =
    state === 'terminate'
      ? `terminate it ${by} once the results are back; stop it instead if they cannot be: nothing is lost`
      : state === 'stop'
        ? `stop it ${by}: its disk is kept`
        : `leave it running ${by}: its agent stops it after the idle timeout`;
  return `${end}. A job or another session there keeps it running`;
}

/** What a cache key (launch-lookups.ts) holds, in words. */
const CACHE_WHAT: Record<string, string> = {
  network: 'the default network',
  subnet: 'the subnet',
  image: 'the image',
  type: "the type's architecture",
  'type-details': "the type's details",
  offered: 'where the type is offered',
  group: 'the security group',
  'given-group': 'the security group',
  'unusable-profile': 'the missing instance profile',
};

const cacheWhat = (key: string): string => CACHE_WHAT[key.split(':')[0]!] ?? key;
