/**
 * doctor's permission checks: each call a run makes, sent to EC2 with DryRun. RunInstances is the
 * launch's own request (launch.ts builds it, cloud/run-instances.ts sends it), its instance profile
 * included, so that a caller who may launch but not pass the profile's role (iam:PassRole) is told
 * so here rather than refused at the launch.
 */
import { marketsOf } from '../../cloud/spot-market.js';
import { callerKind, type CallerIdentity } from '../../cloud/identity.js';
import type { ImageInfo } from '../../cloud/image.js';
import type { Zone } from '../../cloud/capacity.js';
import type { Cloud, DryRunAnswer, DryRunCall } from '../../cloud/port.js';
import { UserError } from '../../errors.js';
import { LEGACY_IAM_PROFILE } from '../../options.js';
import type { LocalContext } from '../../session/context.js';
import { instanceProfile, launchSpec, launchUserData, profileMissing } from '../../session/launch.js';
import { accountCache } from '../../session/launch-lookups.js';
import { launchLimits } from '../../session/limits.js';
import { readOnly } from '../../state/cache.js';
import { fail, ok, warn, type Check } from './report.js';

/** No instance to name: EC2 may answer that it does not know it (then it says nothing of the permission). */
export const NO_INSTANCE = 'i-00000000000000000';
/** The same for a spot request (CancelSpotInstanceRequests, asked before a spot run needs it at its end). */
export const NO_SPOT_REQUEST = 'sir-00000000';

/** The policy file for this kind of caller (identity.ts says why two). */
const policyFor = (id: CallerIdentity): string =>
  callerKind(id.arn) === 'iam-user' ? 'policy/ssh-ec2-iam-policy.json' : 'policy/ssh-ec2-role-policy.json';

/** A failure of the check's call as the check's line: a user error's message and hint; a bug is thrown. */
export function failed(check: string, err: unknown): Check {
  if (err instanceof UserError) return fail(check, err.message, err.hint);
  throw err;
}

/** EC2's answer to one DryRun as the check's line; `note` is added to an allowed one. */
function verdict(call: DryRunCall, answer: DryRunAnswer, id: CallerIdentity, note = ''): Check {
  const check = `permission:${call.action}`;
  if (answer.allowed === true) return ok(check, `allowed (EC2 DryRun)${note}`);
  if (answer.allowed === false) {
    const profile = call.action === 'RunInstances' ? call.spec.iamProfile : undefined;
    if (profile && /iam:PassRole/i.test(answer.message))
      return fail(
        check,
        `not allowed: iam:PassRole on the role of instance profile ${profile}`,
        `Ask your AWS administrator to let you pass that role (iam:PassRole on it: ${policyFor(id)} names ` +
          `the role EC2ReadOnlyAccessToS3, to be replaced with this profile's), or launch without one: --iam-profile ''.`,
      );
    return fail(
      check,
      `not allowed: ec2:${call.action}`,
      `Ask your AWS administrator to attach ${policyFor(id)} (from ssh-ec2's package) to you: it allows ec2:${call.action}.`,
    );
  }
  const placeholder =
    ('instanceId' in call && call.instanceId === NO_INSTANCE) ||
    ('requestId' in call && call.requestId === NO_SPOT_REQUEST);
  const what = 'requestId' in call ? 'a spot request' : 'an instance';
  return warn(
    check,
    `could not tell: EC2 answered ${answer.code}`,
    placeholder
      ? `EC2 checks this permission on ${what} of yours; none was found to ask about (run doctor again once one is).`
      : `Look at what ${answer.code} says about the request (the checks above), then run doctor again.`,
  );
}

/** One call's DryRun, as its line. */
export async function permissionCheck(cloud: Cloud, call: DryRunCall, id: CallerIdentity): Promise<Check> {
  return verdict(call, await cloud.dryRun(call), id);
}

/**
 * RunInstances as a run would send it for the first type in the first zone: its user data, volume,
 * tags, key pair and instance profile. The original's default profile missing here is no failure:
 * a run launches without it (launch.ts), and so it is asked again without one.
 */
export async function runInstancesCheck(
  local: LocalContext,
  cloud: Cloud,
  id: CallerIdentity,
  a: { image: ImageInfo; zone?: Zone; groupId?: string; owner: string },
): Promise<Check> {
  const o = local.options;
  const limits = launchLimits(o);
  let made: ReturnType<typeof launchSpec>;
  try {
    const userData = launchUserData(o, limits);
    const attempt = { instanceType: o.instanceTypes[0]!, zone: a.zone, market: marketsOf(o)[0]! };
    made = launchSpec({ o, plan: local.plan, owner: a.owner, limits, userData, image: a.image, attempt });
  } catch (err) {
    return failed('permission:RunInstances', err);
  }
  const account = readOnly(await accountCache({ options: o, cloud, cacheDir: local.paths.cache }));
  const iamProfile = instanceProfile(o, account);
  const call: DryRunCall = {
    action: 'RunInstances',
    spec: { ...made.spec, securityGroupIds: a.groupId ? [a.groupId] : [], iamProfile },
  };
  const answer = await cloud.dryRun(call);
  if (
    iamProfile === LEGACY_IAM_PROFILE &&
    answer.allowed === 'unknown' &&
    profileMissing(answer.message, answer.code)
  ) {
    const without: DryRunCall = { action: 'RunInstances', spec: { ...call.spec, iamProfile: undefined } };
    const note = `, without an instance profile: ${LEGACY_IAM_PROFILE} does not exist here (a run launches without it)`;
    return verdict(without, await cloud.dryRun(without), id, note);
  }
  return verdict(call, answer, id);
}
