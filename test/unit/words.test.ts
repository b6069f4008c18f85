// The small pieces of the messages (issue #10): paths as a shell reads them, local times, forwards.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { describeForward } from '../../src/session/forwards-announce.js';
import { localTime, shellWord } from '../../src/ui/words.js';

describe('shellWord', () => {
  it.each([
    ['/home/me/project', '/home/me/project'],
    ['/tmp/my project (v2)', "'/tmp/my project (v2)'"],
    ["/tmp/it's", "'/tmp/it'\\''s'"],
    ['/tmp/$HOME`x`', "'/tmp/$HOME`x`'"],
    ['~/p', "'~/p'"],
    ['', "''"],
  ])('%s → %s, which sh reads back as the same word', (path, word) => {
    expect(shellWord(path)).toBe(word);
    expect(execFileSync('sh', ['-c', `printf %s ${word}`], { encoding: 'utf8' })).toBe(path);
  });
});

describe('localTime', () => {
  it('the local wall clock, with its zone, not UTC', () => {
    const d = new Date(2026, 10, 30, 8, 5, 9); // local time
    expect(localTime(d)).toMatch(/^2026-11-30 08:05:09( \S+)?$/);
  });
});

describe('describeForward', () => {
  it.each([
    ['L', '8888:localhost:8888', 'http://localhost:8888 → instance:8888'],
    ['L', '127.0.0.1:6006:127.0.0.1:6006', 'http://localhost:6006 → instance:6006'],
    ['L', '5432:localhost:5432', 'localhost:5432 → instance:5432'],
    ['L', '15432:db.internal:5432', 'localhost:15432 → db.internal:5432 (from the instance)'],
    ['L', '0.0.0.0:8080:localhost:8080', 'http://0.0.0.0:8080 → instance:8080'],
    ['D', '1080', 'SOCKS proxy on localhost:1080 through the instance'],
    ['R', '9000:localhost:9000', 'instance:9000 → localhost:9000 here'],
  ] as const)('-%s %s: %s', (kind, spec, words) => {
    expect(describeForward(kind, spec)).toBe(words);
  });
  it('a unix socket forward is not described', () => {
    expect(describeForward('L', '/tmp/a.sock:/tmp/b.sock')).toBeUndefined();
  });
});
