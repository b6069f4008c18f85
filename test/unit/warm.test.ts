/**
 * The warm start's pieces that need no instance: the lazy cloud port (loaded at its first call,
 * once), the AWS context a known instance is tied to, and the known instance's record.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lazyCloud } from '../../src/cloud/lazy.js';
import type { Cloud } from '../../src/cloud/port.js';
import { resolvePaths } from '../../src/state/paths.js';
import { awsContext, forgetEnded, forgetKnown, knownFile, readKnown } from '../../src/session/warm.js';

describe('lazyCloud', () => {
  it('loads the real port at the first call only, once, and answers its region before', async () => {
    let loads = 0;
    const firstCalls: string[] = [];
    const real = {
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:5000',
      describeInstance: async (id: string) => ({ id, state: 'running', type: 't3.micro', tags: {} }),
      noteNew: (id: string) => id,
    } as unknown as Cloud;
    const cloud = lazyCloud(
      'eu-west-1',
      async () => {
        loads++;
        return real;
      },
      (first) => firstCalls.push(first),
    );
    expect(cloud.region).toBe('eu-west-1');
    expect(cloud.endpoint).toBeUndefined(); // a property, not a method: unknown before the load
    expect(loads).toBe(0);
    const [a, b] = await Promise.all([cloud.describeInstance('i-1'), cloud.describeInstance('i-2')]);
    expect([a?.id, b?.id]).toEqual(['i-1', 'i-2']);
    expect(loads).toBe(1);
    expect(firstCalls).toEqual(['describeInstance']);
    expect(cloud.endpoint).toBe('http://127.0.0.1:5000');
    // Once loaded, a synchronous method stays synchronous.
    expect(cloud.noteNew('i-3')).toBe('i-3');
  });

  it('is not taken for a promise (await on it never loads the SDK)', async () => {
    let loads = 0;
    const cloud = lazyCloud('r', async () => {
      loads++;
      return {} as Cloud;
    });
    expect(await Promise.resolve(cloud)).toBe(cloud);
    expect(loads).toBe(0);
  });
});

describe('awsContext', () => {
  const home = mkdtempSync(join(tmpdir(), 'warm-ctx-'));
  const env = { HOME: home, AWS_PROFILE: 'dev', AWS_SECRET_ACCESS_KEY: 'a', PATH: '/bin' };
  const base = awsContext({ region: undefined }, env);

  it('changes with the region asked, the AWS environment and the AWS config files', () => {
    expect(awsContext({ region: 'us-east-1' }, env)).not.toBe(base);
    expect(awsContext({ region: undefined }, { ...env, AWS_PROFILE: 'prod' })).not.toBe(base);
    expect(awsContext({ region: undefined }, { ...env, AWS_ACCESS_KEY_ID: 'AKIA1' })).not.toBe(base);
    writeFileSync(join(home, 'config'), '[profile dev]\nregion = eu-west-1\n');
    expect(awsContext({ region: undefined }, { ...env, AWS_CONFIG_FILE: join(home, 'config') })).not.toBe(base);
  });

  it('not with what does not choose the account (nor holds the secret key: it is left out)', () => {
    expect(awsContext({ region: undefined }, { ...env, PATH: '/usr/bin' })).toBe(base);
    expect(awsContext({ region: undefined }, { ...env, AWS_SECRET_ACCESS_KEY: 'b' })).toBe(base);
    expect(base).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('the known instance', () => {
  const paths = resolvePaths({ HOME: mkdtempSync(join(tmpdir(), 'warm-known-')) });
  const write = (id: string, context: string, project = 'p1') => {
    const file = knownFile(paths, project);
    forgetKnown(paths, project);
    mkdirSync(join(file, '..'), { recursive: true });
    const known = { instance: { id, type: 't3.micro', tags: {} }, user: 'u', region: 'r', context, pin: 'x' };
    writeFileSync(file, JSON.stringify(known));
  };

  it('is read only in the AWS context it was learnt in', () => {
    expect(readKnown(paths, 'p1', 'c')).toEqual({ none: 'no instance known here' });
    write('i-1', 'c');
    expect(readKnown(paths, 'p1', 'c')).toMatchObject({ known: { instance: { id: 'i-1' } } });
    expect(readKnown(paths, 'p1', 'other')).toEqual({ none: 'the AWS settings changed since i-1 was used here' });
  });

  it('an instance ended: forgotten in every directory that knew it, only there', async () => {
    write('i-1', 'c');
    write('i-1', 'c', 'p2');
    write('i-3', 'c', 'p3');
    await forgetEnded(paths, 'i-2');
    expect(readKnown(paths, 'p1', 'c')).toHaveProperty('known');
    await forgetEnded(paths, 'i-1');
    expect(readKnown(paths, 'p1', 'c')).toHaveProperty('none');
    expect(readKnown(paths, 'p2', 'c')).toHaveProperty('none');
    expect(readKnown(paths, 'p3', 'c')).toHaveProperty('known');
  });

  it.each([
    ['null', null],
    ['no instance', { context: 'c', pin: 'x', user: 'u', region: 'r' }],
    ['no tags', { instance: { id: 'i-1', type: 't' }, context: 'c', pin: 'x', user: 'u', region: 'r' }],
  ])('a record of another shape (%s) is not used, and nothing throws', (_, record) => {
    const file = knownFile(paths, 'p4');
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, JSON.stringify(record));
    expect(readKnown(paths, 'p4', 'c')).toEqual({ none: 'the record of the instance known here is unreadable' });
  });
});
