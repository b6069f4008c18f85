// S3's REST calls, recognised for the proxy's record (S3 has no Action parameter: the method, the
// path and the query say which call it is). Path-style only (http://endpoint/bucket/key), which is
// what the clients use against the sandbox's loopback endpoint; moto answers them.
import type { IncomingMessage } from 'node:http';

/** The call an S3 request makes, or undefined when it is not signed for S3. */
export function s3Call(
  req: IncomingMessage,
): { service: 's3'; action: string; params: Record<string, string> } | undefined {
  const scope = /Credential=[^/,]+\/[^/,]+\/[^/,]+\/([^/,]+)\//.exec(String(req.headers.authorization ?? ''))?.[1];
  if (scope !== 's3') return undefined;
  const url = new URL(req.url ?? '/', 'http://x');
  const [bucket = '', ...rest] = url.pathname.slice(1).split('/');
  const key = decodeURIComponent(rest.join('/'));
  const q = url.searchParams;
  const method = req.method ?? 'GET';
  const onKey = key !== '';
  const action =
    method === 'PUT' && onKey
      ? req.headers['x-amz-copy-source']
        ? 'CopyObject'
        : q.has('partNumber')
          ? 'UploadPart'
          : 'PutObject'
      : method === 'PUT'
        ? 'CreateBucket'
        : method === 'POST' && q.has('uploads')
          ? 'CreateMultipartUpload'
          : method === 'POST' && q.has('uploadId')
            ? 'CompleteMultipartUpload'
            : method === 'POST' && q.has('delete')
              ? 'DeleteObjects'
              : method === 'HEAD'
                ? onKey
                  ? 'HeadObject'
                  : 'HeadBucket'
                : method === 'DELETE'
                  ? onKey
                    ? 'DeleteObject'
                    : 'DeleteBucket'
                  : onKey
                    ? 'GetObject'
                    : q.get('list-type') === '2'
                      ? 'ListObjectsV2'
                      : 'ListObjects';
  const params: Record<string, string> = { Bucket: decodeURIComponent(bucket), ...Object.fromEntries(q) };
  if (onKey) params.Key = key;
  return { service: 's3', action, params };
}
