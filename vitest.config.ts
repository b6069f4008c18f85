import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/sandbox/global-setup.ts'],
    // Safety nets against a hang, not measures: a busy 2-core CI machine runs an end-to-end test
    // several times slower than an idle one.
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // The SDK's notice that Node 20 support ends in 2027 says nothing about our code.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
