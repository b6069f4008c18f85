/**
 * The words of the instance-type checks (type-check.ts), and the close alternatives they offer: the
 * nearest names for a typo (edit distance over the region's types), the offered types of the same
 * family, the GPU types nearest in size to a GPU-less one. Pure: the lists come from the caller.
 */
import type { InstanceTypeDetails } from '../cloud/port.js';
import { familyOf } from '../cloud/dlami.js';

/** Levenshtein distance (insert, delete, substitute: 1 each). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * The names of `known` nearest to `name` (a typo's fixes): at most `n`, nearest first, none farther
 * than a third of the name (so a name that is nothing like any type gets no suggestion rather than a
 * random one).
 */
export function nearestNames(name: string, known: readonly string[], n = 3): string[] {
  const lower = name.toLowerCase();
  const limit = Math.max(2, Math.ceil(lower.length / 3));
  return known
    .map((k) => ({ k, d: editDistance(lower, k) }))
    .filter(({ d }) => d <= limit)
    .sort((x, y) => x.d - y.d || x.k.localeCompare(y.k))
    .slice(0, n)
    .map(({ k }) => k);
}

/** The offered types of `type`'s family, smallest first by name order EC2 uses (at most `n`). */
export function sameFamily(type: string, offered: readonly string[], n = 4): string[] {
  const family = familyOf(type);
  return offered
    .filter((t) => familyOf(t) === family && t !== type)
    .sort(bySize)
    .slice(0, n);
}

const SIZE_ORDER = ['nano', 'micro', 'small', 'medium', 'large', 'xlarge'];
function sizeRank(type: string): number {
  const size = type.slice(type.indexOf('.') + 1);
  const at = SIZE_ORDER.indexOf(size);
  if (at >= 0) return at;
  const n = /^(\d+)xlarge$/.exec(size);
  return n ? SIZE_ORDER.length + Number(n[1]) : 1000;
}
const bySize = (a: string, b: string) => sizeRank(a) - sizeRank(b) || a.localeCompare(b);

/**
 * The GPU types nearest in size (vCPUs and memory, by ratio) to `like`, among `candidates` (the
 * region's offered types with a GPU the image can drive): at most `n`, nearest first.
 */
export function similarGpuTypes(
  like: Pick<InstanceTypeDetails, 'vcpus' | 'memoryMiB'>,
  candidates: readonly InstanceTypeDetails[],
  n = 3,
): InstanceTypeDetails[] {
  const ratio = (a: number, b: number) => Math.abs(Math.log(Math.max(a, 1) / Math.max(b, 1)));
  const far = (t: InstanceTypeDetails) => ratio(t.vcpus, like.vcpus) + ratio(t.memoryMiB, like.memoryMiB);
  return candidates
    .filter((t) => t.gpus > 0)
    .map((t) => ({ t, d: far(t) }))
    .sort((x, y) => x.d - y.d || x.t.type.localeCompare(y.t.type))
    .slice(0, n)
    .map(({ t }) => t);
}

/** "g5.xlarge (4 vCPUs, 16 GiB, 1 GPU A10G)". */
export function typeSummary(t: InstanceTypeDetails): string {
  const gib = Math.round(t.memoryMiB / 1024);
  const gpu = t.gpus > 0 ? `, ${t.gpus} GPU${t.gpus > 1 ? 's' : ''}${t.gpuName ? ` ${t.gpuName}` : ''}` : '';
  return `${t.type} (${t.vcpus} vCPUs, ${gib} GiB${gpu})`;
}

/** " (did you mean a, b?)" or " (offered here of its family: a, b)", or nothing. */
export const suggestion = (lead: string, names: readonly string[]) =>
  names.length > 0 ? `; ${lead} ${names.join(', ')}` : '';

/** Why one type of the list cannot be launched here (each a line's reason). */
export type TypeProblem =
  | { kind: 'unknown'; type: string; nearest: string[] }
  | { kind: 'not offered'; type: string; where: string; offeredIn: string[]; family: string[] }
  | { kind: 'no gpu'; type: string; image: string; similar: InstanceTypeDetails[] }
  | { kind: 'over cost'; type: string; hourly: number; limit: number; market: string }
  | { kind: 'price unknown'; type: string; guard: string; market: string };

/** The one line that says a problem, with its close alternatives. */
export function problemLine(p: TypeProblem, region: string): string {
  switch (p.kind) {
    case 'unknown':
      return `${p.type} is not an instance type EC2 offers in ${region}${suggestion('did you mean', p.nearest)}`;
    case 'not offered': {
      const zones = p.offeredIn.length > 0 ? `; offered in ${p.offeredIn.join(', ')}` : '';
      return `${p.type} is not offered in ${p.where}${zones}${suggestion('offered there of its family:', p.family)}`;
    }
    case 'no gpu':
      return (
        `${p.type} has no GPU, and the image (${p.image}) is a GPU image` +
        suggestion('GPU types of a similar size:', p.similar.map(typeSummary))
      );
    case 'over cost':
      return `${p.type} costs $${money(p.hourly)}/hour (${p.market}), above --max-hourly-cost $${money(p.limit)}`;
    case 'price unknown':
      // Where the price was looked for, and what would give the guard one.
      return p.market === 'spot'
        ? `${p.type}'s spot price in ${region} is unknown to ssh-ec2 (EC2 gave none for its zones), so ${p.guard} ` +
            'cannot vouch for it; --max-price caps what it pays'
        : `${p.type}'s ${p.market} price in ${region} is unknown to ssh-ec2 (its price table lacks it), so ` +
            `${p.guard} cannot vouch for it; \`npx tsx scripts/refresh-prices.ts\` refreshes the table, ` +
            'or --spot with --max-price caps what it pays';
  }
}

export const money = (usd: number) => (usd < 0.1 ? usd.toFixed(4) : usd.toFixed(2));
