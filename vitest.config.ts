import { defineConfig } from 'vitest/config';

// Three tiers, one project each. Only the tiers that start the sandbox (moto, sshd, root) set it
// up, so the unit tier runs as any user on a machine without moto: `npm run test:unit`. A run of
// some files sets up only the projects those files belong to (`vitest run test/unit/x.test.ts`
// needs no sandbox either).
const sandboxSetup = ['test/sandbox/global-setup.ts'];

export default defineConfig({
  test: {
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'integration', include: ['test/integration/**/*.test.ts'], globalSetup: sandboxSetup },
      },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], globalSetup: sandboxSetup } },
    ],
    // Safety nets against a hang, not measures: a busy 2-core CI machine runs an end-to-end test
    // several times slower than an idle one.
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // The SDK's notice that Node 20 support ends in 2027 says nothing about our code.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
