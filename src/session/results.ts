/**
 * --results on the laptop's side: where this directory's results go (the agent's settings carry it
 * to results.sh on the instance), and the one line said before a launch whose instance profile
 * cannot write there.
 */
import { basename } from 'node:path';
import { resultsFolder, s3Location, s3Url } from '../cloud/s3-location.js';
import type { Options } from '../options.js';
import { LEGACY_IAM_PROFILE } from '../options/instance-options.js';
import type { ResultsUpload } from '../remote/on-instance.js';
import type { Plan } from './plan.js';

/** The folder of this directory's results: `<prefix>/<directory name>/` (what pull --from-s3 reads). */
export function resultsFolderOf(results: string, plan: Pick<Plan, 'projectDir'>) {
  return resultsFolder(s3Location(results), basename(plan.projectDir) || 'root');
}

/** What the agent's settings say of --results (undefined: off). */
export function resultsUpload(
  o: Pick<Options, 'results' | 'resultsEndpoint'>,
  plan: Pick<Plan, 'projectDir' | 'remoteDir'>,
  region: string,
): ResultsUpload | undefined {
  if (!o.results) return undefined;
  return {
    url: s3Url(resultsFolderOf(o.results, plan)),
    dir: plan.remoteDir,
    ...(o.resultsEndpoint && { endpoint: o.resultsEndpoint }),
    region,
  };
}

/** The example policy of a role that may upload results (README: Results in S3). */
export const RESULTS_ROLE_POLICY = 'policy/results-instance-role-example.json';

/**
 * One line before a launch with --results whose instance would get no write access: the original's
 * default profile (EC2ReadOnlyAccessToS3: read only) or none. undefined when the profile is the user's choice.
 */
export function profileCannotWrite(o: Pick<Options, 'results'>, iamProfile: string | undefined): string | undefined {
  if (!o.results || (iamProfile !== undefined && iamProfile !== LEGACY_IAM_PROFILE)) return undefined;
  const which = iamProfile ? `the instance profile ${iamProfile} is read-only` : 'the instance has no instance profile';
  return (
    `--results ${o.results}: ${which}, so the upload will fail; use --iam-profile NAME, ` +
    `a profile whose role may s3:PutObject on that prefix (example: ${RESULTS_ROLE_POLICY})`
  );
}
