// The AWS SDK's Node version warning must never reach users: it is silenced by src/cloud/quiet-sdk.ts,
// which every module making an SDK client imports. This finds such modules, new ones included.
// (test/integration/node-warning.test.ts runs the CLI and reads its stderr.)
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it, vi } from 'vitest';

const SRC = join(import.meta.dirname, '..', '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('the SDK Node version warning', () => {
  const clientModules = sources(SRC).filter((f) => /\bnew \w+Client\(/.test(readFileSync(f, 'utf8')));

  it('is silenced by every module that makes an SDK client', () => {
    expect(clientModules.map((f) => relative(SRC, f))).toContain(join('cloud', 'ec2.ts'));
    for (const file of clientModules) {
      const quiet = relative(join(file, '..'), join(SRC, 'cloud', 'quiet-sdk.js'));
      const spec = quiet.startsWith('.') ? quiet : `./${quiet}`;
      expect([relative(SRC, file), readFileSync(file, 'utf8').includes(`import '${spec}';`)]).toEqual([
        relative(SRC, file),
        true,
      ]);
    }
  });

  it('is silenced without overriding a value the user set', async () => {
    const saved = process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    try {
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'false';
      vi.resetModules(); // evaluated afresh by each import below
      await import('../../src/cloud/quiet-sdk.js');
      expect(process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED).toBe('false');
      delete process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
      vi.resetModules();
      await import('../../src/cloud/quiet-sdk.js');
      expect(process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED).toBe('true');
    } finally {
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = saved;
    }
  });
});
