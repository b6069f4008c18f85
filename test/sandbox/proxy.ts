// The endpoint the CLI under test talks to (AWS_ENDPOINT_URL). It sits in front of moto and
//  - records every API call (memory + <dir>/api-calls.jsonl),
//  - injects faults,
//  - adds what moto lacks: RunInstances idempotency by ClientToken, Instance Connect keys
//    that really reach sshd (and expire), instance checks for SendSSHPublicKey,
//  - rewrites every address in EC2 responses into 127.0.0.0/8, so nothing can ever leave the machine.
import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fakeAuthorization } from './moto.js';

export type Service = 'ec2' | 'ec2-instance-connect';

export interface ApiCall {
  service: Service;
  action: string;
  params: Record<string, string>;
  status: number;
  time: number; // ms since epoch when the request arrived
  injected?: boolean; // answered by a fault
  replayed?: boolean; // RunInstances answered from the ClientToken cache
}

export interface Fault {
  action: string;
  status?: number; // default 500
  code?: string; // default InternalError
  message?: string;
  times?: number; // default 1; Infinity allowed
  when?: (params: Record<string, string>) => boolean;
  afterForward?: boolean; // let moto do it, then answer the error anyway (lost response)
}

export interface PushedKey {
  instanceId: string;
  osUser: string;
  key: string;
}

export interface Proxy {
  endpoint: string;
  calls(action?: string): ApiCall[];
  clearCalls(): void;
  inject(fault: Fault): void;
  clearFaults(): void;
  close(): Promise<void>;
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

const IC_TARGET_PREFIX = 'AWSEC2InstanceConnectService.';
const KEY_LINE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/;
const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function ec2Error(status: number, code: string, message: string): Reply {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`;
  return { status, headers: { 'content-type': 'text/xml;charset=UTF-8' }, body: Buffer.from(body) };
}

export function jsonError(status: number, code: string, message: string): Reply {
  return {
    status,
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': code, 'x-amzn-requestid': randomUUID() },
    body: Buffer.from(JSON.stringify({ __type: code, message })),
  };
}

/** Maps every address moto invents to a distinct loopback one (127.0.1.1, 127.0.1.2, …; never 127.0.0.1). */
class LoopbackAddresses {
  private readonly toLoop = new Map<string, string>();
  private readonly fromLoop = new Map<string, string>();

  map(original: string): string {
    if (original.startsWith('127.')) return original;
    let mapped = this.toLoop.get(original);
    if (!mapped) {
      const n = this.toLoop.size;
      mapped = `127.0.${1 + Math.floor(n / 254)}.${1 + (n % 254)}`;
      this.toLoop.set(original, mapped);
      this.fromLoop.set(mapped, original);
    }
    return mapped;
  }

  /** Back to moto's address, for requests that quote one (filters such as ip-address). */
  unmap(value: string): string {
    return this.fromLoop.get(value) ?? value;
  }

  rewriteXml(xml: string): string {
    return xml
      .replace(/<(ipAddress|privateIpAddress|publicIp)>([^<]+)<\/\1>/g, (_m, tag: string, ip: string) => `<${tag}>${this.map(ip.trim())}</${tag}>`)
      .replace(/<(dnsName|privateDnsName|publicDnsName)>[^<]+<\/\1>/g, '<$1>localhost</$1>');
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function forward(target: URL, method: string, path: string, headers: IncomingHttpHeaders, body: Buffer): Promise<Reply> {
  const out: IncomingHttpHeaders = { ...headers, host: target.host, 'content-length': String(body.length) };
  delete out.expect;
  delete out.connection;
  delete out['transfer-encoding'];
  return new Promise((resolve, reject) => {
    const req = request({ host: target.hostname, port: target.port, method, path, headers: out }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const h: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) {
          if (v === undefined || ['content-length', 'transfer-encoding', 'connection', 'keep-alive'].includes(k)) continue;
          h[k] = Array.isArray(v) ? v.join(', ') : v;
        }
        resolve({ status: res.statusCode ?? 502, headers: h, body: Buffer.concat(chunks) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Recognises the API call; undefined for anything else (passed through unrecorded). */
function parseCall(req: IncomingMessage, body: Buffer): { service: Service; action: string; params: Record<string, string> } | undefined {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string' && target.startsWith(IC_TARGET_PREFIX)) {
    // JSON protocol: flatten the top-level keys.
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
    } catch {
      // keep empty: moto answers the malformed request
    }
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(json)) params[k] = typeof v === 'string' ? v : JSON.stringify(v);
    return { service: 'ec2-instance-connect', action: target.slice(IC_TARGET_PREFIX.length), params };
  }
  // EC2 query protocol: form-encoded body (or query string), already flat.
  const query = new URL(req.url ?? '/', 'http://x').searchParams;
  const form = new URLSearchParams(body.toString('utf8'));
  const params = Object.fromEntries([...query, ...form]);
  return params.Action ? { service: 'ec2', action: params.Action, params } : undefined;
}

export async function startProxy(opts: {
  target: string;
  dir: string;
  region: string;
  /** SendSSHPublicKey succeeded: make the key work on the "instance". */
  onPushedKey(key: PushedKey): void;
}): Promise<Proxy> {
  const target = new URL(opts.target);
  const logFile = join(opts.dir, 'api-calls.jsonl');
  const addresses = new LoopbackAddresses();
  let calls: ApiCall[] = [];
  let faults: (Fault & { left: number })[] = [];
  // RunInstances by ClientToken: the first successful answer, replayed like EC2 does.
  const launched = new Map<string, { params: string; reply: Reply }>();
  const launching = new Map<string, Promise<unknown>>();

  const takeFault = (action: string, params: Record<string, string>): Fault | undefined => {
    const fault = faults.find((f) => f.action === action && f.left > 0 && (!f.when || f.when(params)));
    if (fault) fault.left--;
    faults = faults.filter((f) => f.left > 0);
    return fault;
  };

  /** What moto would say about an instance, via a DescribeInstances of our own. */
  const instanceState = async (id: string, region: string): Promise<string | undefined> => {
    const body = new URLSearchParams({ Action: 'DescribeInstances', Version: '2016-11-15', 'InstanceId.1': id }).toString();
    const headers = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', authorization: fakeAuthorization('ec2', region) };
    const r = await forward(target, 'POST', '/', headers, Buffer.from(body));
    if (r.status !== 200) return undefined;
    return /<instanceState>\s*<code>\d+<\/code>\s*<name>([a-z-]+)<\/name>/.exec(r.body.toString('utf8'))?.[1];
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const time = Date.now();
    let body = await readBody(req);
    const send = (r: Reply): void => {
      res.writeHead(r.status, { ...r.headers, 'content-length': String(r.body.length) });
      res.end(r.body);
    };

    // Safety net for the CLI's "what is my public address" lookup (SSH_EC2_IP_URL in env()).
    if (req.method === 'GET' && req.url === '/checkip') return send({ status: 200, headers: { 'content-type': 'text/plain' }, body: Buffer.from('127.0.0.1\n') });

    const call = parseCall(req, body);
    if (!call) return send(await forward(target, req.method ?? 'GET', req.url ?? '/', req.headers, body));
    const { service, action, params } = call;
    const record = (status: number, extra: Partial<ApiCall> = {}): void => {
      const entry: ApiCall = { service, action, params, status, time, ...extra };
      calls.push(entry);
      appendFileSync(logFile, JSON.stringify(entry) + '\n');
    };
    const error = (status: number, code: string, message: string): Reply =>
      service === 'ec2' ? ec2Error(status, code, message) : jsonError(status, code, message);
    // Every answer leaves through here: recorded, and EC2 XML with loopback addresses only.
    const finish = (reply: Reply, extra: Partial<ApiCall> = {}): void => {
      record(reply.status, extra);
      const xml = service === 'ec2' && /xml/.test(reply.headers['content-type'] ?? '');
      send(xml ? { ...reply, body: Buffer.from(addresses.rewriteXml(reply.body.toString('utf8'))) } : reply);
    };

    // Requests that quote one of our loopback addresses get moto's original back.
    if (service === 'ec2') {
      const form = new URLSearchParams(body.toString('utf8'));
      let changed = false;
      for (const [k, v] of form) {
        const original = addresses.unmap(v);
        if (original !== v) {
          form.set(k, original);
          changed = true;
        }
      }
      if (changed) body = Buffer.from(form.toString());
    }

    const fault = takeFault(action, params);
    const faultReply = fault && error(fault.status ?? 500, fault.code ?? 'InternalError', fault.message ?? 'We encountered an internal error. Please try again.');
    if (fault && faultReply && !fault.afterForward) return finish(faultReply, { injected: true });

    // RunInstances with a ClientToken: one instance per token, whatever the retries.
    const token = service === 'ec2' && action === 'RunInstances' ? params.ClientToken : undefined;
    if (token) {
      while (launching.has(token)) await launching.get(token);
      const done = launched.get(token);
      if (done) {
        const reply = done.params === JSON.stringify(params)
          ? done.reply
          : ec2Error(400, 'IdempotentParameterMismatch', `The client token ${token} was used with different parameters.`);
        return finish(faultReply ?? reply, { replayed: true, ...(faultReply && { injected: true }) });
      }
    }

    // Instance Connect: what AWS checks before it accepts a key.
    if (service === 'ec2-instance-connect' && action === 'SendSSHPublicKey') {
      const region = /Credential=[^/]+\/[^/]+\/([^/]+)\//.exec(String(req.headers.authorization))?.[1] ?? opts.region;
      const invalid = !KEY_LINE.test(params.SSHPublicKey ?? '')
        ? error(400, 'InvalidArgsException', 'The SSH public key is not a valid OpenSSH public key.')
        : undefined;
      const state = invalid ? undefined : await instanceState(params.InstanceId ?? '', region);
      const refusal = invalid
        ?? (state === undefined ? error(400, 'EC2InstanceNotFoundException', `Instance ${params.InstanceId} not found`) : undefined)
        ?? (state !== 'running' ? error(400, 'EC2InstanceStateInvalidException', `Instance ${params.InstanceId} is not in a valid state for this operation (${state}).`) : undefined);
      if (refusal) return finish(refusal);
    }

    let forwarded: Promise<Reply> = forward(target, req.method ?? 'POST', req.url ?? '/', req.headers, body);
    if (token) {
      forwarded = forwarded.then((r) => {
        if (r.status === 200) launched.set(token, { params: JSON.stringify(params), reply: r });
        return r;
      });
      const settled = forwarded.catch(() => undefined).finally(() => launching.delete(token));
      launching.set(token, settled);
    }
    let reply: Reply;
    try {
      reply = await forwarded;
    } catch (err) {
      reply = error(502, 'SandboxProxyError', `moto unreachable: ${String(err)}`);
    }

    if (faultReply) return finish(faultReply, { injected: true }); // afterForward: moto did it, the client hears an error
    if (service === 'ec2-instance-connect' && action === 'SendSSHPublicKey' && reply.status === 200) {
      opts.onPushedKey({ instanceId: params.InstanceId ?? '', osUser: params.InstanceOSUser ?? '', key: params.SSHPublicKey ?? '' });
    }
    finish(reply);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`sandbox proxy failed: ${String(err)}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls: (action) => calls.filter((c) => action === undefined || c.action === action).map((c) => ({ ...c, params: { ...c.params } })),
    clearCalls: () => {
      calls = [];
    },
    inject: (fault) => {
      faults.push({ ...fault, left: fault.times ?? 1 });
    },
    clearFaults: () => {
      faults = [];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
