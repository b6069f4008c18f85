/**
 * A job's name (docs/BATCH.md: Names): it names a folder here (results/<batch>/<job>/), on the instances and in
 * S3. Names read back from an instance's or S3's manifest or report are checked by the same rule as
 * the jobs file's, so none can reach outside its folder (`../x`).
 */
export const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export const isJobName = (name: string): boolean => JOB_NAME.test(name);
