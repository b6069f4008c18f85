/**
 * The batch port (batch-port.ts) made with the AWS SDK: launch templates and EC2 Fleet here, SQS in
 * sqs-queues.ts, the requests' shapes in batch-shapes.ts. One client configuration as ec2.ts's
 * (region, retries, user agent). Loaded only by the batch verbs and by ls/down's inventory, so a
 * session never pays for the SQS SDK.
 */
import './quiet-sdk.js';
import { randomUUID } from 'node:crypto';
import {
  CreateFleetCommand,
  CreateLaunchTemplateCommand,
  DeleteFleetsCommand,
  DeleteLaunchTemplateCommand,
  EC2Client,
  paginateDescribeFleets,
  paginateDescribeLaunchTemplates,
} from '@aws-sdk/client-ec2';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { BatchCloud, FleetInfo, TemplateInfo } from './batch-port.js';
import { fleetInput, fleetResult, hasTags, launchTemplateInput, tagFilters } from './batch-shapes.js';
import { NewResources, isNotFound } from './consistency.js';
import { aws } from './errors.js';
import { resolveRegion } from './region.js';
import { MAX_ATTEMPTS, retryStrategy } from './retry.js';
import { tagMap } from './sdk-shapes.js';
import { queueCalls } from './sqs-queues.js';

/** DeleteFleets takes at most 25 instant fleets per call. */
const FLEETS_PER_DELETE = 25;

/**
 * `queueEndpoint`: SSH_EC2_QUEUE_ENDPOINT, else the SDK's own (AWS's, or AWS_ENDPOINT_URL).
 * The SQS client never takes a request's endpoint from its QueueUrl (the SDK's default when the
 * two differ): a URL naming amazonaws.com, read from a tag or a record, would otherwise send the
 * call off the endpoint this run was given (a test's machine, a gateway).
 */
export async function createBatchCloud(cfg: { region?: string; queueEndpoint?: string }): Promise<BatchCloud> {
  const region = await resolveRegion(cfg.region);
  const clientConfig = {
    region,
    maxAttempts: MAX_ATTEMPTS,
    retryStrategy: retryStrategy(MAX_ATTEMPTS),
    customUserAgent: [['ssh-ec2', '0.1.0'] as [string, string]],
  };
  const ec2 = new EC2Client(clientConfig);
  const sqs = new SQSClient({
    ...clientConfig,
    credentials: ec2.config.credentials,
    useQueueUrlAsEndpoint: false,
    ...(cfg.queueEndpoint && { endpoint: cfg.queueEndpoint }),
  });
  // What this run made: EC2 may not know a new template yet when the fleet names it (consistency.ts).
  const created = new NewResources();

  return {
    region,

    async createLaunchTemplate(spec) {
      const r = await aws(`create the launch template ${spec.name}`, () =>
        ec2.send(new CreateLaunchTemplateCommand(launchTemplateInput(spec))),
      );
      const id = r.LaunchTemplate?.LaunchTemplateId;
      if (!id) throw new Error('CreateLaunchTemplate returned no id');
      created.add(id);
      return { id, name: r.LaunchTemplate?.LaunchTemplateName ?? spec.name };
    },

    async deleteLaunchTemplate(id) {
      await aws('delete the launch template', async () => {
        try {
          await created.settle([id], () => ec2.send(new DeleteLaunchTemplateCommand({ LaunchTemplateId: id })));
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      });
    },

    async findLaunchTemplates(tags) {
      return aws('list the launch templates', async () => {
        const out: TemplateInfo[] = [];
        for await (const page of paginateDescribeLaunchTemplates({ client: ec2 }, { Filters: tagFilters(tags) }))
          for (const t of page.LaunchTemplates ?? []) {
            const have = tagMap(t.Tags);
            if (t.LaunchTemplateId && hasTags(have, tags))
              out.push({
                id: t.LaunchTemplateId,
                name: t.LaunchTemplateName ?? '',
                tags: have,
                createdAt: t.CreateTime,
              });
          }
        return out;
      });
    },

    async createFleet(f) {
      // One token per fleet: the SDK's retries of this call re-send it, and cannot launch twice.
      const input = fleetInput(f, randomUUID());
      const r = await aws('launch the fleet', () =>
        created.settle([f.templateId], () => ec2.send(new CreateFleetCommand(input))),
      );
      const result = fleetResult(r);
      for (const id of [result.fleetId, ...result.instanceIds]) created.add(id);
      return result;
    },

    async deleteFleets(ids) {
      // EC2 ends an instant fleet's instances with it ("a deleted instant fleet with running
      // instances is not supported"): the callers delete a fleet once its instances are ended.
      for (let k = 0; k < ids.length; k += FLEETS_PER_DELETE) {
        const chunk = ids.slice(k, k + FLEETS_PER_DELETE);
        const r = await aws('delete the fleets', () =>
          created.settle(chunk, () =>
            ec2.send(new DeleteFleetsCommand({ FleetIds: [...chunk], TerminateInstances: true })),
          ),
        );
        const failed = (r.UnsuccessfulFleetDeletions ?? []).filter(
          (u) => u.Error?.Code !== 'fleetIdDoesNotExist' && u.Error?.Code !== 'fleetNotInDeletableState',
        );
        if (failed.length > 0)
          throw new Error(
            `could not delete the fleets ${failed.map((u) => `${u.FleetId} (${u.Error?.Code}: ${u.Error?.Message})`).join(', ')}`,
          );
      }
    },

    async findFleets(tags) {
      return aws('list the fleets', async () => {
        const out: FleetInfo[] = [];
        for await (const page of paginateDescribeFleets({ client: ec2 }, { Filters: tagFilters(tags) }))
          for (const f of page.Fleets ?? []) {
            const have = tagMap(f.Tags);
            if (f.FleetId && hasTags(have, tags))
              out.push({ id: f.FleetId, state: f.FleetState ?? 'unknown', tags: have, createdAt: f.CreateTime });
          }
        return out;
      });
    },

    ...queueCalls(sqs),
  };
}
