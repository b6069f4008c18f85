// Lint: type-aware rules that catch what tests miss (a forgotten await loses a result).
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'bin/', '*.config.*'] },
  ...tseslint.configs.recommended,
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'scripts/**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.check.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Output goes through the logger; only execa is allowed to start programs, in one module.
    files: ['src/**/*.ts'],
    rules: {
      'no-console': 'error',
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'execa', message: 'Run programs through src/remote/exec.ts.' },
            { name: 'node:child_process', message: 'Run programs through src/remote/exec.ts.' },
          ],
        },
      ],
    },
  },
  {
    // The AWS SDK stays behind the cloud port.
    files: ['src/**/*.ts'],
    ignores: ['src/cloud/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['@aws-sdk/*'], message: 'Use the port in src/cloud/.' }],
          paths: [{ name: 'execa', message: 'Run programs through src/remote/exec.ts.' }],
        },
      ],
    },
  },
  { files: ['src/remote/exec.ts'], rules: { 'no-restricted-imports': 'off' } },
);
