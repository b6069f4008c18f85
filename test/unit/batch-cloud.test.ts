import { describe, expect, it } from 'vitest';
import type { TemplateSpec } from '../../src/cloud/batch-port.js';
import {
  fleetInput,
  fleetResult,
  hasTags,
  launchTemplateInput,
  messageBatches,
  queueCounts,
  queueName,
  tagFilters,
} from '../../src/cloud/batch-shapes.js';
import { runInstancesInput } from '../../src/cloud/run-instances.js';
import { FakeBatchCloud } from '../fakes/batch-cloud.js';
import { FakeCloud } from '../fakes/cloud.js';

const SPEC: TemplateSpec = {
  name: 'ssh-ec2-sweep-20261130-192400',
  imageId: 'ami-1',
  securityGroupIds: ['sg-1'],
  iamProfile: 'results-role',
  userData: '#!/bin/sh\necho hi\n',
  rootDevice: '/dev/sda1',
  volumeSizeGiB: 80,
  shutdownBehavior: 'terminate',
  keyName: 'mine',
  instanceTags: { 'ssh-ec2': 'p1', 'ssh-ec2:batch': 'sweep-20261130-192400' },
  tags: { 'ssh-ec2': 'p1', 'ssh-ec2:batch': 'sweep-20261130-192400', 'ssh-ec2:batch-jobs': '5' },
};

describe('the launch template says what a session launch says', () => {
  it('every safety setting of RunInstances, the same values', () => {
    const data = launchTemplateInput(SPEC).LaunchTemplateData!;
    const run = runInstancesInput({ ...SPEC, instanceType: 'x', tags: SPEC.instanceTags });
    expect(data.MetadataOptions).toEqual(run.MetadataOptions);
    expect(data.MetadataOptions?.HttpTokens).toBe('required');
    expect(data.BlockDeviceMappings).toEqual(run.BlockDeviceMappings);
    expect(data.BlockDeviceMappings?.[0]).toMatchObject({
      DeviceName: '/dev/sda1',
      Ebs: { VolumeSize: 80, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true },
    });
    expect(data.InstanceInitiatedShutdownBehavior).toBe('terminate');
    expect(data.IamInstanceProfile).toEqual({ Name: 'results-role' });
    expect(Buffer.from(data.UserData!, 'base64').toString()).toBe(SPEC.userData);
    expect(data).not.toHaveProperty('InstanceType');
    expect(data.InstanceMarketOptions).toBeUndefined(); // the fleet says the market
  });

  it('tags: the instance and its volumes get the instance tags, the template its own', () => {
    const input = launchTemplateInput(SPEC);
    const tags = Object.fromEntries(
      (input.LaunchTemplateData!.TagSpecifications ?? []).map((t) => [t.ResourceType, t.Tags]),
    );
    expect(Object.keys(tags).sort()).toEqual(['instance', 'volume']);
    expect(tags.instance).toContainEqual({ Key: 'ssh-ec2:batch', Value: 'sweep-20261130-192400' });
    expect(input.TagSpecifications).toEqual([
      { ResourceType: 'launch-template', Tags: expect.arrayContaining([{ Key: 'ssh-ec2:batch-jobs', Value: '5' }]) },
    ]);
  });
});

describe('the fleet request', () => {
  const base = { templateId: 'lt-1', count: 3, tags: { 'ssh-ec2:batch': 'b', 'ssh-ec2:batch-lane': '1' } };

  it('on-demand: instant, the types in their order (prioritized), the fleet tagged', () => {
    const r = fleetInput(
      { ...base, market: 'on-demand', overrides: [{ instanceType: 'g5.xlarge' }, { instanceType: 'g4dn.xlarge' }] },
      'tok',
    );
    expect(r).toMatchObject({
      Type: 'instant',
      ClientToken: 'tok',
      TargetCapacitySpecification: {
        TotalTargetCapacity: 3,
        DefaultTargetCapacityType: 'on-demand',
        OnDemandTargetCapacity: 3,
      },
      OnDemandOptions: { AllocationStrategy: 'prioritized' },
      TagSpecifications: [
        { ResourceType: 'fleet', Tags: expect.arrayContaining([{ Key: 'ssh-ec2:batch', Value: 'b' }]) },
      ],
    });
    expect(r.SpotOptions).toBeUndefined();
    expect(r.LaunchTemplateConfigs![0]!.Overrides).toEqual([
      { InstanceType: 'g5.xlarge', Priority: 0 },
      { InstanceType: 'g4dn.xlarge', Priority: 1 },
    ]);
  });

  it('spot: price-capacity-optimized, the max total price when given, a subnet per override', () => {
    const r = fleetInput(
      {
        ...base,
        market: 'spot',
        maxTotalPrice: '1.5',
        overrides: [{ instanceType: 'g5.xlarge', subnetId: 'subnet-a' }],
      },
      'tok',
    );
    expect(r.SpotOptions).toEqual({ AllocationStrategy: 'price-capacity-optimized', MaxTotalPrice: '1.5' });
    expect(r.TargetCapacitySpecification).toMatchObject({ DefaultTargetCapacityType: 'spot', SpotTargetCapacity: 3 });
    expect(r.OnDemandOptions).toBeUndefined();
    expect(r.LaunchTemplateConfigs![0]!.Overrides).toEqual([{ InstanceType: 'g5.xlarge', SubnetId: 'subnet-a' }]);
  });

  it("the answer: every instance id, each error's code, message and type", () => {
    expect(
      fleetResult({
        FleetId: 'fleet-1',
        Instances: [{ InstanceIds: ['i-1', 'i-2'] }, { InstanceIds: ['i-3'] }],
        Errors: [
          {
            ErrorCode: 'InsufficientInstanceCapacity',
            ErrorMessage: 'no room',
            LaunchTemplateAndOverrides: { Overrides: { InstanceType: 'g5.xlarge' } },
          },
        ],
      }),
    ).toEqual({
      fleetId: 'fleet-1',
      instanceIds: ['i-1', 'i-2', 'i-3'],
      errors: [{ code: 'InsufficientInstanceCapacity', message: 'no room', instanceType: 'g5.xlarge' }],
    });
  });
});

describe('tags, queues and messages', () => {
  it('tag filters: each tag, or the key ssh-ec2 when none is asked', () => {
    expect(tagFilters({ 'ssh-ec2:batch': 'b' })).toEqual([{ Name: 'tag:ssh-ec2:batch', Values: ['b'] }]);
    expect(tagFilters({})).toEqual([{ Name: 'tag-key', Values: ['ssh-ec2'] }]);
    expect(hasTags({ 'ssh-ec2': 'x', a: '1' }, { a: '1' })).toBe(true);
    expect(hasTags({ a: '2' }, { a: '1' })).toBe(false);
    expect(hasTags({ a: '1' }, {})).toBe(false);
  });

  it("a queue's counts and age from SQS's strings; its name from its URL", () => {
    expect(
      queueCounts({
        ApproximateNumberOfMessages: '4',
        ApproximateNumberOfMessagesNotVisible: '1',
        CreatedTimestamp: '1796000000',
      }),
    ).toEqual({ visible: 4, inFlight: 1, createdAt: new Date(1796000000 * 1000) });
    expect(queueCounts(undefined)).toEqual({ visible: 0, inFlight: 0 });
    expect(queueName('https://sqs.eu-central-1.amazonaws.com/123/ssh-ec2-b-1')).toBe('ssh-ec2-b-1');
  });

  it('messages go in tens, each id unique within its call', () => {
    const batches = messageBatches(Array.from({ length: 23 }, (_, k) => `body-${k}`));
    expect(batches.map((b) => b.length)).toEqual([10, 10, 3]);
    for (const b of batches) expect(new Set(b.map((e) => e.Id)).size).toBe(b.length);
    expect(batches[2]![2]).toEqual({ Id: 'm22', MessageBody: 'body-22' });
  });
});

describe('the fake batch port cooperates with the fake cloud', () => {
  it("a fleet's instances are the cloud's, tagged; capacity short → errors; DeleteFleets ends them as EC2 does", async () => {
    const cloud = new FakeCloud();
    const batch = new FakeBatchCloud(cloud);
    batch.capacity = { 'g5.xlarge': 1 };
    const t = await batch.createLaunchTemplate(SPEC);
    const r = await batch.createFleet({
      templateId: t.id,
      overrides: [{ instanceType: 'g5.xlarge' }, { instanceType: 'g4dn.xlarge' }],
      count: 3,
      market: 'spot',
      tags: { 'ssh-ec2:batch-lane': '1' },
    });
    expect(r.instanceIds).toHaveLength(3);
    expect(r.errors).toEqual([
      expect.objectContaining({ code: 'InsufficientInstanceCapacity', instanceType: 'g5.xlarge' }),
    ]);
    const found = await cloud.findInstances({ 'ssh-ec2:batch': 'sweep-20261130-192400', 'ssh-ec2:batch-lane': '1' });
    expect(found.map((i) => i.id).sort()).toEqual([...r.instanceIds].sort());
    expect(found.every((i) => i.spotRequestId)).toBe(true);
    await batch.deleteFleets([r.fleetId]);
    expect(r.instanceIds.map((id) => cloud.get(id)!.state)).toEqual(['terminated', 'terminated', 'terminated']);
    expect((await batch.findFleets({ 'ssh-ec2:batch-lane': '1' }))[0]!.state).toBe('deleted_terminating');
    await expect(batch.createLaunchTemplate(SPEC)).rejects.toThrow(/AlreadyExists/);
  });

  it('queues: sent, taken, counted, purged; deleting one gone is fine', async () => {
    const batch = new FakeBatchCloud(new FakeCloud());
    const url = await batch.createQueue('ssh-ec2-b-1', { 'ssh-ec2:batch': 'b' }, 300);
    await batch.sendJobs(url, ['a', 'b', 'c']);
    batch.take(url);
    expect(await batch.queueInfo(url)).toMatchObject({ name: 'ssh-ec2-b-1', visible: 2, inFlight: 1 });
    expect((await batch.findQueues('ssh-ec2-b-')).map((q) => q.url)).toEqual([url]);
    await batch.purgeQueue(url);
    expect(await batch.queueInfo(url)).toMatchObject({ visible: 0, inFlight: 0 });
    await batch.deleteQueue(url);
    await batch.deleteQueue(url);
    expect(await batch.queueInfo(url)).toBeUndefined();
    expect(batch.callsOf('deleteQueue')).toHaveLength(2);
  });
});
