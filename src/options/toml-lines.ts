/**
 * A reader for the part of TOML the config files use (config-files.ts), keeping each value's line so
 * that every error names the file and the line. Written here rather than taken from a package: the
 * subset is small (comments, `key = value`, `[presets.NAME]` tables, strings, booleans, integers and
 * one-line arrays of strings), and whatever it accepts is valid TOML, so any editor or TOML tool
 * reads the same file the same way. Anything outside the subset is refused with its line, never
 * guessed at.
 */
import { UsageError } from '../errors.js';

export type TomlValue = string | boolean | number | string[];

export interface TomlEntry {
  key: string;
  value: TomlValue;
  line: number;
}

export interface TomlTable {
  /** [] for the top level, ['presets', 'big'] for `[presets.big]`. */
  path: string[];
  line: number;
  entries: TomlEntry[];
}

const BARE = /^[A-Za-z0-9_-]+/;
/** TOML values that are not used here: floats (inf, nan), dates and times, other bases of integers. */
const OTHER_TOML = new RegExp(
  [
    /^[+-]?(inf|nan)$/,
    /^[+-]?\d[\d_]*(\.\d[\d_]*)?([eE][+-]?\d+)?$/, // floats
    /^\d{4}-\d{2}-\d{2}([Tt].*)?$/, // dates, date-times
    /^\d{2}:\d{2}(:\d{2}).*$/, // times
    /^0[xob][0-9A-Fa-f_]+$/, // hexadecimal, octal, binary integers
  ]
    .map((r) => r.source)
    .join('|'),
);

/** The tables of `text` in order, the top level first; `shown` is the file as errors name it. */
export function readToml(text: string, shown: string): TomlTable[] {
  const tables: TomlTable[] = [{ path: [], line: 0, entries: [] }];
  const seen = new Set<string>(['']);
  // A byte order mark (some Windows editors write one) is not part of the first line.
  text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .forEach((raw, i) => {
      const line = i + 1;
      const fail = (what: string): never => {
        throw new UsageError(
          `${shown}:${line}: ${what}`,
          'The config files are TOML: see "Config files" in the README.',
        );
      };
      const cursor = new Cursor(raw, fail);
      cursor.space();
      if (cursor.atEnd()) return;
      if (cursor.eat('[')) {
        if (cursor.eat('[')) fail('arrays of tables ([[…]]) are not used here');
        const path = cursor.dottedKey();
        if (!cursor.eat(']')) fail('expected "]" to close the table name');
        cursor.end();
        const id = path.join('.');
        if (seen.has(id)) fail(`table [${id}] is defined twice`);
        seen.add(id);
        tables.push({ path, line, entries: [] });
        return;
      }
      const [key, ...rest] = cursor.dottedKey();
      if (rest.length) fail(`dotted keys (${[key, ...rest].join('.')}) are not used here; write a [table]`);
      if (!cursor.eat('=')) fail(`expected "=" after ${key}`);
      const value = cursor.value();
      cursor.end();
      const table = tables.at(-1)!;
      const twice = table.entries.find((e) => e.key === key);
      if (twice) fail(`${key} is set twice in the same table (also line ${twice.line})`);
      table.entries.push({ key: key!, value, line });
    });
  return tables;
}

/** One line, read left to right; `fail` throws with the line's position. */
class Cursor {
  private i = 0;
  constructor(
    private readonly s: string,
    private readonly fail: (what: string) => never,
  ) {}

  space(): void {
    while (this.s[this.i] === ' ' || this.s[this.i] === '\t') this.i++;
  }
  atEnd(): boolean {
    return this.i >= this.s.length || this.s[this.i] === '#';
  }
  eat(c: string): boolean {
    this.space();
    if (this.s[this.i] !== c) return false;
    this.i++;
    this.space();
    return true;
  }
  end(): void {
    this.space();
    if (!this.atEnd()) this.fail(`unexpected "${this.s.slice(this.i)}"`);
  }

  dottedKey(): string[] {
    const parts = [this.key()];
    while (this.eat('.')) parts.push(this.key());
    return parts;
  }

  private key(): string {
    this.space();
    const c = this.s[this.i];
    if (c === '"' || c === "'") return this.string();
    const m = BARE.exec(this.s.slice(this.i));
    if (!m) this.fail(`expected a name, got "${this.s.slice(this.i)}"`);
    this.i += m![0].length;
    return m![0];
  }

  value(): TomlValue {
    this.space();
    const c = this.s[this.i];
    if (c === '"' || c === "'") return this.string();
    if (c === '[') return this.array();
    if (c === '{') this.fail('inline tables ({…}) are not used here; write a [presets.NAME] table');
    const word = /^[^\s#,\]]+/.exec(this.s.slice(this.i))?.[0] ?? '';
    this.i += word.length;
    if (word === 'true' || word === 'false') return word === 'true';
    if (/^[+-]?\d+(_\d+)*$/.test(word)) return this.integer(word);
    const quoted = `put text in quotes ("${word.replaceAll('"', '\\"')}")`;
    if (word === '') return this.fail('expected a value');
    if (OTHER_TOML.test(word)) {
      // A date and a time may be apart by one space (`1979-05-27 07:32:00`): one value.
      this.i += /^ \d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:\d{2})?/i.exec(this.s.slice(this.i))?.[0].length ?? 0;
      return this.fail(`${word} is TOML, but not a value ssh-ec2 reads here: ${quoted}`);
    }
    return this.fail(`${word} is not a TOML value: ${quoted}`);
  }

  /** TOML's integers are exact: no leading zero, and none past what a number here holds exactly. */
  private integer(word: string): number {
    const digits = word.replace(/^[+-]/, '').replaceAll('_', '');
    if (digits.length > 1 && digits.startsWith('0'))
      this.fail(`${word}: a TOML integer has no leading zero (write ${Number(digits)}, or "${word}" for text)`);
    const n = Number(word.replaceAll('_', ''));
    if (!Number.isSafeInteger(n))
      this.fail(`${word} is too large a number for ssh-ec2 (at most ${Number.MAX_SAFE_INTEGER})`);
    return n;
  }

  private array(): string[] {
    this.i++;
    const out: string[] = [];
    while (!this.eat(']')) {
      if (this.atEnd()) this.fail('an array must close on the line it opens ("]")');
      const v = this.value();
      if (typeof v !== 'string') this.fail('an array here holds only strings');
      out.push(v as string);
      if (!this.eat(',') && this.s[this.i] !== ']') this.fail('expected "," or "]" in the array');
    }
    return out;
  }

  private string(): string {
    const quote = this.s[this.i++];
    if (this.s.startsWith(quote!.repeat(2), this.i)) this.fail('multi-line strings are not used here');
    let out = '';
    for (; this.i < this.s.length; this.i++) {
      const c = this.s[this.i]!;
      if (c === quote) {
        this.i++;
        return out;
      }
      if (c === '\\' && quote === '"') out += this.escape();
      else out += c;
    }
    return this.fail(`unterminated string (no closing ${quote})`);
  }

  private escape(): string {
    const c = this.s[++this.i];
    const simple: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' };
    if (c !== undefined && c in simple) return simple[c]!;
    const hex = c === 'u' ? 4 : c === 'U' ? 8 : 0;
    const digits = this.s.slice(this.i + 1, this.i + 1 + hex);
    if (!hex || !/^[0-9A-Fa-f]+$/.test(digits) || digits.length !== hex) this.fail(`bad escape "\\${c ?? ''}"`);
    this.i += hex;
    const code = parseInt(digits, 16);
    // TOML allows Unicode scalar values only: no surrogate halves, nothing past U+10FFFF.
    if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
      this.fail(`"\\${c}${digits}" is not a Unicode character (TOML allows scalar values only)`);
    return String.fromCodePoint(code);
  }
}
