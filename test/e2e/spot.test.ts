/**
 * Spot (issue #13) against the sandbox, whose proxy keeps spot requests as EC2 does (sandbox/spot.ts):
 * a spot launch (persistent, stops when interrupted; --stop keeps it with its request), spot →
 * on-demand fallback, the (market, type, zone) order, a persistent request cancelled before its
 * instance is terminated (else EC2 launches it again), a one-time instance whose results cannot
 * come back left running, and spot requests in `ls --all-regions` and `down --orphans`.
 */
import {
  CancelSpotInstanceRequestsCommand,
  DescribeInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchAttempt, spotLaunch } from '../sandbox/spot.js';
import { cli, defaultSubnets, ec2Client, instanceState, makeProject, reportedInstance, useSandbox } from './helpers.js';

const sb = useSandbox();
let subnets: { zone: string; id: string }[];
beforeAll(async () => {
  subnets = await defaultSubnets(sb);
});

// Every test ends what it launched, and no request is left for the proxy to fulfil again.
afterEach(async () => {
  sb.clearFaults();
  const ec2 = ec2Client(sb);
  const open = sb.spot.requests().filter((r) => r.state !== 'cancelled' && r.state !== 'closed');
  if (open.length > 0)
    await ec2.send(new CancelSpotInstanceRequestsCommand({ SpotInstanceRequestIds: open.map((r) => r.id) }));
  const ids = sb.spot
    .requests()
    .flatMap((r) => (r.instanceId ? [r.instanceId] : []))
    .concat(sb.spot.relaunches().map((r) => r.launched));
  for (const id of ids)
    if ((await instanceState(sb, id)) !== 'terminated')
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
});

const NO_PROFILE = ['--iam-profile', ''];
const ICE = {
  status: 500,
  code: 'InsufficientInstanceCapacity',
  message: 'There is no Spot capacity available that matches your request.',
};

/** Each RunInstances of the recording as "market type@zone". */
function attempts(): string[] {
  return sb.calls('RunInstances').map((c) => {
    const zone = subnets.find((s) => s.id === c.params.SubnetId)?.zone ?? '-';
    return `${spotLaunch(c.params) ? 'spot' : 'on-demand'} ${c.params.InstanceType}@${zone}`;
  });
}

async function described(id: string) {
  const r = await ec2Client(sb).send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  return r.Reservations![0]!.Instances![0]!;
}

describe('spot', () => {
  it('a spot launch: a persistent request that stops; --stop keeps the instance stopped with its request; down cancels the request before the terminate, and nothing is launched again', async () => {
    const dir = makeProject(sb, 'spot-stop');
    sb.clearCalls();
    const r = await cli(sb, [...NO_PROFILE, '--spot', '--stop', 'echo ran'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran\n');
    const id = reportedInstance(r.stderr);
    expect(r.stderr).toMatch(/launching \S+ \(spot\) from /);
    const [launch] = sb.calls('RunInstances');
    expect(launch!.params).toMatchObject({
      'InstanceMarketOptions.MarketType': 'spot',
      'InstanceMarketOptions.SpotOptions.SpotInstanceType': 'persistent',
      'InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior': 'stop',
    });
    // No --max-price: none sent, and AWS caps the price at on-demand's.
    expect(launch!.params['InstanceMarketOptions.SpotOptions.MaxPrice']).toBeUndefined();
    const i = await described(id);
    expect(i.InstanceLifecycle).toBe('spot');
    expect(i.SpotInstanceRequestId).toMatch(/^sir-/);
    expect(i.Tags).toContainEqual({ Key: 'ssh-ec2:market', Value: 'spot' });
    expect(i.State!.Name).toBe('stopped');
    const [request] = sb.spot.requests();
    expect(request).toMatchObject({
      id: i.SpotInstanceRequestId,
      type: 'persistent',
      state: 'disabled',
      instanceId: id,
    });
    expect(request!.tags['ssh-ec2:market']).toBe('spot');

    sb.clearCalls();
    const down = await cli(sb, ['down', '--yes'], { cwd: dir });
    expect(down.exitCode, down.stderr).toBe(0);
    const order = sb
      .calls()
      .filter((c) => ['CancelSpotInstanceRequests', 'TerminateInstances'].includes(c.action))
      .map((c) => `${c.action} ${c.params['SpotInstanceRequestId.1'] ?? c.params['InstanceId.1']}`);
    expect(order).toEqual([`CancelSpotInstanceRequests ${request!.id}`, `TerminateInstances ${id}`]);
    expect(sb.spot.relaunches()).toEqual([]);
    expect(sb.spot.requests().find((x) => x.id === request!.id)!.state).toBe('cancelled');
    expect(await instanceState(sb, id)).toBe('terminated');
  });

  it('a session that terminates its spot instance cancels the request first: nothing launched again', async () => {
    const dir = makeProject(sb, 'spot-terminate');
    sb.clearCalls();
    const r = await cli(sb, [...NO_PROFILE, '--spot', 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    // Without the cancel, the sandbox (as EC2) launches a new instance for the request.
    expect(sb.spot.relaunches()).toEqual([]);
    const actions = sb.calls().map((c) => c.action);
    expect(actions.indexOf('CancelSpotInstanceRequests')).toBeGreaterThan(-1);
    expect(actions.indexOf('CancelSpotInstanceRequests')).toBeLessThan(actions.indexOf('TerminateInstances'));
  });

  it('spot → on-demand: spot capacity short in the pinned zone, the launch goes on-demand there, and says so', async () => {
    const dir = makeProject(sb, 'spot-fallback');
    const zone = subnets[1]!;
    sb.clearCalls();
    sb.inject({ action: 'RunInstances', ...ICE, times: Infinity, when: spotLaunch });
    const r = await cli(sb, [...NO_PROFILE, '--spot-fallback', '--availability-zone', zone.zone, 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(attempts().map((a) => a.replace(/ \S+@/, ' @'))).toEqual([`spot @${zone.zone}`, `on-demand @${zone.zone}`]);
    expect(r.stderr).toContain('spot capacity short in every zone: launched on-demand');
    const i = await described(reportedInstance(r.stderr));
    expect(i.InstanceLifecycle).toBeUndefined();
    expect(i.Tags).toContainEqual({ Key: 'ssh-ec2:market', Value: 'on-demand' });
  });

  it('the order: spot in every type and zone, then on-demand; one message names every attempt when all fail', async () => {
    const dir = makeProject(sb, 'spot-order');
    const [a, b] = ['g4dn.xlarge', 'g5.xlarge'];
    sb.clearCalls();
    sb.inject({ action: 'RunInstances', ...ICE, times: Infinity, when: spotLaunch });
    sb.inject({
      action: 'RunInstances',
      ...ICE,
      times: Infinity,
      when: launchAttempt({ type: a, market: 'on-demand' }),
    });
    const r = await cli(sb, [...NO_PROFILE, '--spot-fallback', '--instance-type', `${a},${b}`, 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    const zones = subnets.map((s) => s.zone);
    expect(attempts()).toEqual([
      ...zones.map((z) => `spot ${a}@${z}`),
      ...zones.map((z) => `spot ${b}@${z}`),
      ...zones.map((z) => `on-demand ${a}@${z}`),
      `on-demand ${b}@${zones[0]}`,
    ]);
    sb.clearCalls();
    sb.inject({ action: 'RunInstances', ...ICE, times: Infinity });
    const none = await cli(
      sb,
      [...NO_PROFILE, '--spot-fallback', '--instance-type', a, '--availability-zone', zones[0]!, 'true'],
      {
        cwd: dir,
      },
    );
    expect(none.exitCode).toBe(5);
    expect(none.stderr).toContain(
      `no capacity for any instance type tried: spot ${a} in ${zones[0]} (InsufficientInstanceCapacity); on-demand ${a} in ${zones[0]} (InsufficientInstanceCapacity)`,
    );
  });

  it('a one-time spot instance (persistent refused for it) whose results cannot come back is left running, never stopped nor terminated', async () => {
    const dir = makeProject(sb, 'spot-one-time');
    sb.clearCalls();
    sb.inject({
      action: 'RunInstances',
      status: 400,
      code: 'InvalidParameterCombination',
      message:
        "The request with type 'persistent' is not supported when instanceInterruptionBehavior is set to 'stop'.",
      when: (p) => p['InstanceMarketOptions.SpotOptions.SpotInstanceType'] === 'persistent',
    });
    const r = await cli(sb, [...NO_PROFILE, '--spot', 'mkdir out; echo precious > out/result.txt; chmod 000 out'], {
      cwd: dir,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const id = reportedInstance(r.stderr);
    expect(r.stderr).toMatch(/launching it as one-time spot/);
    expect(r.stderr).toMatch(/sync back failed/);
    expect(r.stderr).toMatch(
      new RegExp(`${id} cannot be stopped \\(one-time spot\\): it was left running, not terminated`),
    );
    expect(sb.calls('StopInstances')).toEqual([]);
    expect(sb.calls('TerminateInstances')).toEqual([]);
    expect(await instanceState(sb, id)).toBe('running');
    const i = await described(id);
    expect(i.Tags).toContainEqual({ Key: 'ssh-ec2:market', Value: 'spot-one-time' });
    expect(sb.spot.requests().find((x) => x.instanceId === id)).toMatchObject({ type: 'one-time', state: 'active' });
    // EC2 refuses to stop it, and so does the sandbox: what the finish must never rely on.
    const refused = await ec2Client(sb)
      .send(new StopInstancesCommand({ InstanceIds: [id] }))
      .catch((e: unknown) => e);
    expect((refused as Error).name).toBe('UnsupportedOperation');
    expect((refused as Error).message).toContain('associated with a one-time Spot Instance request');
  });

  it('a persistent request whose instance is gone: listed by ls --all-regions, cancelled by down --orphans', async () => {
    const dir = makeProject(sb, 'spot-orphan');
    const r = await cli(sb, [...NO_PROFILE, '--spot', '--leave', 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    const id = reportedInstance(r.stderr);
    const [request] = sb.spot.requests().filter((x) => x.instanceId === id);
    // Terminated by hand, without its request cancelled, where EC2 has no spot capacity to fulfil
    // it again: the request stays open, with no instance — a launch waiting to happen.
    sb.spot.noCapacity(true);
    try {
      await ec2Client(sb).send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    } finally {
      sb.spot.noCapacity(false);
    }
    expect(sb.spot.requests().find((x) => x.id === request!.id)).toMatchObject({ state: 'open' });
    const ls = await cli(sb, ['ls', '--all-regions'], { cwd: dir });
    expect(ls.exitCode, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(new RegExp(`spot-request\\s+${request!.id}`));
    sb.clearCalls();
    const down = await cli(sb, ['down', '--orphans', '--yes'], { cwd: dir });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(down.stderr).toContain(`spot request ${request!.id}`);
    expect(sb.calls('CancelSpotInstanceRequests').map((c) => c.params['SpotInstanceRequestId.1'])).toEqual([
      request!.id,
    ]);
    expect(sb.spot.requests().find((x) => x.id === request!.id)!.state).toBe('cancelled');
  });
});
