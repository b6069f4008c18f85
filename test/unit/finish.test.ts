// The finish as it is carried out (session/finish.ts, reached through story.ts's runStory), against
// the in-memory cloud: what EC2 is asked (terminate, stop, nothing), what the user reads, and the
// exit status — the rows of README's "At the end", "Safety" and "Faults tested" that need no ssh
// connection. Each test names the README line it holds. The decision itself, row by row, is
// decide-finish.test.ts's; a finish that uses the connection (sync back, who else is there,
// reconnecting) is the end-to-end tier's.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InstanceInfo } from '../../src/cloud/port.js';
import { ExitCode, UserError } from '../../src/errors.js';
import { resolveOptions, type FlagValues } from '../../src/options.js';
import { localContext, type RunFacts } from '../../src/session/context.js';
import { launchTags } from '../../src/session/owner.js';
import { Interrupted, runStory } from '../../src/session/story.js';
import { baseFile } from '../../src/sync/base.js';
import { createLogger } from '../../src/ui/logger.js';
import { FakeCloud } from '../fakes/cloud.js';
import { cli, machine, type Machine } from '../fakes/cli.js';

const OWNER = 'alice'; // FakeCloud's default identity
const CIDR = ['--ssh-cidr', '198.51.100.7/32']; // no address looked up over the network

let m: Machine;
beforeEach(() => {
  m = machine();
});
afterEach(() => m.cleanup());

/** A session (`ssh-ec2 ...argv true`) whose `signal` arrives while RunInstances is in flight. */
async function interruptedLaunch(cloud: FakeCloud, argv: string[] = [], signal: NodeJS.Signals = 'SIGINT') {
  cloud.bootDescribes = Infinity; // it never runs: only the signal ends the wait
  cloud.onCall = (op) => {
    if (op === 'launch') process.emit(signal, signal);
  };
  const r = await cli(m, cloud, [...CIDR, ...argv, 'true']);
  const [instance] = cloud.instances.values();
  return { ...r, instance: instance! };
}

/** An instance of this directory and owner, as an earlier run here left it. */
const mine = (cloud: FakeCloud, state: string): InstanceInfo => cloud.add({ state, tags: launchTags(m.plan(), OWNER) });

const actions = (cloud: FakeCloud) => cloud.calls.filter((c) => ['terminate', 'stop', 'start'].includes(c.op));

describe('a session that never reached its instance', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)(
    'Faults: %s while launching (RunInstances in flight): exit 128+n; nothing runs and the new instance is terminated',
    async (signal, status) => {
      const cloud = new FakeCloud();
      const r = await interruptedLaunch(cloud, [], signal);
      expect(r.status).toBe(status);
      expect(cloud.get(r.instance.id)!.state).toBe('terminated');
      expect(actions(cloud)).toEqual([{ op: 'terminate', args: [r.instance.id] }]);
      expect(r.lines).toContain(
        `ssh-ec2: warning: ${signal} received: stopping, then finishing (sync back and final state)`,
      );
      expect(r.lines).toContain(`ssh-ec2: terminated ${r.instance.id}`);
      expect(m.sshStarts()).toEqual([]);
    },
  );

  it('At the end: `-l`, `--leave` | left running; ssh-ec2 prints its hourly price and how to come back', async () => {
    const cloud = new FakeCloud();
    const r = await interruptedLaunch(cloud, ['--leave']);
    expect(r.status).toBe(130);
    expect(actions(cloud)).toEqual([]);
    expect(cloud.get(r.instance.id)!.state).not.toBe('terminated');
    // One "what next" line, naming ssh-ec2 down as the way to end it (issue #10).
    expect(r.lines).toContain(`ssh-ec2: left ${r.instance.id} (g4dn.xlarge, about $0.66/hour on demand) running.`);
    expect(r.lines).toContain(`  Next: ssh-ec2 in ${m.project} reuses it; ssh-ec2 down there ends it.`);
  });

  it('At the end: `-s`, `--stop` | stopped: its disk is kept (storage is billed); the next ssh-ec2 here restarts it', async () => {
    const cloud = new FakeCloud();
    const r = await interruptedLaunch(cloud, ['--stop']);
    expect(actions(cloud)).toEqual([{ op: 'stop', args: [r.instance.id] }]);
    expect(cloud.get(r.instance.id)!.state).toBe('stopped');
    // What a plain next run does with it, since the final state is each run's own (issue #10).
    expect(r.lines).toContain(`ssh-ec2: stopped ${r.instance.id}: its disk is kept (storage is billed).`);
    expect(r.lines).toContain(
      `  Next: ssh-ec2 in ${m.project} restarts it, then terminates it at its end unless given --stop or --leave again; ssh-ec2 down ends it now.`,
    );
  });

  it('Faults: a launch EC2 ends while pending: exit 4 with its StateReason; nothing running', async () => {
    const cloud = new FakeCloud();
    cloud.endWhilePending = 'Client.InternalError: Client error on launch';
    const r = await cli(m, cloud, [...CIDR, 'true']);
    expect(r.status).toBe(ExitCode.cloud);
    expect(r.lines.some((l) => l.endsWith('while starting: Client.InternalError: Client error on launch'))).toBe(true);
    expect([...cloud.instances.values()].map((i) => i.state)).toEqual(['terminated']);
  });

  it("Faults: a stopped instance's StartInstances started by EC2 but answered 500: said; the finish stops it; exit 4", async () => {
    const cloud = new FakeCloud();
    const i = mine(cloud, 'stopped');
    cloud.fail('start', { code: 'InternalError', status: 500, tookEffect: true });
    const r = await cli(m, cloud, [...CIDR, 'true']);
    expect(r.status).toBe(ExitCode.cloud);
    expect(actions(cloud)).toEqual([
      { op: 'start', args: [i.id] },
      { op: 'stop', args: [i.id] },
    ]);
    expect(cloud.get(i.id)!.state).toBe('stopped');
    expect(cloud.launches).toEqual([]);
    expect(r.lines.some((l) => l.includes(`EC2 did not answer the start of ${i.id}`))).toBe(true);
    expect(r.lines).toContain(
      `ssh-ec2: warning: the results could not be brought back, so ${i.id} was stopped, not terminated: nothing is lost.`,
    );
    expect(m.sshStarts()).toEqual([]);
  });
});

describe('the final state cannot be applied', () => {
  it('Faults: credentials expiring after the launch (EC2: ExpiredToken): exit 3; the instance named, left as it is, with how to end it (before the agent: nothing on it stops it)', async () => {
    const cloud = new FakeCloud();
    cloud.fail('terminate', 'ExpiredToken');
    const r = await interruptedLaunch(cloud);
    expect(r.status).toBe(ExitCode.config);
    expect(cloud.get(r.instance.id)!.state).not.toBe('terminated');
    const id = r.instance.id;
    expect(r.lines).toContain(`ssh-ec2: error: could not terminate ${id}: your AWS credentials have expired`);
    expect(r.lines).toContain(
      `ssh-ec2: ${id} is left as it was (if running, it costs money; nothing on it stops it). ` +
        `Renew your credentials, then run \`ssh-ec2 down\` in ${m.project}: it brings the results back and terminates it.`,
    );
  });

  it('the same under --stop: the way to end it is `ssh-ec2 --stop true`', async () => {
    const cloud = new FakeCloud();
    cloud.fail('stop', 'RequestExpired');
    const r = await interruptedLaunch(cloud, ['--stop']);
    expect(r.status).toBe(ExitCode.config);
    expect(
      r.lines.some((l) =>
        l.includes(`run \`ssh-ec2 --stop true\` in ${m.project}: it brings the results back and stops it.`),
      ),
    ).toBe(true);
  });

  it('Safety: No surprise bill: a terminate refused says it may still be running and how to look; exit 4', async () => {
    const cloud = new FakeCloud();
    cloud.fail('terminate', 'UnauthorizedOperation');
    const r = await interruptedLaunch(cloud);
    const id = r.instance.id;
    expect(r.status).toBe(ExitCode.cloud);
    expect(r.lines.some((l) => l.startsWith(`ssh-ec2: error: could not terminate ${id}: `))).toBe(true);
    expect(r.lines).toContain(
      `ssh-ec2: It may still be running and costing money: check with the AWS console or \`aws ec2 describe-instances --instance-ids ${id}\`.`,
    );
  });

  it('a terminate EC2 carried out whose answer was lost (500): said all the same, never taken for done; exit 4', async () => {
    const cloud = new FakeCloud();
    cloud.fail('terminate', { code: 'InternalError', status: 500, tookEffect: true });
    const r = await interruptedLaunch(cloud);
    expect(r.status).toBe(ExitCode.cloud);
    expect(cloud.get(r.instance.id)!.state).toBe('terminated');
    expect(r.lines).not.toContain(`ssh-ec2: terminated ${r.instance.id}`);
    expect(r.lines.some((l) => l.includes('It may still be running and costing money'))).toBe(true);
  });
});

/**
 * The finish of a run whose work left these facts (as connect.ts leaves them when the host key is
 * not trusted), run through runStory; what it said and returned.
 */
async function storyWith(cloud: FakeCloud, facts: Partial<RunFacts>, flags: FlagValues = {}) {
  const options = resolveOptions({ flags, env: {}, dotenv: {}, command: ['true'] });
  const lines: string[] = [];
  const log = createLogger({ stream: { write: (s: string) => lines.push(s.trimEnd()) > 0 } as never, env: {} });
  const local = localContext({ options, env: m.env, log }, m.project);
  const status = await runStory(
    { options, log },
    local,
    async (run) => {
      Object.assign(run.facts, facts);
      throw new UserError('the host key matches none of the console', ExitCode.connectionLost);
    },
    { cloud },
  ).catch((err: unknown) => (err as UserError).exitCode);
  return { status, lines };
}

describe('a host key not trusted: nothing over ssh', () => {
  it("Faults: a host key that matches none of the console's fingerprints: the instance it launched terminated, exit 255", async () => {
    const cloud = new FakeCloud();
    const i = cloud.add({ tags: launchTags(m.plan(), OWNER) });
    const r = await storyWith(cloud, { instance: i, origin: 'launched', hostKeyUntrusted: true });
    expect(r.status).toBe(ExitCode.connectionLost);
    expect(actions(cloud)).toEqual([{ op: 'terminate', args: [i.id] }]);
    expect(m.sshStarts()).toEqual([]);
  });

  it('Faults: SIGINT while the host key waits: one it found stopped and started: stopped again, not terminated', async () => {
    const cloud = new FakeCloud();
    const i = mine(cloud, 'running');
    const r = await storyWith(cloud, { instance: i, origin: 'started', hostKeyUntrusted: true });
    expect(actions(cloud)).toEqual([{ op: 'stop', args: [i.id] }]);
    expect(cloud.get(i.id)!.state).toBe('stopped');
    expect(r.lines).toContain(`ssh-ec2: stopped ${i.id} again, as it was found`);
    expect(m.sshStarts()).toEqual([]);
  });

  it('Faults: (same row) one it found running left running as it was: no final state at all', async () => {
    const cloud = new FakeCloud();
    const i = mine(cloud, 'running');
    await storyWith(cloud, { instance: i, origin: 'found', hostKeyUntrusted: true });
    expect(actions(cloud)).toEqual([]);
    expect(cloud.get(i.id)!.state).toBe('running');
  });

  it('a terminated instance forgets its pinned host key and its sync base; a stopped one keeps them', async () => {
    const cloud = new FakeCloud();
    const gone = mine(cloud, 'running');
    const kept = mine(cloud, 'running');
    for (const i of [gone, kept]) {
      m.pin(i.id);
      mkdirSync(dirname(baseFile(m.project, i.id)), { recursive: true });
      writeFileSync(baseFile(m.project, i.id), '{}');
    }
    await storyWith(cloud, { instance: gone, origin: 'launched', hostKeyUntrusted: true });
    await storyWith(cloud, { instance: kept, origin: 'started', hostKeyUntrusted: true });
    expect(existsSync(join(m.state, 'known_hosts', gone.id))).toBe(false);
    expect(existsSync(join(m.state, 'known_hosts', kept.id))).toBe(true);
    expect(existsSync(baseFile(m.project, gone.id))).toBe(false);
    expect(existsSync(baseFile(m.project, kept.id))).toBe(true);
  });
});

describe('the frame (story.ts): the finish is reached however the work ends', () => {
  it('an interrupt (Interrupted) is no error: the exit status is the run’s, the finish done', async () => {
    const cloud = new FakeCloud();
    const i = cloud.add({ tags: launchTags(m.plan(), OWNER) });
    const options = resolveOptions({ flags: {}, env: {}, dotenv: {}, command: ['true'] });
    const log = createLogger({ stream: { write: () => true } as never, env: {} });
    const status = await runStory(
      { options, log },
      localContext({ options, env: m.env, log }, m.project),
      async (run) => {
        Object.assign(run.facts, { instance: i, origin: 'launched', exitStatus: 3 });
        throw new Interrupted('SIGINT');
      },
      { cloud },
    );
    expect(status).toBe(3);
    expect(cloud.get(i.id)!.state).toBe('terminated');
  });

  it("Faults: SIGKILL …: the run's journal is written before the launch, and gone once the finish is done", async () => {
    const cloud = new FakeCloud();
    const journals = join(m.state, 'journals');
    let during: string[] = [];
    cloud.bootDescribes = Infinity;
    cloud.onCall = (op) => {
      if (op !== 'launch') return;
      during = readdirSync(journals);
      process.emit('SIGINT', 'SIGINT');
    };
    const r = await cli(m, cloud, [...CIDR, 'true']);
    expect(r.status).toBe(130);
    expect(during).toHaveLength(1);
    expect(readdirSync(journals)).toEqual([]);
  });
});
