/**
 * The ssh alias per instance (issue #12): `ssh-ec2 ssh-config` writes our file and one Include
 * line in the (temporary) HOME's ~/.ssh/config, and then plain `ssh`, `scp`, `sftp` and
 * `rsync -e ssh` reach the instance by name through proxy-connect — with a hostile `Host *` of the
 * user's after our Include, repeated non-interactive connections (VS Code's pattern), an expired
 * Instance Connect key pushed again, a stopped instance started only from a terminal, and the
 * alias gone once the instance ends. ssh reads ~ from the password database, not $HOME: every ssh
 * here is given the temporary config with -F, and never reads /root/.ssh.
 */
import { StopInstancesCommand } from '@aws-sdk/client-ec2';
import { execa } from 'execa';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DELAY_RELAY } from '../sandbox/index.js';
import { hostileSshBlock, localSshIsModern } from '../fixtures/hostile-ssh-config.js';
import {
  cli,
  ec2Client,
  instances,
  instanceState,
  localState,
  makeProject,
  remotePath,
  reportedInstance,
  shq,
  until,
  useSandbox,
} from './helpers.js';

const sb = useSandbox();

const USER_CONFIG_BEFORE = '# my own settings\nHost my-box\n  HostName 192.0.2.1\n';

/** The user's real known_hosts: OpenSSH takes ~ from the password entry (/root when run as root), not $HOME. */
const realKnownHosts = join(userInfo().homedir, '.ssh', 'known_hosts');
const snapshot = (file: string) =>
  existsSync(file) ? { text: readFileSync(file, 'utf8'), mtimeMs: statSync(file).mtimeMs } : 'absent';

describe('ssh ec2-NAME', () => {
  let id = '';
  let alias = '';
  let dir = '';
  const userConfig = () => join(sb.dir, 'local-home', '.ssh', 'config');
  const marker = () => join(sb.dir, 'hostile-local-command-ran');
  const sshArgs = (...args: string[]) => ['-F', userConfig(), '-o', 'BatchMode=yes', ...args];
  const ssh = (...args: string[]) =>
    execa('ssh', sshArgs(...args), { env: sb.env(), extendEnv: false, reject: false, stdin: 'ignore' });
  const pushes = () => sb.calls('SendSSHPublicKey').filter((c) => c.status === 200).length;

  it('ssh-config writes the aliases and one Include at the top, once', async () => {
    dir = makeProject(sb, 'aliased', { 'in.txt': 'x' });
    const r = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    id = reportedInstance(r.stderr);
    mkdirSync(join(sb.dir, 'local-home', '.ssh'), { recursive: true, mode: 0o700 });
    writeFileSync(userConfig(), USER_CONFIG_BEFORE, { mode: 0o600 });

    const noTerminal = await cli(sb, ['ssh-config'], { cwd: dir });
    expect(noTerminal.exitCode, noTerminal.stderr).toBe(0);
    expect(noTerminal.stderr).toContain('not changed');
    expect(noTerminal.stderr).toContain('ssh-ec2 ssh-config --yes');
    expect(readFileSync(userConfig(), 'utf8')).toBe(USER_CONFIG_BEFORE);

    const ours = localState(sb, 'ssh_config');
    for (let n = 0; n < 2; n++) {
      const s = await cli(sb, ['ssh-config', '--yes'], { cwd: dir });
      expect(s.exitCode, s.stderr).toBe(0);
      alias = /^(ec2-\S+)\t/.exec(s.stdout)![1]!;
      expect(s.stdout).toContain(`${alias}\t${id}\trunning`);
      expect(readFileSync(userConfig(), 'utf8')).toBe(`Include ${ours}\n${USER_CONFIG_BEFORE}`);
    }
    expect(readFileSync(ours, 'utf8')).toContain(`Host ${alias} ${id}\n`);
    // The user's own Host * after our Include: each of its lines would break the alias if it applied.
    const hostile = hostileSshBlock({
      localCommandMarker: marker(),
      forwardPort: 47_999,
      controlDir: sb.dir,
      modernSsh: localSshIsModern(),
    });
    writeFileSync(userConfig(), `${readFileSync(userConfig(), 'utf8')}${hostile}`);
  });

  it('ssh, by name and by id, repeatedly without a prompt (VS Code reconnecting), one key push', async () => {
    sb.clearCalls();
    const knownBefore = snapshot(realKnownHosts);
    for (const host of [alias, id, alias, alias, alias]) {
      const r = await ssh(host, 'echo on $(hostname) as $(id -un) in $PWD');
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^on .* as \S+ in \S+\n?$/);
      expect(r.stdout).not.toContain('hostile');
    }
    expect(pushes()).toBe(1);
    expect(existsSync(marker())).toBe(false);
    // Nothing was written to any known_hosts but ours: the hostile config's is /dev/null anyway,
    // and the user's real one (under the password entry's home) is as it was, absent or not.
    expect(readFileSync(join(localState(sb, 'known_hosts'), id), 'utf8')).toContain(id);
    expect(snapshot(realKnownHosts)).toEqual(knownBefore);
  });

  it("ssh's environment lends no AWS settings: another profile, endpoint or key still reaches the instance", async () => {
    // The alias was written with the sandbox's endpoint and no profile: a dead endpoint (loopback)
    // and an unknown profile in ssh's environment are not used (VS Code from the Dock, a shell of
    // another account's).
    const r = await execa('ssh', sshArgs(alias, 'echo through'), {
      env: sb.env({
        AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
        AWS_PROFILE: 'no-such-profile',
        AWS_ACCESS_KEY_ID: 'other',
      }),
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('through');
  });

  it('an instance AWS says it does not know (other credentials) fails in one line and nothing is forgotten', async () => {
    const kept = [
      localState(sb, 'known_hosts', id),
      localState(sb, 'aliases', id),
      localState(sb, 'aliases', `${id}.json`),
    ];
    sb.inject({ action: 'DescribeInstances', status: 400, code: 'InvalidInstanceID.NotFound', times: Infinity });
    try {
      const r = await ssh(alias, 'true');
      expect(r.exitCode).toBe(255);
      expect(r.stderr).toContain(`${id} not found`);
      expect(r.stderr).toContain('nothing removed');
    } finally {
      sb.clearFaults();
    }
    for (const f of kept) expect(existsSync(f), f).toBe(true);
    expect(readFileSync(localState(sb, 'ssh_config'), 'utf8')).toContain(`Host ${alias} ${id}\n`);
    const again = await ssh(alias, 'echo still');
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toBe('still');
  });

  it('scp, sftp -b and rsync -e ssh', async () => {
    const local = join(sb.dir, 'alias-files');
    mkdirSync(join(local, 'tree'), { recursive: true });
    writeFileSync(join(local, 'up.txt'), 'up by scp\n');
    writeFileSync(join(local, 'tree', 'a.txt'), 'by rsync\n');
    const env = sb.env();
    const scp = await execa('scp', [...sshArgs(), join(local, 'up.txt'), `${alias}:scp.txt`], { env, reject: false });
    expect(scp.exitCode, scp.stderr).toBe(0);
    expect(readFileSync(remotePath(sb, 'scp.txt', id), 'utf8')).toBe('up by scp\n');

    writeFileSync(
      join(local, 'batch'),
      `put ${join(local, 'up.txt')} sftp.txt\nget scp.txt ${join(local, 'got.txt')}\n`,
    );
    const sftp = await execa('sftp', [...sshArgs(), '-b', join(local, 'batch'), alias], { env, reject: false });
    expect(sftp.exitCode, sftp.stderr).toBe(0);
    expect(readFileSync(remotePath(sb, 'sftp.txt', id), 'utf8')).toBe('up by scp\n');
    expect(readFileSync(join(local, 'got.txt'), 'utf8')).toBe('up by scp\n');

    const rsh = ['ssh', ...sshArgs()].map(shq).join(' ');
    const rsync = await execa('rsync', ['-a', '-e', rsh, `${join(local, 'tree')}/`, `${alias}:rsynced/`], {
      env,
      reject: false,
    });
    expect(rsync.exitCode, rsync.stderr).toBe(0);
    expect(readFileSync(remotePath(sb, 'rsynced/a.txt', id), 'utf8')).toBe('by rsync\n');
    expect(existsSync(marker())).toBe(false);
  });

  it('an alias session counts as activity for the agent', async () => {
    // The agent counts processes of the login user whose parent is sshd (lib.sh ssh_sessions).
    // Held until this test ends it: `cat` waits on the stdin kept open here, however slow the machine.
    const held = execa('ssh', sshArgs(alias, 'exec cat >/dev/null'), {
      env: sb.env(),
      extendEnv: false,
      reject: false,
      stdin: 'pipe',
    });
    try {
      await until(async () => {
        const r = await ssh(alias, '. ~/.ssh-ec2/lib.sh && ssh_sessions');
        return r.exitCode === 0 && Number(r.stdout.trim()) >= 2;
      }, 'the agent to count the held alias session besides this one');
    } finally {
      held.stdin?.end();
      held.kill();
      await held;
    }
  });

  it('an expired Instance Connect key is pushed again', async () => {
    const stamp = localState(sb, 'aliases', `${id}.pushed`);
    const longAgo = new Date(Date.now() - 120_000);
    utimesSync(stamp, longAgo, longAgo); // as if the last push were two minutes old
    sb.clearCalls();
    expect((await ssh(alias, 'true')).exitCode).toBe(0);
    expect(pushes()).toBe(1);
    sb.expireInstanceConnectKeys(); // what AWS's 60 s do, at once
    utimesSync(stamp, longAgo, longAgo);
    const r = await ssh(alias, 'echo again');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('again');
    expect(pushes()).toBe(2);
  });

  it("the user's ProxyJump still applies (the ssh config the alias was written with)", async () => {
    const info = (await instances(sb)).find((i) => i.InstanceId === id)!;
    const address = info.PublicIpAddress ?? info.PrivateIpAddress!;
    const port = new RegExp(
      `Host [^\\n]*\\b${address.replaceAll('.', '\\.')}\\b[^\\n]*\\n  HostName 127\\.0\\.0\\.1\\n  Port (\\d+)`,
    ).exec(readFileSync(sb.sshConfig, 'utf8'))![1]!;
    // The jump host is the instance's own sshd, reached through a ProxyCommand that leaves a mark:
    // the mark says the connection went through it.
    const jumped = join(sb.dir, 'went-through-the-jump-host');
    const config = join(sb.dir, 'jump_config');
    writeFileSync(
      config,
      [
        `Host ${address}`,
        '  HostName 127.0.0.1',
        `  Port ${port}`,
        '  ProxyJump jumpbox',
        'Host jumpbox',
        `  User ${sb.user}`,
        `  IdentityFile ${localState(sb, 'aliases', id)}`,
        '  IdentitiesOnly yes',
        '  StrictHostKeyChecking no',
        '  UserKnownHostsFile /dev/null',
        `  ProxyCommand sh -c 'touch ${jumped}; exec ${process.execPath} ${DELAY_RELAY} ${port} 0'`,
        '',
      ].join('\n'),
    );
    const written = await cli(sb, ['ssh-config', '--ssh-config', config], { cwd: dir });
    expect(written.exitCode, written.stderr).toBe(0);
    try {
      const r = await ssh(alias, 'echo jumped');
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toBe('jumped');
      expect(existsSync(jumped)).toBe(true);
      // A config ssh -G cannot read: the relay fails saying why, never going around the jump host.
      writeFileSync(config, `${readFileSync(config, 'utf8')}NoSuchOption yes\n`);
      const broken = await cli(sb, ['ssh-config', '--ssh-config', config], { cwd: dir });
      expect(broken.exitCode, broken.stderr).toBe(0);
      rmSync(jumped);
      const refused = await ssh(alias, 'echo jumped');
      expect(refused.exitCode).toBe(255);
      expect(refused.stderr).toContain('ssh -G');
      expect(refused.stderr).toMatch(/NoSuchOption|Bad configuration option/i);
      expect(existsSync(jumped)).toBe(false);
    } finally {
      const back = await cli(sb, ['ssh-config'], { cwd: dir });
      expect(back.exitCode, back.stderr).toBe(0);
    }
  });

  it('a stopped instance: refused without a terminal, started from one', async () => {
    await ec2Client(sb).send(new StopInstancesCommand({ InstanceIds: [id] }));
    await until(async () => (await instanceState(sb, id)) === 'stopped', `${id} to stop`);
    sb.clearCalls();
    const refused = await ssh(alias, 'true');
    expect(refused.exitCode).toBe(255);
    expect(refused.stderr).toContain(`${alias} (${id}) is stopped: not started without a person at a terminal`);
    expect(refused.stderr).toContain(`ssh ${alias}`);
    expect(sb.calls('StartInstances')).toEqual([]);
    expect(await instanceState(sb, id)).toBe('stopped');

    // As on EC2, its sshd answers a while after `running`: the alias waits for it.
    sb.setBootDelay(3000);
    const command = ['ssh', ...sshArgs(alias, 'echo started')].map(shq).join(' ');
    const started = await execa('script', ['-q', '-e', '-c', command, '/dev/null'], {
      env: sb.env(),
      extendEnv: false,
      reject: false,
      stdin: 'pipe',
      timeout: 120_000,
    }).finally(() => sb.setBootDelay(0));
    expect(started.exitCode, started.stdout).toBe(0);
    expect(started.stdout).toContain(`starting ${id}`);
    expect(started.stdout).toContain('waiting for sshd');
    expect(started.stdout).toContain('started');
    expect(await instanceState(sb, id)).toBe('running');
  });

  it('a launch refreshes the aliases: the new instance is reachable by name at once', async () => {
    const r = await cli(sb, ['--leave', 'true'], { cwd: makeProject(sb, 'aliased-later') });
    expect(r.exitCode, r.stderr).toBe(0);
    const later = reportedInstance(r.stderr);
    const entry = new RegExp(`^Host (ec2-\\S+) ${later}$`, 'm').exec(
      readFileSync(localState(sb, 'ssh_config'), 'utf8'),
    );
    expect(entry).not.toBeNull();
    const s = await ssh(entry![1]!, 'echo later');
    expect(s.exitCode, s.stderr).toBe(0);
    expect(s.stdout).toBe('later');
  });

  it('the alias of an ended instance disappears; --remove leaves the rest of the file as it was', async () => {
    const ours = localState(sb, 'ssh_config');
    const down = await cli(sb, ['down', '--yes', '--no-pull'], { cwd: dir });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(readFileSync(ours, 'utf8')).not.toContain(id);
    const withHostile = readFileSync(userConfig(), 'utf8');
    const r = await cli(sb, ['ssh-config', '--remove'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readFileSync(userConfig(), 'utf8')).toBe(withHostile.replace(`Include ${ours}\n`, ''));
    expect(readFileSync(userConfig(), 'utf8').startsWith(USER_CONFIG_BEFORE)).toBe(true);
    expect(existsSync(ours)).toBe(false);
  });
});
