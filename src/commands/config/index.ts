/**
 * ssh-ec2 config: every setting as a run here would take it, and where its value came from —
 * the answer to "why did it launch a p4d?" when flags, a preset, the environment, .env and two
 * config files all may set it. Reads nothing but what the entry resolved: no AWS, no SDK.
 */
import { ExitCode, UsageError } from '../../errors.js';
import { fileKey, PROJECT_FILE, presetNames, userConfigPath } from '../../options/config-files.js';
import { duration, type Spec } from '../../options/spec.js';
import { OPTION_SPECS, type From, type OptionKey, type Options } from '../../options.js';
import { formatDuration } from '../../session/limits.js';
import type { CommandContext } from '../types.js';
import { parseVolume, volumeText, type VolumeRequest } from '../../cloud/volume-rules.js';

export interface SettingReport {
  /** As a flag takes it: durations "8h"/"off", lists as arrays; null when decided later (see `default`). */
  value: string | number | boolean | string[] | null;
  from: From['from'];
  /** The flag (`--max-time`) or environment variable (`SSH_EC2_MAX_TIME`). */
  name?: string;
  preset?: string;
  file?: string;
  line?: number;
  /** For a default decided later: what decides it ("the image's: ubuntu, ec2-user, …"). */
  default?: string;
}

export async function run(ctx: CommandContext): Promise<number> {
  // Not shared.ts's takesNoArguments: that module brings the session's code, which this verb does not need.
  if (ctx.options.command.length)
    throw new UsageError(`ssh-ec2 config takes no arguments (got "${ctx.options.command.join(' ')}")`);
  if (ctx.flags.presets) {
    for (const name of presetNames(ctx.cwd, ctx.env)) ctx.stdout.write(`${name}\n`);
    return ExitCode.ok;
  }
  const report = settingsReport(ctx.options);
  if (ctx.flags.json) {
    ctx.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return ExitCode.ok;
  }
  // Where the files are looked for, found or not: where to write one.
  ctx.log.info(`config files (where present): ${userConfigPath(ctx.env)}, ./${PROJECT_FILE}`);
  const rows = Object.entries(report).map(([key, r]) => [key, shownValue(r), fromText(r)] as const);
  const width = (i: 0 | 1) => Math.min(40, Math.max(...rows.map((r) => r[i].length)));
  for (const [key, value, from] of rows)
    ctx.stdout.write(`${key.padEnd(width(0))}  ${value.padEnd(width(1))}  ${from}\n`);
  return ExitCode.ok;
}

/** Every setting by its config-file key, in the order the help shows them. */
export function settingsReport(o: Options): Record<string, SettingReport> {
  const out: Record<string, SettingReport> = {};
  for (const [key, s] of Object.entries(OPTION_SPECS) as [OptionKey, Spec<unknown> & { fallback?: unknown }][]) {
    const from = o.from?.[key] ?? { from: 'default' };
    const raw = o[key] ?? (from.from === 'default' ? s.fallback : undefined);
    const r: SettingReport = { value: jsonValue(raw, s), ...from };
    if (raw === undefined && s.defaultText) r.default = s.defaultText;
    out[fileKey(key)] = r;
  }
  return out;
}

function jsonValue(v: unknown, s: Spec<unknown>): SettingReport['value'] {
  if (v === undefined) return null;
  if (s.shown && typeof v === 'string') return s.shown(v);
  if (s.parse === duration) return formatDuration(v as number);
  if (s.parse === parseVolume) return volumeText(v as VolumeRequest);
  return v as SettingReport['value'];
}

function shownValue(r: SettingReport): string {
  if (r.value === null) return r.default ? `(${r.default})` : '-';
  return Array.isArray(r.value) ? r.value.join(',') || '-' : String(r.value);
}

/** flag --max-time · preset big (.ssh-ec2.toml:4) · env SSH_EC2_MAX_TIME · .env:3 (NAME) · project file … */
function fromText(r: SettingReport): string {
  switch (r.from) {
    case 'flag':
      return `flag ${r.name}`;
    case 'preset':
      return `preset ${r.preset} (${r.file}:${r.line})`;
    case 'env':
      return `env ${r.name}`;
    case 'dotenv':
      return `.env${r.line ? `:${r.line}` : ''} (${r.name})`;
    case 'project':
    case 'user':
      return `${r.from} file ${r.file}:${r.line}`;
    default:
      return 'default';
  }
}
