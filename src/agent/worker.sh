# ssh-ec2's batch worker (`ssh-ec2 batch`), placed on the instance at ~/.ssh-ec2/worker.sh beside
# the libraries it sources; run as `sh worker.sh BATCH`, as ONE detached job.sh job (batch-BATCH,
# tmux) started by src/remote/batch-worker.ts: so the agent keeps the instance while it runs, and
# powers it off (its job-finished grace) once it exits. POSIX sh (dash), plus python3 (JSON and
# the measure, as usage.sh), curl (notify.sh) and the AWS CLI with the instance profile
# (results.sh's profile_aws: the agent's IMDS_URL, nothing of the environment's).
#
# ~/.ssh-ec2/batch/BATCH/ (names in lib.sh's contract; docs/BATCH.md is the whole contract):
#   batch.conf     shell-quoted KEY=VALUE lines written by the laptop: BATCH, LANE, QUEUE_URL,
#                  QUEUE_ENDPOINT (empty: AWS's), REGION, PROJECT_DIR (relative to $HOME), RETRIES,
#                  SETUP_B64, RESULTS_URL (s3://…/BATCH/ or empty), RESULTS_ENDPOINT, NOTIFY_URL,
#                  NOTIFY_FIELDS (JSON members: "batch", "instance", "region"), VISIBILITY (seconds
#                  a received message stays ours; the heartbeat extends it every third of it while
#                  its job runs), POLL_SECONDS (the longest receive wait)
#   manifest.json  the laptop's; not read here
#   setup/log, setup/status   SETUP's output and exit status (run once, in PROJECT_DIR)
#   worker         "running|done|setup-failed|interrupted|stalled|upload-failed <epoch>": stalled, the
#                  queue unreadable for STALL_SECONDS (not gone: that ends it as done); upload-failed,
#                  a job's files could not reach RESULTS_URL: the worker stays (so does the instance,
#                  its files/ kept for `batch collect`) until a cancel or SIGTERM
#   cancel         written by `batch cancel` before its SIGTERM: the attempt is not re-sent
#   jobs/<job>/    state (one line: running A STARTED | done A STATUS ENDED | failed A STATUS ENDED |
#                  retried A STATUS ENDED | interrupted A ENDED), log (every attempt's output here,
#                  each after a header line), progress (0..100), usage (usage.sh's), started,
#                  files/ (what the attempt made or changed in the project: new_files_to)
#
# A message's body: {"job","cmd" (base64),"failures","attempt"}. Success and a final failure
# delete it; a failure with failures+1 <= RETRIES is sent again with failures+1, attempt+1, an
# interrupted attempt with attempt+1 only (queue.sh's send_again). The worker exits when a receive
# gets nothing AND the queue holds no message, visible or in flight: an instance waits while its
# lane still has a job running elsewhere, which may fail and come back.
#
# A SIGTERM (the agent on a spot notice: to the job's whole process group, the command included;
# or `batch cancel`): the command ends as it will (it got the signal too), its attempt is re-sent
# as interrupted (not after a cancel), the worker exits. So does a spot notice seen between jobs.
set -u

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/results.sh"
. "$(dirname "$0")/usage.sh"
. "$(dirname "$0")/notify.sh"
. "$(dirname "$0")/queue.sh"

BATCH=${1:?usage: worker.sh BATCH}
B="$BASE/$BATCH_DIR/$BATCH"
cd "$B" || exit 1
QUEUE_URL='' QUEUE_ENDPOINT='' REGION='' PROJECT_DIR=. RETRIES=0 SETUP_B64='' RESULTS_URL=''
RESULTS_ENDPOINT='' NOTIFY_URL='' NOTIFY_FIELDS='' VISIBILITY=300 POLL_SECONDS=10 STALL_SECONDS=1800
IMDS_URL='' INSTANCE_ID=''
# shellcheck disable=SC1090,SC1091
[ -f "$BASE/$AGENT_CONF" ] && . "$BASE/$AGENT_CONF"
# shellcheck disable=SC1090,SC1091
. "./$BATCH_CONF" || exit 1
PROJECT="$HOME/${PROJECT_DIR:-.}"
# notify_end reads its own NOTIFY_URL and NOTIFY_FIELDS (a job's): batch.conf's are kept apart.
LAPTOP_URL=$NOTIFY_URL LAPTOP_FIELDS=$NOTIFY_FIELDS
TERMED=''
trap 'TERMED=1' TERM INT HUP

say() { printf '%s worker: %s\n' "$(utc_now)" "$*"; }
worker_state() { write_whole "$B/$WORKER_FILE" "$1 $(now)"; }

# The outer job's own end uploads and announces nothing: each job does so here.
for f in "$RESULTS_CONF" "$NOTIFY_CONF"; do
  [ ! -d "$(jobdir "batch-$BATCH")" ] || : >"$(jobdir "batch-$BATCH")/$f"
done

# The newest progress figure in the log's complete lines after byte START: prints the byte the
# next scan starts from, and the figure if one was found (a line "progress: N%", N <= 100).
SCAN_PY='import re, sys
path, start = sys.argv[2], int(sys.argv[3])
with open(path, "rb") as f:
    f.seek(start)
    data = f.read()
end = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
found = [int(n) for n in re.findall(rb"progress:\s*(\d{1,3})\s*%", data[:end]) if int(n) <= 100]
print(start + end, found[-1] if found else "")'

# ssh-ec2-job.json (docs/BATCH.md: S3 layout): JOB STATE ATTEMPT STATUS STARTED ENDED USAGE-FILE INSTANCE.
JOB_JSON_PY='import json, sys
job, state, attempt, status, started, ended, usage, instance = sys.argv[2:10]
try:
    peak, wall = open(usage).read().split()
except Exception:
    peak, wall = "-", "-"
n = lambda s: int(s) if s.isdigit() else None
print(json.dumps({"job": job, "state": state, "attempt": n(attempt), "status": n(status), "started": n(started),
                  "ended": n(ended), "peak_kib": n(peak), "wall_seconds": n(wall), "instance": instance or None}))'

# notify.sh's NOTIFY_FIELDS for a job: session/notify.ts's members in its order (job, command,
# then the laptop's: batch, instance, region; then results), JSON-escaped here.
FIELDS_PY='import json, sys
job, cmd, laptop, batch, instance, region, local, s3 = sys.argv[2:10]
if not laptop:
    laptop = json.dumps({"batch": batch, "instance": instance or None, "region": region})[1:-1]
print("%s,%s,%s" % (json.dumps({"job": job, "command": cmd})[1:-1], laptop,
                    json.dumps({"results": {"local": local, "s3": s3 or None}})[1:-1]))'

stop_worker() {
  [ -z "${watcher:-}" ] || kill "$watcher" 2>/dev/null
  if [ -n "$UPLOAD_FAILED" ] && { [ "$1" = done ] || [ "$1" = stalled ]; }; then
    # A terminating poweroff would take the only copy of a job's files: wait for collect instead.
    worker_state upload-failed
    say "a job's files are not in S3 ($UPLOAD_FAILED): waiting here for ssh-ec2 batch collect"
    until [ -n "$TERMED" ] || [ -f "$B/$WORKER_CANCEL" ]; do pause 10; done
  else
    worker_state "$1"
  fi
  say "exits: $1"
  [ "$1" != stalled ] || exit 1
  exit 0
}
# pause SECONDS: a sleep a SIGTERM ends at once (the trap runs when `wait` is interrupted).
pause() {
  sleep "$1" &
  wait $!
}

# SETUP, once per instance and batch (a worker started again after it succeeded skips it).
run_setup() {
  mkdir -p setup
  if [ -z "$PY" ] || ! command -v aws >/dev/null 2>&1; then
    printf 'ssh-ec2: this instance has no %s: the batch worker needs it\n' "$([ -z "$PY" ] && echo python3 || echo 'aws CLI')" >>setup/log
    write_whole setup/status 127
    stop_worker setup-failed
  fi
  [ -n "$SETUP_B64" ] || return 0
  [ "$(cat setup/status 2>/dev/null)" = 0 ] && return 0
  setup=$(printf %s "$SETUP_B64" | base64 -d; printf x)
  printf '=== ssh-ec2 batch setup started %s: %s\n' "$(utc_now)" "${setup%x}" >>setup/log
  (mkdir -p "$PROJECT" && cd "$PROJECT" && "${SHELL:-/bin/sh}" -c "${setup%x}") </dev/null >>setup/log 2>&1
  status=$?
  printf '=== exit status %s\n' "$status" >>setup/log
  write_whole setup/status "$status"
  [ -n "$TERMED" ] && stop_worker interrupted
  [ "$status" = 0 ] || stop_worker setup-failed
}

# From the job's start until its message is settled (in the background; run_job kills it once the
# message is deleted or sent back, after the files, the upload and the notification): the message
# kept ours every third of VISIBILITY (queue.sh's keep_held: a refusal, or SQS's 12 hours over, is
# said in the job's log), and the progress from the output each second while the command runs.
# Run as `watch_job &`: a body in braces, so that $! is the loop itself (a `( )` body would be a
# second fork, which the kill of $! leaves running, heartbeating a message settled long ago).
watch_job() {
  beat=$((VISIBILITY / 3)) next=0
  [ "$beat" -ge 1 ] || beat=1
  next=$(($(now) + beat))
  while kill -0 "$WORKER_PID" 2>/dev/null; do
    sleep 1
    ! kill -0 "$JOB_PID" 2>/dev/null || scan_progress
    [ "$(now)" -ge "$next" ] || continue
    next=$(($(now) + beat))
    keep_held && continue
    [ -n "$KEEP_ERROR" ] || { job_says "$HELD_12H"; exit 0; }
    job_says "the heartbeat keeping this job's message was refused (it may run again elsewhere): $KEEP_ERROR"
  done
}
job_says() { printf '=== ssh-ec2 %s: %s\n' "$(utc_now)" "$*" >>"$J/$BATCH_JOB_LOG"; say "job $JOB: $*"; }
# The offset is kept in a file: the last scan, after the job, is the main shell's, and must not
# read again a figure older than one the command said since with ssh-ec2-progress.
# A figure the command gave with ssh-ec2-progress since the last scan (its file newer than the
# offset's) is kept over one found in output of the same while: which came last is unknown.
scan_progress() {
  scanned=$(cat "$J/scanned" 2>/dev/null)
  set -- $(json "$SCAN_PY" "$J/$BATCH_JOB_LOG" "${scanned:-0}" 2>/dev/null)
  if [ -n "${2:-}" ] && [ -z "$(find "$J/$BATCH_JOB_PROGRESS" -newer "$J/scanned" 2>/dev/null)" ]; then
    write_whole "$J/$BATCH_JOB_PROGRESS" "$2"
  fi
  [ -z "${1:-}" ] || write_whole "$J/scanned" "$1"
}

# Runs the received job: its state, log, measure, progress and files; then its outcome.
run_job() {
  J="$B/$JOBS_DIR/$JOB"
  mkdir -p "$J" || return 1
  rm -rf "$J/$BATCH_JOB_FILES" "$J/$BATCH_JOB_PROGRESS" "$J/$USAGE_FILE"
  started=$(now)
  write_whole "$J/$BATCH_JOB_STARTED" "$started"
  write_whole "$J/$BATCH_JOB_STATE" "running $ATTEMPT $started"
  c=$(printf %s "$CMD" | base64 -d; printf x)
  c=${c%x}
  printf '=== ssh-ec2 batch job %s attempt %s started %s on %s: %s\n' "$JOB" "$ATTEMPT" "$(utc_now)" \
    "${INSTANCE_ID:-this instance}" "$c" >>"$J/$BATCH_JOB_LOG"
  write_whole "$J/scanned" "$(wc -c <"$J/$BATCH_JOB_LOG")"
  say "job $JOB attempt $ATTEMPT started"
  mkdir -p "$PROJECT"
  fresh_mark "$J/since"
  # The measurer takes the subshell's place: it passes a SIGTERM on and waits for the command,
  # whose status is then what `wait` reports (a shell there would die of the group's signal first).
  (
    cd "$PROJECT" || exit 1
    export SSH_EC2_JOB_DIR="$J" PATH="$BASE/$BIN_DIR:$PATH" SSH_EC2_BATCH="$BATCH" SSH_EC2_JOB="$JOB"
    # A Python job's print() reaches the log (and its progress lines the table) as it runs.
    [ -n "${PYTHONUNBUFFERED:-}" ] || export PYTHONUNBUFFERED=1
    exec "$PY" -I -S -c "$MEASURE_PY" "$J/$USAGE_FILE" "${SHELL:-/bin/sh}" -c "$c"
  ) </dev/null >>"$J/$BATCH_JOB_LOG" 2>&1 &
  JOB_PID=$!
  watch_job &
  watcher=$!
  wait_child "$JOB_PID" TERMED
  status=$?
  scan_progress
  ended=$(now)
  printf '=== exit status %s\n' "$status" >>"$J/$BATCH_JOB_LOG"
  if [ -n "$TERMED" ]; then
    write_whole "$J/$BATCH_JOB_STATE" "interrupted $ATTEMPT $ended"
    if [ -f "$B/$WORKER_CANCEL" ]; then
      say "job $JOB attempt $ATTEMPT cancelled (status $status)"
    else
      say "job $JOB attempt $ATTEMPT interrupted (status $status): sent back to the queue"
      send_again "$FAILURES" $((ATTEMPT + 1))
    fi
    stop_worker interrupted
  fi
  keep_files
  if [ "$status" != 0 ] && [ $((FAILURES + 1)) -le "$RETRIES" ]; then
    write_whole "$J/$BATCH_JOB_STATE" "retried $ATTEMPT $status $ended"
    say "job $JOB attempt $ATTEMPT failed (status $status): sent back to the queue"
    send_again $((FAILURES + 1)) $((ATTEMPT + 1))
    settled
    return 0
  fi
  final=done
  [ "$status" = 0 ] || final=failed
  write_whole "$J/$BATCH_JOB_STATE" "$final $ATTEMPT $status $ended"
  say "job $JOB attempt $ATTEMPT $final (status $status)"
  if ! upload_job "$final"; then
    UPLOAD_FAILED=$JOB
    job_says "its files could not be uploaded to $RESULTS_URL$JOB/: kept on this instance for ssh-ec2 batch collect"
  fi
  notify_job "$status"
  delete_held
  settled
}
# The message settled (deleted or sent back): its heartbeat ends.
settled() {
  kill "$watcher" 2>/dev/null
  wait "$watcher" 2>/dev/null
  watcher=''
}

# The attempt's files into files/; what could not be (a full disk) or was left out (a symbolic link
# out of the project) said in the job's log. The files it could not copy stay in the project only.
keep_files() {
  (cd "$PROJECT" && new_files_to "$J/$BATCH_JOB_FILES" "$J/since" copy) 2>"$J/copy.err" ||
    job_says "some of its files could not be copied to $J/$BATCH_JOB_FILES (see below): they are in the project only"
  [ ! -s "$J/copy.err" ] || cat "$J/copy.err" >>"$J/$BATCH_JOB_LOG"
  mkdir -p "$J/$BATCH_JOB_FILES"
}

# The job's files and log to RESULTS_URL<job>/ (when set), one sync of a stage of hard links; then,
# all there, its ssh-ec2-job.json alone: the laptop's sign the job is in S3 (a sync has no order, may stop halfway).
upload_job() {
  [ -n "$RESULTS_URL" ] || return 0
  stage="$J/upload"
  rm -rf "$stage"
  cp -lRp "$J/$BATCH_JOB_FILES" "$stage" 2>/dev/null || cp -Rp "$J/$BATCH_JOB_FILES" "$stage" || return 1
  # The name is the sign: the job's own file of that name, sent first by a sync cut short, would look
  # complete. It stays in files/ only.
  if [ -e "$stage/ssh-ec2-job.json" ] || [ -L "$stage/ssh-ec2-job.json" ]; then
    rm -rf "$stage/ssh-ec2-job.json"
    job_says "its own ssh-ec2-job.json is not uploaded (the name is ssh-ec2's): it is in $J/$BATCH_JOB_FILES"
  fi
  cp -p "$J/$BATCH_JOB_LOG" "$stage/$JOB_LOG"
  # An earlier attempt's sign (its instance died before deleting the message) goes before any file of
  # this one, or collect could take a mix; still there, nothing is sent over it.
  s3_rm "$RESULTS_URL$JOB/ssh-ec2-job.json" "$REGION" "$RESULTS_ENDPOINT" "$B/s3.log" || { rm -rf "$stage"; return 1; }
  upload_stage "$stage" "$RESULTS_URL$JOB/" "$REGION" "$RESULTS_ENDPOINT" "$B/s3.log" "job $JOB" || return 1
  mkdir "$stage" && json "$JOB_JSON_PY" "$JOB" "$1" "$ATTEMPT" "$status" "$started" "$ended" "$J/$USAGE_FILE" \
    "$INSTANCE_ID" >"$stage/ssh-ec2-job.json" || return 1
  upload_stage "$stage" "$RESULTS_URL$JOB/" "$REGION" "$RESULTS_ENDPOINT" "$B/s3.log" "job $JOB's ssh-ec2-job.json"
}

# notify.sh's sender, with this job's members.
notify_job() {
  [ -n "$LAPTOP_URL" ] || return 0
  fields=$(json "$FIELDS_PY" "$JOB" "$c" "$LAPTOP_FIELDS" "$BATCH" "$INSTANCE_ID" "$REGION" \
    "results/$BATCH/$JOB" "${RESULTS_URL:+$RESULTS_URL$JOB/}") || return 0
  printf 'NOTIFY_URL=%s\nNOTIFY_FIELDS=%s\n' "$(quote "$LAPTOP_URL")" "$(quote "$fields")" >"$J/$NOTIFY_CONF"
  notify_end "$J" "$1"
}
quote() { printf "'%s'" "$(printf %s "$1" | sed "s/'/'\\\\''/g")"; }

WORKER_PID=$$ UPLOAD_FAILED='' FAILING_SINCE='' WAIT=0 watcher=''
worker_state running
say "started for batch $BATCH, lane ${LANE:-?}, queue $QUEUE_URL"
run_setup
told_to_stop() { [ -n "$TERMED" ] || [ -f "$B/$WORKER_CANCEL" ] || [ -f "$BASE/$INTERRUPTION_FILE" ]; }
while :; do
  told_to_stop && stop_worker interrupted
  if receive; then
    RECEIVED=$(now) FAILING_SINCE=''
    # A stop that came while the receive waited: the job is left to another instance, uncounted.
    if told_to_stop; then
      release_held
      stop_worker interrupted
    fi
    run_job
    continue
  fi
  [ -n "$TERMED" ] && stop_worker interrupted
  [ -n "$CALL_ERROR" ] || ! queue_empty || stop_worker done
  case $CALL_ERROR in
    gone) say "the queue is gone (the batch was cancelled or collected)" && stop_worker done ;;
    failed) back_off ;;
    *) FAILING_SINCE='' ;;
  esac
done
