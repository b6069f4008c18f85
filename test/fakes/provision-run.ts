// A run's provision() in `dir` against the in-memory cloud, with `flags` on its command line: what
// it logs and hands over to the finish. Shared by the provisioning tests (provision, start-check, spot-guard).
import { join } from 'node:path';
import { resolveOptions, type FlagValues } from '../../src/options.js';
import { makePlan } from '../../src/session/plan.js';
import { provision, type ProvisionContext } from '../../src/session/provision.js';
import { createLogger } from '../../src/ui/logger.js';
import type { FakeCloud } from './cloud.js';

export function provisionRun(
  dir: string,
  cloud: FakeCloud,
  flags: FlagValues = {},
  extra: Partial<ProvisionContext> = {},
) {
  const options = resolveOptions({
    flags: { sshCidr: '198.51.100.7/32', ...flags },
    env: {},
    dotenv: {},
    command: ['true'],
  });
  const plan = makePlan(options, { cwd: join(dir, 'project'), localUser: 'al', localHost: 'laptop' });
  const lines: string[] = [];
  const log = createLogger({ stream: { write: (s: string) => lines.push(s.trimEnd()) > 0 } as never, env: {} });
  const handed: { id: string; launched: boolean }[] = [];
  const ctx: ProvisionContext = {
    options,
    plan,
    cloud,
    log,
    lockPath: join(dir, 'lock'),
    onInstance: (i, launched) => handed.push({ id: i.id, launched }),
    pinned: () => false,
    ...extra,
  };
  return { ctx, plan, lines, handed, go: () => provision(ctx) };
}
