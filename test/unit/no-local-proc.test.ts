// Nothing local reads /proc (issue #8): a Mac has none, so a local read of it would work in CI and
// fail for most users. Every literal in src/ naming /proc must be in a function whose text is sent
// to the instance (Linux), each allowed below with its reason. Comments are not literals, so they
// may speak of /proc freely. The shell scripts of src/agent/ run only on the instance.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** `file › function` → why its /proc is the instance's, not ours. */
const REMOTE: Record<string, string> = {
  'src/session/journal.ts › signalSessions':
    'a shell loop sent over ssh to signal the remote processes of a session (the instance is Linux)',
};

/** Where each literal naming /proc sits, as `file › enclosing function`. */
function procLiterals(path: string, text: string): string[] {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (isLiteral(node) && namesProc(node.getText(source))) found.push(`${path} › ${enclosing(node)}`);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function isLiteral(node: ts.Node): boolean {
  return (
    ts.isStringLiteral(node) ||
    ts.isNoSubstitutionTemplateLiteral(node) ||
    ts.isTemplateHead(node) ||
    ts.isTemplateMiddle(node) ||
    ts.isTemplateTail(node) ||
    ts.isRegularExpressionLiteral(node)
  );
}

// `'/proc/self/stat'`, `` `/proc/${pid}` ``, and `join('/', 'proc')` alike.
const namesProc = (literal: string): boolean => /\/proc\b/.test(literal) || /^['"`]proc['"`]$/.test(literal);

function enclosing(node: ts.Node): string {
  for (let n: ts.Node | undefined = node.parent; n; n = n.parent) {
    if ((ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n)) && n.name) return n.name.getText();
    if (ts.isVariableDeclaration(n) && ts.isFunctionLike(n.initializer)) return n.name.getText();
  }
  return '(top level)';
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

describe('nothing local reads /proc', () => {
  it('every literal naming /proc in src/ is in a function whose text runs on the instance', () => {
    const found = sources(join(root, 'src')).flatMap((path) =>
      procLiterals(relative(root, path), readFileSync(path, 'utf8')),
    );
    expect(found.filter((where) => !(where in REMOTE))).toEqual([]);
    // An allowance no longer used is dropped, so it cannot later cover a local read by name.
    expect([...new Set(found)].sort()).toEqual(Object.keys(REMOTE).sort());
  });

  it.each([
    ["readFileSync('/proc/self/status', 'utf8');", 'src/x.ts › (top level)'],
    ['export function up(pid: number) { return readFile(`/proc/${pid}/stat`); }', 'src/x.ts › up'],
    ["const read = () => readdirSync(join('/', 'proc'));", 'src/x.ts › read'],
    ['class P { m() { return /^\\/proc\\/\\d+/.test(x); } }', 'src/x.ts › m'],
  ])('a local read is found: %s', (text, where) => {
    expect(procLiterals('src/x.ts', text)).toEqual([where]);
  });

  it('comments and other paths are not', () => {
    expect(procLiterals('src/x.ts', "// reads /proc\n/* /proc */ readFileSync('/process/x');")).toEqual([]);
  });
});
