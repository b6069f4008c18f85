/**
 * ssh-ec2 volumes [rm NAME]: this owner's data volumes (--volume) in the region, found by their
 * tags (cloud/volume-rules.ts), with what each costs a month; `rm` deletes one after asking, never
 * while an instance holds it (which would refuse anyway, later and less clearly).
 */
import type { Cloud, VolumeInfo } from '../../cloud/port.js';
import { DATA_VOLUME_KIND } from '../../cloud/volume-rules.js';
import { ExitCode, UsageError, UserError } from '../../errors.js';
import { ownerOf } from '../../session/owner.js';
import { loadCloud } from '../../session/story.js';
import { confirm } from '../down/confirm.js';
import { volumeTable } from './table.js';
import type { CommandContext } from '../types.js';

export async function run(ctx: CommandContext): Promise<number> {
  const [sub, name, ...rest] = ctx.options.command;
  if (sub !== undefined && (sub !== 'rm' || name === undefined || rest.length > 0))
    throw new UsageError('ssh-ec2 volumes takes nothing, or rm NAME');
  const cloud = await loadCloud(ctx);
  const owner = await ownerOf(cloud, ctx.log);
  const all = await cloud.findVolumes({ 'ssh-ec2': DATA_VOLUME_KIND, 'ssh-ec2:user': owner });
  if (sub === 'rm') return remove(ctx, cloud, all, name!);
  if (all.length === 0) {
    ctx.log.info(`no data volume of yours in ${cloud.region} (--volume NAME makes one)`);
    return ExitCode.ok;
  }
  ctx.stdout.write(volumeTable(cloud.region, all, new Date()));
  return ExitCode.ok;
}

async function remove(ctx: CommandContext, cloud: Cloud, all: readonly VolumeInfo[], name: string): Promise<number> {
  const v = all.find((x) => x.name === name || x.id === name);
  if (!v)
    throw new UserError(
      `no data volume of yours named ${name} in ${cloud.region}`,
      ExitCode.nothingThere,
      'ssh-ec2 volumes lists them.',
    );
  if (v.attachedTo)
    throw new UserError(
      `data volume ${v.name} (${v.id}) is attached to ${v.attachedTo}: not deleted`,
      ExitCode.config,
      'End that instance first (ssh-ec2 down in its directory), then run this again.',
    );
  const question = `Delete data volume ${v.name} (${v.id}, ${v.sizeGiB} GiB in ${v.zone}) and everything on it? `;
  if (!ctx.flags.yes && !(await confirm(ctx, question, 'ssh-ec2 volumes rm'))) {
    ctx.log.info('nothing done');
    return ExitCode.ok;
  }
  await cloud.deleteVolume(v.id);
  ctx.log.info(`deleted data volume ${v.name} (${v.id})`);
  return ExitCode.ok;
}
