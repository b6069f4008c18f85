/**
 * "There is no instance for this directory", said for the verb that found none: what could not be
 * done, and the one thing to do instead (issue #10: pull said "nothing to attach to", down "run
 * ssh-ec2 there to start one").
 */
import { ExitCode, UserError } from '../errors.js';
import { shellWord } from '../ui/words.js';

export type NoInstanceVerb = 'attach' | 'pull' | 'push' | 'logs' | 'down';

const WORDS: Record<NoInstanceVerb, { what: string; hint: (region: string) => string }> = {
  attach: {
    what: 'nothing to attach to',
    hint: () => 'Nothing was launched. ssh-ec2 --detach CMD here starts a job you can attach to.',
  },
  pull: {
    what: 'nothing to pull',
    hint: () =>
      'Nothing was launched. Each run brings its results back itself; pull is for an instance left here (--leave, --stop, --detach).',
  },
  push: {
    what: 'nothing to push to',
    hint: () =>
      'Nothing was launched. ssh-ec2 true here launches one (with --volume NAME, its data volume too); then push.',
  },
  logs: {
    what: 'no job log to show',
    hint: () => 'Nothing was launched. ssh-ec2 --detach CMD here starts a job; ssh-ec2 logs then follows it.',
  },
  down: {
    what: 'nothing to end',
    hint: (region) => `Nothing of this directory's is running or stopped in ${region}: nothing here costs money.`,
  },
};

/** There is no instance for this directory, and none may be launched. */
export class NoInstanceError extends UserError {
  constructor(verb: NoInstanceVerb, dir: string, region: string) {
    const w = WORDS[verb];
    super(`no ssh-ec2 instance for ${shellWord(dir)} in ${region}: ${w.what}`, ExitCode.nothingThere, w.hint(region));
  }
}
