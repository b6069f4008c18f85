// The user data of a launch: ssh-ec2's boot-time limit and the user's own --user-data, merged as a
// MIME multipart that cloud-init reads part by part (issue #10: no forgotten machine).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { mergeUserData, userDataType, USER_DATA_MAX_BYTES } from '../../src/cloud/user-data.js';
import { ConfigError } from '../../src/errors.js';
import { BOOT_LIMIT_PART, bootLimitScript } from '../../src/remote/on-instance.js';

const ours = { type: 'text/cloud-boothook', filename: BOOT_LIMIT_PART, content: '#!/bin/sh\necho boot\n' };

/** The parts as Python's email parser (cloud-init's) reads them: [type, filename, payload]. */
function parse(doc: string): [string, string | null, string][] {
  const py = `import email, json, sys
m = email.message_from_string(sys.stdin.read())
print(json.dumps([[p.get_content_type(), p.get_filename(), p.get_payload(decode=True).decode()] for p in m.walk() if not p.is_multipart()]))`;
  return JSON.parse(execFileSync('python3', ['-c', py], { input: doc, encoding: 'utf8' })) as [
    string,
    string | null,
    string,
  ][];
}

describe('user data', () => {
  it.each([
    ['#!/bin/bash\napt-get install -y tmux\n', 'text/x-shellscript'],
    ['#cloud-config\npackages: [tmux]\n', 'text/cloud-config'],
    ['#cloud-boothook\necho hi\n', 'text/cloud-boothook'],
    ['#include\nhttps://example.com/x\n', 'text/x-include-url'],
    ['just words', 'text/plain'],
  ])('tells the type of %j as cloud-init does', (content, type) => {
    expect(userDataType(content)).toBe(type);
  });

  it('puts the boot-time limit first, then the user data as it is', () => {
    const own = '#cloud-config\nruncmd: [echo "é --"]\n';
    expect(parse(mergeUserData([ours], own))).toEqual([
      ['text/cloud-boothook', BOOT_LIMIT_PART, '#!/bin/sh\necho boot\n'],
      ['text/cloud-config', 'user-data', own],
    ]);
    expect(parse(mergeUserData([ours], undefined))).toEqual([
      ['text/cloud-boothook', BOOT_LIMIT_PART, '#!/bin/sh\necho boot\n'],
    ]);
  });

  it("nests the user's own multipart document whole", () => {
    const own = mergeUserData(
      [{ type: 'text/x-shellscript', filename: 'a.sh', content: '#!/bin/sh\necho a\n' }],
      undefined,
    );
    expect(parse(mergeUserData([ours], own)).map(([type, name]) => [type, name])).toEqual([
      ['text/cloud-boothook', BOOT_LIMIT_PART],
      ['text/x-shellscript', 'a.sh'],
    ]);
  });

  it("refuses user data over EC2's 16 KB, saying how much room is left", () => {
    expect(() => mergeUserData([ours], `#!/bin/sh\n${'x'.repeat(USER_DATA_MAX_BYTES)}\n`)).toThrow(ConfigError);
  });

  it('the boot-time limit is a valid sh script carrying its settings, and leaves room for the user', () => {
    const script = bootLimitScript({
      user: 'ubuntu',
      idleTimeout: 3600,
      maxTime: 0,
      poweroffCommand: "echo 'off'",
      imdsUrl: 'http://169.254.169.254',
    });
    expect(script).toMatch(/^#!\/bin\/sh\n/);
    expect(script).toContain(`POWEROFF='echo '\\''off'\\'''\n`);
    expect(script).toContain(`BOOT_USER='ubuntu'\nIDLE_TIMEOUT='3600'\nMAX_TIME='0'\n`);
    execFileSync('sh', ['-n'], { input: script });
    expect(Buffer.byteLength(script)).toBeLessThan(USER_DATA_MAX_BYTES / 2);
  });
});
