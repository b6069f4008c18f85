// The default image's check (src/cloud/dlami.ts) knows accelerated types by their family letters,
// so it can refuse before any AWS call. Checked here against what EC2 itself says of every type
// it describes (moto carries AWS's instance type data): a GPU, Neuron, Inferentia, FPGA or media accelerator.
import { DescribeInstanceTypesCommand, EC2Client, type InstanceTypeInfo } from '@aws-sdk/client-ec2';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DLAMI_FAMILIES, familyOf, isAccelerated } from '../../src/cloud/dlami.js';
import { startMoto, type Moto } from '../sandbox/moto.js';
import { findProgram } from '../sandbox/prerequisites.js';

const REGION = 'eu-central-1';
let moto: Moto;
let dir: string;
let types: InstanceTypeInfo[];

beforeAll(async () => {
  const program = await findProgram('moto_server');
  if (!program) throw new Error("moto_server not found: pip install 'moto[server]'");
  dir = await mkdtemp(join(tmpdir(), 'sshec2-types-'));
  moto = await startMoto({ dir, region: REGION, program });
  const ec2 = new EC2Client({
    region: REGION,
    endpoint: moto.url,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  types = [];
  let NextToken: string | undefined;
  do {
    const page = await ec2.send(new DescribeInstanceTypesCommand({ MaxResults: 100, NextToken }));
    types.push(...(page.InstanceTypes ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  ec2.destroy();
});

afterAll(async () => {
  await moto?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const hasAccelerator = (t: InstanceTypeInfo) =>
  Boolean(t.GpuInfo || t.NeuronInfo || t.InferenceAcceleratorInfo || t.FpgaInfo || t.MediaAcceleratorInfo);

describe('accelerated instance types, by name and by what EC2 says', () => {
  it('agree for every type EC2 describes', () => {
    expect(types.length).toBeGreaterThan(500);
    const disagree = types
      .filter((t) => isAccelerated(t.InstanceType!) !== hasAccelerator(t))
      .map((t) => `${t.InstanceType} (EC2: ${hasAccelerator(t) ? 'accelerated' : 'none'})`);
    expect(disagree).toEqual([]);
  });

  it('every family the default image supports exists, with NVIDIA GPUs', () => {
    for (const family of DLAMI_FAMILIES) {
      const ofFamily = types.filter((t) => familyOf(t.InstanceType!) === family);
      // p6e-gb200 is sold as UltraServers only: EC2 describes no single instance of it.
      if (family === 'p6e-gb200') continue;
      expect(ofFamily.length, family).toBeGreaterThan(0);
      for (const t of ofFamily) expect(t.GpuInfo?.Gpus?.[0]?.Manufacturer, t.InstanceType).toBe('NVIDIA');
    }
  });
});
