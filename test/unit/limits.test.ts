import { describe, expect, it } from 'vitest';
import type { InstanceInfo } from '../../src/cloud/ec2.js';
import { agentConf, parseJobStatus } from '../../src/remote/on-instance.js';
import { localEnd } from '../../src/session/job.js';
import {
  agentSettings,
  changedTags,
  DEFAULT_IDLE_TIMEOUT_MS,
  formatDuration,
  leftRunningNote,
  limitTags,
  resolveLimits,
} from '../../src/session/limits.js';

const instance = (tags: Record<string, string> = {}, launchTime?: Date): InstanceInfo => ({
  id: 'i-1',
  state: 'running',
  type: 't3.micro',
  tags,
  launchTime,
});
const none = { idleTimeout: undefined, maxTime: undefined, jobGrace: undefined };

describe('agent limits', () => {
  it('flag > the instance tag > default', () => {
    expect(resolveLimits(none, instance(), false).idleTimeoutMs).toBe(DEFAULT_IDLE_TIMEOUT_MS);
    expect(resolveLimits(none, instance({ 'ssh-ec2:idle-timeout': '15m' }), false).idleTimeoutMs).toBe(15 * 60_000);
    expect(
      resolveLimits({ ...none, idleTimeout: 0 }, instance({ 'ssh-ec2:idle-timeout': '15m' }), false).idleTimeoutMs,
    ).toBe(0);
    expect(resolveLimits(none, instance({ 'ssh-ec2:idle-timeout': 'off' }), false).idleTimeoutMs).toBe(0);
  });

  it('max-time counts from now on a fresh instance, else from its launch time', () => {
    const now = new Date('2026-01-01T10:00:00Z');
    const launched = new Date('2026-01-01T09:00:00Z');
    expect(
      resolveLimits({ ...none, maxTime: 7_200_000 }, instance({}, launched), true, now).deadline?.toISOString(),
    ).toBe('2026-01-01T12:00:00.000Z');
    expect(
      resolveLimits({ ...none, maxTime: 7_200_000 }, instance({}, launched), false, now).deadline?.toISOString(),
    ).toBe('2026-01-01T11:00:00.000Z');
    expect(resolveLimits(none, instance({}, launched), false, now).deadline).toBeUndefined();
  });

  it('writes tags only when they change, and settings the agent reads in seconds', () => {
    const l = resolveLimits({ idleTimeout: 90_000, maxTime: 0, jobGrace: 600_000 }, instance(), false);
    expect(limitTags(l)).toEqual({
      'ssh-ec2:idle-timeout': '1m30s',
      'ssh-ec2:max-time': 'off',
      'ssh-ec2:job-grace': '10m',
      'ssh-ec2:deadline': 'none',
    });
    expect(changedTags(instance(limitTags(l)), limitTags(l))).toEqual({});
    expect(agentSettings({ imdsUrl: 'http://x', poweroffCommand: "echo 'off'" }, 'i-1', l)).toEqual({
      instanceId: 'i-1',
      imdsUrl: 'http://x',
      poweroffCommand: "echo 'off'",
      idleTimeout: 90,
      deadline: 0,
      jobGrace: 600,
      maxTime: 0,
    });
    expect(formatDuration(90_061_000)).toBe('1d1h1m1s');
  });

  it('quotes every agent setting for sh', () => {
    expect(
      agentConf({
        instanceId: 'i-1',
        imdsUrl: 'http://x',
        poweroffCommand: "echo 'a b'",
        idleTimeout: 5,
        deadline: 0,
        jobGrace: 1,
        maxTime: 0,
      }),
    ).toContain(`POWEROFF='echo '\\''a b'\\'''\n`);
  });

  it('names the max-time deadline by its clock time today, with the day when it falls on another', () => {
    const limits = { idleTimeoutMs: 0, maxTimeMs: 2 * 3_600_000, jobGraceMs: 300_000 };
    const now = new Date(2026, 10, 30, 22, 39);
    const today = leftRunningNote(
      'eu-central-1',
      'g4dn.xlarge',
      { ...limits, deadline: new Date(2026, 10, 30, 23, 50) },
      'job',
      now,
    );
    expect(today).toContain(
      'It stops itself 5m after the job ends with nobody attached, or at 23:50 whatever runs (--max-time).',
    );
    const tomorrow = leftRunningNote(
      'eu-central-1',
      'g4dn.xlarge',
      { ...limits, deadline: new Date(2026, 11, 1, 0, 39) },
      'job',
      now,
    );
    expect(tomorrow).toContain('or at Dec 1 00:39 whatever runs (--max-time).');
  });
});

describe('job status and forwards', () => {
  it.each([
    ['running 42 1700000000\n', { state: 'running', pid: 42, started: 1700000000 }],
    ['finished 3 1700000001\n', { state: 'finished', status: 3, ended: 1700000001 }],
    ['killed\n', { state: 'killed' }],
    ['none\n', { state: 'none' }],
  ])('parses %j', (out, state) => {
    expect(parseJobStatus(out)).toEqual(state);
  });

  it.each([
    ['8888:localhost:8888', { host: '127.0.0.1', port: 8888 }],
    ['0.0.0.0:6006:localhost:6006', { host: '0.0.0.0', port: 6006 }],
    ['1080', { host: '127.0.0.1', port: 1080 }],
    ['localhost:1080', { host: '127.0.0.1', port: 1080 }],
    ['[::1]:8888:localhost:8888', { host: '::1', port: 8888 }],
    ['/tmp/sock:/remote/sock', undefined],
  ])('the local end of %s', (spec, end) => {
    expect(localEnd(spec)).toEqual(end);
  });
});
