/**
 * The names of a batch's tags (docs/BATCH.md: Tags), once: the launch writes them; state, collect,
 * cancel, `batch ls`, `ls --all-regions` and `down --orphans` read them. (The failed lanes' tag is
 * failed-lanes.ts's, with its writer and reader.)
 */

/** Every resource of a batch: its id. */
export const BATCH_TAG = 'ssh-ec2:batch';
/** Instances, fleets and queues: the lane's index. */
export const LANE_TAG = 'ssh-ec2:batch-lane';
/** The launch template's: s3://bucket/prefix/<batch>/ with --results. */
export const RESULTS_TAG = 'ssh-ec2:batch-results';
/** The launch template's: when the batch was started (ISO). */
export const CREATED_TAG = 'ssh-ec2:batch-created';
/** The launch template's: how many jobs. */
export const JOBS_TAG = 'ssh-ec2:batch-jobs';
