// Our ssh command lines against a hostile user config, as the real ssh reads them: `ssh -G`
// prints the configuration ssh would use (command line over config file) and exits, without
// connecting. The end-to-end run through such a config is in test/e2e/ssh-config.test.ts.
import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { masterControlArgv, masterStartArgv, remoteArgv, rsyncSshArgv, type SshTarget } from '../../src/remote/ssh.js';
import { hostileSshBlock, localSshIsModern } from '../fixtures/hostile-ssh-config.js';

const dir = mkdtempSync(join(tmpdir(), 'ssh-ec2-ssh-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const configFile = join(dir, 'config with spaces');
const modernSsh = localSshIsModern();
writeFileSync(
  configFile,
  hostileSshBlock({
    localCommandMarker: join(dir, 'local-command-ran'),
    forwardPort: 48123,
    controlDir: dir,
    modernSsh,
  }),
);

const target: SshTarget = {
  host: '203.0.113.9',
  user: 'ubuntu',
  hostKeyAlias: 'i-0abc',
  knownHostsFile: join(dir, 'known_hosts'),
  controlPath: join(dir, 'c.sock'),
  configFile,
  modernSsh,
};

/** What ssh would do with this command line: its effective configuration, keys lower-cased. */
async function effective(argv: string[]): Promise<Map<string, string[]>> {
  expect(argv[0]).toBe('ssh');
  const r = await execa('ssh', ['-G', ...argv.slice(1)], { reject: false, stdin: 'ignore' });
  expect(r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
  const config = new Map<string, string[]>();
  for (const line of r.stdout.split('\n')) {
    const [key, ...value] = line.split(' ');
    if (key) config.set(key, [...(config.get(key) ?? []), value.join(' ')]);
  }
  return config;
}

describe("ssh command lines under a user config's hostile Host * block", () => {
  const cases: [string, string[], { tty: boolean; forwards?: string[] }][] = [
    ['the master', masterStartArgv(target), { tty: false }],
    ['a control check', masterControlArgv(target, 'check'), { tty: false }],
    ['a command of ours', remoteArgv(target, 'echo ours'), { tty: false }],
    ["the user's terminal session", remoteArgv(target, 'echo theirs', { tty: true }), { tty: true }],
    [
      'a session with its own forward',
      remoteArgv(target, 'echo theirs', { tty: true, forwards: { local: ['8888:localhost:8888'] } }),
      { tty: true, forwards: ['8888 [localhost]:8888'] },
    ],
    ["rsync's ssh", [...rsyncSshArgv(target), target.host, 'rsync --server'], { tty: false }],
  ];

  it.each(cases)('%s runs only what we ask, with a terminal only for the user', async (_name, argv, want) => {
    const c = await effective(argv);
    expect(c.has('remotecommand')).toBe(false);
    expect(c.get('permitlocalcommand')).toEqual(['no']);
    if (modernSsh && !argv.includes('-O')) {
      // The master is the one ssh meant to run no command and to fork (-N -f).
      const master = argv.includes('-N');
      expect(c.get('sessiontype')).toEqual([master ? 'none' : 'default']);
      expect(c.get('forkafterauthentication')).toEqual([master ? 'yes' : 'no']);
      if (!master) expect(c.get('stdinnull')).toEqual(['no']);
    }
    if (!argv.includes('-O')) expect(c.get('requesttty')).toEqual([want.tty ? 'force' : 'false']);
    // Our own pinning, not the config's.
    expect(c.get('hostkeyalias')).toEqual(['i-0abc']);
    expect(c.get('userknownhostsfile')).toEqual([target.knownHostsFile]);
    if (want.forwards) {
      // The config's forwards come along with the session's own, as they would with plain ssh.
      expect(c.get('localforward')).toEqual(expect.arrayContaining(want.forwards));
    } else if (!argv.includes('-O')) {
      expect(c.get('clearallforwardings')).toEqual(['yes']);
    }
  });
});
