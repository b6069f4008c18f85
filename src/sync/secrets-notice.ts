/**
 * The notice of files held back as secrets (sync-up.ts holds them back): said once per project,
 * and again only when a file not named before appears — said on every run, it was noise that
 * hid the one new key that mattered (issue #10). What was said is remembered under the state
 * directory, one small file per project.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from '../ui/logger.js';
import type { Entry } from './ignore-rules.js';

/** Where the names already said for a project are kept. */
export function heldBackNoticeFile(local: { paths: { state: string }; plan: { projectId: string } }): string {
  return join(local.paths.state, 'notices', `${local.plan.projectId}.held-back`);
}

/** Says what is held back, unless every one of those names was said before (remembered in `file`). */
export function noticeHeldBack(secrets: readonly Entry[], log: Logger, file: string | undefined): void {
  if (secrets.length === 0) return;
  const names = secrets.map(nameOf);
  const said = file ? readSaid(file) : new Set<string>();
  if (names.every((n) => said.has(n))) {
    log.detail(heldBackMessage(secrets));
    return;
  }
  log.warn(heldBackMessage(secrets));
  if (!file) return;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, [...new Set([...said, ...names])].join('\n') + '\n', { mode: 0o600 });
  } catch {
    // Not remembered: said again next time, nothing worse.
  }
}

/** One line: how many, the first few names, how to send one, how to silence it. */
export function heldBackMessage(secrets: readonly Entry[], shown = 3): string {
  const names = secrets.slice(0, shown).map(nameOf);
  const more = secrets.length > shown ? `, and ${secrets.length - shown} more` : '';
  const example = nameOf(secrets[0]!);
  return (
    `held back ${secrets.length} file(s) that may hold secrets, not sent: ${names.join(', ')}${more} ` +
    `(to send one, add \`!${example}\` to .rsyncignore; to silence this, add \`${example}\` to it). ` +
    'Said once per project, and again if another appears.'
  );
}

const nameOf = (e: Entry): string => (e.type === 'dir' ? `${e.path}/` : e.path);

function readSaid(file: string): Set<string> {
  try {
    return new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean));
  } catch {
    return new Set();
  }
}
