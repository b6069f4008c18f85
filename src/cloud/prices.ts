/**
 * Hourly on-demand Linux list prices, to tell a user what a running instance costs. A small
 * built-in table (USD, from AWS's public price list, 2025) rather than the Pricing API, which
 * needs its own permissions and lives in us-east-1 only; prices change, so callers say "about".
 */
const PRICES: Record<string, Record<string, number>> = {
  'us-east-1': {
    't3.micro': 0.0104,
    't3.medium': 0.0416,
    't3.large': 0.0832,
    'm5.xlarge': 0.192,
    'c5.xlarge': 0.17,
    'g4dn.xlarge': 0.526,
    'g4dn.2xlarge': 0.752,
    'g4dn.4xlarge': 1.204,
    'g4dn.8xlarge': 2.176,
    'g4dn.12xlarge': 3.912,
    'g5.xlarge': 1.006,
    'g5.2xlarge': 1.212,
    'g5.4xlarge': 1.624,
    'g5.12xlarge': 5.672,
    'g6.xlarge': 0.8048,
    'g6.2xlarge': 0.9776,
    'p3.2xlarge': 3.06,
    'p3.8xlarge': 12.24,
    'p4d.24xlarge': 32.7726,
  },
  'eu-central-1': {
    't3.micro': 0.012,
    't3.medium': 0.048,
    't3.large': 0.096,
    'm5.xlarge': 0.23,
    'c5.xlarge': 0.194,
    'g4dn.xlarge': 0.658,
    'g4dn.2xlarge': 0.94,
    'g4dn.4xlarge': 1.505,
    'g4dn.12xlarge': 4.89,
    'g5.xlarge': 1.258,
    'g5.2xlarge': 1.515,
    'g5.12xlarge': 7.09,
    'p3.2xlarge': 3.823,
    'p3.8xlarge': 15.292,
  },
};

export function hourlyPrice(region: string, type: string): number | undefined {
  return PRICES[region]?.[type];
}

export function describePrice(region: string, type: string): string {
  const p = hourlyPrice(region, type);
  return p === undefined
    ? `see https://aws.amazon.com/ec2/pricing/on-demand/ for the price of ${type} in ${region}`
    : `about $${p < 0.1 ? p.toFixed(4) : p.toFixed(2)}/hour on demand`;
}

/**
 * EBS gp3 storage (the root volume type ssh-ec2 launches: cloud/ec2.ts), USD per GiB-month, from
 * https://aws.amazon.com/ebs/pricing/ (read 2025): what a stopped instance still costs. IOPS and
 * throughput above gp3's baseline are not used by ssh-ec2's volumes, so not counted.
 */
const GP3_PER_GIB_MONTH: Record<string, number> = {
  'us-east-1': 0.08,
  'eu-central-1': 0.0952,
};

/** Monthly price of a gp3 volume of this size, or undefined where the table has no price. */
export function volumeMonthlyPrice(region: string, sizeGiB: number): number | undefined {
  const p = GP3_PER_GIB_MONTH[region];
  return p === undefined ? undefined : p * sizeGiB;
}
