import { SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import type { TemplateSpec } from '../../src/cloud/batch-port.js';
import {
  SQS_MESSAGE_BYTES,
  fleetInput,
  fleetPriceCap,
  fleetResult,
  hasTags,
  launchTemplateInput,
  messageBatches,
  queueCounts,
  queueName,
  tagFilters,
} from '../../src/cloud/batch-shapes.js';
import { runInstancesInput } from '../../src/cloud/run-instances.js';
import { queueCalls } from '../../src/cloud/sqs-queues.js';
import { UsageError } from '../../src/errors.js';
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

  it("--max-price is one instance's: the fleet's MaxTotalPrice is it times the lane's instances", () => {
    const r = fleetInput({ ...base, market: 'spot', count: 4, maxPrice: '0.35', overrides: [] }, 'tok');
    expect(r.SpotOptions).toEqual({ AllocationStrategy: 'price-capacity-optimized', MaxTotalPrice: '1.4' });
    expect(fleetPriceCap({ count: 3, maxPrice: '0.1' })).toBe('0.3');
  });

  it('the instances are tagged by the call itself, as the fleet is', () => {
    const r = fleetInput({ ...base, market: 'on-demand', overrides: [] }, 'tok');
    expect(r.TagSpecifications).toEqual([
      { ResourceType: 'fleet', Tags: expect.arrayContaining([{ Key: 'ssh-ec2:batch', Value: 'b' }]) },
      { ResourceType: 'instance', Tags: expect.arrayContaining([{ Key: 'ssh-ec2:batch', Value: 'b' }]) },
    ]);
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

  it('and within 256 KiB together; a job too long for one message is a usage error naming it', () => {
    const big = (job: string) => JSON.stringify({ job, cmd: 'x'.repeat(100_000), failures: 0, attempt: 1 });
    const batches = messageBatches([big('a'), big('b'), big('c'), 'small']);
    expect(batches.map((b) => b.map((e) => e.Id))).toEqual([
      ['m0', 'm1'],
      ['m2', 'm3'],
    ]);
    for (const b of batches)
      expect(b.reduce((n, e) => n + Buffer.byteLength(e.MessageBody), 0)).toBeLessThanOrEqual(SQS_MESSAGE_BYTES);
    const huge = JSON.stringify({ job: 'long-one', cmd: 'x'.repeat(SQS_MESSAGE_BYTES), failures: 0, attempt: 1 });
    expect(() => messageBatches(['{"job":"ok"}', huge])).toThrow(UsageError);
    expect(() => messageBatches([huge])).toThrow(/^job long-one: its command is too long for a queue message/);
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

describe('the SQS calls (sqs-queues.ts) against a stand-in client', () => {
  /** An SQSClient that answers each command by its name, recording what it was sent. */
  const client = (answers: Record<string, (input: Record<string, unknown>) => unknown>) => {
    const sent: { name: string; input: Record<string, unknown> }[] = [];
    // A real client (the paginator checks it is one) whose send never leaves the process.
    const sqs = new SQSClient({ region: 'eu-central-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    sqs.send = (async (cmd: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const name = cmd.constructor.name.replace(/Command$/, '');
      sent.push({ name, input: cmd.input });
      const answer = answers[name];
      if (!answer) throw new Error(`unexpected ${name}`);
      return answer(cmd.input);
    }) as never;
    return { calls: queueCalls(sqs), sent };
  };
  const sqsError = (name: string) => Object.assign(new Error(`${name} (stand-in)`), { name });
  const URL = 'http://127.0.0.1:1/123456789012/ssh-ec2-b-1';

  it('SendMessageBatch in tens; entries it refused are an error naming them', async () => {
    const ok = client({ SendMessageBatch: () => ({ Successful: [], Failed: [] }) });
    await ok.calls.sendJobs(
      URL,
      Array.from({ length: 13 }, (_, k) => `b${k}`),
    );
    expect(ok.sent.map((c) => (c.input.Entries as unknown[]).length)).toEqual([10, 3]);
    const partly = client({
      SendMessageBatch: () => ({
        Failed: [{ Id: 'm3', Code: 'InternalError', Message: 'try again', SenderFault: false }],
      }),
    });
    // SQS's own fault, every time: tried three times, then an error saying what was sent.
    await expect(partly.calls.sendJobs(URL, ['a', 'b', 'c', 'd'])).rejects.toThrow(
      'could not send 1 job(s) to ssh-ec2-b-1 (3 of 4 sent): m3 (InternalError: try again)',
    );
    expect(partly.sent.map((c) => (c.input.Entries as { Id: string }[]).map((e) => e.Id))).toEqual([
      ['m0', 'm1', 'm2', 'm3'],
      ['m3'],
      ['m3'],
    ]);
  });

  it('an entry SQS refused by its own fault is sent again; one refused as ours is not; a failed call says what was sent', async () => {
    let n = 0;
    const once = client({
      SendMessageBatch: () =>
        n++ === 0 ? { Failed: [{ Id: 'm1', Code: 'InternalError', SenderFault: false }] } : { Failed: [] },
    });
    await once.calls.sendJobs(URL, ['a', 'b']);
    expect(once.sent.map((c) => (c.input.Entries as { Id: string }[]).map((e) => e.Id))).toEqual([
      ['m0', 'm1'],
      ['m1'],
    ]);
    const ours = client({
      SendMessageBatch: () => ({ Failed: [{ Id: 'm0', Code: 'InvalidMessageContents', SenderFault: true }] }),
    });
    await expect(ours.calls.sendJobs(URL, ['a'])).rejects.toThrow('(0 of 1 sent)');
    expect(ours.sent).toHaveLength(1);
    let k = 0;
    const broken = client({
      SendMessageBatch: () => (k++ === 0 ? { Failed: [] } : Promise.reject(sqsError('AccessDenied'))),
    });
    await expect(
      broken.calls.sendJobs(
        URL,
        Array.from({ length: 12 }, (_, i) => `b${i}`),
      ),
    ).rejects.toThrow('(10 of 12 jobs sent)');
  });

  it("a queue gone (either protocol's code): no info, deleting it is done; a purge under way is done", async () => {
    for (const code of ['QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue']) {
      const gone = client({
        GetQueueAttributes: () => Promise.reject(sqsError(code)),
        ListQueueTags: () => ({ Tags: {} }),
        DeleteQueue: () => Promise.reject(sqsError(code)),
      });
      expect(await gone.calls.queueInfo(URL)).toBeUndefined();
      await gone.calls.deleteQueue(URL);
    }
    const purging = client({
      PurgeQueue: () => Promise.reject(sqsError('AWS.SimpleQueueService.PurgeQueueInProgress')),
    });
    await purging.calls.purgeQueue(URL);
  });

  it('SQS refusing is the missing-permission message the other calls give', async () => {
    const denied = client({
      ListQueues: () =>
        Promise.reject(
          Object.assign(sqsError('AccessDenied'), {
            message: 'User: arn:aws:iam::1:user/a is not authorized to perform: sqs:listqueues on resource: *',
          }),
        ),
    });
    await expect(denied.calls.findQueues('ssh-ec2-')).rejects.toThrow(
      /not allowed to list the queues \(sqs:listqueues\)/,
    );
  });

  it("findQueues: another user's queue (AccessDenied) is left out; at most 8 looks at once", async () => {
    let open = 0;
    let most = 0;
    const urls = Array.from({ length: 20 }, (_, k) => `${URL}-${k}`);
    const look = async (input: Record<string, unknown>, answer: unknown) => {
      most = Math.max(most, ++open);
      await new Promise((r) => setImmediate(r));
      open--;
      if (input.QueueUrl === `${URL}-3`) throw sqsError('AccessDenied');
      return answer;
    };
    const many = client({
      ListQueues: () => ({ QueueUrls: urls }),
      GetQueueAttributes: (input) => look(input, { Attributes: {} }),
      ListQueueTags: (input) => look(input, { Tags: {} }),
    });
    const found = await many.calls.findQueues('ssh-ec2-');
    expect(found.map((q) => q.url)).toEqual(urls.filter((u) => u !== `${URL}-3`));
    expect(most).toBeLessThanOrEqual(16); // 8 queues, two calls each
  });

  it('findQueues: by prefix, every page, each with its tags and counts', async () => {
    const pages = client({
      ListQueues: (input) => (input.NextToken ? { QueueUrls: [`${URL}-2`] } : { QueueUrls: [URL], NextToken: 'next' }),
      GetQueueAttributes: () => ({
        Attributes: { ApproximateNumberOfMessages: '2', ApproximateNumberOfMessagesNotVisible: '1' },
      }),
      ListQueueTags: () => ({ Tags: { 'ssh-ec2': 'p' } }),
    });
    const found = await pages.calls.findQueues('ssh-ec2-');
    expect(found.map((q) => [q.name, q.visible, q.inFlight, q.tags['ssh-ec2']])).toEqual([
      ['ssh-ec2-b-1', 2, 1, 'p'],
      ['ssh-ec2-b-1-2', 2, 1, 'p'],
    ]);
    expect(pages.sent.filter((c) => c.name === 'ListQueues').map((c) => c.input.QueueNamePrefix)).toEqual([
      'ssh-ec2-',
      'ssh-ec2-',
    ]);
  });
});
