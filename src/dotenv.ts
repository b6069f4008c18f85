/**
 * `.env` is read as data, never executed (the original sourced it, so a quote in a value ran
 * code). Lines are KEY=VALUE, optionally prefixed by `export `; values may be single-quoted
 * (literal), double-quoted (\n \t \" \\ escapes) or bare (a ` #` starts a comment).
 * Only the keys the caller asks for are kept.
 */
import { readFile } from 'node:fs/promises';

export function parseDotenv(content: string, keep?: ReadonlySet<string>): Record<string, string> {
  return parseDotenvLines(content, keep).values;
}

/** The values, and the line each name was set on (the last, as it is the one kept): `ssh-ec2 config` shows it. */
export function parseDotenvLines(content: string, keep?: ReadonlySet<string>): DotenvValues {
  const out: Record<string, string> = {};
  const lines: Record<string, number> = {};
  for (const [i, rawLine] of content.split(/\r?\n/).entries()) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    const [, key, rest] = m as unknown as [string, string, string];
    if (keep && !keep.has(key)) continue;
    out[key] = parseValue(rest);
    lines[key] = i + 1;
  }
  return { values: out, lines };
}

export interface DotenvValues {
  values: Record<string, string>;
  lines: Record<string, number>;
}

function parseValue(rest: string): string {
  if (rest.startsWith("'")) {
    const end = rest.indexOf("'", 1);
    return end === -1 ? rest.slice(1) : rest.slice(1, end);
  }
  if (rest.startsWith('"')) {
    let value = '';
    for (let i = 1; i < rest.length; i++) {
      const c = rest[i];
      if (c === '"') break;
      if (c === '\\' && i + 1 < rest.length) {
        const n = rest[++i];
        value += n === 'n' ? '\n' : n === 't' ? '\t' : n;
      } else {
        value += c;
      }
    }
    return value;
  }
  return rest.replace(/\s+#.*$/, '').trim();
}

export async function readDotenv(dir: string, keep: ReadonlySet<string>): Promise<DotenvValues> {
  try {
    return parseDotenvLines(await readFile(`${dir}/.env`, 'utf8'), keep);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { values: {}, lines: {} };
    throw err;
  }
}
