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
  paginateDescribeLaunchTemplates,
  type Tag,
} from '@aws-sdk/client-ec2';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { BatchCloud, TemplateInfo } from './batch-port.js';
import { fleetInput, fleetResult, hasTags, launchTemplateInput, tagFilters } from './batch-shapes.js';
import { NewResources, isNotFound } from './consistency.js';
import { aws } from './errors.js';
import { resolveRegion } from './region.js';
import { clientConfig } from './retry.js';
import { tagMap } from './sdk-shapes.js';
import { findFleets } from './fleets.js';
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
  const config = clientConfig(region);
  const ec2 = new EC2Client(config);
  const sqs = new SQSClient({
    ...config,
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

    findLaunchTemplates: (tags) =>
      aws('list the launch templates', async () =>
        (
          await withTags(
            paginateDescribeLaunchTemplates({ client: ec2 }, { Filters: tagFilters(tags) }),
            (p) => p.LaunchTemplates,
            tags,
          )
        ).map(({ item: t, tags: have }): TemplateInfo => ({
          id: t.LaunchTemplateId ?? '',
          name: t.LaunchTemplateName ?? '',
          tags: have,
          createdAt: t.CreateTime,
        })),
      ),

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

    findFleets: (tags) => aws('list the fleets', () => findFleets(ec2, tags)),

    ...queueCalls(sqs),
  };
}

/** The items of every page carrying the tags wanted (batch-shapes.ts's rule), with their tags as a map. */
async function withTags<P, I extends { Tags?: Tag[] }>(
  pages: AsyncIterable<P>,
  items: (page: P) => I[] | undefined,
  want: Record<string, string>,
): Promise<{ item: I; tags: Record<string, string> }[]> {
  const out: { item: I; tags: Record<string, string> }[] = [];
  for await (const page of pages)
    for (const item of items(page) ?? []) {
      const tags = tagMap(item.Tags);
      if (hasTags(tags, want)) out.push({ item, tags });
    }
  return out;
}
