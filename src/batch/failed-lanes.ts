/**
 * A lane that has no instance to run its jobs (no capacity, none could be prepared): its jobs are
 * failed, its queue deleted. Why is kept in the record (LaneRecord.failed) and, for a laptop without
 * the record, on the batch's launch template: tag `ssh-ec2:batch-failed-lanes` = "2:no capacity;3:…"
 * (every failed lane so far, within EC2's 256-character tag value), read back by parseFailedLanes.
 */
import type { BatchCloud } from '../cloud/batch-port.js';
import type { Cloud } from '../cloud/ec2.js';
import type { BatchRecord, LaneRecord } from './record.js';

export const FAILED_LANES_TAG = 'ssh-ec2:batch-failed-lanes';
const MAX_TAG_VALUE = 256;

export async function laneFailed(
  run: { cloud: Pick<Cloud, 'tag'>; log: { detail(s: string): void } },
  batchCloud: BatchCloud,
  rec: BatchRecord,
  lane: LaneRecord,
  why: string,
): Promise<void> {
  lane.failed = why;
  await batchCloud.deleteQueue(lane.queueUrl).catch(() => undefined);
  // Best effort: the record has it here; another laptop sees the lane's jobs queued without the tag.
  if (rec.templateId)
    await run.cloud
      .tag(rec.templateId, { [FAILED_LANES_TAG]: failedLanesTag(rec.lanes) })
      .catch((err: unknown) => run.log.detail(`the launch template's failed-lanes tag: ${(err as Error).message}`));
}

/** "index:why;…" of the failed lanes, each reason shortened so the whole fits one tag value. */
export function failedLanesTag(lanes: readonly Pick<LaneRecord, 'index' | 'failed'>[]): string {
  const failed = lanes.filter((l) => l.failed !== undefined);
  const entries = failed.map((l) => `${l.index}:${l.failed!.replace(/[;\n]/g, ',')}`);
  const whole = entries.join(';');
  if (whole.length <= MAX_TAG_VALUE) return whole;
  const each = Math.floor((MAX_TAG_VALUE - (entries.length - 1)) / entries.length);
  return entries
    .map((e) => e.slice(0, Math.max(each, String(failed.length).length + 1)))
    .join(';')
    .slice(0, MAX_TAG_VALUE);
}

/** The failed lanes a template's tag names: lane index → why. */
export function parseFailedLanes(value: string | undefined): Map<number, string> {
  const out = new Map<number, string>();
  for (const entry of (value ?? '').split(';')) {
    const m = /^(\d+):(.*)$/s.exec(entry);
    if (m) out.set(Number(m[1]), m[2]!);
  }
  return out;
}
