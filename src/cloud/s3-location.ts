/**
 * Where --results puts a project's results: s3://bucket/prefix, and under it one folder per
 * directory (its name). Pure: read by the settings, the agent's configuration and `pull --from-s3`
 * alike, without loading the SDK.
 */
import { UsageError } from '../errors.js';

export interface S3Location {
  bucket: string;
  /** The key prefix, '' or ending in '/'. */
  prefix: string;
}

// S3's bucket naming rules (3–63 lower-case letters, digits, dots and hyphens, a letter or digit
// at each end): a name outside them is a typo, said before anything is launched.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** `s3://bucket/prefix` (the prefix optional) → its bucket and prefix; anything else: a usage error. */
export function parseS3Url(raw: string, source: string): S3Location | undefined {
  if (raw === '') return undefined;
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(raw.trim());
  const bucket = m?.[1] ?? '';
  if (!m || !BUCKET.test(bucket) || bucket.includes('..'))
    throw new UsageError(`${source}: expected s3://bucket/prefix (a valid bucket name), got "${raw}"`);
  const parts = (m[2] ?? '').split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '.' || p === '..'))
    throw new UsageError(`${source}: "." and ".." cannot be parts of the prefix, got "${raw}"`);
  return { bucket, prefix: parts.map((p) => `${p}/`).join('') };
}

/** The folder of one directory's results: `<prefix>/<directory name>/`. */
export function resultsFolder(base: S3Location, dirName: string): S3Location {
  return { bucket: base.bucket, prefix: `${base.prefix}${dirName}/` };
}

export const s3Url = (l: S3Location): string => `s3://${l.bucket}/${l.prefix}`;

/** The setting's parser: the URL checked and written one way (`s3://bucket/prefix/`), as `config` shows it. */
export function normalS3Url(raw: string, source: string): string | undefined {
  const l = parseS3Url(raw, source);
  return l && s3Url(l);
}

/** A URL the setting's parser wrote. */
export const s3Location = (url: string): S3Location => parseS3Url(url, 'an s3:// URL')!;
