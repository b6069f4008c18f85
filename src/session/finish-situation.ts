/** What the finish's words name besides its decision (decide-finish.ts `finishWords`), from a run. */
import type { InstanceInfo } from '../cloud/port.js';
import { describePrice, usd } from '../cloud/prices.js';
import { shellWord } from '../ui/words.js';
import type { Run } from './context.js';
import type { Situation } from './decide-finish.js';
import { instanceHourly, isSpot, SPOT_PRICE_UNKNOWN } from './session-cost.js';

/** A spot instance's price: the one it launched at, never the on-demand table's. */
const spotWords = (p: number | undefined) => (p === undefined ? SPOT_PRICE_UNKNOWN : `about ${usd(p)}/hour spot`);

export function situation(run: Run, instance: InstanceInfo): Situation {
  const { options } = run;
  return {
    id: instance.id,
    dir: shellWord(run.plan.projectDir),
    costs: `${instance.type}, ${isSpot(instance) ? spotWords(instanceHourly(run.cloud.region, instance)) : describePrice(run.cloud.region, instance.type)}`,
    next: options.plainFinalState ?? { state: 'terminate' },
  };
}
