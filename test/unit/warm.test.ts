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
import { awsContext, forgetKnown, knownFile, readKnown } from '../../src/session/warm.js';

describe('lazyCloud', () => {
  it('loads the real port at the first call only, once, and answers its region before', async () => {
    let loads = 0;
    const firstCalls: string[] = [];
    const real = {
      region: 'eu-west-1',
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
    expect(loads).toBe(0);
    const [a, b] = await Promise.all([cloud.describeInstance('i-1'), cloud.describeInstance('i-2')]);
    expect([a?.id, b?.id]).toEqual(['i-1', 'i-2']);
    expect(loads).toBe(1);
    expect(firstCalls).toEqual(['describeInstance']);
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
  const write = (id: string, context: string) => {
    const file = knownFile(paths, 'p1');
    forgetKnown(paths, 'p1');
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, JSON.stringify({ instance: { id, tags: {} }, user: 'u', region: 'r', context, pin: 'x' }));
  };

  it('is read only in the AWS context it was learnt in', () => {
    expect(readKnown(paths, 'p1', 'c')).toEqual({ none: 'no instance known here' });
    write('i-1', 'c');
    expect(readKnown(paths, 'p1', 'c')).toMatchObject({ known: { instance: { id: 'i-1' } } });
    expect(readKnown(paths, 'p1', 'other')).toEqual({ none: 'the AWS settings changed since i-1 was used here' });
  });

  it('is forgotten for its own instance only', () => {
    write('i-1', 'c');
    forgetKnown(paths, 'p1', 'i-2');
    expect(readKnown(paths, 'p1', 'c')).toHaveProperty('known');
    forgetKnown(paths, 'p1', 'i-1');
    expect(readKnown(paths, 'p1', 'c')).toHaveProperty('none');
  });
});
