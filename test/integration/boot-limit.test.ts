// The boot-time limit (src/agent/boot-limit.sh), as the launch sends it in the user data, on a
// sandbox instance: the sandbox plays each boot by running the user data's boothooks as the
// instance's user (test/sandbox/boot.ts), so it powers off through the sandbox's poweroff, and
// every outcome is read back from the EC2 API. Its grace after boot is shortened here (60 s in
// the launch; the e2e tier runs it whole).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RunInstancesCommand, StartInstancesCommand } from '@aws-sdk/client-ec2';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeUserData } from '../../src/cloud/user-data.js';
import { BOOT_GRACE_SECONDS, BOOT_LIMIT_PART, bootLimitScript, prepareScript } from '../../src/remote/on-instance.js';
import { ec2Client, instanceState, useSandbox } from '../e2e/helpers.js';
import type { Machine } from '../sandbox/index.js';
import { sleep } from '../sandbox/util.js';
import { waitFor as wait } from '../../src/time.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const ONE_INSTANCE = {
  ImageId: 'ami-0d1a00000000a0004', // from test/sandbox/amis.json
  InstanceType: 'g4dn.xlarge',
  MinCount: 1,
  MaxCount: 1,
  InstanceInitiatedShutdownBehavior: 'stop',
} as const;
const TEST_TIMEOUT = 120_000;
const GRACE = 2;

const sb = useSandbox();

/** Polls `check` (every 200 ms, for at most 40 s) until it holds. */
const waitFor = (what: string, check: () => unknown): Promise<true> =>
  wait(async () => ((await check()) ? true : undefined), {
    what,
    timeoutMs: 40_000,
    firstDelayMs: 200,
    maxDelayMs: 200,
  });

describe('the boot-time limit', () => {
  let ec2: EC2Client;
  beforeAll(() => {
    ec2 = ec2Client(sb);
  });
  afterAll(() => ec2?.destroy());

  /** An instance launched with the boot-time limit in its user data (and the user's own after it). */
  async function launch(limits: { idleTimeout?: number; maxTime?: number }): Promise<Machine> {
    const script = bootLimitScript({
      user: sb.user,
      idleTimeout: limits.idleTimeout ?? 0,
      maxTime: limits.maxTime ?? 0,
      poweroffCommand: sb.poweroffCommand,
      imdsUrl: sb.imdsUrl,
    }).replace(`BOOT_GRACE='${BOOT_GRACE_SECONDS}'`, `BOOT_GRACE='${GRACE}'`);
    const userData = mergeUserData(
      [{ type: 'text/cloud-boothook', filename: BOOT_LIMIT_PART, content: script }],
      '#!/bin/sh\necho the user data of the user\n',
    );
    const out = await ec2.send(
      new RunInstancesCommand({ ...ONE_INSTANCE, UserData: Buffer.from(userData).toString('base64') }),
    );
    const id = out.Instances![0]!.InstanceId!;
    await waitFor(`${id} running`, async () => (await instanceState(sb, id)) === 'running');
    return sb.machine(id);
  }

  const file = (m: Machine, name: string) => {
    const path = join(m.home, '.ssh-ec2', name);
    return existsSync(path) ? readFileSync(path, 'utf8') : '';
  };
  const stopped = async (m: Machine) => {
    await waitFor(`${m.instanceId} stopped`, async () => (await instanceState(sb, m.instanceId)) === 'stopped');
    return sb.poweroffs().filter((p) => p.instanceId === m.instanceId);
  };

  it(
    'stops an instance nobody connects to, after the idle timeout, on every boot',
    async () => {
      const m = await launch({ idleTimeout: 1 });
      expect(await stopped(m)).toEqual([expect.objectContaining({ reason: 'idle', status: 200 })]);
      expect(file(m, 'poweroff')).toMatch(/^idle \d+\n$/);
      expect(file(m, 'boot-limit.log')).toContain(`armed on ${m.instanceId}`);

      // Started again (the console, say): it runs with its limits again.
      await ec2.send(new StartInstancesCommand({ InstanceIds: [m.instanceId] }));
      await waitFor('running again', async () => (await instanceState(sb, m.instanceId)) === 'running');
      expect((await stopped(m)).map((p) => p.reason)).toEqual(['idle', 'idle']);
    },
    TEST_TIMEOUT,
  );

  it(
    'enforces the max time from boot, and steps aside once the agent runs',
    async () => {
      const m = await launch({ maxTime: 3 });
      expect(await stopped(m)).toEqual([expect.objectContaining({ reason: 'max-time', status: 200 })]);

      // A run starts it and installs the agent (no limits of its own): the boot-time limit leaves it be.
      await ec2.send(new StartInstancesCommand({ InstanceIds: [m.instanceId] }));
      await waitFor('running again', async () => (await instanceState(sb, m.instanceId)) === 'running');
      const conf = {
        instanceId: m.instanceId,
        imdsUrl: sb.imdsUrl,
        poweroffCommand: sb.poweroffCommand,
        idleTimeout: 0,
        deadline: 0,
        jobGrace: 0,
        maxTime: 0,
      };
      const r = await m.runAsUser(`sh -s <<'EOF'\n${prepareScript(conf)}EOF\n`);
      expect(r.exitCode, r.stderr).toBe(0);
      await waitFor('the boot-time limit to step aside', () =>
        file(m, 'boot-limit.log').includes('the agent runs: it keeps the limits from now on'),
      );
      await sleep((GRACE + 3) * 1000); // past its grace and max time: nothing powers off
      expect(await instanceState(sb, m.instanceId)).toBe('running');
      await m.runAsUser('sh ~/.ssh-ec2/agent.sh stop-daemon');
    },
    TEST_TIMEOUT,
  );

  it(
    'refuses to power off when the metadata service names another instance',
    async () => {
      sb.setImdsInstance('i-00000000000000000');
      try {
        const m = await launch({ idleTimeout: 1 });
        await waitFor('the refusal', () => file(m, 'boot-limit.log').includes('refusing to power off (idle)'));
        expect(await instanceState(sb, m.instanceId)).toBe('running');
      } finally {
        sb.setImdsInstance(undefined);
      }
    },
    TEST_TIMEOUT,
  );
});
