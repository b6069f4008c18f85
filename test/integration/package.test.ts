/**
 * The package as a user gets it (issue #12): `npm pack`, then `npm i -g` of the tarball into a
 * temporary prefix, offline (the package has no dependencies: scripts/build.mjs bundles them into
 * dist/), and the installed command run from a directory outside this checkout, with nothing
 * pointing back at it; `npx --package ./the.tgz ssh-ec2` too.
 *
 * `npm pack --ignore-scripts`: the package's prepack builds dist/ anew (removing it first), which
 * would pull it from under the tests running the built CLI at the same time; `npm test` builds
 * before the tests, and this test checks that prepack is the build.
 */
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../e2e/helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'ssh-ec2-pack-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const prefix = join(tmp, 'prefix');
const cwd = join(tmp, 'elsewhere');
const installed = join(prefix, 'lib', 'node_modules', 'ssh-ec2');
// Only the programs' directories of this Node and npm: no NODE_PATH, no npm settings of the checkout.
const env: Record<string, string> = {
  PATH: [dirname(process.execPath), ...(process.env.PATH ?? '').split(delimiter)].join(delimiter),
  HOME: join(tmp, 'home'),
  npm_config_cache: join(tmp, 'npm-cache'),
  npm_config_update_notifier: 'false',
  npm_config_fund: 'false',
  npm_config_audit: 'false',
};
const run = (file: string, args: string[]) =>
  execa(file, args, { cwd, env, extendEnv: false, reject: false, stdin: 'ignore' });
let tarball = '';

beforeAll(async () => {
  mkdirSync(cwd, { recursive: true });
  mkdirSync(env.HOME!, { recursive: true });
  const packed = await execa('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp], {
    cwd: REPO,
    env: { ...env, PATH: env.PATH! },
    extendEnv: false,
  });
  tarball = join(tmp, packed.stdout.trim().split('\n').at(-1)!);
  const install = await run('npm', ['i', '-g', '--prefix', prefix, '--offline', tarball]);
  expect(install.exitCode, install.stderr).toBe(0);
}, 300_000);

describe('the packed package', () => {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
    version: string;
    scripts: Record<string, string>;
    dependencies?: object;
  };

  it('has no runtime dependency, and prepack builds it', () => {
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(pkg.scripts.prepack).toBe('npm run build');
    expect(existsSync(join(installed, 'node_modules'))).toBe(false);
  });

  it('ships the CLI, the agent scripts and no source map or source', () => {
    const dist = readdirSync(join(installed, 'dist'));
    expect(dist).toContain('cli.js');
    expect(dist.filter((f) => !f.endsWith('.js'))).toEqual([]);
    expect(readdirSync(join(installed, 'src'))).toEqual(['agent']);
    expect(readdirSync(join(installed, 'src', 'agent'))).toContain('agent.sh');
  });

  it('installed globally, runs from anywhere: --version, --help, a verb help, completion', async () => {
    const bin = join(prefix, 'bin', 'ssh-ec2');
    const version = await run(bin, ['--version']);
    expect([version.exitCode, version.stdout, version.stderr]).toEqual([0, pkg.version, '']);
    const help = await run(bin, ['--help']);
    expect(help.exitCode, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: ssh-ec2 /);
    expect((await run(bin, ['down', '--help'])).stdout).toMatch(/^Usage: ssh-ec2 down/);
    const completion = await run(bin, ['completion', 'bash']);
    expect(completion.exitCode, completion.stderr).toBe(0);
    expect(completion.stdout).toContain('complete -o default -F _ssh_ec2 ssh-ec2');
    expect((await run(bin, ['__complete', ''])).stdout.split('\n')).toContain('down');
  });

  // The commands that reach AWS load chunks --help does not: each must load from the install alone.
  it('every module it ships loads there, with no package to find', async () => {
    const files = readdirSync(join(installed, 'dist')).map((f) => pathToFileURL(join(installed, 'dist', f)).href);
    const script = `for (const f of ${JSON.stringify(files)}) await import(f);`;
    const r = await run(process.execPath, ['--input-type=module', '-e', script]);
    expect([r.exitCode, r.stderr]).toEqual([0, '']);
  });

  it('npx --package ./the.tgz ssh-ec2 --version', async () => {
    const r = await run('npx', ['--yes', '--offline', '--package', tarball, 'ssh-ec2', '--version']);
    expect([r.exitCode, r.stdout.trim()]).toEqual([0, pkg.version]);
  });
});
