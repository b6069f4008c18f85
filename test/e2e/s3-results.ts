/**
 * The sandbox's S3 as a test sees it (--results): a bucket and the user's instance profile made,
 * and what is under a prefix, read with a key of the test's own (never the instance's).
 */
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { expect } from 'vitest';
import { fakeAuthorization } from '../sandbox/moto.js';
import type { Sandbox } from '../sandbox/index.js';

/** The access key the test's own S3 calls are signed with: the instance's are any other. */
export const OBSERVER = 'observer';

export interface ResultsBucket {
  /** The keys under `prefix`, without it, sorted. */
  keys(prefix: string): Promise<string[]>;
  /** One object's content. */
  object(key: string): Promise<string>;
}

/** The test's own view of S3 (moto's, through the proxy). */
function client(sb: Sandbox): S3Client {
  return new S3Client({
    region: sb.region,
    endpoint: sb.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: OBSERVER, secretAccessKey: 'testing' },
  });
}

/** Makes `bucket`, and the user's instance profile `profile` (which EC2, moto, checks at launch). */
export async function resultsBucket(sb: Sandbox, bucket: string, profile: string): Promise<ResultsBucket> {
  const s3 = client(sb);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const created = await fetch(sb.endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: fakeAuthorization('iam', sb.region),
    },
    body: new URLSearchParams({ Action: 'CreateInstanceProfile', Version: '2010-05-08', InstanceProfileName: profile }),
  });
  expect(created.status, await created.text()).toBe(200);
  return {
    async keys(prefix) {
      const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
      return (r.Contents ?? []).map((o) => o.Key!.slice(prefix.length)).sort();
    },
    async object(key) {
      const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return r.Body!.transformToString();
    },
  };
}
