# The agent's answer to a spot interruption notice, placed at ~/.ssh-ec2/interruption.sh and
# sourced by agent.sh (after lib.sh and poweroff.sh, whose `http` it uses). POSIX sh (dash).
#
# EC2 gives a spot instance two minutes' notice before it stops or terminates it, through the
# metadata service: latest/meta-data/spot/instance-action answers 200 with
# {"action":"stop"|"terminate","time":"2026-11-30T16:40:00Z"} from then on, 404 before (and always
# on an on-demand instance: a cheap question). AWS advises asking every 5 seconds.
#
# On the first notice, once, in this order:
#   1. INTERRUPTION_FILE ("<action> <time>") is written: ssh-ec2 watches for it during an attached
#      session (and syncs back at once), and the next ssh-ec2 reads it on a stopped instance;
#   2. every running job that runs a command gets SIGTERM in its process group, so it can
#      checkpoint (job.sh's own shell waits for the command and records its status);
#   3. ON_INTERRUPT, if set, runs in PROJECT_DIR (relative to the home directory) with the user's
#      shell, bounded by HOOK_SECONDS, its output appended to INTERRUPT_LOG there;
#   4. the jobs are given until JOB_SECONDS after the notice to end (what they checkpoint is then
#      in the upload);
#   5. upload_results interruption, if that function exists (results.sh: --results).
#
# Reads agent.sh's settings (IMDS_URL, ON_INTERRUPT, PROJECT_DIR) and uses its log.

# How often to ask, in seconds (AWS's advice).
SPOT_POLL=5
# The hook's bound, and how long the signalled jobs get in all: well inside the two minutes, so
# the upload after them still fits.
HOOK_SECONDS=60
JOB_SECONDS=30

SPOT_TOKEN='' SPOT_TOKEN_AT=0 INTERRUPTED=''

# Leaves the notice's body in SPOT_ANSWER if there is one; fails otherwise (404, no metadata
# service). One token for many questions (IMDSv2 tokens live up to 6 h): a question every 5 s costs
# one GET. The answers go through files, not $(...): a subshell of the daemon would be taken for a
# second daemon (it has the same command line) for as long as the request lasts.
SPOT_ANSWER=$BASE/spot-answer
spot_notice() {
  _url=${IMDS_URL%/}
  if [ -z "$SPOT_TOKEN" ] || [ $(($(now) - SPOT_TOKEN_AT)) -gt 21000 ]; then
    SPOT_TOKEN=''
    http PUT "$_url/latest/api/token" 'X-aws-ec2-metadata-token-ttl-seconds: 21600' >"$SPOT_ANSWER" 2>/dev/null &&
      read -r SPOT_TOKEN <"$SPOT_ANSWER"
    [ -n "$SPOT_TOKEN" ] || return 1
    SPOT_TOKEN_AT=$(now)
  fi
  spot_get "$_url/latest/meta-data/spot/instance-action"
  case $SPOT_STATUS in
    200) return 0 ;;
    # A token refused (the service restarted, the clock moved) is asked for again next time.
    401) SPOT_TOKEN='' ;;
  esac
  return 1
}

# GET with the token: the body in SPOT_ANSWER, the HTTP status in SPOT_STATUS (empty: no answer).
# Not poweroff.sh's `http`, which cannot tell a 404 (no notice: the token is good) from a 401.
spot_get() {
  : >"$SPOT_ANSWER.status"
  if command -v curl >/dev/null 2>&1; then
    curl -sS --connect-timeout 2 --max-time 2 -o "$SPOT_ANSWER" -w '%{http_code}' \
      -H "X-aws-ec2-metadata-token: $SPOT_TOKEN" "$1" >"$SPOT_ANSWER.status" 2>/dev/null
  elif command -v wget >/dev/null 2>&1; then
    # -S: the server's response lines, "  HTTP/1.1 404 Not Found", on stderr.
    wget -q -S -O "$SPOT_ANSWER" -T 2 -t 1 --header="X-aws-ec2-metadata-token: $SPOT_TOKEN" "$1" \
      2>"$SPOT_ANSWER.status"
  fi
  SPOT_STATUS=$(sed -n 's/^[^0-9]*\(HTTP\/[0-9.]* \)\{0,1\}\([1-5][0-9][0-9]\).*/\2/p' "$SPOT_ANSWER.status")
  SPOT_STATUS=${SPOT_STATUS##*[!0-9]}
}

# A field of the notice's flat JSON object (in SPOT_ANSWER).
notice_field() { tr -d '\n' <"$SPOT_ANSWER" | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p"; }

# Asks once; on the first notice, does the whole answer (above). Later notices change nothing.
check_interruption() {
  [ -z "$INTERRUPTED" ] || return 0
  spot_notice || return 0
  action=$(notice_field action)
  case $action in stop | terminate | hibernate) ;; *) return 0 ;; esac
  INTERRUPTED=$action
  at=$(notice_field time)
  write_whole "$BASE/$INTERRUPTION_FILE" "$action ${at:-unknown}"
  log "spot interruption notice: EC2 will $action this instance at ${at:-an unknown time}"
  jobs_until=$(($(now) + JOB_SECONDS))
  marked=$(marked_jobs)
  signalled=$(term_jobs)
  run_interrupt_hook
  jobs_left=$((jobs_until - $(now)))
  [ "$jobs_left" -gt 0 ] || jobs_left=0
  wait_for $((jobs_left * 10)) jobs_ended "$signalled" ||
    log "jobs still running ${JOB_SECONDS}s after the notice: $signalled"
  # Each running job's results since its own mark, where it said at its start (a job still
  # running after the grace uploads nothing at its end before EC2 takes the instance), then a
  # plain session's.
  if command -v upload_results >/dev/null 2>&1; then
    for id in $marked; do
      upload_results interruption "$(jobdir "$id")" >>"$LOG" 2>&1 || log "upload_results interruption $id failed ($?)"
    done
    upload_results interruption >>"$LOG" 2>&1 || log "upload_results interruption failed ($?)"
  fi
  log "interruption handled"
}

# SIGTERM to the process group of every running job that runs a command (a job's shell leads
# its own group: tmux and screen start each in a new session). Prints their pids.
term_jobs() {
  for d in "$JOBS"/*/; do
    d=${d%/}
    [ -f "$d/cmd" ] && [ "$(job_state "$d")" = running ] || continue
    pid=$(cat "$d/pid" 2>/dev/null)
    is_uint "$pid" || continue
    kill -TERM "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    log "sent SIGTERM to job $(basename "$d") (pid $pid)"
    printf '%s ' "$pid"
  done
}

# The ids (no blank in one) of the running jobs that have a results mark (results_mark JOBDIR).
marked_jobs() {
  for d in "$JOBS"/*/; do
    d=${d%/}
    [ -f "$d/results-since" ] && [ "$(job_state "$d")" = running ] && printf '%s ' "${d##*/}"
  done
  return 0
}

jobs_ended() {
  for pid in $1; do kill -0 "$pid" 2>/dev/null && return 1; done
  return 0
}

run_interrupt_hook() {
  [ -n "${ON_INTERRUPT:-}" ] || return 0
  case ${PROJECT_DIR:-.} in /*) dir=$PROJECT_DIR ;; *) dir=$HOME/${PROJECT_DIR:-.} ;; esac
  hook_log=$dir/$INTERRUPT_LOG
  log "running the --on-interrupt hook in $dir"
  (
    cd "$dir" 2>/dev/null || cd "$HOME" || exit 1
    printf '=== ssh-ec2 --on-interrupt %s: %s\n' "$(utc_now)" "$ON_INTERRUPT"
    export SSH_EC2_INTERRUPTION="$INTERRUPTED"
    if command -v timeout >/dev/null 2>&1; then
      timeout -k 5 "$HOOK_SECONDS" "${SHELL:-/bin/sh}" -c "$ON_INTERRUPT"
    else
      "${SHELL:-/bin/sh}" -c "$ON_INTERRUPT"
    fi
    printf '=== exit status %s\n' "$?"
  ) </dev/null >>"$hook_log" 2>&1 || log "the --on-interrupt hook could not run in $dir"
}
