/**
 * --notify URL: one JSON POST when a command ends (README "Hooks and notifications" shows it).
 * A tmux/screen job announces its own end from the instance (src/agent/notify.sh, with curl), as
 * nobody may be here when it ends; a plain session's end is sent from here, after the final state,
 * bounded by NOTIFY_TIMEOUT_MS. Both send the same shape: the members known ahead are made here
 * (notifyFields), the instance adds the numbers of the end. Never the run's exit status: a
 * notification that fails is one warning line. The URL may carry a secret: logs show scheme://host/….
 */
import { basename } from 'node:path';
import { s3Url } from '../cloud/s3-location.js';
import type { Options } from '../options.js';
import { redactUrl } from '../options/hook-options.js';
import { shQuote } from '../remote/remote-command.js';
import type { Usage } from '../remote/usage.js';
import type { Logger } from '../ui/logger.js';
import type { Run } from './context.js';
import type { Plan } from './plan.js';
import { resultsFolderOf } from './results.js';

/** How long a notification from here may take, all of it: the exit waits no longer. */
export const NOTIFY_TIMEOUT_MS = 5_000;

/** What the notification says before the end: which job, where it ran, where its results are. */
export interface NotifyKnown {
  /** The job's name: the project directory's name (a batch job: its own name). */
  job: string;
  /** The command as typed; null for an interactive shell. */
  command: string | null;
  /** The batch's id: null until batches exist (issue #14's batch engine fills it). */
  batch: string | null;
  instance: string;
  region: string;
  results: { local: string; s3: string | null };
}

export function notifyKnown(
  o: Pick<Options, 'command' | 'results'>,
  plan: Pick<Plan, 'projectDir'>,
  instance: string,
  region: string,
): NotifyKnown {
  return {
    job: basename(plan.projectDir) || 'root',
    command: o.command.length > 0 ? o.command.join(' ') : null,
    batch: null,
    instance,
    region,
    results: { local: plan.projectDir, s3: o.results ? s3Url(resultsFolderOf(o.results, plan)) : null },
  };
}

/** The end, as measured: the rest of the JSON. */
export interface NotifyEnd {
  exitStatus: number;
  usage?: Usage;
  endedAt: Date;
  sentFrom: 'laptop' | 'instance';
}

/** The whole JSON, as sent from here (notify.sh prints the same members in the same order). */
export function notifyBody(known: NotifyKnown, end: NotifyEnd): string {
  return JSON.stringify({
    ...known,
    exit_status: end.exitStatus,
    duration_seconds: end.usage?.wallSeconds ?? null,
    peak_memory_bytes: end.usage?.peakBytes ?? null,
    ended_at: end.endedAt.toISOString().replace(/\.\d+Z$/, 'Z'),
    sent_from: end.sentFrom,
  });
}

/** notify.sh's settings (NOTIFY_CONF): the URL and the known members, empty without --notify. */
export function notifyConf(url: string | undefined, known: NotifyKnown): string {
  const fields = url ? JSON.stringify(known).slice(1, -1) : '';
  return `NOTIFY_URL=${shQuote(url ?? '')}\nNOTIFY_FIELDS=${shQuote(fields)}\n`;
}

/**
 * POSTs the body, giving up after `timeoutMs` in all; resolves either way (a failure is one
 * warning line: the run's status is the command's).
 */
export async function sendNotification(
  url: string,
  body: string,
  log: Pick<Logger, 'warn' | 'detail'>,
  timeoutMs = NOTIFY_TIMEOUT_MS,
): Promise<boolean> {
  const shown = redactUrl(url);
  try {
    const { bare, authorization } = splitUserinfo(url);
    const r = await fetch(bare, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization && { authorization }) },
      body,
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    });
    // Read (and so release) the answer: an unread body keeps the socket, and the process, alive.
    await r.arrayBuffer().catch(() => undefined);
    if (!r.ok) {
      log.warn(`--notify: ${shown} answered ${r.status}: the notification may not have been taken`);
      return false;
    }
    log.detail(`--notify: sent to ${shown}`);
    return true;
  } catch (err) {
    const why =
      (err as Error).name === 'TimeoutError'
        ? `no answer within ${timeoutMs / 1000}s`
        : (((err as Error).cause as Error | undefined)?.message ?? (err as Error).message);
    log.warn(`--notify: could not notify ${shown}: ${redactUrls(why)}`);
    return false;
  }
}

/**
 * The URL without its user and password, and those as a Basic Authorization header (what curl
 * makes of them on the instance): fetch refuses a URL that holds them, with an error naming it whole.
 */
function splitUserinfo(raw: string): { bare: string; authorization?: string } {
  const u = new URL(raw);
  if (!u.username && !u.password) return { bare: raw };
  const credentials = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  u.username = '';
  u.password = '';
  return { bare: u.href, authorization: `Basic ${Buffer.from(credentials).toString('base64')}` };
}

/** An error's text with every URL in it as logs show one: a raw error may name the URL whole. */
function redactUrls(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s'"<>]+/gi, (url) => redactUrl(url));
}

/**
 * A plain session's end, sent from here once its final state is applied (a job's is the
 * instance's own: notify.sh). Started at once and awaited by the caller after what else it does,
 * so it delays the exit by NOTIFY_TIMEOUT_MS at most. Undefined when there is nothing to send.
 */
export function notifyFromHere(run: Run): Promise<boolean> | undefined {
  const { options, facts } = run;
  if (!options.notify || facts.commandEnded?.from !== 'session' || !facts.instance) return undefined;
  const known = notifyKnown(options, run.plan, facts.instance.id, run.cloud.region);
  const body = notifyBody(known, {
    exitStatus: facts.exitStatus ?? 0,
    usage: facts.commandEnded.usage,
    endedAt: new Date(),
    sentFrom: 'laptop',
  });
  return sendNotification(options.notify, body, run.log);
}
