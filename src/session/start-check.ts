/**
 * A launch's guardrails, for a start (issue #13): a stopped instance started as another type
 * (--instance-type) is checked as a launch's types are (type-check.ts: offered in its zone, a GPU
 * under a GPU image, within --max-hourly-cost or of a known price under --budget) before its type
 * is changed or it is started — a g4dn must not come back as a p4d at $32/hour unchecked —, and a
 * start says what it costs by the hour, as a launch does. A stopped spot instance keeps its type:
 * EC2 cannot change it ("While a Spot Instance is stopped, you can modify some of its instance
 * attributes, but not the instance type": the EC2 user guide, Spot interruption behaviour).
 */
import { MARKET_TAG } from '../cloud/spot-market.js';
import type { Cloud, InstanceInfo } from '../cloud/port.js';
import type { Options } from '../options.js';
import { noCache } from '../state/cache.js';
import type { Logger } from '../ui/logger.js';
import { priceLine, pricesFor } from './price-line.js';
import { typesToStart } from './start-stopped.js';
import { checkedTypes } from './type-check.js';

type Ctx = { cloud: Cloud; log: Logger; options: Options };

const isSpot = (i: InstanceInfo) => (i.tags[MARKET_TAG] ?? 'on-demand') !== 'on-demand';

/**
 * The types a stopped instance may be started as, checked; throws the launch's refusal (exit 4,
 * or 11 for the cost limit) before anything is changed. Says the price line of the first.
 */
export async function checkedStartTypes(ctx: Ctx, instance: InstanceInfo): Promise<string[]> {
  const { cloud, log, options: o } = ctx;
  let types = typesToStart(o, instance);
  const changes = types.some((t) => t !== instance.type);
  if (changes && isSpot(instance)) {
    log.info(
      `--instance-type ${types.join(',')} not applied: ${instance.id} is a spot instance, whose type EC2 cannot change while it is stopped; starting it as ${instance.type}`,
    );
    types = [instance.type];
  } else if (changes) {
    const zones = instance.az ? [instance.az] : [];
    const place = { zones, why: `the zone of stopped ${instance.id}` };
    const checked = await checkedTypes(
      { cloud, log, options: { ...o, instanceTypes: types } },
      noCache(),
      Promise.resolve({ zones: [] }),
      { spot: false },
      place,
    );
    types = checked.map((t) => t.type);
  }
  const market = isSpot(instance) ? 'spot' : 'on-demand';
  const prices = await pricesFor(cloud, types[0]!, instance.az, market);
  log.info(
    priceLine({ region: cloud.region, type: types[0]!, zone: instance.az, market, prices, starting: instance.id }),
  );
  return types;
}

/** --spot on a directory whose instance is on-demand: not applied, said once (the instance is used as it is). */
export function spotNotApplied(o: Pick<Options, 'spot'>, instance: InstanceInfo, log: Logger): void {
  if (o.spot && !isSpot(instance))
    log.info(`--spot not applied: ${instance.id} is on-demand (ssh-ec2 down, then run again, to launch a spot one)`);
}
