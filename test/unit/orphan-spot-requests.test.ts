// down --orphans and spot requests (review of #13): a request's instance is asked of EC2 before
// the request is called an orphan — "its instance is gone" only when EC2 says so; one still running
// for it is terminated with it (or, carrying another's tags, named with how to end both); a cancel
// that fails is said and the orphan instances are ended all the same. Through main() against the
// in-memory cloud.
import { join } from 'node:path';
import { hostname } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaggedResource } from '../../src/cloud/port.js';
import { ExitCode } from '../../src/errors.js';
import { launchTags } from '../../src/session/owner.js';
import { TAG } from '../../src/session/plan.js';
import { FakeCloud } from '../fakes/cloud.js';
import { cli, machine, type Machine } from '../fakes/cli.js';

let m: Machine;
beforeEach(() => {
  m = machine();
});
afterEach(() => m.cleanup());

const GONE_DIR = () => join(m.project, 'deleted');
const request = (id: string, attachedTo?: string): TaggedResource => ({
  kind: 'spot-request',
  id,
  name: 'persistent',
  state: 'active',
  attachedTo,
  tags: { [TAG.host]: hostname(), [TAG.dir]: GONE_DIR() },
});
const ops = (cloud: FakeCloud) =>
  cloud.calls.filter((c) => ['cancelSpotRequests', 'terminate'].includes(c.op)).map((c) => [c.op, ...c.args]);

describe('down --orphans: a spot request whose instance is not listed as ours', () => {
  it('its instance still runs without our tags (EC2 relaunched it): cancelled, then that instance terminated', async () => {
    const cloud = new FakeCloud();
    const relaunched = cloud.add({ state: 'running', tags: {} });
    cloud.resources = [request('sir-1', relaunched.id)];
    const r = await cli(m, cloud, ['down', '--orphans', '--yes']);
    expect(r.status, r.lines.join('\n')).toBe(ExitCode.ok);
    expect(ops(cloud)).toEqual([
      ['cancelSpotRequests', ['sir-1']],
      ['terminate', relaunched.id],
    ]);
    expect(cloud.get(relaunched.id)!.state).toBe('terminated');
    const said = r.lines.join('\n');
    expect(said).not.toMatch(/gone/);
    expect(said).toContain(`its instance ${relaunched.id} (running, without our tags) still runs`);
  });

  it('EC2 says its instance is terminated, or knows it not: cancelled, said so', async () => {
    const cloud = new FakeCloud();
    const ended = cloud.add({ state: 'terminated', tags: {} });
    cloud.resources = [request('sir-1', ended.id), request('sir-2', 'i-0unknown')];
    const r = await cli(m, cloud, ['down', '--orphans', '--yes']);
    expect(ops(cloud)).toEqual([
      ['cancelSpotRequests', ['sir-1']],
      ['cancelSpotRequests', ['sir-2']],
    ]);
    expect(r.lines.join('\n')).toContain(`its instance ${ended.id} is terminated; cancelled`);
    expect(r.lines.join('\n')).toContain('EC2 no longer knows its instance i-0unknown; cancelled');
  });

  it("its instance runs with another's tags: neither cancelled nor terminated, named with how to end both", async () => {
    const cloud = new FakeCloud();
    const theirs = cloud.add({ state: 'running', tags: { [TAG.host]: 'other-laptop', [TAG.dir]: '/w' } });
    cloud.resources = [request('sir-1', theirs.id)];
    const r = await cli(m, cloud, ['down', '--orphans', '--yes']);
    expect(ops(cloud)).toEqual([]);
    expect(r.lines.join('\n')).toContain(
      `aws ec2 cancel-spot-instance-requests --region eu-central-1 --spot-instance-request-ids sir-1 && aws ec2 terminate-instances --region eu-central-1 --instance-ids ${theirs.id}`,
    );
  });

  it('a cancel refused is said, and the orphan instance is terminated all the same; exit 4', async () => {
    const cloud = new FakeCloud();
    const orphan = cloud.add({ tags: { ...launchTags(m.plan(GONE_DIR()), 'alice'), Name: 'x' } });
    m.pin(orphan.id);
    cloud.resources = [request('sir-1')];
    cloud.fail('cancelSpotRequests', 'UnauthorizedOperation');
    const r = await cli(m, cloud, ['down', '--orphans', '--yes']);
    expect(cloud.get(orphan.id)!.state).toBe('terminated');
    expect(r.lines.join('\n')).toContain('could not cancel spot request sir-1: not allowed to cancel the spot request');
    expect(r.status).toBe(ExitCode.cloud);
  });
});
