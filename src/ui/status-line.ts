/**
 * The live status line on a terminal (issue #12: 27 s of silence while an instance boots): what is
 * being waited for, a spinner and the elapsed time, redrawn in place at most 10 times a second.
 * It is erased before any other line of ours and whenever its wait ends, so the scrolling output
 * (and the remote command's terminal) never meets a half line; and at exit, whatever the cause.
 */
import type { ChalkInstance } from 'chalk';

export interface StatusLine {
  /** Shows `text` until `end()`; a wait shown again right after its end goes on counting (see below). */
  show(text: string): { update: (detail: string) => void; end: () => void };
  /** Takes the line off the screen (the next frame brings it back). */
  erase(): void;
}

const SPINNER = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';
const FRAME_MS = 100;
const ERASE = '\r\x1b[2K';

export function statusLine(
  stream: NodeJS.WritableStream & { columns?: number },
  now: () => number,
  c: ChalkInstance,
): StatusLine {
  // The waits open now, the latest last: the line shows the latest; one ending (in any order: two
  // may overlap, as the agent's install beside the sync up) takes only itself off.
  const open: { text: string; start: number; detail?: string }[] = [];
  // The same wait in two steps (the instance running, then its sshd answering) counts on.
  let last: { text: string; start: number } | undefined;
  let drawn = false;
  let frame = 0;
  let timer: NodeJS.Timeout | undefined;
  const erase = () => {
    if (!drawn) return;
    stream.write(ERASE);
    drawn = false;
  };
  const draw = () => {
    const current = open.at(-1);
    if (!current) return;
    const seconds = Math.floor((now() - current.start) / 1000);
    const words = `${current.text}${current.detail ? ` · ${current.detail}` : ''} · ${seconds}s`;
    // Never wider than the terminal: a wrapped line cannot be taken back with \r.
    const width = (stream.columns ?? 80) - 3;
    const fitted = words.length > width ? `${words.slice(0, Math.max(0, width - 1))}…` : words;
    stream.write(`${ERASE}${c.cyan(SPINNER[frame++ % SPINNER.length])} ${fitted}`);
    drawn = true;
  };
  let watching = false;
  return {
    show(text) {
      // A run ended by an error or a signal leaves no status line behind on the user's terminal.
      if (!watching) process.once('exit', erase);
      watching = true;
      const start = last?.text === text ? last.start : now();
      const mine: { text: string; start: number; detail?: string } = { text, start };
      open.push(mine);
      timer ??= setInterval(draw, FRAME_MS).unref();
      draw();
      return {
        update: (detail) => {
          mine.detail = detail || undefined;
        },
        end: () => {
          last = { text, start };
          const at = open.indexOf(mine);
          if (at >= 0) open.splice(at, 1);
          erase();
          if (open.length > 0) draw();
          else {
            clearInterval(timer);
            timer = undefined;
          }
        },
      };
    },
    erase,
  };
}

/** `12:03:04`: the local time of day, for the lines of a log that is not a terminal. */
export function clock(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
