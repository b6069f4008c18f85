import { describe, expect, it } from 'vitest';
import { ruleDescription, sshRuleChanges, STALE_DAYS } from '../../src/cloud/ssh-rules.js';

const today = new Date('2026-11-23T10:00:00Z');
const daysAgo = (n: number) => new Date(today.getTime() - n * 86_400_000);
const ssh = (...ranges: [string, string?][]) => [
  {
    IpProtocol: 'tcp',
    FromPort: 22,
    ToPort: 22,
    IpRanges: ranges.map(([CidrIp, Description]) => ({ CidrIp, Description })),
  },
];

describe('the ssh rules of the security group', () => {
  it('a new address is let in, dated today', () => {
    expect(sshRuleChanges([], '203.0.113.7/32', today)).toEqual({ authorize: true, refresh: false, revoke: [] });
    expect(ruleDescription(today)).toBe('ssh-ec2 2026-11-23');
  });

  it('a known address is left alone the same day, and re-dated on a later day', () => {
    expect(sshRuleChanges(ssh(['203.0.113.7/32', 'ssh-ec2 2026-11-23']), '203.0.113.7/32', today)).toEqual({
      authorize: false,
      refresh: false,
      revoke: [],
    });
    expect(sshRuleChanges(ssh(['203.0.113.7/32', ruleDescription(daysAgo(3))]), '203.0.113.7/32', today)).toEqual({
      authorize: false,
      refresh: true,
      revoke: [],
    });
  });

  it(`revokes only our rules for other addresses older than ${STALE_DAYS} days, never anyone else's`, () => {
    const rules = ssh(
      ['198.51.100.1/32', ruleDescription(daysAgo(STALE_DAYS + 1))],
      ['198.51.100.2/32', ruleDescription(daysAgo(STALE_DAYS - 1))],
      ['198.51.100.3/32', 'office VPN'],
      ['198.51.100.4/32', undefined],
      ['10.0.0.0/8', 'ssh-ec2 someday'],
    );
    expect(sshRuleChanges(rules, '203.0.113.7/32', today)).toEqual({
      authorize: true,
      refresh: false,
      revoke: ['198.51.100.1/32'],
    });
  });

  it('looks at tcp/22 only', () => {
    const http = [
      {
        IpProtocol: 'tcp',
        FromPort: 80,
        ToPort: 80,
        IpRanges: [{ CidrIp: '203.0.113.7/32', Description: 'ssh-ec2 2001-01-01' }],
      },
    ];
    expect(sshRuleChanges(http, '203.0.113.7/32', today)).toEqual({ authorize: true, refresh: false, revoke: [] });
  });
});
