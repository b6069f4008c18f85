// Prices and cost (issue #13) through the built CLI against the sandbox: the price line before a
// launch (on-demand from the dated table; spot from DescribeSpotPriceHistory, which the sandbox's
// proxy answers: spot-prices.ts), the session's closing cost (a stopped disk's storage included),
// ls's COST column, and `ssh-ec2 prices`.
import {
  DescribeInstanceTypesCommand,
  DescribeSpotPriceHistoryCommand,
  DescribeTagsCommand,
} from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { hourlyPrice, priceListDate, priceListWords, usd, volumeMonthlyPrice } from '../../src/cloud/prices.js';
import { cli, ec2Client, makeProject, reportedInstance, useSandbox } from './helpers.js';

const sb = useSandbox();
const REGION = 'eu-central-1';
// The table's own words for where its prices come from (hand-entered, or AWS's list of a date).
const LIST = priceListWords().replace(/[-.,()]/g, '\\$&');
const od = (type: string) => usd(hourlyPrice(REGION, type)!).replace(/[$.]/g, '\\$&');

describe('the price line and the cost', () => {
  it('before a launch: type, market, zone and the on-demand price with the table’s date; at the end: elapsed and cost, a stopped disk’s storage by the month; ls: running cost', async () => {
    const dir = makeProject(sb, 'prices-line');
    const r = await cli(sb, ['--stop', 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(
        `^ssh-ec2: launching g4dn\\.xlarge \\(on-demand\\) from .* in ${REGION}[a-z]: ${od('g4dn.xlarge')}/h on demand \\(${LIST}\\)$`,
        'm',
      ),
    );
    // The on-demand line asks EC2 nothing (the table is shipped).
    expect(sb.calls('DescribeSpotPriceHistory')).toEqual([]);
    const id = reportedInstance(r.stderr);
    const ec2 = ec2Client(sb);
    const tags = await ec2.send(
      new DescribeTagsCommand({
        Filters: [
          { Name: 'resource-id', Values: [id] },
          { Name: 'key', Values: ['ssh-ec2:volume-gib'] },
        ],
      }),
    );
    const size = Number(tags.Tags![0]!.Value);
    const month = usd(volumeMonthlyPrice(REGION, size)!).replace(/[$.]/g, '\\$&');
    expect(r.stderr).toMatch(
      new RegExp(
        `^ssh-ec2: done in .*; (≈ \\$\\d+\\.\\d\\d|under \\$0\\.01) for \\w+ of g4dn\\.xlarge; storage: its ${size} GiB disk \\(stopped\\) ${month}/month$`,
        'm',
      ),
    );
    // Stopped: its disk by the month.
    const stopped = await cli(sb, ['ls'], { cwd: dir });
    expect(stopped.stdout).toMatch(new RegExp(`${id} +stopped +g4dn\\.xlarge +- +disk ${size} GiB: ${month}/month `));

    // Running (started again, left running): so far and by the hour; no storage said at the end.
    const again = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/launching/);
    expect(again.stderr).not.toMatch(/storage:/);
    const running = await cli(sb, ['ls'], { cwd: dir });
    expect(running.stdout).toMatch(/^NAME +ID +STATE +TYPE +UP +COST +JOB/);
    expect(running.stdout).toMatch(
      new RegExp(`${id} +running +g4dn\\.xlarge +\\d+m +\\$\\d+\\.\\d\\d so far, ${od('g4dn.xlarge')}/h `),
    );
    expect((await cli(sb, ['down', '--yes', '--no-pull'], { cwd: dir })).exitCode).toBe(0);
  });

  it('a spot launch: the spot price now in the zone it launches in', async () => {
    const dir = makeProject(sb, 'prices-spot');
    const zones = ['a', 'b', 'c'].map((z) => `${REGION}${z}`);
    zones.forEach((z, n) => sb.setSpotPrice('g4dn.xlarge', z, 0.1971 + n / 100));
    const r = await cli(sb, ['--spot', 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    const line =
      /^ssh-ec2: launching g4dn\.xlarge \(spot\) from .* in (\S+): \$([\d.]+)\/h spot now \(on-demand (\S+)\/h, (?:AWS list of|list prices entered by hand,) ([\d-]+)\)/m.exec(
        r.stderr,
      );
    expect(line, r.stderr).not.toBeNull();
    const [, zone, price, onDemand, date] = line!;
    expect(Number(price)).toBe(0.1971 + zones.indexOf(zone!) / 100);
    expect([onDemand, date]).toEqual([usd(hourlyPrice(REGION, 'g4dn.xlarge')!), priceListDate()]);
    expect(sb.calls('DescribeSpotPriceHistory').length).toBeGreaterThan(0);
  });
});

describe('ssh-ec2 prices', () => {
  it('prices g5.xlarge t3.micro: each zone, cheapest first, spot now and on demand, with GPUs, vCPUs and memory', async () => {
    const dir = makeProject(sb, 'prices-verb');
    sb.setSpotPrice('g5.xlarge', `${REGION}a`, 0.5123);
    sb.setSpotPrice('g5.xlarge', `${REGION}b`, 0.3456);
    sb.setSpotPrice('g5.xlarge', `${REGION}c`, 0.6);
    const r = await cli(sb, ['prices', 'g5.xlarge', 't3.micro'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    const [head, ...rows] = r.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(/ {2,}/));
    expect(head).toEqual(['TYPE', 'ZONE', 'SPOT NOW', 'ON DEMAND', 'GPUS', 'VCPUS', 'MEMORY']);
    // What EC2 (moto) says of the types, and the spot price the proxy answers for the zones not set.
    const ec2 = ec2Client(sb);
    const types = (await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['g5.xlarge', 't3.micro'] })))
      .InstanceTypes!;
    const g5 = types.find((t) => t.InstanceType === 'g5.xlarge')!;
    const spot = (
      await ec2.send(
        new DescribeSpotPriceHistoryCommand({
          InstanceTypes: ['t3.micro', 'g5.xlarge'],
          StartTime: new Date(),
          Filters: [{ Name: 'product-description', Values: ['Linux/UNIX'] }],
        }),
      )
    ).SpotPriceHistory!;
    const sorted = [...spot].sort((a, b) => Number(a.SpotPrice) - Number(b.SpotPrice));
    expect(rows.map((c) => [c[0], c[1], c[2]])).toEqual(
      sorted.map((p) => [p.InstanceType, p.AvailabilityZone, `${usd(Number(p.SpotPrice))}/h`]),
    );
    // The ones set are the sandbox's answer, the cheapest g5.xlarge first.
    const g5rows = rows.filter((c) => c[0] === 'g5.xlarge');
    expect(g5rows.map((c) => [c[1], c[2]])).toEqual([
      [`${REGION}b`, '$0.3456/h'],
      [`${REGION}a`, '$0.5123/h'],
      [`${REGION}c`, '$0.60/h'],
    ]);
    expect(rows[0]![0]).toBe('t3.micro');
    expect(g5rows[0]!.slice(3)).toEqual([
      `${usd(hourlyPrice(REGION, 'g5.xlarge')!)}/h`,
      `${g5.GpuInfo!.Gpus![0]!.Count} × ${g5.GpuInfo!.Gpus![0]!.Name}`,
      String(g5.VCpuInfo!.DefaultVCpus),
      `${g5.MemoryInfo!.SizeInMiB! / 1024} GiB`,
    ]);
    expect(r.stderr).toContain(priceListWords());
    expect(sb.calls('DescribeSpotPriceHistory').length).toBeGreaterThan(0);
  });

  it('a type the region lacks: one line saying so, nothing listed', async () => {
    const r = await cli(sb, ['prices', 'x9.none'], { cwd: makeProject(sb, 'prices-unknown') });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`ssh-ec2: warning: x9.none is not offered in ${REGION} (or is no instance type EC2 knows)\n`);
  });
});
