/**
 * ssh-ec2 prices [TYPE...]: what instance types cost in the region — the on-demand list price of
 * ssh-ec2's dated table (cloud/prices.ts) and the spot price now in each zone that offers the type
 * (DescribeSpotPriceHistory) — cheapest first, with GPUs, vCPUs and memory (DescribeInstanceTypes).
 * Without TYPE: the smallest size of each GPU family the table prices in the region.
 */
import { hourlyPrice, priceListDate, priceListWords, pricedTypes } from '../../cloud/prices.js';
import { ExitCode } from '../../errors.js';
import { loadCloud } from '../../session/story.js';
import type { CommandContext } from '../types.js';
import { priceRows, priceTable } from './rows.js';

/** Where the table has no GPU type for the region. */
const GPU_DEFAULT = ['g4dn.xlarge', 'g5.xlarge', 'g6.xlarge', 'g6e.xlarge', 'p3.2xlarge'];

export async function run(ctx: CommandContext): Promise<number> {
  const cloud = await loadCloud(ctx);
  const region = cloud.region;
  const asked = ctx.options.command.length > 0 ? [...new Set(ctx.options.command)] : undefined;
  const candidates = asked ?? smallestOfEachFamily(pricedTypes(region));
  const [details, offerings] = await Promise.all([
    cloud.instanceTypeDetails(candidates),
    cloud.typeOfferings('availability-zone', candidates),
  ]);
  const shown = details.filter((d) => (asked ? offerings.some((o) => o.type === d.type) : d.gpus > 0));
  const lacking = (asked ?? []).filter((t) => !shown.some((d) => d.type === t));
  const spot = shown.length > 0 ? await cloud.spotPrices(shown.map((d) => d.type)) : [];
  const zonesOf = (t: string) =>
    offerings
      .filter((o) => o.type === t)
      .map((o) => o.location)
      .sort();
  const rows = priceRows(shown, zonesOf, spot, (t) => hourlyPrice(region, t));
  if (ctx.flags.json) {
    const doc = { region, listDate: priceListDate(), prices: rows, notOffered: lacking };
    ctx.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return ExitCode.ok;
  }
  for (const t of lacking) ctx.log.warn(`${t} is not offered in ${region} (or is no instance type EC2 knows)`);
  if (rows.length > 0) {
    ctx.stdout.write(priceTable(rows));
    ctx.log.info(`on demand: ${priceListWords()} (Linux, USD); spot: EC2's price now in ${region}`);
  }
  return ExitCode.ok;
}

/** The first size the table lists of each family (the table lists sizes smallest first). */
function smallestOfEachFamily(types: readonly string[]): string[] {
  if (types.length === 0) return GPU_DEFAULT;
  const seen = new Map<string, string>();
  for (const t of types) if (!seen.has(t.split('.')[0]!)) seen.set(t.split('.')[0]!, t);
  return [...seen.values()];
}
