/**
 * The laptop's S3 client, for `pull --from-s3` (the results --results uploaded from the instance):
 * list a folder, fetch one object. The same client configuration as ec2.ts (region, retries, user
 * agent); loaded by the pull only when asked, so nothing else pays for the S3 SDK.
 */
import './quiet-sdk.js';
import { createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, paginateListObjectsV2, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { aws } from './errors.js';
import { resolveRegion } from './region.js';
import { clientConfig } from './retry.js';
import type { S3Location } from './s3-location.js';

export interface StoredObject {
  /** The key under the folder listed (no leading slash). */
  path: string;
  size: number;
  /** S3's ETag without quotes: the MD5 of the content, for an object uploaded in one part (no "-"). */
  etag: string;
  modified: Date;
}

export interface ResultsStore {
  list(folder: S3Location): Promise<StoredObject[]>;
  /** The object's content, written to `file` (a new file: the caller links it into place, never over one). */
  download(folder: S3Location, path: string, file: string): Promise<void>;
}

/** The batch verbs also read a few small objects whole (state.ts, batch logs). */
export interface ResultsReader extends ResultsStore {
  /** A small object's text (a batch's manifest.json, a job's ssh-ec2-job.json): undefined if there is none. */
  read(folder: S3Location, path: string): Promise<string | undefined>;
}

/** ssh-ec2 batch's one write: a small object written whole (its manifest.json). */
export interface ObjectWriter {
  put(folder: S3Location, path: string, body: string): Promise<void>;
}

/** `endpoint`: SSH_EC2_RESULTS_ENDPOINT, else the SDK's own (AWS's, or AWS_ENDPOINT_URL). */
export async function createResultsStore(cfg: {
  region?: string;
  endpoint?: string;
}): Promise<ResultsReader & ObjectWriter> {
  const s3 = new S3Client({
    ...clientConfig(await resolveRegion(cfg.region)),
    ...(cfg.endpoint && { endpoint: cfg.endpoint }),
    // A bucket in a host name cannot work with an endpoint given by address (a test's, a gateway's).
    ...(cfg.endpoint && { forcePathStyle: true }),
  });
  return {
    async list(folder) {
      const found: StoredObject[] = [];
      await aws(`list s3://${folder.bucket}/${folder.prefix}`, async () => {
        for await (const page of paginateListObjectsV2(
          { client: s3 },
          { Bucket: folder.bucket, Prefix: folder.prefix },
        ))
          for (const o of page.Contents ?? []) {
            if (!o.Key || o.Key.endsWith('/')) continue; // a "folder" made by the console
            found.push({
              path: o.Key.slice(folder.prefix.length),
              size: o.Size ?? 0,
              etag: (o.ETag ?? '').replaceAll('"', ''),
              modified: o.LastModified ?? new Date(0),
            });
          }
      });
      return found;
    },
    async download(folder, path, file) {
      const key = `${folder.prefix}${path}`;
      await aws(`fetch s3://${folder.bucket}/${key}`, async () => {
        const r = await s3.send(new GetObjectCommand({ Bucket: folder.bucket, Key: key }));
        // Streamed: a result may be larger than memory.
        await pipeline(r.Body as Readable, createWriteStream(file, { flags: 'wx' }));
      });
    },
    async put(folder, path, body) {
      const key = `${folder.prefix}${path}`;
      await aws(`write s3://${folder.bucket}/${key}`, () =>
        s3.send(new PutObjectCommand({ Bucket: folder.bucket, Key: key, Body: body, ContentType: 'application/json' })),
      );
    },
    async read(folder, path) {
      const key = `${folder.prefix}${path}`;
      try {
        const r = await s3.send(new GetObjectCommand({ Bucket: folder.bucket, Key: key }));
        return await r.Body?.transformToString();
      } catch (err) {
        if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
        return aws(`fetch s3://${folder.bucket}/${key}`, () => Promise.reject(err));
      }
    },
  };
}
