/**
 * The batch port's queues (SQS): made, filled, counted, listed, purged, deleted. The client is
 * batch-aws.ts's; its endpoint never follows a QueueUrl (see there).
 */
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ListQueueTagsCommand,
  paginateListQueues,
  PurgeQueueCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { CloudError } from '../errors.js';
import { kindOf } from './aws-codes.js';
import type { BatchCloud, QueueInfo } from './batch-port.js';
import { messageBatches, queueCounts, queueName } from './batch-shapes.js';
import { aws, errorCode } from './errors.js';

type QueueCalls = Pick<
  BatchCloud,
  'createQueue' | 'sendJobs' | 'queueInfo' | 'findQueues' | 'purgeQueue' | 'deleteQueue'
>;

/** The error (mapped or the SDK's) says the queue is no more. */
const isGone = (err: unknown): boolean => {
  for (let e = err; e; e = (e as { cause?: unknown }).cause) if (kindOf(errorCode(e)) === 'gone') return true;
  return false;
};

export function queueCalls(sqs: SQSClient): QueueCalls {
  const info = async (url: string): Promise<QueueInfo | undefined> => {
    try {
      const [attrs, tags] = await Promise.all([
        sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: url,
            AttributeNames: [
              'ApproximateNumberOfMessages',
              'ApproximateNumberOfMessagesNotVisible',
              'CreatedTimestamp',
            ],
          }),
        ),
        sqs.send(new ListQueueTagsCommand({ QueueUrl: url })),
      ]);
      return { url, name: queueName(url), tags: tags.Tags ?? {}, ...queueCounts(attrs.Attributes) };
    } catch (err) {
      if (isGone(err)) return undefined;
      throw err;
    }
  };

  return {
    async createQueue(name, tags, visibilitySeconds) {
      const r = await aws(`create the queue ${name}`, () =>
        sqs.send(
          new CreateQueueCommand({
            QueueName: name,
            Attributes: { VisibilityTimeout: String(visibilitySeconds) },
            tags,
          }),
        ),
      );
      if (!r.QueueUrl) throw new Error('CreateQueue returned no URL');
      return r.QueueUrl;
    },

    async sendJobs(url, bodies) {
      for (const entries of messageBatches(bodies)) {
        const r = await aws(`send the jobs to ${queueName(url)}`, () =>
          sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries })),
        );
        // SendMessageBatch answers 200 with the entries it refused: those jobs were never queued.
        const failed = r.Failed ?? [];
        if (failed.length > 0)
          throw new CloudError(
            `could not send ${failed.length} job(s) to ${queueName(url)}: ` +
              failed.map((f) => `${f.Id} (${f.Code ?? '?'}: ${f.Message ?? ''})`).join(', '),
            undefined,
            failed[0]!.Code,
          );
      }
    },

    queueInfo: (url) => aws(`look at the queue ${queueName(url)}`, () => info(url)),

    async findQueues(prefix) {
      const urls = await aws('list the queues', async () => {
        const out: string[] = [];
        for await (const page of paginateListQueues({ client: sqs }, { QueueNamePrefix: prefix, MaxResults: 1000 }))
          out.push(...(page.QueueUrls ?? []));
        return out;
      });
      // A queue deleted between the listing and the look is left out.
      const found = await aws('look at the queues', () => Promise.all(urls.map(info)));
      return found.filter((q): q is QueueInfo => q !== undefined);
    },

    async purgeQueue(url) {
      await aws(`empty the queue ${queueName(url)}`, async () => {
        try {
          await sqs.send(new PurgeQueueCommand({ QueueUrl: url }));
        } catch (err) {
          // Purged moments ago: it is being emptied already.
          if (kindOf(errorCode(err)) !== 'under-way') throw err;
        }
      });
    },

    async deleteQueue(url) {
      await aws(`delete the queue ${queueName(url)}`, async () => {
        try {
          await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
        } catch (err) {
          if (!isGone(err)) throw err;
        }
      });
    },
  };
}
