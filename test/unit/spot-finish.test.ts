// A spot instance's end, as the finish carries it out (session/finish.ts through main()), against the
// in-memory cloud: its persistent request is cancelled BEFORE the terminate (terminated first, EC2
// would launch it again); a request EC2 no longer knows is done; a cancel refused holds the
// terminate back and the instance is stopped instead, said with the permission missing.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { FakeCloud } from '../fakes/cloud.js';
import { cli, machine, type Machine } from '../fakes/cli.js';

const CIDR = ['--ssh-cidr', '198.51.100.7/32']; // no address looked up over the network

let m: Machine;
beforeEach(() => {
  m = machine();
});
afterEach(() => m.cleanup());

/**
 * `ssh-ec2 --spot true` interrupted while RunInstances is in flight: the finish terminates what it
 * launched. `cancel`: the AWS code its CancelSpotInstanceRequests fails with. Returns what was asked
 * to end it, in order, and the state it was left in.
 */
async function spotSession(cancel?: string) {
  const cloud = new FakeCloud();
  if (cancel) cloud.fail('cancelSpotRequests', cancel);
  cloud.bootDescribes = Infinity;
  cloud.onCall = (op) => {
    if (op === 'launch') process.emit('SIGINT', 'SIGINT');
  };
  const r = await cli(m, cloud, [...CIDR, '--spot', 'true']);
  const [instance] = cloud.instances.values();
  const ends = cloud.calls.filter((c) => ['cancelSpotRequests', 'terminate', 'stop'].includes(c.op)).map((c) => c.op);
  return { ...r, cloud, instance: instance!, ends, state: cloud.get(instance!.id)!.state };
}

describe('the end of a spot instance', () => {
  it('its persistent request is cancelled, then it is terminated: nothing relaunched', async () => {
    const r = await spotSession();
    expect(r.ends).toEqual(['cancelSpotRequests', 'terminate']);
    expect(r.cloud.spotRequests.get(r.instance.spotRequestId!)!.state).toBe('cancelled');
    expect(r.cloud.relaunchedFor).toEqual([]);
    expect(r.lines).toContain(`ssh-ec2: terminated ${r.instance.id}`);
  });

  it('a request EC2 no longer knows (InvalidSpotInstanceRequestID.NotFound) counts as cancelled: terminated', async () => {
    const r = await spotSession('InvalidSpotInstanceRequestID.NotFound');
    expect([r.ends, r.state, r.status]).toEqual([['cancelSpotRequests', 'terminate'], 'terminated', 130]);
  });

  it('a cancel refused (UnauthorizedOperation): stopped, not terminated, with the permission missing; exit 4', async () => {
    const r = await spotSession('UnauthorizedOperation');
    expect([r.ends, r.state, r.status]).toEqual([['cancelSpotRequests', 'stop'], 'stopped', ExitCode.cloud]);
    expect(r.cloud.relaunchedFor).toEqual([]);
    const said = r.lines.join('\n');
    expect(said).toContain(
      `could not cancel the spot request of ${r.instance.id} (not allowed: ec2:CancelSpotInstanceRequests), so ${r.instance.id} was stopped, not terminated`,
    );
    expect(said).not.toContain(`terminated ${r.instance.id}`);
  });
});
