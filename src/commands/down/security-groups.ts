import type { Cloud } from '../../cloud/ec2.js';
import type { CommandContext } from '../types.js';

/** ssh-ec2's security groups go with the last instance that used them. */
export async function removeSecurityGroups(ctx: CommandContext, cloud: Cloud): Promise<void> {
  try {
    const { deleted, inUse } = await cloud.removeUnusedSecurityGroups();
    if (deleted > 0) ctx.log.info(`removed ${deleted} unused ssh-ec2 security group(s)`);
    if (inUse > 0)
      ctx.log.detail(
        `${inUse} ssh-ec2 security group(s) still in use (instances running, stopped or shutting down); a later ssh-ec2 down removes them`,
      );
  } catch (err) {
    ctx.log.warn(`could not remove the unused security group: ${(err as Error).message}`);
  }
}
