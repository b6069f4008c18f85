// A RECORDING STAND-IN for `docker`, on every sandbox instance's PATH (instance-tools.ts): the
// sandbox's instances cannot use a real engine (a daemon here sees none of an instance's private
// mounts, where its home is, and CI machines have none). It plays `docker run` as ssh-ec2's
// --docker sends it: it checks the arguments against what it finds where it runs — the mount
// (-v DIR:DIR of the -w directory, which is the one it was started from), the user (the login
// user's uid:gid), --gpus exactly when nvidia-smi sees a GPU, -t exactly when it has a terminal
// (real docker refuses -t without one), --rm, --init, -i — and refuses with docker's status 125
// what is wrong; then runs the command in the mounted directory, passing SIGTERM, SIGINT and SIGHUP
// on to it as docker's --sig-proxy and --init do, and exits with its status.
// Each call is recorded in the instance's ~/.docker-stand-in/ as JSON (readDockerCalls): its
// argv, directory, whether it had a terminal, what it refused. An image named missing/… is one no
// registry has: docker run's 125; one named record-only/… has the call recorded, nothing run.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const DOCKER_CALLS_DIR = '.docker-stand-in';

export interface DockerCall {
  argv: string[];
  cwd: string;
  tty: boolean;
  gpu: boolean;
  image: string;
  /** What the stand-in refused (then it exited 125 without running anything). */
  problems: string[];
}

/** The script, run by this machine's node (an absolute path: the instance's PATH may not have it). */
export function dockerStandIn(node: string): string {
  return `#!${node}
// The ssh-ec2 sandbox's recording stand-in for docker (test/sandbox/docker-stand-in.ts).
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const tty = require('node:tty');

const argv = process.argv.slice(2);
const problems = [];
const o = { env: {} };
let i = 0;
if (argv[i++] !== 'run') problems.push('only docker run is played, got: ' + argv.join(' '));
const valued = { '--user': 'user', '-v': 'volume', '-w': 'workdir', '--gpus': 'gpus' };
for (; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--rm' || a === '--init' || a === '-i' || a === '-t') o[a] = true;
  else if (a in valued) o[valued[a]] = argv[++i];
  else if (a.startsWith('--gpus=')) o.gpus = a.slice(7);
  // -e NAME alone: docker passes this client's value, or none when it has none.
  else if (a === '-e') { const [k, ...v] = argv[++i].split('='); if (v.length > 0) o.env[k] = v.join('='); else if (k in process.env) o.env[k] = process.env[k]; }
  else if (/^--[a-z-]+=/.test(a)) (o.other ??= []).push(a);
  else if (a.startsWith('-')) problems.push('an option the stand-in does not play: ' + a);
  else break;
}
const image = argv[i++] ?? '';
const command = argv.slice(i);
const gpu = spawnSync('nvidia-smi', ['-L'], { stdio: 'ignore' }).status === 0;
const hasTty = tty.isatty(0) && tty.isatty(1);
const ids = process.getuid() + ':' + process.getgid();
for (const f of ['--rm', '--init', '-i']) if (!o[f]) problems.push(f + ' missing');
if (o.user !== ids) problems.push('--user ' + o.user + " is not the login user's " + ids);
if (gpu && o.gpus !== 'all') problems.push('a GPU here and no --gpus all');
if (!gpu && o.gpus !== undefined) problems.push('--gpus ' + o.gpus + ' without a GPU: docker fails');
if (hasTty && !o['-t']) problems.push('a terminal here and no -t');
if (!hasTty && o['-t']) problems.push('the input device is not a TTY (-t without a terminal)');
if (o.workdir !== process.cwd()) problems.push('-w ' + o.workdir + ' is not the directory docker runs from: ' + process.cwd());
if (o.volume !== o.workdir + ':' + o.workdir) problems.push('-v ' + o.volume + ' does not mount -w ' + o.workdir + ' at the same path');
if (!/^[a-z0-9]/.test(image)) problems.push('no image: ' + image);
if (command.length === 0) problems.push('no command');
const dir = path.join(process.env.HOME, '${DOCKER_CALLS_DIR}');
fs.mkdirSync(dir, { recursive: true });
const record = { argv, cwd: process.cwd(), tty: hasTty, gpu, image, problems };
fs.writeFileSync(path.join(dir, process.hrtime.bigint() + '-' + process.pid + '.json'), JSON.stringify(record));
if (problems.length > 0) {
  process.stderr.write('docker: (sandbox stand-in) ' + problems.join('; ') + '\\n');
  process.exit(125);
}
// For the quoting tests: the call is recorded, the command (random text) never run.
if (image.startsWith('record-only/')) process.exit(0);
if (image.startsWith('missing/')) {
  process.stderr.write("Unable to find image '" + image + "' locally\\ndocker: Error response from daemon: pull access denied for " + image + '.\\n');
  process.exit(125);
}
const child = spawn(command[0], command.slice(1), { cwd: o.workdir, stdio: 'inherit', env: { ...process.env, ...o.env } });
child.on('error', (e) => {
  process.stderr.write('docker: (sandbox stand-in) ' + e.message + '\\n');
  process.exit(e.code === 'ENOENT' ? 127 : 126);
});
for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  // With a terminal, its Ctrl-C reaches the command by itself (the same foreground group).
  process.on(s, () => { if (!(hasTty && s === 'SIGINT')) child.kill(s); });
}
child.on('exit', (code, signal) => {
  process.exit(code ?? 128 + require('node:os').constants.signals[signal]);
});
`;
}

/** The calls recorded on the instance whose home is `home`, oldest first. */
export function readDockerCalls(home: string): DockerCall[] {
  const dir = join(home, DOCKER_CALLS_DIR);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort((a, b) => (BigInt(a.split('-')[0]!) < BigInt(b.split('-')[0]!) ? -1 : 1))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as DockerCall);
}
