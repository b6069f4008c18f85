import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IgnoreRules, walkLocal } from '../../src/sync/ignore-rules.js';
import { heldBackMessage } from '../../src/sync/secrets-notice.js';

function tree(files: Record<string, string>): string {
  const root = join(mkdtempSync(join(tmpdir(), 'secrets-')), 'project');
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

/** What the sync up holds back as secrets, and what it ignores by .rsyncignore. */
function up(root: string) {
  const t = walkLocal(root, new IgnoreRules(root, { holdSecrets: true }), { followUnsafeLinks: true });
  return { secrets: t.secrets.map((e) => e.path).sort(), ignored: t.ignored.map((e) => e.path).sort() };
}

/** `project/shared -> ../…/shared`, a directory outside the project that rsync sends as content. */
function linkedOutside(outsideFiles: Record<string, string>, projectFiles: Record<string, string> = {}) {
  const outside = tree(Object.fromEntries(Object.entries(outsideFiles).map(([p, c]) => [`shared/${p}`, c])));
  const root = tree({ 'train.py': 'x', ...projectFiles });
  symlinkSync(relative(root, join(outside, 'shared')), join(root, 'shared'));
  return { root, shared: join(outside, 'shared'), outside };
}

const SECRETS = [
  '.env',
  '.env.local',
  'app/deep/.env',
  'key.pem',
  'certs/server.key',
  'id_rsa',
  'id_ed25519',
  'nested/dir/id_ecdsa',
  '.netrc',
  'sub/.git-credentials',
  '.aws/credentials',
  'tools/.ssh/config',
];
const ORDINARY = [
  'train.py',
  'id_rsa.pub',
  'nested/dir/id_ecdsa.pub',
  '.environment',
  'env.py',
  'keys/readme.md',
  'pem.txt',
  'id_maps/users.csv',
  'app/.envrc',
];

describe('the sync up holds back files that may hold secrets', () => {
  it('at any depth, whole credential directories included; public keys and look-alikes are sent', () => {
    const root = tree(Object.fromEntries([...SECRETS, ...ORDINARY].map((p) => [p, 'x'])));
    const { secrets, ignored } = up(root);
    // .aws/ and .ssh/ are held back whole: their content is not even walked.
    expect(secrets).toEqual([
      '.aws',
      '.env',
      '.env.local',
      '.netrc',
      'app/deep/.env',
      'certs/server.key',
      'id_ed25519',
      'id_rsa',
      'key.pem',
      'nested/dir/id_ecdsa',
      'sub/.git-credentials',
      'tools/.ssh',
    ]);
    expect(ignored).toEqual([]);
  });

  it('.env.example is held back too (such files often end up with real values); `!.env.example` sends it', () => {
    expect(up(tree({ '.env.example': 'x' })).secrets).toEqual(['.env.example']);
    expect(up(tree({ '.env.example': 'x', '.rsyncignore': '!.env.example\n' })).secrets).toEqual([]);
  });

  it('only a `!` rule matching that very path sends one', () => {
    const root = tree({
      '.rsyncignore': '!key.pem\n!config/*.pem\n!.ssh/\n',
      'key.pem': 'x',
      'sub/key.pem': 'x',
      'config/a.pem': 'x',
      'config/deeper/b.pem': 'x',
      'other.pem': 'x',
      '.ssh/known_hosts': 'x',
      '.ssh/id_ed25519': 'x',
    });
    // `!key.pem` has no slash, so as in git it matches at any depth; `config/*.pem` is anchored.
    // `!.ssh/` sends the directory, but a private key in it still needs its own `!` rule.
    expect(up(root).secrets).toEqual(['.ssh/id_ed25519', 'config/deeper/b.pem', 'other.pem']);
  });

  it('a nested .rsyncignore re-includes below its own directory only', () => {
    const root = tree({ 'a/.rsyncignore': '!.env\n', 'a/.env': 'x', 'a/b/.env': 'x', 'c/.env': 'x' });
    expect(up(root).secrets).toEqual(['c/.env']);
  });

  it('a re-included directory does not re-include the secrets in it', () => {
    const root = tree({ '.rsyncignore': 'conf/\n!conf/\n', 'conf/.env': 'x', 'conf/app.yaml': 'x' });
    expect(up(root).secrets).toEqual(['conf/.env']);
  });

  it('what .rsyncignore ignores anyway is ignored, not reported as held back', () => {
    const root = tree({ '.rsyncignore': '*.pem\n.env\n', 'key.pem': 'x', '.env': 'x', id_rsa: 'x' });
    expect(up(root)).toEqual({ secrets: ['id_rsa'], ignored: ['.env', 'key.pem'] });
  });

  it('symlinks named like a secret, or pointing at one (sent as content when outside), are held back', () => {
    const outside = tree({ '.aws/credentials': 'x', 'prod.pem': 'x', 'data.csv': 'x' });
    const root = tree({ 'train.py': 'x' });
    symlinkSync(join(outside, '.aws', 'credentials'), join(root, 'creds'));
    symlinkSync(join(outside, 'prod.pem'), join(root, 'cert'));
    symlinkSync(join(outside, '.aws'), join(root, '.aws'));
    symlinkSync(join(outside, 'data.csv'), join(root, 'data.csv'));
    symlinkSync('train.py', join(root, '.env'));
    expect(up(root).secrets).toEqual(['.aws', '.env', 'cert', 'creds']);
  });

  it('a link to a directory outside the project is walked as the directory rsync makes of it', () => {
    const { root, shared, outside } = linkedOutside(
      { '.env': 'x', '.aws/credentials': 'x', 'key.pem': 'x', 'data.csv': 'x', 'sub/id_rsa': 'x' },
      { '.env': 'x', 'inner/.env': 'x' },
    );
    mkdirSync(join(outside, 'more'));
    writeFileSync(join(outside, 'more', '.netrc'), 'x');
    writeFileSync(join(outside, 'more', 'notes.txt'), 'x');
    // Absolute, so unsafe where it sits too: rsync copies it as content, and so is it walked.
    symlinkSync(join(outside, 'more'), join(shared, 'more'));
    // Relative and within the transfer by its text (shared/../more): rsync sends it as a link.
    symlinkSync('../more', join(shared, 'near'));
    symlinkSync('/nonexistent/dir', join(shared, 'dangling'));
    symlinkSync('../../nowhere', join(shared, 'gone'));
    // A link inside the project stays a link: what it points at is walked once, where it is.
    symlinkSync('inner', join(root, 'alias'));
    const t = walkLocal(root, new IgnoreRules(root, { holdSecrets: true }), { followUnsafeLinks: true });
    expect(t.secrets.sort((a, b) => a.path.localeCompare(b.path))).toEqual([
      { path: '.env', type: 'file' },
      { path: 'inner/.env', type: 'file' },
      { path: 'shared/.aws', type: 'dir' },
      { path: 'shared/.env', type: 'file' },
      { path: 'shared/key.pem', type: 'file' },
      { path: 'shared/more/.netrc', type: 'file' },
      { path: 'shared/sub/id_rsa', type: 'file' },
    ]);
    expect(t.ignored).toEqual([]);
    expect(t.outsideLinks.sort()).toEqual(['shared', 'shared/dangling', 'shared/gone', 'shared/more']);
  });

  it("the rules of .rsyncignore apply under such a link by the link's path, `!` re-includes and `dir/` patterns too", () => {
    const { root } = linkedOutside(
      {
        '.env': 'x',
        'key.pem': 'x',
        'data.csv': 'x',
        'cache/blob': 'x',
        'conf/.rsyncignore': '!.env\n',
        'conf/.env': 'x',
      },
      { '.rsyncignore': '!shared/key.pem\n*.csv\ncache/\n' },
    );
    expect(up(root)).toEqual({ secrets: ['shared/.env'], ignored: ['shared/cache', 'shared/data.csv'] });
    // A link to an outside directory is ignored by a `dir/` pattern, as rsync sends a directory.
    const other = linkedOutside({ '.env': 'x' }, { '.rsyncignore': 'shared/\n' });
    expect(up(other.root)).toEqual({ secrets: [], ignored: ['shared'] });
  });

  it('a loop through links is cut where it closes (rsync would copy it 40 levels deep), and links that dangle are no trouble', () => {
    const { root, shared } = linkedOutside({ '.env': 'x', 'deep/x.txt': 'x' });
    symlinkSync(shared, join(shared, 'deep', 'again'));
    symlinkSync('..', join(root, 'up'));
    symlinkSync('self', join(shared, 'self'));
    // `up -> ..` brings the directory holding the project, and the project in it again.
    expect(up(root)).toEqual({ secrets: ['shared/.env'], ignored: ['shared/deep/again', 'up/project'] });
  });

  it('the sync back does not walk into links (it never writes through them)', () => {
    const { root } = linkedOutside({ '.env': 'x' });
    const walked = walkLocal(root);
    expect({ ...walked, files: walked.files.sort() }).toEqual({
      ignored: [],
      secrets: [],
      outsideLinks: ['shared'],
      kept: 2,
      files: ['shared', 'train.py'],
    });
  });

  it('the sync back rules hold nothing back: files made on the instance come back', () => {
    const root = tree({ '.env': 'x', 'key.pem': 'x', '.aws/credentials': 'x' });
    const t = walkLocal(root);
    expect(t.secrets).toEqual([]);
    expect(t.ignored).toEqual([]);
    expect(new IgnoreRules(root).ignored('.env', 'file')).toBe(false);
    expect(new IgnoreRules(root, { holdSecrets: true }).ignored('.env', 'file')).toBe(true);
  });

  it('are named in one line with the way to send them', () => {
    expect(heldBackMessage([{ path: '.env', type: 'file' }])).toBe(
      'held back 1 file(s) that may hold secrets, not sent: .env (to send one, add `!.env` to .rsyncignore; ' +
        'to silence this, add `.env` to it). Said once per project, and again if another appears.',
    );
    const many = ['.aws', 'a.pem', 'b.pem', 'c.pem', 'd.pem'].map((path) => ({
      path,
      type: path === '.aws' ? ('dir' as const) : ('file' as const),
    }));
    expect(heldBackMessage(many)).toBe(
      'held back 5 file(s) that may hold secrets, not sent: .aws/, a.pem, b.pem, and 2 more (to send one, add `!.aws/` to .rsyncignore; ' +
        'to silence this, add `.aws/` to it). Said once per project, and again if another appears.',
    );
  });
});
