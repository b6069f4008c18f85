/**
 * A batch's resources (issue #14) in `ssh-ec2 ls --all-regions` and `down --orphans`: made directly
 * with the batch port as `ssh-ec2 batch` makes them (template, an instant fleet, a queue holding
 * jobs, all tagged as docs/BATCH.md says), then listed by the CLI; `down --orphans` deletes the template,
 * fleet and queue of the batch whose instance is ended and leaves another batch whose instance runs.
 */
import { CreateTagsCommand, TerminateInstancesCommand, type Tag } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchCloud } from '../../src/cloud/batch-port.js';
import { createBatchCloud } from '../../src/cloud/batch-aws.js';
import {
  cli,
  ec2Client,
  instances,
  instanceState,
  makeProject,
  reportedInstance,
  useSandbox,
  until,
} from './helpers.js';

const sb = useSandbox();

/** docs/BATCH.md's tags: the session's own (taken from an instance the CLI launched) plus the batch's. */
const batchTags = (base: Record<string, string>, batch: string) => ({ ...base, 'ssh-ec2:batch': batch });

/** A batch's launch template as `ssh-ec2 batch` makes it; `extra`: the template's own tags (made long ago). */
const templateOf = (batch: string, tags: Record<string, string>, extra: Record<string, string> = {}) => ({
  name: `ssh-ec2-${batch}`,
  imageId: 'ami-0d1a00000000a0001',
  securityGroupIds: [],
  rootDevice: '/dev/sda1',
  volumeSizeGiB: 20,
  shutdownBehavior: 'stop' as const,
  instanceTags: tags,
  // Made long ago: down --orphans leaves a batch made moments ago (its launch may be under way).
  tags: { ...tags, 'ssh-ec2:batch-created': '2026-01-01T00:00:00.000Z', ...extra },
});

describe('batch resources in ls --all-regions and down --orphans', () => {
  let port: BatchCloud;
  const saved = { ...process.env };
  beforeAll(async () => {
    // The batch port as the CLI makes it: the sandbox's endpoints and credentials.
    const env = sb.env();
    for (const k of ['AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_EC2_METADATA_DISABLED'])
      process.env[k] = env[k];
    port = await createBatchCloud({ region: sb.region, queueEndpoint: env.SSH_EC2_QUEUE_ENDPOINT });
  });
  afterAll(() => {
    process.env = saved;
  });

  it("lists a batch's template, fleet, queue and results; ends those of the batch with no live instance only", async () => {
    const dir = makeProject(sb, 'batch-resources');
    // An instance launched by the CLI: its tags are the session's own (project, user, host, …), and it
    // stands for the running instance of the second batch.
    const first = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(first.exitCode, first.stderr).toBe(0);
    const running = reportedInstance(first.stderr);
    const own = (await instances(sb)).find((i) => i.InstanceId === running)!.Tags!;
    const base = Object.fromEntries(
      own.filter((t) => t.Key && !t.Key.startsWith('aws:') && t.Key !== 'Name').map((t) => [t.Key!, t.Value!]),
    );

    // Batch "ended": template, an instant fleet of one (its instance then terminated), a queue of 2 jobs.
    const ended = 'ended-20260101-000000';
    const endedTags = batchTags(base, ended);
    const template = await port.createLaunchTemplate(
      templateOf(ended, endedTags, {
        'ssh-ec2:batch-jobs': '2',
        'ssh-ec2:batch-results': `s3://results-bucket/runs/${ended}/`,
      }),
    );
    const fleet = await port.createFleet({
      templateId: template.id,
      overrides: [{ instanceType: 't3.large' }],
      count: 1,
      market: 'on-demand',
      tags: { ...endedTags, 'ssh-ec2:batch-lane': '1' },
    });
    expect(fleet.instanceIds, JSON.stringify(fleet.errors)).toHaveLength(1);
    const queue = await port.createQueue(`ssh-ec2-${ended}-1`, { ...endedTags, 'ssh-ec2:batch-lane': '1' }, 300);
    await port.sendJobs(queue, ['{"job":"job-1","cmd":"dHJ1ZQ==","failures":0,"attempt":1}', '{"job":"job-2"}']);
    // A queue URL naming AWS (as a record or another laptop may hold it) still goes to the endpoint
    // given, never off this machine: the sandbox answers it.
    const awsUrl = `https://sqs.${sb.region}.amazonaws.com/123456789012/ssh-ec2-${ended}-1`;
    expect(await port.queueInfo(awsUrl)).toMatchObject({ visible: 2, inFlight: 0 });
    // So too without SSH_EC2_QUEUE_ENDPOINT: the SDK's own endpoint (AWS_ENDPOINT_URL), not the URL's host.
    const viaEnv = await createBatchCloud({ region: sb.region });
    expect(await viaEnv.queueInfo(awsUrl)).toMatchObject({ visible: 2, inFlight: 0 });
    const ec2 = ec2Client(sb);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: fleet.instanceIds }));
    await until(
      async () => (await instanceState(sb, fleet.instanceIds[0]!)) === 'terminated',
      'the fleet instance ended',
    );

    // Batch "live": its template and queue, and the CLI's running instance as its instance.
    const live = 'live-20260101-000000';
    const liveTags = batchTags(base, live);
    const liveTemplate = await port.createLaunchTemplate(templateOf(live, liveTags));
    const liveQueue = await port.createQueue(`ssh-ec2-${live}-1`, liveTags, 300);
    const tag: Tag = { Key: 'ssh-ec2:batch', Value: live };
    await ec2.send(new CreateTagsCommand({ Resources: [running], Tags: [tag] }));

    const ls = await cli(sb, ['ls', '--all-regions'], { cwd: dir });
    expect(ls.exitCode, ls.stderr).toBe(0);
    const row = (id: string) => ls.stdout.split('\n').find((l) => l.includes(id)) ?? `(no row for ${id})`;
    expect(row(template.id)).toMatch(/launch-template/);
    expect(row(fleet.fleetId)).toMatch(/\sfleet\s/);
    expect(row(`ssh-ec2-${ended}-1`)).toMatch(/\squeue\s.*2 queued, 0 taken/);
    expect(row(`s3://results-bucket/runs/${ended}/`)).toMatch(/\sresults\s.*never deleted/);
    expect(row(liveQueue)).toMatch(/\squeue\s/);

    const down = await cli(sb, ['down', '--orphans', '--all-regions', '--yes'], { cwd: dir });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(down.stderr).toContain(`queue ssh-ec2-${ended}-1 (still holds 2 job(s): they would never run)`);
    expect(down.stderr).toMatch(new RegExp(`batch ${live} .*${running} \\(running\\) still live: left alone`));
    // Checked through the API: the ended batch's resources are gone, the live one's are all there.
    expect(await port.queueInfo(queue)).toBeUndefined();
    expect((await port.findFleets({ 'ssh-ec2:batch': ended }))[0]?.state).toMatch(/^deleted/);
    expect(await port.findLaunchTemplates({ 'ssh-ec2:batch': ended })).toEqual([]);
    expect(await port.queueInfo(liveQueue)).toMatchObject({ name: `ssh-ec2-${live}-1` });
    expect((await port.findLaunchTemplates({ 'ssh-ec2:batch': live })).map((t) => t.id)).toEqual([liveTemplate.id]);
    expect(await instanceState(sb, running)).toBe('running');
    // The results are listed, never deleted: said so.
    expect(down.stderr).toContain(`results of batch ${ended} at s3://results-bucket/runs/${ended}/`);
    // The CLI's SQS calls went to the endpoint SSH_EC2_QUEUE_ENDPOINT names (the proxy records them).
    const sqs = sb
      .calls()
      .filter((c) => c.service === 'sqs')
      .map((c) => c.action);
    expect(sqs).toEqual(expect.arrayContaining(['ListQueues', 'GetQueueAttributes', 'DeleteQueue']));

    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [running] }));
    await port.deleteQueue(liveQueue);
    await port.deleteLaunchTemplate(liveTemplate.id);
  });
});
