/** ssh-ec2 batch's own settings (src/batch/): how many instances drain the jobs, retries, setup, parallel preparation. */
import { spec, optionalText, positiveInt } from './spec.js';
import { UsageError } from '../errors.js';

/** A whole number from 0 (--retries 0: one attempt each). */
function count(raw: string, source: string): number {
  if (!/^\d+$/.test(raw.trim())) throw new UsageError(`${source}: expected a whole number (0 or more), got "${raw}"`);
  return Number(raw);
}

export const BATCH_OPTIONS = {
  instances: spec({
    kind: 'string',
    flag: 'instances',
    env: ['SSH_EC2_INSTANCES'],
    group: 'Batch',
    default: undefined as number | undefined,
    defaultText: 'one per job',
    parse: positiveInt,
    describe: 'batch: this many instances take the jobs from one queue, each as soon as it is free',
  }),
  retries: spec({
    kind: 'string',
    flag: 'retries',
    env: ['SSH_EC2_RETRIES'],
    group: 'Batch',
    default: 2,
    parse: count,
    describe: 'batch: a job that fails is run again up to this many times (an interrupted one does not count)',
  }),
  setup: spec({
    kind: 'string',
    flag: 'setup',
    env: ['SSH_EC2_SETUP'],
    group: 'Batch',
    default: undefined as string | undefined,
    parse: optionalText,
    describe:
      'batch: a command each instance runs once, in the project directory, before its first job (an install script)',
  }),
  parallel: spec({
    kind: 'string',
    flag: 'parallel',
    env: ['SSH_EC2_PARALLEL'],
    group: 'Batch',
    default: 4,
    parse: positiveInt,
    describe: 'batch: at most this many instances are prepared at once (connect, agent, sync up)',
  }),
} as const;
