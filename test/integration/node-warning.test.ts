// No Node or AWS SDK warning reaches a user's terminal. Under Node < 22 the SDK warns (on stderr,
// at the first client of a process) that it will soon require Node 22: shown here to happen, then
// shown not to happen through the CLI, along every path that makes an SDK client (the region
// probe, EC2, Instance Connect). Here rather than in test/e2e: CI runs this tier on Node 20 too.
// Needs the built CLI (npm run build), as the e2e tests do.
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { cli, makeProject, REPO, useSandbox } from '../e2e/helpers.js';

const sb = useSandbox();
const SDK_WARNING = /NodeVersionSupportWarning|AWS SDK for JavaScript/;
const ANY_NODE_WARNING = /\(node:\d+\)/; // how Node prints every warning
const major = Number(process.versions.node.split('.')[0]);

describe('warnings', () => {
  it.runIf(major < 22)(`the SDK does warn under this Node (${process.version}) when nothing silences it`, async () => {
    const env = { ...process.env };
    delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    const r = await execa(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import { EC2Client } from '@aws-sdk/client-ec2'; new EC2Client({ region: 'eu-central-1' });",
      ],
      { cwd: REPO, env, extendEnv: false, reject: false },
    );
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(SDK_WARNING);
  });

  it('none reaches the user: a session (region from the SDK, a key pushed with Instance Connect), then ls', async () => {
    const dir = makeProject(sb, 'node-warning');
    // No region given: the SDK's own resolution makes a client of its own first.
    const env = { AWS_REGION: undefined, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined };
    const run = await cli(sb, ['echo ran'], { cwd: dir, env });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toBe('ran\n');
    expect(sb.calls('SendSSHPublicKey').length).toBeGreaterThan(0);
    const ls = await cli(sb, ['ls'], { cwd: dir, env });
    expect(ls.exitCode, ls.stderr).toBe(0);
    for (const stderr of [run.stderr, ls.stderr]) {
      expect(stderr).not.toMatch(SDK_WARNING);
      expect(stderr).not.toMatch(ANY_NODE_WARNING);
    }
  });
});
