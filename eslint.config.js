// Lint: type-aware rules that catch what tests miss (a forgotten await loses a result).
import tseslint from 'typescript-eslint';

const PROGRAMS = { regex: '^(node:)?child_process$|^execa$', message: 'Run programs through src/remote/exec.ts.' };
// \x2F is '/', which a selector's /regex/ cannot hold.
const SDK = { regex: '^@(aws-sdk|smithy)\\x2F', message: 'Use the port in src/cloud/.' };

/** One config block: in `files` (but not `ignores`), imports of the walled-off modules are errors. */
function walls(files, ignores, { programs, sdk }) {
  const walled = [...(programs ? [PROGRAMS] : []), ...(sdk ? [SDK] : [])];
  return {
    files,
    ignores,
    rules: {
      'no-restricted-imports': ['error', { patterns: walled }],
      // no-restricted-imports does not see import('…'); the same walls for dynamic imports.
      'no-restricted-syntax': [
        'error',
        ...walled.map((w) => ({ selector: `ImportExpression[source.value=/${w.regex}/]`, message: w.message })),
      ],
    },
  };
}

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
  { files: ['src/**/*.ts'], rules: { 'no-console': 'error' } },
  // Two walls in src/: only src/remote/exec.ts starts programs, only src/cloud/ touches the AWS SDK.
  // A file gets its restriction options from the last block that matches it (flat config replaces a
  // rule's options, it does not merge them), so each src file is matched by exactly one block below;
  // test/unit/lint-walls.test.ts fails if a wall has a gap.
  walls(['src/**/*.ts'], ['src/remote/exec.ts', 'src/cloud/**'], { programs: true, sdk: true }),
  walls(['src/cloud/**/*.ts'], [], { programs: true, sdk: false }),
  walls(['src/remote/exec.ts'], [], { programs: false, sdk: true }),
);
