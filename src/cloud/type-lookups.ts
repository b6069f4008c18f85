/**
 * What the region offers, read only: instance types' details (vCPUs, memory, GPUs), where each
 * type is offered, and the current spot price per zone. Shared by the price line, `prices` and the
 * instance-type checks (issue #13); every answer is paginated inside.
 */
import './quiet-sdk.js';
import {
  paginateDescribeInstanceTypeOfferings,
  paginateDescribeInstanceTypes,
  paginateDescribeSpotPriceHistory,
  type EC2Client,
  type InstanceTypeInfo as SdkTypeInfo,
} from '@aws-sdk/client-ec2';
import { aws, errorCode } from './errors.js';
import type { Cloud, InstanceTypeDetails, SpotPrice } from './port.js';

export type TypeLookups = Pick<Cloud, 'instanceTypeDetails' | 'typeOfferings' | 'spotPrices'>;

function toDetails(t: SdkTypeInfo): InstanceTypeDetails | undefined {
  if (!t.InstanceType) return undefined;
  const gpus = t.GpuInfo?.Gpus ?? [];
  return {
    type: t.InstanceType,
    architectures: t.ProcessorInfo?.SupportedArchitectures ?? ['x86_64'],
    vcpus: t.VCpuInfo?.DefaultVCpus ?? 0,
    memoryMiB: t.MemoryInfo?.SizeInMiB ?? 0,
    gpus: gpus.reduce((n, g) => n + (g.Count ?? 0), 0),
    ...(gpus[0]?.Name ? { gpuName: gpus[0].Name } : {}),
  };
}

/** Collects every page's items. */
async function all<P, T>(pages: AsyncIterable<P>, items: (page: P) => T[] | undefined): Promise<T[]> {
  const out: T[] = [];
  for await (const page of pages) out.push(...(items(page) ?? []));
  return out;
}

export function typeLookups(ec2: EC2Client): TypeLookups {
  return {
    async instanceTypeDetails(types) {
      const ask = async (names?: string[]) =>
        all(paginateDescribeInstanceTypes({ client: ec2 }, names ? { InstanceTypes: names as never } : {}), (p) =>
          p.InstanceTypes?.map(toDetails).filter((d): d is InstanceTypeDetails => d !== undefined),
        );
      return aws('describe instance types', async () => {
        if (!types) return ask();
        try {
          return await ask([...types]);
        } catch (err) {
          // One unknown name fails the whole request: ask each, leaving out the unknown ones.
          if (errorCode(err) !== 'InvalidInstanceType') throw err;
          const each = await Promise.all(
            types.map((t) =>
              ask([t]).catch((e: unknown) => {
                if (errorCode(e) === 'InvalidInstanceType') return [];
                throw e;
              }),
            ),
          );
          return each.flat();
        }
      });
    },

    async typeOfferings(location, types) {
      const Filters = types ? [{ Name: 'instance-type', Values: [...types] }] : undefined;
      return aws('list where instance types are offered', () =>
        all(paginateDescribeInstanceTypeOfferings({ client: ec2 }, { LocationType: location, Filters }), (p) =>
          p.InstanceTypeOfferings?.flatMap((o) =>
            o.InstanceType && o.Location ? [{ type: o.InstanceType, location: o.Location }] : [],
          ),
        ),
      );
    },

    async spotPrices(types, zones) {
      const Filters = [
        { Name: 'product-description', Values: ['Linux/UNIX', 'Linux/UNIX (Amazon VPC)'] },
        ...(zones ? [{ Name: 'availability-zone', Values: [...zones] }] : []),
      ];
      // StartTime now: EC2 answers the price in force now for each type and zone (and later ones).
      const history = await aws('read the spot price history', () =>
        all(
          paginateDescribeSpotPriceHistory(
            { client: ec2 },
            { InstanceTypes: [...types] as never, StartTime: new Date(), Filters },
          ),
          (p) => p.SpotPriceHistory,
        ),
      );
      const latest = new Map<string, SpotPrice>();
      for (const h of history) {
        if (!h.InstanceType || !h.AvailabilityZone || !h.SpotPrice) continue;
        const price: SpotPrice = {
          type: h.InstanceType,
          zone: h.AvailabilityZone,
          usd: Number(h.SpotPrice),
          at: h.Timestamp ?? new Date(0),
        };
        const key = `${price.type} ${price.zone}`;
        const seen = latest.get(key);
        if (!seen || seen.at < price.at) latest.set(key, price);
      }
      return [...latest.values()];
    },
  };
}
