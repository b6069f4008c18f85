/** What the finish's words name besides its decision (decide-finish.ts `finishWords`), from a run. */
import type { InstanceInfo } from '../cloud/port.js';
import { describePrice } from '../cloud/prices.js';
import { shellWord } from '../ui/words.js';
import type { Run } from './context.js';
import type { Situation } from './decide-finish.js';

export function situation(run: Run, instance: InstanceInfo): Situation {
  const { options } = run;
  return {
    id: instance.id,
    dir: shellWord(run.plan.projectDir),
    costs: `${instance.type}, ${describePrice(run.cloud.region, instance.type)}`,
    next: options.plainFinalState ?? { state: 'terminate' },
  };
}
