/**
 * Spot (issue #13): the settings, the order of (market, type, zone) attempts, what each spot error
 * means for the ones that follow, and the launch against the in-memory cloud.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/args.js';
import { launchWithFallback, nextStep, planAttempts, type Attempt } from '../../src/cloud/capacity.js';
import { mapAwsError } from '../../src/cloud/errors.js';
import type { LaunchSpec, TaggedResource } from '../../src/cloud/port.js';
import { orphanSpotRequests } from '../../src/commands/down/spot-requests.js';
import { cancelSpotRequestOf, checkSpotOptions, MARKET_TAG, marketOptions } from '../../src/cloud/spot-market.js';
import { runInstancesInput } from '../../src/cloud/run-instances.js';
import { CapacityError, ExitCode, UsageError } from '../../src/errors.js';
import { resolveOptions, type FlagValues } from '../../src/options.js';
import { makePlan } from '../../src/session/plan.js';
import { provision, type ProvisionContext } from '../../src/session/provision.js';
import { createLogger } from '../../src/ui/logger.js';
import { FakeCloud } from '../fakes/cloud.js';

const ZONES = ['eu-central-1a', 'eu-central-1b'].map((name, i) => ({ name, subnetId: `subnet-${i}` }));
const label = (a: Attempt) => `${a.market} ${a.instanceType}@${a.zone?.name ?? '-'}`;

async function options(argv: string[], env: Record<string, string> = {}) {
  const a = await parseArgs(argv);
  return resolveOptions({ flags: a.flags, env, dotenv: {}, command: a.command });
}

function logLines() {
  const lines: string[] = [];
  const log = createLogger({ stream: { write: (s: string) => lines.push(s.trimEnd()) > 0 } as never, env: {} });
  return { log, lines };
}

describe('the spot settings', () => {
  it.each([
    [
      ['--spot', 'make', 'train'],
      ['make', 'train'],
    ],
    [
      ['--spot-fallback', 'make', 'train'],
      ['make', 'train'],
    ],
    [['--spot', 'true'], ['true']],
    [
      ['--max-price', '0.5', '--spot', 'python', 'x.py'],
      ['python', 'x.py'],
    ],
    [['--availability-zone', 'eu-central-1b', 'ls'], ['ls']],
  ])('%j runs %j remotely', async (argv, command) => {
    expect((await options(argv)).command).toEqual(command);
  });

  it('reads the flags and the environment', async () => {
    expect((await options(['--spot'])).spot).toBe(true);
    expect((await options([], { SSH_EC2_SPOT: '1' })).spot).toBe(true);
    expect((await options([], { SSH_EC2_AVAILABILITY_ZONE: 'eu-central-1c' })).availabilityZone).toBe('eu-central-1c');
    expect((await options(['--spot', '--max-price', '$0.35'])).maxPrice).toBe('0.35');
    await expect(options(['--spot', '--max-price', 'cheap'])).rejects.toThrow(UsageError);
  });

  it('refuses combinations that mean nothing (exit 2)', async () => {
    const refused = async (argv: string[]) => {
      try {
        checkSpotOptions(await options(argv));
      } catch (err) {
        return (err as UsageError).exitCode;
      }
      return undefined;
    };
    expect(await refused(['--max-price', '0.3'])).toBe(ExitCode.usage);
    expect(await refused(['--availability-zone', 'b'])).toBe(ExitCode.usage);
    expect(await refused(['--spot', '--max-price', '0.3'])).toBeUndefined();
    expect(await refused(['--spot-fallback', '--max-price', '0.3', '--availability-zone', 'eu-central-1a'])).toBe(
      undefined,
    );
  });
});

describe('the order of attempts', () => {
  it('--spot-fallback: spot in every type and zone, then on-demand in every type and zone', () => {
    expect(planAttempts(['g5.xlarge', 'g4dn.xlarge'], ZONES, ['spot', 'on-demand']).map(label)).toEqual([
      'spot g5.xlarge@eu-central-1a',
      'spot g5.xlarge@eu-central-1b',
      'spot g4dn.xlarge@eu-central-1a',
      'spot g4dn.xlarge@eu-central-1b',
      'on-demand g5.xlarge@eu-central-1a',
      'on-demand g5.xlarge@eu-central-1b',
      'on-demand g4dn.xlarge@eu-central-1a',
      'on-demand g4dn.xlarge@eu-central-1b',
    ]);
  });

  it.each([
    ['InsufficientInstanceCapacity', 'next-zone'],
    ['UnfulfillableCapacity', 'next-zone'],
    ['SpotMaxPriceTooLow', 'next-zone'],
    ['MaxSpotInstanceCountExceeded', 'next-market'],
    ['VcpuLimitExceeded', 'next-type'],
  ])('%s → %s', (code, step) => {
    expect(nextStep(code)).toBe(step);
  });

  it('the spot quota skips every spot attempt left; one line says which market it got and why', async () => {
    const tried: string[] = [];
    const { log, lines } = logLines();
    const got = await launchWithFallback(
      planAttempts(['g5.xlarge', 'g4dn.xlarge'], ZONES, ['spot', 'on-demand']),
      async (a) => {
        tried.push(label(a));
        if (a.market === 'spot')
          throw mapAwsError(
            Object.assign(new Error('q'), { name: 'MaxSpotInstanceCountExceeded' }),
            'launch the instance',
          );
        return a;
      },
      { log, region: 'eu-central-1' },
    );
    expect(tried).toEqual(['spot g5.xlarge@eu-central-1a', 'on-demand g5.xlarge@eu-central-1a']);
    expect(got.market).toBe('on-demand');
    expect(lines).toContain('ssh-ec2: the spot quota is reached: launched on-demand');
  });

  it('every attempt failing: one message naming each (market, type, zone, why)', async () => {
    const err = await launchWithFallback(
      planAttempts(['g5.xlarge'], ZONES, ['spot', 'on-demand']),
      async () => {
        throw mapAwsError(
          Object.assign(new Error('no'), { name: 'InsufficientInstanceCapacity' }),
          'launch the instance',
        );
      },
      { log: logLines().log, region: 'eu-central-1' },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CapacityError);
    expect((err as Error).message).toBe(
      'no capacity for any instance type tried: spot g5.xlarge in eu-central-1a (InsufficientInstanceCapacity), eu-central-1b (InsufficientInstanceCapacity); on-demand g5.xlarge in eu-central-1a (InsufficientInstanceCapacity), eu-central-1b (InsufficientInstanceCapacity)',
    );
  });
});

describe('the request', () => {
  it('a persistent request that stops, tagged too; no MaxPrice unless given (AWS: the on-demand price)', () => {
    const spec = {
      imageId: 'ami-1',
      instanceType: 'g5.xlarge',
      securityGroupIds: [],
      rootDevice: '/dev/xvda',
      volumeSizeGiB: 100,
      shutdownBehavior: 'stop' as const,
      tags: { 'ssh-ec2': 'x' },
      spot: { oneTime: false },
    };
    const input = runInstancesInput(spec);
    expect(input.InstanceMarketOptions).toEqual({
      MarketType: 'spot',
      SpotOptions: { SpotInstanceType: 'persistent', InstanceInterruptionBehavior: 'stop' },
    });
    expect(input.TagSpecifications!.map((t) => t.ResourceType)).toEqual([
      'instance',
      'volume',
      'spot-instances-request',
    ]);
    expect(runInstancesInput({ ...spec, spot: undefined }).InstanceMarketOptions).toBeUndefined();
    expect(marketOptions({ oneTime: true, maxPrice: '0.3' })!.SpotOptions).toEqual({
      SpotInstanceType: 'one-time',
      InstanceInterruptionBehavior: 'terminate',
      MaxPrice: '0.3',
    });
  });
});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'spot-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function run(cloud: FakeCloud, flags: FlagValues = {}) {
  const o = resolveOptions({ flags: { sshCidr: '198.51.100.7/32', ...flags }, env: {}, dotenv: {}, command: ['true'] });
  const plan = makePlan(o, { cwd: join(dir, 'project'), localUser: 'al', localHost: 'laptop' });
  const { log, lines } = logLines();
  const ctx: ProvisionContext = { options: o, plan, cloud, log, lockPath: join(dir, 'lock'), pinned: () => false };
  return { lines, go: () => provision(ctx) };
}
const spotOf = (s: LaunchSpec) => `${s.spot ? (s.spot.oneTime ? 'one-time' : 'spot') : 'on-demand'}@${s.subnetId}`;

describe('a spot launch (in-memory cloud)', () => {
  it('--spot-fallback, spot short in every zone: on-demand, said in one line', async () => {
    const cloud = new FakeCloud();
    cloud.fail('launch', {
      code: 'InsufficientInstanceCapacity',
      times: Infinity,
      when: (s) => !!(s as LaunchSpec).spot,
    });
    const { go, lines } = run(cloud, { spotFallback: true });
    const r = await go();
    expect(cloud.launches.map(spotOf)).toEqual(['spot@subnet-a', 'spot@subnet-b', 'on-demand@subnet-a']);
    expect(lines).toContain('ssh-ec2: spot capacity short in every zone: launched on-demand');
    expect(cloud.get(r.instance.id)!.tags[MARKET_TAG]).toBe('on-demand');
  });

  it('a type that cannot stop when interrupted: one-time spot, tagged so, an OS poweroff terminates it', async () => {
    const cloud = new FakeCloud();
    const message =
      "The request with type 'persistent' is not supported when instanceInterruptionBehavior is set to 'stop'.";
    cloud.fail('launch', { code: 'InvalidParameterCombination', message });
    const r = await run(cloud, { spot: true }).go();
    expect(cloud.launches.map(spotOf)).toEqual(['spot@subnet-a', 'one-time@subnet-a']);
    expect(cloud.launches[1]!.shutdownBehavior).toBe('terminate');
    expect(cloud.get(r.instance.id)!.tags[MARKET_TAG]).toBe('spot-one-time');
  });

  it('--availability-zone pins every attempt; a zone the region lacks is a usage error before any launch', async () => {
    const cloud = new FakeCloud();
    cloud.fail('launch', { code: 'InsufficientInstanceCapacity', when: (s) => !!(s as LaunchSpec).spot });
    await run(cloud, { spotFallback: true, availabilityZone: 'eu-central-1b' }).go();
    expect(cloud.launches.map(spotOf)).toEqual(['spot@subnet-b', 'on-demand@subnet-b']);
    const other = new FakeCloud();
    const err = await run(other, { spot: true, availabilityZone: 'eu-central-1z' })
      .go()
      .catch((e: unknown) => e);
    expect((err as UsageError).exitCode).toBe(ExitCode.usage);
    expect(other.launches).toEqual([]);
  });

  // The order (cancel, then terminate) is held through the finish itself: spot-finish.test.ts.
  it('the request of an instance known without its id (the warm path) is asked for; an on-demand one needs nothing', async () => {
    const cloud = new FakeCloud();
    const r = await run(cloud, { spot: true }).go();
    const known = { ...r.instance, spotRequestId: undefined };
    const id = await cancelSpotRequestOf(cloud, known);
    expect(id).toMatch(/^sir-/);
    expect(cloud.callsOf('describeInstance').length).toBeGreaterThan(0);
    expect(cloud.spotRequests.get(id!)!.state).toBe('cancelled');
    const before = cloud.calls.length;
    expect(await cancelSpotRequestOf(cloud, { ...known, tags: { [MARKET_TAG]: 'on-demand' } })).toBeUndefined();
    expect(cloud.calls.length).toBe(before);
  });
});

describe('down --orphans and spot requests', () => {
  const request = (over: Partial<TaggedResource>): TaggedResource => ({
    kind: 'spot-request',
    id: 'sir-1',
    name: 'persistent',
    state: 'open',
    tags: { 'ssh-ec2:host': 'laptop' },
    ...over,
  });
  it("this machine's open or active persistent request whose instance is gone; nothing else", () => {
    const live = [{ id: 'i-live', state: 'stopped', type: 't', tags: {} }];
    const found = orphanSpotRequests(
      [
        request({ id: 'sir-gone' }),
        request({ id: 'sir-gone-active', state: 'active', attachedTo: 'i-terminated' }),
        request({ id: 'sir-live', state: 'disabled', attachedTo: 'i-live' }),
        request({ id: 'sir-active-live', state: 'active', attachedTo: 'i-live' }),
        request({ id: 'sir-one-time', name: 'one-time' }),
        request({ id: 'sir-cancelled', state: 'cancelled' }),
        request({ id: 'sir-theirs', tags: { 'ssh-ec2:host': 'other' } }),
      ],
      live,
      'laptop',
    );
    expect(found.map((x) => x.id)).toEqual(['sir-gone', 'sir-gone-active']);
  });
});
