import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Cloud } from '../../src/cloud/ec2.js';
import { instanceConnectKey } from '../../src/session/keys.js';

describe('Instance Connect keys', () => {
  it('are pushed again before a new authentication once the last push may have expired', async () => {
    const pushes: { publicKey: string; osUser: string }[] = [];
    const cloud = {
      pushSshKey: async (req: { publicKey: string; osUser: string }) => void pushes.push(req),
    } as unknown as Cloud;
    let now = 1_000_000;
    const key = await instanceConnectKey({
      runtimeDir: mkdtempSync(join(tmpdir(), 'keys-')),
      cloud,
      instance: { id: 'i-0123456789', state: 'running', type: 't3.micro', tags: {} },
      user: 'ubuntu',
      now: () => now,
    });
    await key.refresh();
    now += 30_000;
    await key.refresh(); // still valid: no push
    now += 20_000;
    await key.refresh(); // 50 s after the push: too close to the 60 s limit
    expect(pushes).toHaveLength(2);
    expect(pushes[0]!.osUser).toBe('ubuntu');
    expect(pushes[0]!.publicKey).toBe(readFileSync(`${key.identityFile}.pub`, 'utf8').trim());
    expect(pushes[0]!.publicKey).toMatch(/^ssh-ed25519 /);
    key.dispose();
  });

  it("hand the connect's signal and deadline to the push, which ends its retrying by them", async () => {
    const bounds: unknown[] = [];
    const cloud = { pushSshKey: async (_req: unknown, b: unknown) => void bounds.push(b) } as unknown as Cloud;
    const key = await instanceConnectKey({
      runtimeDir: mkdtempSync(join(tmpdir(), 'keys-')),
      cloud,
      instance: { id: 'i-0123456789', state: 'running', type: 't3.micro', tags: {} },
      user: 'ubuntu',
    });
    const given = { signal: new AbortController().signal, deadline: 42 };
    await key.refresh(given);
    expect(bounds).toEqual([given]);
    key.dispose();
  });
});
