/**
 * The user data EC2 is given at launch: ssh-ec2's own boot part and the user's `--user-data`
 * as one MIME multipart document, which cloud-init runs part by part, each by its type, as it
 * would run either alone. Pure.
 */
import { createHash } from 'node:crypto';
import { ConfigError } from '../errors.js';

/** EC2 refuses more user data than this (before base64). */
export const USER_DATA_MAX_BYTES = 16 * 1024;

export interface UserDataPart {
  /** A MIME type cloud-init knows: text/cloud-boothook, text/x-shellscript, text/cloud-config, … */
  type: string;
  filename: string;
  content: string;
}

/**
 * What cloud-init takes a document for by its first line (its "starts with" table), longest
 * first; anything else is text/plain, which it ignores, as it would alone.
 */
const STARTS: [string, string][] = [
  ['#cloud-config-archive', 'text/cloud-config-archive'],
  ['#cloud-config-jsonp', 'text/cloud-config-jsonp'],
  ['#cloud-config', 'text/cloud-config'],
  ['#cloud-boothook', 'text/cloud-boothook'],
  ['#include-once', 'text/x-include-once-url'],
  ['#include', 'text/x-include-url'],
  ['#part-handler', 'text/part-handler'],
  ['#upstart-job', 'text/upstart-job'],
  ['## template: jinja', 'text/jinja2'],
  ['#!', 'text/x-shellscript'],
];

export function userDataType(content: string): string {
  return STARTS.find(([start]) => content.startsWith(start))?.[1] ?? 'text/plain';
}

/** Is this already a MIME document (a multipart of the user's own)? It is then nested whole. */
const isMime = (content: string): boolean => /^(content-type|mime-version):/i.test(content);

/**
 * ssh-ec2's parts first, then the user's own data (its type told as cloud-init would, or a MIME
 * document of its own nested as it is: cloud-init walks nested multiparts). Throws a ConfigError
 * when the whole is over EC2's limit.
 */
export function mergeUserData(ours: UserDataPart[], theirs: string | undefined): string {
  const bodies = [...ours.map((p) => p.content), theirs ?? ''];
  // Never a line of any part: the hash of them all, checked.
  const boundary = `==ssh-ec2-${createHash('sha256').update(bodies.join('\0')).digest('hex').slice(0, 24)}==`;
  if (bodies.some((b) => b.includes(boundary))) throw new Error('user data contains the MIME boundary');
  const part = (p: UserDataPart) => {
    // Other than ASCII in base64: a MIME parser reading the document as text (cloud-init's) would
    // not give 8-bit bytes back as they were.
    const ascii = /^[\x00-\x7f]*$/.test(p.content);
    return [
      `Content-Type: ${p.type}; charset="utf-8"`,
      'MIME-Version: 1.0',
      `Content-Transfer-Encoding: ${ascii ? '7bit' : 'base64'}`,
      `Content-Disposition: attachment; filename="${p.filename}"`,
      '',
      ascii
        ? p.content
        : (
            Buffer.from(p.content, 'utf8')
              .toString('base64')
              .match(/.{1,76}/g) ?? []
          ).join('\n'),
    ].join('\n');
  };
  const parts = ours.map(part);
  if (theirs !== undefined && theirs !== '')
    parts.push(isMime(theirs) ? theirs : part({ type: userDataType(theirs), filename: 'user-data', content: theirs }));
  const document = [
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    'MIME-Version: 1.0',
    '',
    ...parts.map((p) => `--${boundary}\n${p.endsWith('\n') ? p : `${p}\n`}`),
    `--${boundary}--`,
    '',
  ].join('\n');
  const size = Buffer.byteLength(document, 'utf8');
  if (size > USER_DATA_MAX_BYTES) {
    const own = theirs === undefined ? 0 : Buffer.byteLength(theirs, 'utf8');
    throw new ConfigError(
      `the user data is ${size} bytes, over EC2's ${USER_DATA_MAX_BYTES}: --user-data is ${own} bytes, ssh-ec2's boot-time limit the rest`,
      `Make --user-data smaller (e.g. a script that downloads the rest), at most ${USER_DATA_MAX_BYTES - (size - own)} bytes.`,
    );
  }
  return document;
}
