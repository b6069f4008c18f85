/**
 * How proxy-connect reaches port 22 of an instance's address: as ssh itself would with the same
 * config (`ssh -G` says what applies), so a user's ProxyJump or ProxyCommand (a bastion) still
 * applies to an alias, and the sandbox's config (its addresses are loopback ports) too. Pure.
 */
export type Route = { kind: 'tcp'; host: string; port: number } | { kind: 'program'; argv: string[] };

/** `ssh -G` output → the route to `host` (the address asked about). */
export function routeFrom(g: string, o: { address: string; configFile?: string; modernSsh: boolean }): Route {
  const values = new Map<string, string>();
  for (const line of g.split('\n')) {
    const m = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (m && !values.has(m[1]!.toLowerCase())) values.set(m[1]!.toLowerCase(), m[2]!);
  }
  const set = (k: string) => {
    const v = values.get(k);
    return v && v !== 'none' ? v : undefined;
  };
  const host = set('hostname') ?? o.address;
  const port = Number(set('port') ?? 22);
  const proxyCommand = set('proxycommand');
  if (proxyCommand) {
    const expanded = proxyCommand.replace(/%(.)/g, (all, t: string) =>
      t === 'h' ? host : t === 'p' ? String(port) : t === 'n' ? o.address : t === '%' ? '%' : all,
    );
    return { kind: 'program', argv: ['sh', '-c', `exec ${expanded}`] };
  }
  const jump = set('proxyjump');
  if (jump) {
    const hops = jump.split(',');
    const last = hops.pop()!;
    return {
      kind: 'program',
      argv: [
        'ssh',
        ...(o.configFile ? ['-F', o.configFile] : []),
        ...(hops.length > 0 ? ['-J', hops.join(',')] : []),
        // A `Host *` of the user's must not turn the relay into a session (see remote/ssh.ts).
        '-o',
        'RemoteCommand=none',
        '-o',
        'PermitLocalCommand=no',
        ...(o.modernSsh ? ['-o', 'SessionType=default', '-o', 'ForkAfterAuthentication=no'] : []),
        '-W',
        `${host.includes(':') ? `[${host}]` : host}:${port}`,
        '--',
        last,
      ],
    };
  }
  return { kind: 'tcp', host, port };
}
