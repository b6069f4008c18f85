// The endpoint the CLI under test talks to (AWS_ENDPOINT_URL). It sits in front of moto and
//  - records every API call (memory + <dir>/api-calls.jsonl),
//  - injects faults,
//  - adds what moto lacks: RunInstances' and CreateFleet's idempotency by ClientToken, Instance Connect keys
//    that really reach sshd (and expire), instance checks for SendSSHPublicKey, what a CreateFleet's
//    instances get from their launch template, fleets short of capacity (fleet.ts),
//  - plays what real AWS does and moto does not, for the CLI's calls (aws-behaviour.ts: EC2's
//    eventual consistency, Instance Connect just after boot, expired credentials, launches dying),
//  - rewrites every address in EC2 responses into 127.0.0.0/8, so nothing can ever leave the machine,
//  - plays the instance metadata service (IMDSv2) for the on-instance agent, answering each
//    instance its own id (told apart by the uid owning the asking socket), and what EC2 does
//    when an instance powers itself off (POST /sandbox/poweroff, sent by <dir>/poweroff.sh),
//  - tells the sandbox when an instance runs, starts, stops or terminates (opts.lifecycle), and
//    waits for it before answering: the instance's sshd is up before anyone hears "running".
import { randomBytes, randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { awsBehaviour, type AwsBehaviour, type AwsBehaviourOptions } from './aws-behaviour.js';
import { awsBehaviours, type ConsoleAndStart, type ConsoleAndStartOptions } from './console-and-start.js';
import { fleetInstances, fleetModel, type FleetControl } from './fleet.js';
import { instanceProfileAnswer } from './instance-profile.js';
import { spotInterruptions, type SpotInterruptions } from './interruption.js';
import { fakeAuthorization } from './moto.js';
import { s3Call } from './s3-calls.js';
import { socketOwner } from './util.js';
import { spotPrices, zoneLister } from './spot-prices.js';
import { spotModel, type SpotControl } from './spot.js';

export type Service = 'ec2' | 'ec2-instance-connect' | 'sts' | 's3' | 'sqs';

export interface ApiCall {
  service: Service;
  action: string;
  params: Record<string, string>;
  status: number;
  time: number; // ms since epoch when the request arrived
  /** The SDK's attempt number for this request (its amz-sdk-request header): 2 and up for its own retries. */
  attempt?: number;
  injected?: boolean; // answered by a fault
  replayed?: boolean; // RunInstances answered from the ClientToken cache
  behaviour?: boolean; // answered by one of AWS's behaviours (aws-behaviour.ts), not by moto
  /** S3's and SQS's: the access key that signed it (an instance profile's, instance-profile.ts, or the laptop's). */
  accessKey?: string;
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

/** One request to the fake instance metadata service. */
export interface ImdsRequest {
  method: string;
  path: string;
  status: number;
  time: number; // ms since epoch
  /** The instance id answered (GET .../instance-id with a valid token). */
  instanceId?: string;
}

/**
 * An instance that powered itself off (POST /sandbox/poweroff). Recorded as the request arrives,
 * before EC2 acts on it: whoever sees the instance stopped finds the record already there.
 */
export interface Poweroff {
  instanceId: string;
  reason?: string;
  time: number; // ms since epoch
  /** What EC2 does about it: Stop, or Terminate for InstanceInitiatedShutdownBehavior=terminate. */
  action: 'StopInstances' | 'TerminateInstances';
  /** moto's answer to that; absent while moto has not answered yet, or if refused. */
  status?: number;
  /**
   * Why EC2 was not asked: the instance was not running (its state, e.g. "terminated"). A machine
   * that is not running cannot power itself off; only a leftover of the sandbox (an agent that
   * outlived an instance terminated through the API) can ask.
   */
  refused?: string;
}

export interface PushedKey {
  instanceId: string;
  osUser: string;
  key: string;
}

/** A call held before moto sees it: a slow API, so a test can act while the client waits. */
export interface Hold {
  /** Resolves when the call has arrived (and is being held). */
  arrived: Promise<void>;
  /** Lets it through to moto (whether or not its client is still there). */
  release(): void;
}

export interface Proxy {
  endpoint: string;
  calls(action?: string): ApiCall[];
  clearCalls(): void;
  inject(fault: Fault): void;
  clearFaults(): void;
  /** Holds the next call of `action` until released. */
  hold(action: string, when?: (params: Record<string, string>) => boolean): Hold;
  /** What GET /checkip answers (the CLI's "what is my public address"). */
  setPublicAddress(answer: string): void;
  imdsRequests(): ImdsRequest[];
  poweroffs(): Poweroff[];
  /** What real AWS does that moto does not (aws-behaviour.ts, console-and-start.ts): their switches. */
  aws: AwsBehaviour & ConsoleAndStart;
  /** The spot requests EC2 would keep (spot.ts), and the instances it launched again for them. */
  spot: SpotControl;
  /** Spot interruptions: a notice on an instance's metadata service, then EC2 taking it (interruption.ts). */
  interruptions: SpotInterruptions;
  /** EC2 Fleet's capacity (fleet.ts). */
  fleet: FleetControl;
  /** Changes opts.delayMs for the requests that follow. */
  setDelay(ms: number): void;
  /** DescribeSpotPriceHistory's price of a type in a zone from now on (spot-prices.ts). */
  setSpotPrice(type: string, zone: string, usd: number): void;
  close(): Promise<void>;
}

/** An instance changed state in moto (through a client's call or its own poweroff). */
export interface Lifecycle {
  action: 'RunInstances' | 'CreateFleet' | 'StartInstances' | 'StopInstances' | 'TerminateInstances';
  instanceId: string;
  /** Its loopback addresses (public and private) as the proxy answers them; for RunInstances and StartInstances. */
  addresses: string[];
  /** RunInstances' (or the fleet's launch template's) UserData, decoded (what cloud-init would read at each boot). */
  userData?: string;
}

/** Which instance a request to IMDS or the poweroff endpoint comes from. */
export interface Asker {
  instanceId: string;
  /** What IMDS answers it for instance-id (a test may make an instance's IMDS lie). */
  imdsInstanceId: string;
}

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

const IC_TARGET_PREFIX = 'AWSEC2InstanceConnectService.';
const SQS_TARGET_PREFIX = 'AmazonSQS.';
const KEY_LINE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/;
export const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function ec2Error(status: number, code: string, message: string): Reply {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`;
  return { status, headers: { 'content-type': 'text/xml;charset=UTF-8' }, body: Buffer.from(body) };
}

/** STS speaks the plain query protocol: its errors are wrapped differently from EC2's. */
export function queryError(status: number, code: string, message: string): Reply {
  const body = `<ErrorResponse><Error><Type>Sender</Type><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
  return { status, headers: { 'content-type': 'text/xml' }, body: Buffer.from(body) };
}

export function jsonError(status: number, code: string, message: string): Reply {
  return {
    status,
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amzn-errortype': code,
      'x-amzn-requestid': randomUUID(),
    },
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
      .replace(
        /<(ipAddress|privateIpAddress|publicIp)>([^<]+)<\/\1>/g,
        (_m, tag: string, ip: string) => `<${tag}>${this.map(ip.trim())}</${tag}>`,
      )
      .replace(/<(dnsName|privateDnsName|publicDnsName)>[^<]+<\/\1>/g, '<$1>localhost</$1>');
  }
}

/** IMDSv2 tokens live 1 s to 6 h, like on EC2. */
const IMDS_TTL_MAX = 21600;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function forward(
  target: URL,
  method: string,
  path: string,
  headers: IncomingHttpHeaders,
  body: Buffer,
): Promise<Reply> {
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
          if (v === undefined || ['content-length', 'transfer-encoding', 'connection', 'keep-alive'].includes(k))
            continue;
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
function parseCall(
  req: IncomingMessage,
  body: Buffer,
): { service: Service; action: string; params: Record<string, string> } | undefined {
  const target = req.headers['x-amz-target'];
  const prefix = [IC_TARGET_PREFIX, SQS_TARGET_PREFIX].find((p) => typeof target === 'string' && target.startsWith(p));
  if (typeof target === 'string' && prefix) {
    // JSON protocol (Instance Connect; SQS from the SDK v3): flatten the top-level keys.
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
    } catch {
      // keep empty: moto answers the malformed request
    }
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(json)) params[k] = typeof v === 'string' ? v : JSON.stringify(v);
    const service = prefix === SQS_TARGET_PREFIX ? 'sqs' : 'ec2-instance-connect';
    return { service, action: target.slice(prefix.length), params };
  }
  // EC2, STS or SQS (an older AWS CLI's, e.g. Debian's on the instances) query protocol: form-encoded
  // body (or query string), already flat. All go to one endpoint (AWS_ENDPOINT_URL); the signature's
  // credential scope (…/region/sts/aws4_request) tells them apart.
  const query = new URL(req.url ?? '/', 'http://x').searchParams;
  const form = new URLSearchParams(body.toString('utf8'));
  const params = Object.fromEntries([...query, ...form]);
  const scope = /Credential=[^/,]+\/[^/,]+\/[^/,]+\/([^/,]+)\//.exec(String(req.headers.authorization ?? ''))?.[1];
  const service = scope === 'sts' ? 'sts' : scope === 'sqs' ? 'sqs' : 'ec2';
  return params.Action ? { service, action: params.Action, params } : undefined;
}

export async function startProxy(opts: {
  target: string;
  dir: string;
  region: string;
  /** SendSSHPublicKey succeeded: make the key work on the "instance". */
  onPushedKey(key: PushedKey): void;
  /** What GetConsoleOutput answers for an instance (undefined: moto's own answer). */
  consoleOutput?: (instanceId: string) => string | undefined;
  aws?: AwsBehaviourOptions & ConsoleAndStartOptions;
  /** The instance whose login user has this uid (undefined: not an instance, e.g. a test as root). */
  instanceOf?: (uid: number) => Asker | undefined;
  /** Awaited before the client hears the answer. */
  lifecycle?: (event: Lifecycle) => Promise<void>;
  /** An instance mounts a volume (POST /sandbox/mount: volumes.ts); undefined: done, else why not. */
  mountVolume?: (m: {
    instanceId: string;
    volumeId: string;
    path: string;
    attachedTo?: string;
  }) => Promise<string | undefined>;
  /**
   * A link with latency to the client (the sandbox's linkDelayMs): each of its requests waits this
   * long before it is handled, and its answer as long again before it is sent. The instances'
   * own requests (IMDS, poweroff) are not delayed: they are inside the cloud.
   */
  delayMs?: number;
}): Promise<Proxy> {
  let delayMs = opts.delayMs ?? 0;
  const late = (): Promise<void> => (delayMs > 0 ? new Promise((r) => setTimeout(r, delayMs)) : Promise.resolve());
  const target = new URL(opts.target);
  const logFile = join(opts.dir, 'api-calls.jsonl');
  const addresses = new LoopbackAddresses();
  let calls: ApiCall[] = [];
  let faults: (Fault & { left: number })[] = [];
  let publicAddress = '127.0.0.1';
  let holds: {
    action: string;
    when?: (params: Record<string, string>) => boolean;
    arrive: () => void;
    gate: Promise<void>;
  }[] = [];
  // RunInstances by ClientToken: the first successful answer, replayed like EC2 does.
  const launched = new Map<string, { params: string; reply: Reply }>();
  const launching = new Map<string, Promise<unknown>>();
  // The instance metadata service and self-initiated poweroffs.
  const imdsTokens = new Map<string, { expires: number; instanceId?: string }>(); // token → expiry (ms since epoch), issued to
  let port = 0; // ours, once listening
  const imdsRequests: ImdsRequest[] = [];
  const poweroffs: Poweroff[] = [];
  // Per launched instance: its region and whether powering off terminates it.
  const launchedInstances = new Map<string, { region: string; terminateOnShutdown: boolean }>();

  const takeFault = (action: string, params: Record<string, string>): Fault | undefined => {
    const fault = faults.find((f) => f.action === action && f.left > 0 && (!f.when || f.when(params)));
    if (fault) fault.left--;
    faults = faults.filter((f) => f.left > 0);
    return fault;
  };

  /** What moto would say about an instance, via a DescribeInstances of our own. */
  const instanceState = async (id: string, region: string): Promise<string | undefined> => {
    const body = new URLSearchParams({
      Action: 'DescribeInstances',
      Version: '2016-11-15',
      'InstanceId.1': id,
    }).toString();
    const headers = {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      authorization: fakeAuthorization('ec2', region),
    };
    const r = await forward(target, 'POST', '/', headers, Buffer.from(body));
    if (r.status !== 200) return undefined;
    return /<instanceState>\s*<code>\d+<\/code>\s*<name>([a-z-]+)<\/name>/.exec(r.body.toString('utf8'))?.[1];
  };

  /** One EC2 call of the sandbox's own (not recorded as the client's). */
  const ec2Call = (region: string, params: Record<string, string>): Promise<Reply> => {
    const body = new URLSearchParams({ Version: '2016-11-15', ...params }).toString();
    const headers = {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      authorization: fakeAuthorization('ec2', region),
    };
    return forward(target, 'POST', '/', headers, Buffer.from(body));
  };

  /**
   * SQS's answers with every queue URL on our endpoint: moto builds them from the host it was asked
   * (its own port, as we forward), and AWS's are https://sqs.<region>.amazonaws.com/… — the SDK
   * sends a call to its QueueUrl's host, so either would take a client past the proxy.
   */
  const queueUrls = (text: string): string => {
    const ours = `http://127.0.0.1:${port}`;
    return text
      .split(`${target.protocol}//${target.host}`)
      .join(ours)
      .replace(/https?:\/\/(sqs\.[a-z0-9-]+|[a-z0-9-]+\.queue)\.amazonaws\.com/g, ours);
  };

  const behaviour = awsBehaviour(opts.aws ?? {}, ec2Call);
  const aws = awsBehaviours({ ec2Call, consoleText: (id) => opts.consoleOutput?.(id), error: ec2Error }, opts.aws);
  const spotPriceModel = spotPrices(zoneLister(ec2Call));
  const fleet = fleetModel({ ec2Call });
  const spot = spotModel({
    ec2Call,
    error: ec2Error,
    launched: (params, reply, region) => noteLifecycle('RunInstances', params, reply, region),
  });

  /** The instance a request comes from: the uid that owns the asking socket. */
  const askedBy = (req: IncomingMessage): Asker | undefined => {
    const client = req.socket.remotePort;
    const uid = client === undefined ? undefined : socketOwner(client, port);
    return uid === undefined ? undefined : opts.instanceOf?.(uid);
  };

  /** Loopback addresses of an instance, as the client is told them. */
  const addressesOf = async (id: string, region: string): Promise<string[]> => {
    const r = await ec2Call(region, { Action: 'DescribeInstances', 'InstanceId.1': id });
    const ips = [...r.body.toString('utf8').matchAll(/<(ipAddress|privateIpAddress|publicIp)>([^<]+)<\/\1>/g)].map(
      (m) => addresses.map(m[2]!.trim()),
    );
    return [...new Set(ips)];
  };

  /** Tells the sandbox, and waits for it, before the client hears moto's answer. */
  const tellLifecycle = async (
    action: Lifecycle['action'],
    ids: string[],
    region: string,
    userData?: string,
  ): Promise<void> => {
    if (!opts.lifecycle) return;
    const booting = action === 'RunInstances' || action === 'CreateFleet' || action === 'StartInstances';
    await Promise.all(
      ids.map(async (instanceId) =>
        opts.lifecycle!({
          action,
          instanceId,
          addresses: booting ? await addressesOf(instanceId, region) : [],
          ...(userData !== undefined && { userData }),
        }),
      ),
    );
  };

  const interruptions = spotInterruptions({
    region: (id) => launchedInstances.get(id)?.region ?? opts.region,
    ec2Call,
    halted: (action, id, region) => tellLifecycle(action, [id], region),
  });

  /** IMDSv2, the requests the agent makes; each instance is answered its own id (and its own spot notice). */
  const imds = (req: IncomingMessage, path: string, time: number): Reply => {
    const text = (status: number, body: string): Reply => ({
      status,
      headers: { 'content-type': 'text/plain' },
      body: Buffer.from(body),
    });
    const answer = (reply: Reply, instanceId?: string): Reply => {
      imdsRequests.push({
        method: req.method ?? 'GET',
        path,
        status: reply.status,
        time,
        ...(instanceId !== undefined && { instanceId }),
      });
      appendFileSync(join(opts.dir, 'imds-requests.jsonl'), JSON.stringify(imdsRequests.at(-1)) + '\n');
      return reply;
    };
    const asker = askedBy(req);
    if (path === '/latest/api/token') {
      if (req.method !== 'PUT') return answer(text(405, 'Method Not Allowed'));
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > IMDS_TTL_MAX) return answer(text(400, 'Bad Request'));
      const token = randomBytes(24).toString('base64url');
      imdsTokens.set(token, { expires: time + ttl * 1000, instanceId: asker?.instanceId });
      return answer(text(200, token));
    }
    const token = req.headers['x-aws-ec2-metadata-token'];
    const issued = typeof token === 'string' ? imdsTokens.get(token) : undefined;
    // A token is good on the instance it was issued to only.
    const tokenGood = !!issued && issued.expires >= time && issued.instanceId === asker?.instanceId;
    if (path === '/latest/meta-data/spot/instance-action' && req.method === 'GET') {
      if (!tokenGood) return answer(text(401, 'Unauthorized'));
      const notice = interruptions.imds(asker?.instanceId);
      return answer(text(notice.status, notice.body));
    }
    if (path === '/latest/meta-data/instance-id' && req.method === 'GET') {
      if (!tokenGood) return answer(text(401, 'Unauthorized'));
      // Off any instance (a test asking as root) there is no instance to answer for.
      const id = asker?.imdsInstanceId;
      return id ? answer(text(200, id), id) : answer(text(404, 'Not Found'));
    }
    const profile = instanceProfileAnswer(path, req.method ?? 'GET', tokenGood, time);
    if (profile) return answer(profile);
    return answer(text(404, 'Not Found'));
  };

  /**
   * What EC2 does when an instance runs `shutdown -h now`: stop it, or terminate it if it was
   * launched so. Only a running instance can: moto would turn a terminated one into a stopped one.
   */
  const poweroff = async (instanceId: string, reason: string | undefined, time: number): Promise<Reply> => {
    const launchedAs = launchedInstances.get(instanceId);
    const region = launchedAs?.region ?? opts.region;
    const entry: Poweroff = {
      instanceId,
      ...(reason && { reason }),
      time,
      action: launchedAs?.terminateOnShutdown ? 'TerminateInstances' : 'StopInstances',
    };
    poweroffs.push(entry);
    const state = await instanceState(instanceId, region);
    let reply: Reply;
    if (state === 'running') {
      reply = await ec2Call(region, { Action: entry.action, 'InstanceId.1': instanceId });
      entry.status = reply.status;
    } else {
      entry.refused = state ?? 'not found';
      reply = {
        status: 409,
        headers: { 'content-type': 'text/plain' },
        body: Buffer.from(`${instanceId} is ${entry.refused}: it cannot power itself off\n`),
      };
    }
    appendFileSync(join(opts.dir, 'poweroffs.jsonl'), JSON.stringify(entry) + '\n');
    // The machine goes down: this kills the poweroff script's own curl too, as on a real one.
    if (reply.status === 200) await tellLifecycle(entry.action, [instanceId], region);
    return reply;
  };

  /** Notes what poweroffs need from a launch moto carried out, and tells the sandbox of every state change. */
  const noteLifecycle = async (
    action: string,
    params: Record<string, string>,
    reply: Reply,
    region: string,
  ): Promise<void> => {
    if (reply.status !== 200) return;
    if (action === 'RunInstances') {
      const ids = [
        ...new Set(
          [...reply.body.toString('utf8').matchAll(/<instanceId>\s*(i-[0-9a-f]+)\s*<\/instanceId>/g)].map((m) => m[1]!),
        ),
      ];
      for (const id of ids)
        launchedInstances.set(id, {
          region,
          terminateOnShutdown: params.InstanceInitiatedShutdownBehavior === 'terminate',
        });
      // A launch that died while pending (aws-behaviour.ts) has no machine to boot.
      const alive = await Promise.all(
        ids.map(async (id) => ((await instanceState(id, region)) === 'terminated' ? undefined : id)),
      );
      await tellLifecycle(
        action,
        alive.filter((id) => id !== undefined),
        region,
        params.UserData === undefined ? undefined : Buffer.from(params.UserData, 'base64').toString('utf8'),
      );
    }
    if (action === 'CreateFleet') {
      // moto's fleet keeps none of this: the launch template says it (fleet.ts).
      const ids = fleetInstances(reply.body.toString('utf8')).map((i) => i.instanceId);
      const template = ids.length > 0 ? await fleet.template(params, region) : {};
      await fleet.tagInstances(ids, reply, template, region);
      for (const id of ids)
        launchedInstances.set(id, { region, terminateOnShutdown: template.shutdownBehavior === 'terminate' });
      const alive = await Promise.all(
        ids.map(async (id) => ((await instanceState(id, region)) === 'terminated' ? undefined : id)),
      );
      const machines = alive.filter((id) => id !== undefined);
      await tellLifecycle(action, machines, region, template.userData);
    }
    if (action === 'StartInstances' || action === 'StopInstances' || action === 'TerminateInstances') {
      const ids = Object.entries(params)
        .filter(([k]) => /^InstanceId\.\d+$/.test(k))
        .map(([, v]) => v);
      await tellLifecycle(action, ids, region);
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const time = Date.now();
    let body = await readBody(req);
    const fromInstance = /^\/(latest|sandbox)\//.test(req.url ?? '/');
    if (!fromInstance) await late();
    const send = (r: Reply): void => {
      const out = () => {
        res.writeHead(r.status, { ...r.headers, 'content-length': String(r.body.length) });
        res.end(r.body);
      };
      if (fromInstance || delayMs <= 0) out();
      else setTimeout(out, delayMs);
    };

    // Safety net for the CLI's "what is my public address" lookup (SSH_EC2_IP_URL in env()).
    if (req.method === 'GET' && req.url === '/checkip')
      return send({ status: 200, headers: { 'content-type': 'text/plain' }, body: Buffer.from(`${publicAddress}\n`) });

    // The on-instance agent's side: IMDS (SSH_EC2_IMDS_URL) and the poweroff script.
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.startsWith('/latest/')) return send(imds(req, url.pathname, time));
    if (url.pathname === '/sandbox/poweroff' && req.method === 'POST') {
      const form = new URLSearchParams(body.toString('utf8'));
      const named = url.searchParams.get('instance') ?? form.get('instance') ?? '';
      const reason = url.searchParams.get('reason') ?? form.get('reason') ?? undefined;
      // shutdown powers off the machine it runs on, whatever id the script was given.
      const instanceId = askedBy(req)?.instanceId ?? named;
      if (!/^i-[0-9a-f]+$/.test(instanceId))
        return send({
          status: 400,
          headers: { 'content-type': 'text/plain' },
          body: Buffer.from('instance=i-... wanted\n'),
        });
      const reply = await poweroff(instanceId, reason || undefined, time);
      return send({
        status: reply.status,
        headers: { 'content-type': 'text/plain' },
        body: Buffer.from(reply.status === 200 ? 'ok\n' : reply.body),
      });
    }

    if (url.pathname === '/sandbox/mount' && req.method === 'POST') {
      const form = new URLSearchParams(body.toString('utf8'));
      const volumeId = form.get('volume') ?? '';
      const instanceId = askedBy(req)?.instanceId;
      const r = await ec2Call(opts.region, { Action: 'DescribeVolumes', 'VolumeId.1': volumeId });
      const attachment = /<attachmentSet>([\s\S]*?)<\/attachmentSet>/.exec(r.body.toString('utf8'))?.[1] ?? '';
      const attachedTo = /<instanceId>(i-[0-9a-f]+)<\/instanceId>/.exec(attachment)?.[1];
      const why = instanceId
        ? await opts.mountVolume?.({ instanceId, volumeId, path: form.get('path') ?? '', attachedTo })
        : 'not asked from an instance';
      return send({
        status: why ? 409 : 200,
        headers: { 'content-type': 'text/plain' },
        body: Buffer.from(why ? `${why}\n` : 'ok\n'),
      });
    }
    // S3 (path-style, the instances' --results uploads and pull --from-s3) is recorded like the rest.
    const call = s3Call(req) ?? parseCall(req, body);
    if (!call) return send(await forward(target, req.method ?? 'GET', req.url ?? '/', req.headers, body));
    const { service, action, params } = call;
    const [, accessKey = '', signedRegion] =
      /Credential=([^/]*)\/[^/]+\/([^/]+)\//.exec(String(req.headers.authorization)) ?? [];
    const region = signedRegion ?? opts.region;
    const record = (status: number, extra: Partial<ApiCall> = {}): void => {
      const attempt = /attempt=(\d+)/.exec(String(req.headers['amz-sdk-request'] ?? ''))?.[1];
      const entry: ApiCall = {
        service,
        action,
        params,
        status,
        time,
        ...(attempt && { attempt: Number(attempt) }),
        ...((service === 's3' || service === 'sqs') && { accessKey }),
        ...extra,
      };
      calls.push(entry);
      appendFileSync(logFile, JSON.stringify(entry) + '\n');
    };
    const json = typeof req.headers['x-amz-target'] === 'string';
    const error = (status: number, code: string, message: string): Reply =>
      service === 'ec2'
        ? ec2Error(status, code, message)
        : service === 'sts' || (service === 'sqs' && !json)
          ? queryError(status, code, message)
          : jsonError(status, code, message);
    // Every answer leaves through here: recorded, EC2 XML with loopback addresses only, and SQS's
    // queue URLs pointing at us.
    const finish = (reply: Reply, extra: Partial<ApiCall> = {}): void => {
      record(reply.status, extra);
      const xml = service === 'ec2' && /xml/.test(reply.headers['content-type'] ?? '');
      if (xml) return send({ ...reply, body: Buffer.from(addresses.rewriteXml(reply.body.toString('utf8'))) });
      if (service === 'sqs') return send({ ...reply, body: Buffer.from(queueUrls(reply.body.toString('utf8'))) });
      send(reply);
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

    const held = holds.find((h) => h.action === action && (h.when?.(params) ?? true));
    if (held) {
      holds = holds.filter((h) => h !== held);
      held.arrive();
      await held.gate;
    }

    const answered = behaviour.before({ service, action, params, region, accessKey });
    if (answered) return finish(answered, { behaviour: true });

    const fault = takeFault(action, params);
    const faultReply =
      fault &&
      error(
        fault.status ?? 500,
        fault.code ?? 'InternalError',
        fault.message ?? 'We encountered an internal error. Please try again.',
      );
    if (fault && faultReply && !fault.afterForward) return finish(faultReply, { injected: true });

    // RunInstances (or CreateFleet) with a ClientToken: one launch per token, whatever the retries.
    const idempotent = service === 'ec2' && (action === 'RunInstances' || action === 'CreateFleet');
    const token = idempotent ? params.ClientToken : undefined;
    if (token) {
      while (launching.has(token)) await launching.get(token);
      const done = launched.get(token);
      if (done) {
        const reply =
          done.params === JSON.stringify(params)
            ? done.reply
            : ec2Error(
                400,
                'IdempotentParameterMismatch',
                `The client token ${token} was used with different parameters.`,
              );
        return finish(faultReply ?? reply, { replayed: true, ...(faultReply && { injected: true }) });
      }
    }

    const own =
      service === 'ec2'
        ? ((await spotPriceModel.answer(action, params, region)) ??
          spot.before(action, params) ??
          (await aws.answer(action, params, region)))
        : undefined;
    if (own) return finish(own);

    // Instance Connect: what AWS checks before it accepts a key.
    if (service === 'ec2-instance-connect' && action === 'SendSSHPublicKey') {
      const invalid = !KEY_LINE.test(params.SSHPublicKey ?? '')
        ? error(400, 'InvalidArgsException', 'The SSH public key is not a valid OpenSSH public key.')
        : undefined;
      const state = invalid ? undefined : await instanceState(params.InstanceId ?? '', region);
      const refusal =
        invalid ??
        (state === undefined
          ? error(400, 'EC2InstanceNotFoundException', `Instance ${params.InstanceId} not found`)
          : undefined) ??
        (state !== 'running'
          ? error(
              400,
              'EC2InstanceStateInvalidException',
              `Instance ${params.InstanceId} is not in a valid state for this operation (${state}).`,
            )
          : undefined);
      if (refusal) return finish(refusal);
    }

    // A fleet short of capacity (sb.fleetCapacity), or spot refused: moto is asked for what EC2 would give.
    if (service === 'ec2' && action === 'CreateFleet') body = (await fleet.before(params, region)) ?? body;
    // An instant fleet deleted as AWS does it (fleet.ts): its instances with it, or refused.
    const fleetDeletion =
      service === 'ec2' && action === 'DeleteFleets' ? await fleet.deleting(params, region) : undefined;
    if (fleetDeletion?.answer) return finish(fleetDeletion.answer);
    body = fleetDeletion?.body ?? body;

    let forwarded: Promise<Reply> = forward(target, req.method ?? 'POST', req.url ?? '/', req.headers, body);
    if (token) {
      forwarded = forwarded.then((r) => {
        if (r.status === 200 && action === 'RunInstances')
          launched.set(token, { params: JSON.stringify(params), reply: r });
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

    if (service === 'ec2' && action === 'CreateFleet') reply = await fleet.after(params, reply, region);
    if (service === 'ec2' && action === 'DescribeFleets') reply = fleet.describe(params, reply);
    if (fleetDeletion) {
      reply = fleetDeletion.after(reply);
      await tellLifecycle('TerminateInstances', fleetDeletion.terminated, region);
    }
    reply = await behaviour.after({ service, action, params, region, accessKey }, reply);
    if (action === 'StartInstances') Object.values(params).forEach((v) => interruptions.started(v));
    if (action === 'DescribeInstances' && reply.status === 200)
      reply = { ...reply, body: Buffer.from(interruptions.describe(reply.body.toString('utf8'))) };
    if (service === 'ec2') await noteLifecycle(action, params, reply, region);
    if (service === 'ec2') reply = await spot.after(action, params, reply, region);
    if (service === 'ec2') aws.observe(action, params, reply);
    // A fleet's answer is replayed as the client heard it: with fleet.ts's instances and errors.
    if (token && action === 'CreateFleet' && reply.status === 200)
      launched.set(token, { params: JSON.stringify(params), reply });
    if (faultReply) return finish(faultReply, { injected: true }); // afterForward: moto did it, the client hears an error
    if (service === 'ec2-instance-connect' && action === 'SendSSHPublicKey' && reply.status === 200) {
      opts.onPushedKey({
        instanceId: params.InstanceId ?? '',
        osUser: params.InstanceOSUser ?? '',
        key: params.SSHPublicKey ?? '',
      });
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
  port = (server.address() as AddressInfo).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls: (action) =>
      calls.filter((c) => action === undefined || c.action === action).map((c) => ({ ...c, params: { ...c.params } })),
    clearCalls: () => {
      calls = [];
    },
    inject: (fault) => {
      faults.push({ ...fault, left: fault.times ?? 1 });
    },
    clearFaults: () => {
      faults = [];
    },
    setPublicAddress: (answer) => {
      publicAddress = answer;
    },
    hold: (action, when) => {
      let arrive!: () => void;
      let release!: () => void;
      const arrived = new Promise<void>((r) => (arrive = r));
      const gate = new Promise<void>((r) => (release = r));
      holds.push({ action, when, arrive, gate });
      return { arrived, release };
    },
    imdsRequests: () => imdsRequests.map((r) => ({ ...r })),
    poweroffs: () => poweroffs.map((p) => ({ ...p })),
    setDelay: (ms) => {
      delayMs = ms;
    },
    setSpotPrice: (type, zone, usd) => spotPriceModel.set(type, zone, usd),
    spot: spot.control,
    aws: { ...behaviour.control, setLateConsole: aws.setLateConsole, noStartCapacity: aws.noStartCapacity },
    interruptions: interruptions.control,
    fleet: fleet.control,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
