// A stopped instance started as another type gets a launch's guardrails (issue #13, start-check.ts):
// the type checks and the cost limit before any ModifyInstanceAttribute or StartInstances, a price
// line for the start, a spot instance's type left as it is, --spot said not applied to on-demand.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InstanceInfo } from '../../src/cloud/port.js';
import { ExitCode } from '../../src/errors.js';
import { LOGIN_TAG, type FlagValues } from '../../src/options.js';
import { launchTags } from '../../src/session/owner.js';
import { FakeCloud } from '../fakes/cloud.js';
import { provisionRun } from '../fakes/provision-run.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'start-check-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const run = (cloud: FakeCloud, flags: FlagValues = {}) => provisionRun(dir, cloud, flags);

function stopped(cloud: FakeCloud, more: Partial<InstanceInfo> = {}): InstanceInfo {
  const { plan } = run(cloud);
  return cloud.add({ state: 'stopped', tags: { ...launchTags(plan, 'alice'), [LOGIN_TAG]: 'ec2-user' }, ...more });
}

const changedOrStarted = (cloud: FakeCloud) => [...cloud.callsOf('setInstanceType'), ...cloud.callsOf('start')];

describe('a stopped instance started as another type', () => {
  it('above --max-hourly-cost: refused (exit 11) before its type is changed or it is started', async () => {
    const cloud = new FakeCloud();
    cloud.instanceTypes['g5.12xlarge'] = ['x86_64'];
    const i = stopped(cloud);
    const err = await run(cloud, { maxHourlyCost: '1', instanceTypes: 'g5.12xlarge' })
      .go()
      .then(
        () => undefined,
        (e: unknown) => e as Error & { exitCode: number },
      );
    expect(err).toMatchObject({ exitCode: ExitCode.costGuard });
    expect(err!.message).toMatch(/g5\.12xlarge costs \$\d+\.\d\d\/hour \(on demand\), above --max-hourly-cost \$1\.00/);
    expect(changedOrStarted(cloud)).toEqual([]);
    expect(cloud.get(i.id)).toMatchObject({ state: 'stopped', type: 'g4dn.xlarge' });
  });

  it('a GPU-less type under the GPU image: refused (exit 4), nothing changed', async () => {
    const cloud = new FakeCloud();
    stopped(cloud);
    await expect(run(cloud, { instanceTypes: 't3.large' }).go()).rejects.toMatchObject({ exitCode: ExitCode.cloud });
    expect(changedOrStarted(cloud)).toEqual([]);
  });

  it("a type not offered in the instance's zone: refused naming it and where it is offered", async () => {
    const cloud = new FakeCloud();
    const i = stopped(cloud);
    cloud.offeredIn['g5.xlarge'] = ['eu-central-1b'];
    await expect(run(cloud, { instanceTypes: 'g5.xlarge' }).go()).rejects.toThrow(
      `g5.xlarge is not offered in eu-central-1a (the zone of stopped ${i.id}); offered in eu-central-1b`,
    );
    expect(changedOrStarted(cloud)).toEqual([]);
  });

  it('within the limit: changed, started, and the start says its price', async () => {
    const cloud = new FakeCloud();
    const i = stopped(cloud);
    const { go, lines } = run(cloud, { maxHourlyCost: '2', instanceTypes: 'g5.xlarge' });
    await go();
    expect(cloud.callsOf('setInstanceType')).toEqual([[i.id, 'g5.xlarge']]);
    expect(
      lines.some((l) =>
        /^ssh-ec2: starting i-\w+ as g5\.xlarge \(on-demand\) in eu-central-1a: \$1\.\d+\/h on demand/.test(l),
      ),
    ).toBe(true);
  });
});

describe('a stopped spot instance, and --spot on an on-demand one', () => {
  it("a spot instance's type is not changed (EC2 cannot): started as it is, saying so", async () => {
    const cloud = new FakeCloud();
    const i = stopped(cloud, { tags: { ...launchTags(run(cloud).plan, 'alice'), 'ssh-ec2:market': 'spot' } });
    const { go, lines } = run(cloud, { instanceTypes: 'p4d.24xlarge' });
    await go();
    expect(cloud.callsOf('setInstanceType')).toEqual([]);
    expect(cloud.callsOf('start')).toEqual([[i.id]]);
    expect(lines.some((l) => l.includes(`not applied: ${i.id} is a spot instance`))).toBe(true);
  });

  it('--spot on a reused on-demand instance: one line says it is not applied', async () => {
    const cloud = new FakeCloud();
    const { plan } = run(cloud);
    const i = cloud.add({ tags: { ...launchTags(plan, 'alice'), [LOGIN_TAG]: 'ec2-user' } });
    const { go, lines } = run(cloud, { spot: true });
    await go();
    expect(lines).toContain(
      `ssh-ec2: --spot not applied: ${i.id} is on-demand (ssh-ec2 down, then run again, to launch a spot one)`,
    );
  });
});
