/**
 * Which region ssh-ec2 works in, in order: the option (--region, AWS_REGION, AWS_DEFAULT_REGION:
 * options.ts), then the SDK's own resolution (the selected profile's region), then ssh-ec2's
 * default (DEFAULT_REGION).
 */
import './quiet-sdk.js';
import { EC2Client } from '@aws-sdk/client-ec2';
import { DEFAULT_REGION } from '../options.js';

export async function resolveRegion(explicit: string | undefined): Promise<string> {
  if (explicit) return explicit;
  try {
    // The SDK's own resolution: AWS_REGION, then the selected profile's region.
    const probe = new EC2Client({});
    const region = await probe.config.region();
    probe.destroy();
    if (region) return region;
  } catch {
    // none configured
  }
  return DEFAULT_REGION;
}
