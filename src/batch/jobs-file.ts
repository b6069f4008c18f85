/**
 * The jobs file of `ssh-ec2 batch JOBS` (README: Batches; its names: docs/BATCH.md): a CSV whose
 * header names `instance_type` and `command` (optional `name`, `spot`; any order; RFC 4180 quoting,
 * so a command with commas or quotes is quoted), or any other file: one command per line, blank
 * lines and `#` lines skipped.
 * Every mistake is a UsageError (exit 2) naming the file and the line, before any AWS call.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { isJobName } from './job-name.js';

/** One job as the file gives it: `instanceType`/`spot` absent where the file leaves them to the settings. */
export interface JobRow {
  name: string;
  command: string;
  instanceType?: string;
  spot?: boolean;
  /** 1-based line of the file where its row starts. */
  line: number;
}

const COLUMNS = ['instance_type', 'command', 'name', 'spot'] as const;
const BOOLS: Record<string, boolean> = { true: true, yes: true, '1': true, false: false, no: false, '0': false };

export function readJobsFile(file: string): JobRow[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`jobs file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseJobs(file, text);
}

/** The jobs of a file's text, named and checked. */
export function parseJobs(file: string, given: string): JobRow[] {
  const text = given.replace(/^\uFEFF/, '');
  const lines = text.split('\n');
  // The format is the first job line's alone: a plain command with a quote in it (`echo "it's`) is
  // not a CSV mistake. Lines before it are kept as empty ones, so the line numbers stay the file's.
  const first = lines.findIndex((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  const columns = first < 0 ? [] : splitHeader(lines[first]!.replace(/\r$/, ''));
  let rows: JobRow[];
  if (columns.includes('instance_type') && columns.includes('command')) {
    const records = csvRecords(file, '\n'.repeat(first) + lines.slice(first).join('\n'));
    const header = records.find((r) => !blank(r.cells))!;
    const named = header.cells.map((c) => c.trim().toLowerCase());
    rows = csvJobs(file, named, records.slice(records.indexOf(header) + 1), header.line);
  } else rows = lineJobs(text);
  if (rows.length === 0) throw new UsageError(`jobs file ${file}: no jobs in it`);
  const seen = new Map<string, number>();
  for (const r of rows) {
    if (!isJobName(r.name))
      throw new UsageError(
        `${file}:${r.line}: job name "${r.name}" must be letters, digits, '.', '_' or '-' (at most 63, not starting with '.', '_' or '-')`,
      );
    const before = seen.get(r.name);
    if (before !== undefined)
      throw new UsageError(`${file}:${r.line}: job name "${r.name}" is used at line ${before} too`);
    seen.set(r.name, r.line);
  }
  return rows;
}

const blank = (cells: readonly string[]) => cells.every((c) => c.trim() === '');

/** A line's cells, quote-aware but never refusing (a plain command may hold one quote): lower-cased, trimmed. */
function splitHeader(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      cells.push(cell);
      cell = '';
    } else cell += ch;
  }
  cells.push(cell);
  return cells.map((c) => c.trim().toLowerCase());
}

function csvJobs(file: string, columns: string[], records: CsvRecord[], headerLine: number): JobRow[] {
  const unknown = columns.filter((c) => !(COLUMNS as readonly string[]).includes(c));
  if (unknown.length > 0)
    throw new UsageError(
      `${file}:${headerLine}: unknown column${unknown.length > 1 ? 's' : ''} ${unknown.map((c) => `"${c}"`).join(', ')} (the columns are ${COLUMNS.join(', ')})`,
    );
  const twice = columns.find((c, i) => columns.indexOf(c) !== i);
  if (twice) throw new UsageError(`${file}:${headerLine}: column "${twice}" is named twice`);
  const at = (cells: string[], column: string) => {
    const i = columns.indexOf(column);
    return i < 0 ? '' : (cells[i] ?? '').trim();
  };
  const jobs: JobRow[] = [];
  for (const { cells, line } of records) {
    if (blank(cells)) continue;
    if (cells.length !== columns.length)
      throw new UsageError(
        `${file}:${line}: ${cells.length} field(s) where the header has ${columns.length} (quote a command with commas: "a, b")`,
      );
    const command = at(cells, 'command');
    if (command === '') throw new UsageError(`${file}:${line}: empty command`);
    const type = at(cells, 'instance_type');
    if (/[\s,]/.test(type)) throw new UsageError(`${file}:${line}: instance_type "${type}" must be one type`);
    const spotCell = at(cells, 'spot').toLowerCase();
    const spot = spotCell === '' ? undefined : BOOLS[spotCell];
    if (spotCell !== '' && spot === undefined)
      throw new UsageError(`${file}:${line}: spot "${spotCell}" must be true, false, yes, no, 1, 0 or empty`);
    jobs.push({
      name: at(cells, 'name') || `job-${jobs.length + 1}`,
      command,
      ...(type && { instanceType: type }),
      ...(spot !== undefined && { spot }),
      line,
    });
  }
  return jobs;
}

function lineJobs(text: string): JobRow[] {
  const jobs: JobRow[] = [];
  text.split('\n').forEach((raw, i) => {
    const command = raw.replace(/\r$/, '');
    const t = command.trim();
    if (t === '' || t.startsWith('#')) return;
    jobs.push({ name: `job-${jobs.length + 1}`, command: t, line: i + 1 });
  });
  return jobs;
}

interface CsvRecord {
  cells: string[];
  /** Where the record starts. */
  line: number;
}

/** RFC 4180: fields split by commas, records by CRLF or LF; a quoted field may hold commas, newlines and "". */
export function csvRecords(file: string, text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let cells: string[] = [];
  let cell = '';
  let line = 1;
  let start = 1;
  let quoted = false;
  let quoteLine = 0;
  let wasQuoted = false;
  const endCell = () => {
    cells.push(cell);
    cell = '';
    wasQuoted = false;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else {
        if (ch === '\n') line++;
        cell += ch;
      }
      continue;
    }
    if (ch === '"') {
      if (cell.trim() !== '' || wasQuoted)
        throw new UsageError(`${file}:${line}: a quote inside an unquoted field (quote the whole field: "a ""b""")`);
      cell = '';
      quoted = true;
      wasQuoted = true;
      quoteLine = line;
    } else if (ch === ',') endCell();
    else if (ch === '\n' || (ch === '\r' && text[i + 1] === '\n')) {
      if (ch === '\r') i++;
      endCell();
      records.push({ cells, line: start });
      cells = [];
      line++;
      start = line;
    } else if (wasQuoted) {
      if (ch.trim() !== '')
        throw new UsageError(`${file}:${line}: text after a closing quote (a quote inside a field is written "")`);
    } else cell += ch;
  }
  if (quoted) throw new UsageError(`${file}:${quoteLine}: a quote opened here is never closed`);
  if (cell !== '' || cells.length > 0 || wasQuoted) {
    endCell();
    records.push({ cells, line: start });
  }
  return records;
}
