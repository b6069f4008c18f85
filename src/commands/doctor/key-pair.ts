/**
 * doctor's key pair check (-i): the EC2 key pair a launch names exists in the region, and is the
 * one of the local key. EC2 shows an imported RSA key's fingerprint as the MD5 of its public key
 * (DER), an RSA key it made as the SHA-1 of its private key (PKCS#8 DER), an ED25519 key's as the
 * base64 SHA-256 of the OpenSSH public key (as ssh-keygen -l); moto shows the SHA-256 of the
 * public key (DER) in colon hex. Each is computed here from the key file, without a program:
 * when none matches, the fingerprint is said to differ (a warning: a form of EC2's not known here
 * would say so too).
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { Cloud } from '../../cloud/port.js';
import { runAllowFailure } from '../../remote/exec.js';
import { originOf } from '../../options.js';
import type { LocalContext } from '../../session/context.js';
import { identityHint } from '../../session/keys.js';
import { fail, ok, warn, type Check } from './report.js';

const colonHex = (b: Buffer): string => b.toString('hex').replace(/(..)(?!$)/g, '$1:');
const digest = (algo: string, b: Buffer): Buffer => createHash(algo).update(b).digest();

/** The OpenSSH public key blob (the base64 of an authorized_keys line), decoded. */
async function publicBlob(identity: string): Promise<Buffer | undefined> {
  const pub = existsSync(`${identity}.pub`)
    ? readFileSync(`${identity}.pub`, 'utf8')
    : (await runAllowFailure(['ssh-keygen', '-y', '-P', '', '-f', identity], { timeoutMs: 10_000 })).stdout;
  const b64 = /^\S+\s+([A-Za-z0-9+/=]+)/.exec(pub.trim())?.[1];
  return b64 ? Buffer.from(b64, 'base64') : undefined;
}

/** The blob's fields (ssh wire format: length-prefixed strings). */
function fields(blob: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at + 4 <= blob.length;) {
    const n = blob.readUInt32BE(at);
    out.push(blob.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

/** The public key as a KeyObject, from the OpenSSH blob (rsa and ed25519). */
function publicKeyOf(blob: Buffer): KeyObject | undefined {
  const [type, a, b] = fields(blob);
  const url = (x: Buffer) => (x[0] === 0 ? x.subarray(1) : x).toString('base64url');
  try {
    if (type?.toString() === 'ssh-rsa' && a && b)
      return createPublicKey({ key: { kty: 'RSA', e: url(a), n: url(b) }, format: 'jwk' });
    if (type?.toString() === 'ssh-ed25519' && a)
      return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: a.toString('base64url') }, format: 'jwk' });
  } catch {
    // not a key node can read: no fingerprint from it
  }
  return undefined;
}

/** Every form EC2 (or moto) may show this key's fingerprint in. */
export async function fingerprints(identity: string): Promise<string[]> {
  const out: string[] = [];
  const blob = await publicBlob(identity);
  if (blob) {
    const sha = digest('sha256', blob).toString('base64');
    out.push(sha, sha.replace(/=+$/, ''));
    const der = publicKeyOf(blob)?.export({ type: 'spki', format: 'der' });
    if (der) out.push(colonHex(digest('md5', der)), colonHex(digest('sha256', der)));
  }
  try {
    const pkcs8 = createPrivateKey(readFileSync(identity)).export({ type: 'pkcs8', format: 'der' });
    out.push(colonHex(digest('sha1', pkcs8)));
  } catch {
    // an OpenSSH-format private key (node reads PEM only), or one with a passphrase
  }
  return out;
}

export async function keyPairCheck(local: LocalContext, cloud: Cloud): Promise<Check> {
  const identity = local.options.identity!;
  const name = local.plan.keyName;
  if (!existsSync(identity))
    return fail('key-pair', `identity file ${identity} not found`, identityHint(originOf(local.options, 'identity')));
  const pair = await cloud.keyPair(name);
  if (!pair)
    return fail(
      'key-pair',
      `no key pair named ${name} in ${cloud.region}`,
      `Import your public key: aws ec2 import-key-pair --region ${cloud.region} --key-name ${name} --public-key-material fileb://${identity}.pub (or name yours with --key-name / AWS_KEY_NAME).`,
    );
  if (!pair.fingerprint) return ok('key-pair', `${name} exists in ${cloud.region} (EC2 shows no fingerprint)`);
  const local_ = await fingerprints(identity);
  if (local_.includes(pair.fingerprint))
    return ok('key-pair', `${name} exists in ${cloud.region}, matching ${identity}`);
  return warn(
    'key-pair',
    `${name} exists in ${cloud.region}, but its fingerprint ${pair.fingerprint} is not ${identity}'s`,
    `If ssh is refused: import ${identity}.pub under another name and pass it with --key-name.`,
  );
}
