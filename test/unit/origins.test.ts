// Every bad value names where it came from (issue #10): the parsers did already; a value found bad
// only when used (an instance type AWS does not know) says it through withOrigin.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { originOf, resolveOptions, withOrigin } from '../../src/options.js';

const resolve = (flags: Record<string, string>, env: Record<string, string>, dotenv: Record<string, string>) =>
  resolveOptions({ flags, env, dotenv, command: [] });

describe('origins', () => {
  it('flag, environment, .env, or none for a default', () => {
    const o = resolve(
      { name: 'n' },
      { AWS_INSTANCE_TYPE: 'a.b' },
      { AWS_INSTANCE_TYPE: 'x.y', AWS_REGION: 'eu-west-1' },
    );
    expect(originOf(o, 'name')).toBe('--name');
    expect(originOf(o, 'instanceTypes')).toBe('AWS_INSTANCE_TYPE');
    expect(originOf(o, 'region')).toBe('AWS_REGION (in .env)');
    expect(originOf(o, 'volumeSize')).toBeUndefined();
  });
  it('an error about the value is led by its origin, once; one about something else is left alone', () => {
    const o = resolve({}, {}, { AWS_INSTANCE_TYPE: 'c9zz.huge' });
    const err = withOrigin(new ConfigError('unknown instance type "c9zz.huge" in eu-central-1'), o, 'instanceTypes');
    expect(err.message).toBe('AWS_INSTANCE_TYPE (in .env): unknown instance type "c9zz.huge" in eu-central-1');
    expect(withOrigin(err, o, 'instanceTypes').message).toBe(err.message);
    const other = withOrigin(new ConfigError('network down'), o, 'instanceTypes', 'c9zz.huge');
    expect(other.message).toBe('network down');
    expect(withOrigin(new ConfigError('x'), resolve({}, {}, {}), 'instanceTypes').message).toBe('x');
  });
  it('the final state of a plain next run: without this run`s flags', () => {
    expect(resolve({ finalState: 'stop' }, {}, {}).plainFinalState).toEqual({ state: 'terminate' });
    expect(resolve({ finalState: 'stop' }, {}, { AWS_FINAL_STATE: 'leave' }).plainFinalState).toEqual({
      state: 'leave',
      source: 'AWS_FINAL_STATE (in .env)',
    });
    expect(resolve({ finalState: 'stop' }, { AWS_FINAL_STATE: 'bogus' }, {}).plainFinalState).toEqual({
      state: 'terminate',
    });
  });
});
