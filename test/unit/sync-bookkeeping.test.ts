// Issue #11: what a sync remembers to do less the next time must never change what it decides.
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { baseFile, loadBase, loadHints, saveBase, type BaseFiles } from '../../src/sync/base.js';
import { IgnoreRules, walkLocal, type Known } from '../../src/sync/ignore-rules.js';

function project(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'ssh-ec2-known-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

/** What a first sync would remember: every file its walk kept, and the rules files it read. */
function remembered(root: string, holdSecrets: boolean): Known {
  const rules = new IgnoreRules(root, { holdSecrets });
  const tree = walkLocal(root, rules);
  return { kept: new Map(tree.files.map((f) => [f, 1])), texts: new Map(rules.rulesRead()) };
}

describe('files known kept by the last sync (issue #11)', () => {
  it('are judged as before while the rules files read the same; judged again once one changes or appears', () => {
    const root = project({ '.rsyncignore': '*.tmp\n', 'a.log': '', 'src/b.py': '', 'src/deep/c.py': '' });
    const known = remembered(root, true);
    expect(new IgnoreRules(root, { holdSecrets: true, known }).ignored('src/b.py', 'file')).toBe(false);

    writeFileSync(join(root, '.rsyncignore'), '*.log\n');
    expect(new IgnoreRules(root, { known }).ignored('a.log', 'file')).toBe(true);
    writeFileSync(join(root, '.rsyncignore'), '*.tmp\n');
    writeFileSync(join(root, 'src', 'deep', '.rsyncignore'), 'c.py\n');
    const rules = new IgnoreRules(root, { known });
    expect(rules.ignored('src/deep/c.py', 'file')).toBe(true);
    expect(rules.ignored('src/b.py', 'file')).toBe(false);
  });

  it('a secret is held back unless a `!` rule names it, known or not', () => {
    const root = project({ '.rsyncignore': '!.env\n', '.env': 'K=1', '.env.local': 'K=2' });
    const known = remembered(root, false); // the sync back keeps both: they are in its base
    expect(known.kept.has('.env.local')).toBe(true);
    const rules = new IgnoreRules(root, { holdSecrets: true, known });
    expect(rules.classify('.env', 'file')).toBe('kept');
    expect(rules.classify('.env.local', 'file')).toBe('secret');
  });
});

describe('the base (issue #11)', () => {
  const sig = { s: 3, m: '1700000000.123456789' };
  const files: BaseFiles = new Map([['a.py', { l: sig, r: sig, t: 1700000100 }]]);
  const rules = new Map([['', '*.tmp\n']]);

  it('keeps the hints beside the files, and is not written again when it would judge every file the same', () => {
    const root = project({});
    saveBase(root, 'i-1', files, { pruned: { up: ['cache'] }, rules });
    expect(loadHints(root, 'i-1').pruned).toEqual({ up: ['cache'] });
    const written = statSync(baseFile(root, 'i-1'), { bigint: true });
    const later = new Map([['a.py', { l: sig, r: sig, t: 1700000200 }]]);
    saveBase(root, 'i-1', later, { was: loadBase(root, 'i-1'), pruned: { up: ['cache'] }, rules });
    expect(statSync(baseFile(root, 'i-1'), { bigint: true }).ino).toBe(written.ino);

    // A signature as late as the older time is uncertain there: the newer time is written.
    const recent = { s: 3, m: '1700000100.000000000' };
    saveBase(root, 'i-1', new Map([['a.py', { l: recent, r: recent, t: 1700000200 }]]), {
      was: new Map([['a.py', { l: recent, r: recent, t: 1700000100 }]]),
      rules,
    });
    expect(loadBase(root, 'i-1').get('a.py')?.t).toBe(1700000200);
  });
});
