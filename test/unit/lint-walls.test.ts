// The walls eslint.config.js puts in src/: only src/remote/exec.ts starts programs, only src/cloud/
// imports the AWS SDK. Linted with the project's real config on tiny sources at virtual paths, so a
// later config block that replaces a wall's options (as once happened: node:child_process was
// allowed everywhere but in cloud/) fails here, not in review.
import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const WALLS = ['no-restricted-imports', 'no-restricted-syntax'];
// Only the walls run: the virtual files are in no tsconfig, so the type-aware rules could not.
const eslint = new ESLint({
  cwd: root,
  ruleFilter: ({ ruleId }) => WALLS.includes(ruleId),
  overrideConfig: { languageOptions: { parserOptions: { project: false } } },
});

/** The wall messages ESLint gives `source` as if it were the file at `path` (relative to the root). */
async function walls(path: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: `${root}/${path}` });
  expect(result?.messages.filter((m) => !WALLS.includes(m.ruleId ?? ''))).toEqual([]);
  return (result?.messages ?? []).map((m) => m.message);
}

const PROGRAMS = [
  "import { execa } from 'execa';",
  "import { spawn } from 'node:child_process';",
  "import { spawn } from 'child_process';",
  "import type { Options } from 'execa';",
  "export { execa } from 'execa';",
  "export * from 'node:child_process';",
  "const m = await import('execa');",
  "const m = await import('node:child_process');",
];
const SDK = [
  "import { EC2Client } from '@aws-sdk/client-ec2';",
  "import type { Instance } from '@aws-sdk/client-ec2';",
  "import { fromIni } from '@aws-sdk/credential-providers';",
  "import type { Provider } from '@smithy/types';",
  "export { EC2Client } from '@aws-sdk/client-ec2';",
  "const m = await import('@aws-sdk/client-sts');",
];
const PLAIN = [
  "import { readFile } from 'node:fs/promises';",
  "import chalk from 'chalk';",
  "import { run } from './x.js';",
];

const refused = (messages: string[], by: string) => expect(messages.join('\n')).toContain(by);

describe('lint walls', () => {
  for (const path of ['src/session/x.ts', 'src/remote/ssh.ts', 'src/cli.ts', 'src/commands/ls/index.ts']) {
    it(`${path} may neither start programs nor import the SDK`, async () => {
      for (const source of PROGRAMS) refused(await walls(path, source), 'src/remote/exec.ts');
      for (const source of SDK) refused(await walls(path, source), 'src/cloud/');
      for (const source of PLAIN) expect(await walls(path, source)).toEqual([]);
    });
  }

  for (const path of ['src/cloud/ec2.ts', 'src/cloud/deep/x.ts']) {
    it(`${path} may import the SDK but not start programs`, async () => {
      for (const source of SDK) expect(await walls(path, source), source).toEqual([]);
      for (const source of PROGRAMS) refused(await walls(path, source), 'src/remote/exec.ts');
    });
  }

  it('src/remote/exec.ts may start programs but not import the SDK', async () => {
    for (const source of PROGRAMS) expect(await walls('src/remote/exec.ts', source), source).toEqual([]);
    for (const source of SDK) refused(await walls('src/remote/exec.ts', source), 'src/cloud/');
  });

  it('names that only look alike pass', async () => {
    const lookalikes = [
      "import x from 'execa-extra';",
      "import x from '@aws-sdk-fake';",
      "import x from './execa.js';",
    ];
    for (const source of lookalikes) expect(await walls('src/session/x.ts', source), source).toEqual([]);
  });
});
