/**
 * ssh-ec2 doctor: every check a run depends on, in the order a run meets them, one line each
 * (report.ts), each failure with its fix. EC2 is asked with DryRun, no instance is launched or
 * started, and this address is not let into any group; only reaching a running instance changes
 * anything (README "ssh-ec2 doctor": an Instance Connect key, the host key pinned on first
 * contact). Exit 0 when every needed check passes (warnings do not fail), ExitCode.checkFailed otherwise.
 */
import { ExitCode } from '../../errors.js';
import { localContext } from '../../session/context.js';
import type { InstanceInfo } from '../../cloud/port.js';
import { ownerOf, whose } from '../../session/owner.js';
import { pinnedIn } from '../../session/run-session.js';
import { loadCloud, runStory } from '../../session/story.js';
import { mine, takesNoArguments } from '../shared.js';
import type { CommandContext } from '../types.js';
import { awsChecks } from './aws-checks.js';
import { instanceChecks } from './instance-checks.js';
import { nodeCheck, rsyncCheck, sshCheck } from './local-checks.js';
import { formatCheck, formatJson, passed, type Check } from './report.js';

export async function run(ctx: CommandContext): Promise<number> {
  takesNoArguments(ctx);
  const json = ctx.flags.json === true;
  const checks: Check[] = [];
  // Each line as soon as it is known; JSON once, whole.
  const add = (c: Check) => {
    checks.push(c);
    if (!json) ctx.stdout.write(formatCheck(c));
  };
  const local = localContext(ctx, ctx.cwd);
  add(nodeCheck());
  add(await sshCheck());
  add(await rsyncCheck(local, ctx.env));
  // The caller is asked by the credentials check, where its failure is a line of the report.
  const cloud = await loadCloud(ctx, { askCaller: false });
  await runStory(
    ctx,
    local,
    async (run, signal) => {
      let here: InstanceInfo[] = [];
      // This directory's instances (as findOwn finds them, without adopting any: that tags),
      // else any of the caller's: what Start/Stop/Terminate are tried on.
      const instances = async () => {
        const [owner, found] = await Promise.all([ownerOf(cloud, local.log), cloud.findInstances(local.plan.dirTags)]);
        const w = whose(found, { owner, localUser: local.plan.localUser, pinned: pinnedIn(local.paths) });
        here = [...w.own, ...w.adopt];
        return here.length > 0 ? here : mine(ctx, cloud);
      };
      const facts = await awsChecks(local, cloud, ctx.env, add, instances);
      if (!facts) return;
      if (facts.lookupFailed) return add(facts.lookupFailed);
      const instance = here.find((i) => i.state === 'running') ?? here[0];
      for (const c of await instanceChecks(run, instance, signal)) add(c);
    },
    { cloud },
  );
  if (json) ctx.stdout.write(formatJson(checks));
  return passed(checks) ? ExitCode.ok : ExitCode.checkFailed;
}
