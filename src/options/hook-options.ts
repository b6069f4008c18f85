/**
 * What happens when a command ends, beyond the finish: a notification sent to a URL (--notify) and
 * a command run on this machine (--on-success). Help group Session; README "Hooks and notifications".
 */
import { UsageError } from '../errors.js';
import { optionalText, spec } from './spec.js';

export const HOOK_OPTIONS = {
  notify: spec({
    kind: 'string',
    flag: 'notify',
    env: ['SSH_EC2_NOTIFY'],
    group: 'Session',
    default: undefined,
    parse: notifyUrl,
    shown: redactUrl,
    describe:
      'http(s) URL: a JSON POST when the command or job ends (status, duration, peak memory, where the results are), from the instance for a tmux/screen job',
  }),
  onSuccess: spec({
    kind: 'string',
    flag: 'on-success',
    env: ['SSH_EC2_ON_SUCCESS'],
    group: 'Session',
    default: undefined,
    parse: optionalText,
    describe:
      'a command run here, in the project directory, after the command (or the job --attach finds ended) exited 0 and the results are back',
  }),
} as const;

/** An http or https URL with a host; anything else is refused before any AWS call (exit 2). */
function notifyUrl(raw: string, source: string): string | undefined {
  if (raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`${source}: not a URL: "${redactUrl(raw)}"`, 'Give an http:// or https:// address.');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '')
    throw new UsageError(`${source}: only http:// and https:// URLs can be notified, got ${url.protocol}//…`);
  return raw;
}

/** scheme://host/… — what logs show of a URL that may carry a secret token (in its path or query). */
export function redactUrl(raw: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@]*@)?([^/?#]*)/i.exec(raw);
  return m ? `${m[1]}${m[3]}/…` : '…';
}
