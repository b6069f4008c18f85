/**
 * The finish, written once: look at the instance (reconnecting if the connection was lost), sync
 * back, then apply the final state decided by decide-finish.ts. Results are never thrown away: if
 * they could not be brought back, the instance is stopped instead of terminated, and the user is
 * told how to get them.
 */
import { rmSync } from 'node:fs';
import { baseFile } from '../sync/base.js';
import { forgetInstance } from '../state/leftovers.js';
import type { InstanceInfo } from '../cloud/ec2.js';
import { isExpiredCredentials } from '../cloud/errors.js';
import { CloudError, ExitCode, UserError } from '../errors.js';
import type { FinalState } from '../options.js';
import type { Connection } from '../remote/connection.js';
import { jobCommand, OTHER_SESSIONS, parseJobStatus } from '../remote/on-instance.js';
import { rsyncSource } from '../remote/rsync-capabilities.js';
import { syncBack } from '../sync/sync-back.js';
import { reconnect } from './connect.js';
import type { Run } from './context.js';
import { decideFinish, finishNeeds, finishWords, type FinishFacts, type Others } from './decide-finish.js';
import { endSessionsCommand } from './journal.js';
import { formatDuration } from './limits.js';
import { situation } from './finish-situation.js';
import { shellWord } from '../ui/words.js';
import { forgetEnded } from './warm.js';
import { budgetHourly, isSpot, sessionCost } from './session-cost.js';
import { SPOT_PRICE_TAG, VOLUME_TAG } from './volume-tag.js';
import { CANCEL_ACTION, cancelSpotRequestOf, stoppable } from '../cloud/spot-market.js';
import { kindOf } from '../cloud/aws-codes.js';
import { overBudgetLine } from './budget.js';
import { syncMounts } from './data-volume.js';
import { lateNotice, NOTICE, recordInterruption } from './interruption.js';
import { notifyFromHere } from './notify.js';
import { usageAtEnd } from './command-usage.js';
import { onSuccessAfter } from './on-success.js';

/**
 * Finishes a run: the results back and the final state applied (or the instance left as it is).
 * Returns the error of applying the final state, if that failed (it is said already).
 */
export async function finish(run: Run): Promise<unknown> {
  const { failed, final, resultsBack } = await finishWork(run);
  // The command's measure on the closing line, after what came back (and for --notify).
  await usageAtEnd(run);
  const instance = run.facts.instance;
  if (instance) {
    // performance.now(): the time since this process started, which is this session's. Stopped,
    // its root volume keeps costing; a spot instance costs the price it was launched at (its tag).
    const stopped = final === 'stop' && !failed ? Number(instance.tags[VOLUME_TAG]) || undefined : undefined;
    const cost = sessionCost({
      region: run.cloud.region,
      type: instance.type,
      ms: performance.now(),
      stoppedRootGiB: stopped,
      spotHourly: Number(instance.tags[SPOT_PRICE_TAG]) || undefined,
      spot: isSpot(instance),
    });
    if (cost) run.log.outcome(cost);
  }
  run.journal?.remove();
  // Once nothing is owed: --notify (a plain session's, from here) beside --on-success (results home).
  const notified = notifyFromHere(run);
  await onSuccessAfter(run, resultsBack ?? 'not back');
  await notified;
  await run.lettingIn;
  return failed;
}

async function finishWork(
  run: Run,
): Promise<{ failed?: unknown; final?: FinalState; resultsBack?: FinishFacts['resultsBack'] }> {
  const { options, facts, log } = run;
  const instance = facts.instance;
  if (!instance) return {};
  const known = {
    asked: facts.finalState ?? options.finalState,
    origin: facts.origin ?? 'found',
    leftAsItIs: facts.leftAsItIs,
    hostKeyUntrusted: facts.hostKeyUntrusted,
    ran: facts.ran,
    endJobs: run.endJobs,
    syncBack: options.rsync || facts.owedSyncBack,
    overBudget: overBudget(run, instance),
    interrupted: !!facts.interruption,
  };
  const needs = finishNeeds(known);
  const conn = run.conn;
  const reachable =
    needs.reach === 'if alive'
      ? !!conn && facts.connected && (await conn.alive())
      : needs.reach === 'reconnecting' && (await reach(run));
  const others = needs.ask && reachable && conn ? await whoElseIsThere(run, conn) : undefined;
  const resultsBack = !needs.pull
    ? 'not needed'
    : reachable && conn && (await bringResultsBack(run, conn, instance.id))
      ? 'back'
      : 'not back';
  // The command's measure, read beside the above, in before the connection may close (never rejects).
  await run.usageRead;
  // A one-time spot instance cannot be stopped (its market tag says so: spot-market.ts).
  // A notice seen only now (as the command ended) makes the instance EC2's too (interruption.ts).
  const interrupted = !!facts.interruption;
  if (interrupted) recordInterruption(run, resultsBack === 'back');
  const seen: FinishFacts = {
    ...known,
    interrupted,
    canStop: stoppable(instance.tags),
    reachable,
    others,
    resultsBack,
  };
  const decision = decideFinish(seen);
  const { reason, action } = decision;
  if (reason.kind === 'left as it is') {
    await conn?.close({ keep: true });
    return { resultsBack };
  }
  const words = finishWords(decision, situation(run, instance));
  if (words.before) log[words.before.level](words.before.text);
  run.finishing = action === 'leave' ? undefined : `${action === 'stop' ? 'stopping' : 'terminating'} ${instance.id}`;
  run.journal?.note({ step: 'the final state', finalState: action });
  const failed = await applyFinal(run, instance, action);
  if (words.after) log[words.after.level](words.after.text);
  // A connection whose host key was not trusted is closed already (host-key.ts).
  if (reason.kind !== 'host key untrusted') await conn?.close({ keep: action === 'leave' });
  run.finishing = undefined;
  return { failed, final: action, resultsBack };
}

/** Over --budget (budget.ts): said now, in one line, and a fact of the decision. */
function overBudget(run: Run, instance: InstanceInfo): boolean {
  // performance.now(): this session's time, as its closing cost line counts it.
  const hourly = budgetHourly(run.cloud.region, instance);
  const line = overBudgetLine(run.options.budget, hourly, instance.type, performance.now());
  if (line) run.log.warn(line);
  return line !== undefined;
}

/** Applies the final state; a failure is said (what may be left running) and returned, as an exit status. */
async function applyFinal(run: Run, instance: InstanceInfo, final: FinalState): Promise<unknown> {
  const { log } = run;
  const id = instance.id;
  try {
    const doing = final === 'terminate' ? 'terminating' : final === 'stop' ? 'stopping' : undefined;
    const apply = () => applyFinalState(run, instance, final);
    // A failure applyFinalState said itself (the instance stopped instead) comes back as its value.
    return await log.phase(final, () => (doing ? log.progress(`${doing} ${id}`, apply) : apply()));
  } catch (err) {
    if (isExpiredCredentials(err))
      log.error(`could not ${final} ${id}: your AWS credentials have expired`, leftBehind(run, id, final));
    else
      log.error(
        `could not ${final} ${id}: ${(err as Error).message}`,
        `It may still be running and costing money: check with the AWS console or \`aws ec2 describe-instances --instance-ids ${id}\`.`,
      );
    return err instanceof UserError ? err : new UserError((err as Error).message, ExitCode.cloud);
  }
}

/**
 * What credentials that expired mid-run leave behind, and how to end it: the instance carries this
 * directory's tags, so the next ssh-ec2 there finds it (nothing is orphaned).
 */
function leftBehind(run: Run, id: string, final: FinalState): string {
  const limits = run.facts.limits;
  const agent = limits?.idleTimeoutMs
    ? `its agent stops it after ${formatDuration(limits.idleTimeoutMs)} unused`
    : 'nothing on it stops it';
  const end = final === 'stop' ? 'ssh-ec2 --stop true' : 'ssh-ec2 down';
  return `${id} is left as it was (if running, it costs money; ${agent}). Renew your credentials, then run \`${end}\` in ${shellWord(run.plan.projectDir)}: it brings the results back and ${final === 'stop' ? 'stops' : 'terminates'} it.`;
}

/** Whether the instance can be reached for the finish, reconnecting if the connection was lost. */
async function reach(run: Run): Promise<boolean> {
  const { conn, log } = run;
  if (!conn || !run.facts.connected) return false;
  if (await conn.alive()) return true;
  run.finishing = 'reconnecting';
  log.warn('the ssh connection was lost; reconnecting to finish (results, final state)');
  try {
    await reconnect(run, conn);
  } catch (err) {
    log.error(`could not reconnect: ${(err as Error).message}`);
    return false;
  }
  // This run's command may live on under the old connection's sshd (a network drop, not a closed
  // connection, leaves it there for a long time): it is ended, as after an interrupt, so that it
  // is neither counted as another session nor left running.
  if (run.facts.sessionId) await endSessions(conn, [run.facts.sessionId]);
  return true;
}

/** Ends what is left on the instance of interrupted sessions; false (left there) if that failed. */
export async function endSessions(conn: Connection, ids: string[]): Promise<boolean> {
  // exec rejects unless the command exited 0.
  return conn.exec(endSessionsCommand(ids)).then(
    () => true,
    () => false,
  );
}

/**
 * What else is on the instance that its final state must not cut short: a job of this directory,
 * or another ssh session (another terminal's ssh-ec2). Asked in one round trip, on a working
 * connection; if even so there is no answer, nothing is assumed gone.
 */
async function whoElseIsThere(run: Run, conn: Connection): Promise<Others | undefined> {
  try {
    const r = await conn.exec(`${jobCommand('status', run.plan.projectId)}; ${OTHER_SESSIONS}; ${NOTICE}`);
    const [status = '', others = '', notice = ''] = r.stdout.trim().split('\n');
    lateNotice(run, notice);
    if (parseJobStatus(status).state === 'running') return 'job';
    if (!/^\d+$/.test(others))
      return { unknown: r.stderr.trim().split('\n')[0] || `unexpected answer "${r.stdout.trim().slice(0, 60)}"` };
    return Number(others) > 0 ? 'session' : undefined;
  } catch (err) {
    return { unknown: (err as Error).message };
  }
}

/** Brings the results back over a working connection; false if that failed. */
export async function bringResultsBack(run: Run, conn: Connection, instanceId: string): Promise<boolean> {
  const { log } = run;
  run.finishing = 'syncing back';
  run.journal?.note({ step: 'the sync back' });
  try {
    const back = await log.phase('sync back', () =>
      log.progress(`syncing back from ${instanceId}`, (onProgress) =>
        syncBack({
          conn,
          localDir: run.plan.projectDir,
          remoteDir: run.plan.remoteDir,
          instanceId,
          scratchDir: run.paths.runtime,
          rsync: rsyncSource(run),
          log,
          onProgress,
          mounts: syncMounts(run.options, run.facts.instance),
        }),
      ),
    );
    log.detail(`sync back: ${back.files ?? 'an unknown number of'} file(s) received`);
    const n = back.brought.length;
    log.outcome(n > 0 ? `${n} file${n === 1 ? '' : 's'} brought back` : 'nothing changed on the instance');
    run.journal?.note({ syncedBack: true });
    return true;
  } catch (err) {
    log.error(`sync back failed: ${(err as Error).message}`, (err as { hint?: string }).hint);
    return false;
  }
}

async function applyFinalState(run: Run, instance: InstanceInfo, final: FinalState): Promise<UserError | undefined> {
  const { cloud, log } = run;
  switch (final) {
    case 'terminate': {
      const held = await cancelBeforeTerminate(run, instance);
      if (held) return held;
      await cloud.terminate(instance.id);
      await forgetEnded(run.paths, instance.id);
      forgetInstance(run.paths, instance.id);
      // Its three-way sync base (.ssh-ec2/base/) is of no use once it is gone.
      rmSync(baseFile(run.plan.projectDir, instance.id), { force: true });
      log.info(`terminated ${instance.id}`);
      return undefined;
    }
    case 'stop':
      await cloud.stop(instance.id);
      await forgetEnded(run.paths, instance.id);
      return undefined; // said by finishWords
    case 'leave':
      return undefined;
  }
}

/**
 * A persistent spot request is cancelled first: terminated, its instance would be launched again.
 * One EC2 no longer knows is done (spot-market.ts). One it would not cancel (a policy without
 * ec2:CancelSpotInstanceRequests, or no answer) holds the terminate back: the instance is stopped
 * instead — a persistent spot instance can stop, and a stopped one is not relaunched nor billed
 * by the hour —, said with what is missing; the failure is returned (exit 4).
 */
async function cancelBeforeTerminate(run: Run, instance: InstanceInfo): Promise<UserError | undefined> {
  const { cloud, log } = run;
  try {
    const request = await cancelSpotRequestOf(cloud, instance);
    if (request) log.detail(`cancelled spot request ${request}`);
    return undefined;
  } catch (err) {
    const id = instance.id;
    const code = (err as { code?: string }).code ?? '';
    const why = kindOf(code) === 'denied' ? `not allowed: ${CANCEL_ACTION}` : (err as Error).message;
    await cloud.stop(id);
    await forgetEnded(run.paths, id);
    const text = `could not cancel the spot request of ${id} (${why}), so ${id} was stopped, not terminated: terminated, EC2 would launch it again for its request`;
    const hint =
      kindOf(code) === 'denied'
        ? `Ask your AWS administrator for ${CANCEL_ACTION} (policy/ssh-ec2-iam-policy.json has it), then ssh-ec2 down in ${run.plan.projectDir} ends both.`
        : `ssh-ec2 down in ${run.plan.projectDir} ends both once AWS answers.`;
    log.error(text, hint);
    return new CloudError(text, hint, code || undefined);
  }
}
