/**
 * The instances this machine knows by name, from its own state files only (completion must answer
 * at once and never ask AWS): the warm records (session/warm.ts: the instance a directory's last
 * run left running, with its tags) and the journals of runs (session/journal.ts: an instance id).
 * Names and ids both: `ssh-ec2 down` takes either. An instance ended since may still be listed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolvePaths } from '../../state/paths.js';

function jsonFiles(dir: string): unknown[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    try {
      return [JSON.parse(readFileSync(join(dir, n), 'utf8')) as unknown];
    } catch {
      return []; // being rewritten, or not ours
    }
  });
}

export function localInstanceNames(env: Readonly<Record<string, string | undefined>>): string[] {
  const paths = resolvePaths(env);
  const out: string[] = [];
  // warm/<projectId>.json: see knownFile in session/warm.ts (not imported: it loads the session's code).
  for (const r of jsonFiles(join(paths.state, 'warm'))) {
    const instance = (r as { instance?: { id?: unknown; tags?: Record<string, unknown> } }).instance;
    if (typeof instance?.tags?.Name === 'string') out.push(instance.tags.Name);
    if (typeof instance?.id === 'string') out.push(instance.id);
  }
  for (const r of jsonFiles(join(paths.state, 'journals'))) {
    const id = (r as { instanceId?: unknown }).instanceId;
    if (typeof id === 'string') out.push(id);
  }
  return [...new Set(out)].sort();
}
