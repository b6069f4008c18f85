// A private moto_server (the fake EC2 API) on a free loopback port.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exited, freePort, killGroup, waitUntil } from './util.js';

export const AMIS_FILE = fileURLToPath(new URL('./amis.json', import.meta.url));
// Holds sitecustomize.py, which works around a moto bug with MOTO_AMIS_PATH (see there).
const PATCH_DIR = fileURLToPath(new URL('./moto-patch', import.meta.url));

export interface Moto {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Sends one raw request to moto; used for readiness and warm-up. */
export function rawRequest(
  url: string,
  body = '',
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: body ? 'POST' : 'GET', headers: { ...headers, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** An Authorization header moto routes by (it reads service and region from the scope, never checks the signature). */
export const fakeAuthorization = (service: string, region: string): string =>
  `AWS4-HMAC-SHA256 Credential=testing/20250101/${region}/${service}/aws4_request, SignedHeaders=host, Signature=0`;

export async function startMoto(opts: { dir: string; region: string; program: string }): Promise<Moto> {
  // A port that was free can be taken before moto binds it (parallel workers): retry then.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if (attempt >= 3 || !String(err).includes('Address already in use')) throw err;
    }
  }
}

async function startOnce({ dir, region, program }: { dir: string; region: string; program: string }): Promise<Moto> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logFile = join(dir, 'moto.log');
  const log = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(program, ['-H', '127.0.0.1', '-p', String(port)], {
      detached: true, // own process group: stop() kills moto and anything it forked at once
      stdio: ['ignore', log, log],
      env: {
        ...process.env,
        PYTHONPATH: [PATCH_DIR, process.env.PYTHONPATH].filter(Boolean).join(':'),
        MOTO_AMIS_PATH: AMIS_FILE, // only our images exist: an unknown ImageId fails like on AWS
        MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION: 'true',
        MOTO_ENABLE_AMI_VALIDATION: 'true',
        SSH_EC2_SANDBOX: dir, // lets the reaper recognise an orphaned moto of a crashed run
      },
    });
  } finally {
    closeSync(log);
  }
  const stop = async (): Promise<void> => {
    killGroup(child.pid);
    await exited(child);
  };
  try {
    await waitUntil('moto_server', child, logFile, () =>
      rawRequest(`${url}/moto-api/`).then(
        () => true,
        () => false,
      ),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  // moto imports its EC2 code on the first EC2 call (~2 s of CPU). Start that now but do not
  // wait: it overlaps with whatever the test does next, and the first real call simply queues
  // behind it. If it fails, the real calls fail the same way, with moto.log to explain.
  rawRequest(url, 'Action=DescribeRegions&Version=2016-11-15', {
    'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
    authorization: fakeAuthorization('ec2', region),
  }).catch(() => undefined);
  return { url, pid: child.pid ?? 0, stop };
}
