/** ssh-ec2 logs: follow this directory's job log without attaching; nothing is started for it. */
import { ExitCode, UserError } from '../../errors.js';
import { jobCommand } from '../../remote/on-instance.js';
import { JOB_LOG } from '../../remote/instance-contract.js';
import { jobStatus } from '../../session/job.js';
import { usageWords } from '../../session/command-usage.js';
import { bringUp } from '../../session/provision.js';
import { localContext } from '../../session/context.js';
import { runStory } from '../../session/story.js';
import { connectFound, findExisting } from '../existing-instance.js';
import { requireLocalPrograms, takesNoArguments } from '../shared.js';
import type { CommandContext } from '../types.js';

export async function run(ctx: CommandContext): Promise<number> {
  takesNoArguments(ctx);
  await requireLocalPrograms(ctx);
  const state = localContext(ctx, ctx.cwd);
  return runStory(ctx, state, async (s) => {
    const all = await findExisting(s, 'logs');
    const found = all.find((i) => i.state === 'running' || i.state === 'pending');
    s.facts.leftAsItIs = 'logs';
    if (!found) {
      const any = all[0]!;
      throw new UserError(
        `${any.id} is ${any.state}: its job log is on its disk`,
        ExitCode.nothingThere,
        `ssh-ec2 --attach restarts it and brings the results back, the log (${JOB_LOG}) included.`,
      );
    }
    const instance = await bringUp({ cloud: s.cloud, log: s.log }, found);
    s.facts.instance = instance;
    const conn = await connectFound(s, instance);
    const job = await jobStatus(conn, s.plan.projectId);
    if (job.state === 'none')
      throw new UserError(
        `no job on ${instance.id} for this directory`,
        ExitCode.nothingThere,
        'Start one with ssh-ec2 --detach CMD.',
      );
    const follow = conn.attach(jobCommand('follow', s.plan.projectId), { tty: false, follow: true });
    s.kill = follow.kill;
    // Ctrl-C stops following, not the job: exit 0 (ssh-ec2 ends the follower: its 255 is no lost connection).
    let stopped = false;
    s.stopFollowing = () => {
      stopped = true;
      follow.kill();
    };
    const { exitCode } = await follow.done;
    s.stopFollowing = undefined;
    s.facts.exitStatus = exitCode === ExitCode.connectionLost && !stopped ? ExitCode.connectionLost : ExitCode.ok;
    // The log ended with the job: its status and measure (issue #14), in one more look.
    if (!stopped && exitCode === 0) {
      const end = await jobStatus(conn, s.plan.projectId).catch(() => undefined);
      if (end?.state === 'finished')
        s.log.info(`the job ended with status ${end.status}${end.usage ? `: ${usageWords(end.usage)}` : ''}`);
    }
  });
}
