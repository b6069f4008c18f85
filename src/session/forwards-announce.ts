/**
 * Port forwards announced (issue #10: `-L` forwards were never said), as the session starts:
 * `http://localhost:8888 → instance:8888` — a URL only for ports that usually speak HTTP,
 * `localhost:5432 → instance:5432` otherwise. ssh runs with ExitOnForwardFailure=yes, so a forward
 * that cannot be opened ends the session with ssh's own error, and a busy local port is refused
 * before anything is done. Whether the local end already listens is not looked at: connecting
 * would open a channel to the remote service, binding the port ourselves could make ssh's own
 * bind fail, and the kernel's socket tables (/proc) are Linux's only — nothing local reads /proc.
 */
import type { ForwardSpecs } from '../remote/ssh.js';
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

/** Says each forward of a session, once, as it starts. */
export function announceForwards(f: ForwardSpecs, log: Logger): void {
  const all = [
    ...(f.local ?? []).map((s) => ['L', s] as const),
    ...(f.dynamic ?? []).map((s) => ['D', s] as const),
    ...(f.remote ?? []).map((s) => ['R', s] as const),
  ];
  for (const [kind, spec] of all) {
    const words = describeForward(kind, spec);
    if (words) log.info(`forwarding ${words}`);
  }
}

function splitSpec(spec: string): string[] {
  return spec
    .replace(/\[([^\]]*)\]/g, (_m, ip: string) => ip.replaceAll(':', '\u0000'))
    .split(':')
    .map((p) => p.replaceAll('\u0000', ':'));
}

const isLoopback = (h: string) => h === 'localhost' || h === '127.0.0.1' || h === '::1';
const hostName = (h: string) => (h === '' || h === '*' || isLoopback(h) ? 'localhost' : h);
