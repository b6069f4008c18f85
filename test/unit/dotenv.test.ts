import { describe, expect, it } from 'vitest';
import { parseDotenv } from '../../src/dotenv.js';

describe('.env', () => {
  it('is parsed as data, never executed', () => {
    const env = parseDotenv(
      [
        '# comment',
        '',
        'AWS_REGION=eu-west-1',
        'export AWS_INSTANCE_TYPE = g5.xlarge  # a comment',
        `AWS_USER_DATA='$(touch /tmp/pwned) "quoted"'`,
        'AWS_NAME_INSTANCE="a \\"b\\"\\nc"',
        'NOT A LINE',
        'OTHER=ignored',
      ].join('\n'),
      new Set(['AWS_REGION', 'AWS_INSTANCE_TYPE', 'AWS_USER_DATA', 'AWS_NAME_INSTANCE']),
    );
    expect(env).toEqual({
      AWS_REGION: 'eu-west-1',
      AWS_INSTANCE_TYPE: 'g5.xlarge',
      AWS_USER_DATA: '$(touch /tmp/pwned) "quoted"',
      AWS_NAME_INSTANCE: 'a "b"\nc',
    });
  });
});
