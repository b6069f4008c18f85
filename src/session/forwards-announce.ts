/**
 * Port forwards announced (issue #10: `-L` forwards were never said): each one once its local end
 * listens, as `http://localhost:8888 → instance:8888` — a URL only for ports that usually speak
 * HTTP, `localhost:5432 → instance:5432` otherwise. Whether the local end listens is read, never
 * probed: connecting would open a channel to the remote service, and binding the port ourselves
 * could make ssh's own bind fail. Linux shows listening sockets in /proc/net/tcp*; elsewhere the
 * forward is said when the session starts (ssh runs with ExitOnForwardFailure=yes: a forward that
 * cannot be opened ends the session with ssh's own error).
 */
import { readFileSync } from 'node:fs';
import type { ForwardSpecs } from '../remote/ssh.js';
import { backoff } from '../time.js';
import type { Logger } from '../ui/logger.js';

/** Ports that usually speak HTTP: Jupyter, TensorBoard, Streamlit, Gradio, dev servers. */
const HTTP_PORTS = new Set([80, 3000, 5000, 6006, 7860, 8000, 8080, 8501, 8888, 8889]);

/** The words for one forward; undefined for a spec we cannot read (a unix socket, say). */
export function describeForward(kind: 'L' | 'R' | 'D', spec: string): string | undefined {
  const parts = splitSpec(spec);
  if (kind === 'D') {
    const [bind, port] = parts.length === 2 ? parts : ['localhost', parts[0]];
    return `SOCKS proxy on ${hostName(bind!)}:${port} through the instance`;
  }
  if (parts.length !== 3 && parts.length !== 4) return undefined;
  const [bind, port, host, hostPort] = parts.length === 4 ? parts : ['localhost', ...parts];
  const far = isLoopback(host!) ? `instance:${hostPort}` : `${host}:${hostPort} (from the instance)`;
  if (kind === 'R') return `instance:${port} → ${hostName(host!)}:${hostPort} here`;
  const local = `${hostName(bind!)}:${port}`;
  const shown = HTTP_PORTS.has(Number(hostPort)) ? `http://${local}` : local;
  return `${shown} → ${far}`;
}

/**
 * Says each forward of a session once its local end listens (a remote one, at once); stops
 * looking when `done` settles or after a minute (then it is said all the same: ssh has it).
 */
export function announceForwards(f: ForwardSpecs, log: Logger, done: Promise<unknown>): void {
  const all = [
    ...(f.local ?? []).map((s) => ['L', s] as const),
    ...(f.dynamic ?? []).map((s) => ['D', s] as const),
    ...(f.remote ?? []).map((s) => ['R', s] as const),
  ];
  if (all.length === 0) return;
  let over = false;
  void done.finally(() => (over = true)).catch(() => {});
  void (async () => {
    for (const [kind, spec] of all) {
      const words = describeForward(kind, spec);
      if (!words) continue;
      const port = kind === 'R' ? undefined : Number(splitSpec(spec).at(kind === 'D' ? -1 : -3));
      if (port !== undefined && canSeeListeners()) {
        for await (const _ of backoff({ firstDelayMs: 100, maxDelayMs: 1000, deadline: Date.now() + 60_000 })) {
          if (over || listening(port)) break;
        }
      }
      if (over) return;
      log.info(`forwarding ${words}`);
    }
  })();
}

function splitSpec(spec: string): string[] {
  return spec
    .replace(/\[([^\]]*)\]/g, (_m, ip: string) => ip.replaceAll(':', '\u0000'))
    .split(':')
    .map((p) => p.replaceAll('\u0000', ':'));
}

const isLoopback = (h: string) => h === 'localhost' || h === '127.0.0.1' || h === '::1';
const hostName = (h: string) => (h === '' || h === '*' || isLoopback(h) ? 'localhost' : h);

const TABLES = ['/proc/net/tcp', '/proc/net/tcp6'];

function canSeeListeners(): boolean {
  return TABLES.some((t) => read(t) !== undefined);
}

/** A socket in state LISTEN (0A) on this local port, in the kernel's tables. */
function listening(port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return TABLES.some((t) =>
    (read(t) ?? '').split('\n').some((line) => {
      const cols = line.trim().split(/\s+/);
      return cols[1]?.endsWith(hex) && cols[3] === '0A';
    }),
  );
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
