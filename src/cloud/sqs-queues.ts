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
import { mapBounded } from '../bounded.js';
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

/** findQueues' looks (two calls each) at once. */
const LOOKS_AT_ONCE = 8;

/** SendMessageBatch's tries of an entry SQS refused by its own fault. */
const SEND_ATTEMPTS = 3;

/** A failed call's error, saying how many of the jobs were queued before it (the caller deletes the queue). */
function notAllSent(err: unknown, sent: number, total: number): unknown {
  if (err instanceof Error) err.message = `${err.message} (${sent} of ${total} jobs sent)`;
  return err;
}

async function settledBoth<A, B>(calls: [Promise<A>, Promise<B>]): Promise<[A, B]> {
  const [a, b] = await Promise.allSettled(calls);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return [a.value, b.value];
}

export function queueCalls(sqs: SQSClient): QueueCalls {
  const info = async (url: string): Promise<QueueInfo | undefined> => {
    try {
      // Both settled before either's error is thrown: findQueues' bound counts the calls in flight.
      const [attrs, tags] = await settledBoth([
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
      const groups = messageBatches(bodies); // a job too long for a message: refused before any is sent
      let sent = 0;
      for (let entries of groups) {
        // SendMessageBatch answers 200 with the entries it refused: those jobs are not queued. SQS's
        // own faults (SenderFault false) are tried again, a few times; ours are not.
        for (let attempt = 1; ; attempt++) {
          const r = await aws(`send the jobs to ${queueName(url)}`, () =>
            sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries })),
          ).catch((err: unknown) => {
            throw notAllSent(err, sent, bodies.length);
          });
          const failed = r.Failed ?? [];
          sent += entries.length - failed.length;
          if (failed.length === 0) break;
          if (attempt < SEND_ATTEMPTS && failed.every((f) => f.SenderFault === false)) {
            const again = new Set(failed.map((f) => f.Id));
            entries = entries.filter((e) => again.has(e.Id));
            await new Promise((r) => setTimeout(r, 200 * attempt));
            continue;
          }
          throw new CloudError(
            `could not send ${failed.length} job(s) to ${queueName(url)} (${sent} of ${bodies.length} sent): ` +
              failed.map((f) => `${f.Id} (${f.Code ?? '?'}: ${f.Message ?? ''})`).join(', '),
            undefined,
            failed[0]!.Code,
          );
        }
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
      // A queue deleted between the listing and the look is left out, and so is one SQS refuses to
      // show: another user's (the policy allows one's own queues only). A few looks at once.
      const found = await aws('look at the queues', () =>
        mapBounded(urls, LOOKS_AT_ONCE, (url) =>
          info(url).catch((err: unknown) => {
            if (kindOf(errorCode(err)) === 'denied') return undefined;
            throw err;
          }),
        ),
      );
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
