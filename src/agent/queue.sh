# ssh-ec2's batch worker's queue (SQS), placed on the instance at ~/.ssh-ec2/queue.sh and sourced
# by worker.sh (after lib.sh, results.sh and usage.sh, whose profile_aws and measure_python it
# uses), with whose settings it runs: REGION, QUEUE_URL, QUEUE_ENDPOINT, VISIBILITY, POLL_SECONDS,
# B (the batch's directory, where the answers and sqs.log are kept) and say. POSIX sh (dash),
# python3 for the JSON.
#
# A message's body (docs/BATCH.md: The SQS message): {"job","cmd" (base64),"failures","attempt"}; SQS's own receive
# count is never used.

PY=$(measure_python)

# sqs OP ARGS...: one SQS call on the batch's queue, its JSON on stdout, its errors in our log.
sqs() {
  _op=$1
  shift
  profile_aws "$REGION" sqs "$_op" --queue-url "$QUEUE_URL" --output json \
    ${QUEUE_ENDPOINT:+--endpoint-url "$QUEUE_ENDPOINT"} "$@"
}

# The JSON this side reads and writes, by python3 (every image ssh-ec2 launches has it).
json() { "$PY" -I -S -c "$1" "$@"; }

# receive-message's answer → RECEIPT, JOB, CMD (base64), FAILURES, ATTEMPT, one a line; nothing
# for no message; `bad RECEIPT` for a body that is none of ours (deleted: it would come back forever).
PARSE_PY='import base64, json, re, sys
ms = json.loads(sys.stdin.read() or "{}").get("Messages") or []
if ms:
    m = ms[0]
    try:
        b = json.loads(m["Body"])
        job, cmd, failures, attempt = b["job"], b["cmd"], int(b["failures"]), int(b["attempt"])
        base64.b64decode(cmd, validate=True)
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", job) and failures >= 0 and attempt >= 1
        print(m["ReceiptHandle"], job, cmd, failures, attempt, sep="\n")
    except Exception:
        print("bad", m["ReceiptHandle"], sep="\n")'

# A message's body (docs/BATCH.md: The SQS message): JOB CMD FAILURES ATTEMPT.
BODY_PY='import json, sys
print(json.dumps({"job": sys.argv[2], "cmd": sys.argv[3], "failures": int(sys.argv[4]), "attempt": int(sys.argv[5])},
                 separators=(",", ":")))'

# receive: one message into RECEIPT JOB CMD FAILURES ATTEMPT; fails when there was none, or the
# call failed: CALL_ERROR is then `gone` (no such queue: the batch was cancelled or collected) or
# `failed` (anything else: the caller backs off), and empty otherwise.
receive() {
  RECEIPT='' CALL_ERROR=''
  if ! sqs receive-message --max-number-of-messages 1 --wait-time-seconds "$POLL_SECONDS" \
    --visibility-timeout "$VISIBILITY" >"$B/received" 2>"$B/sqs.err"; then
    call_failed
    return 1
  fi
  json "$PARSE_PY" <"$B/received" >"$B/message" || return 1
  { read -r RECEIPT && read -r JOB && read -r CMD && read -r FAILURES && read -r ATTEMPT; } <"$B/message"
  if [ "$RECEIPT" = bad ]; then
    say "deleted a message that is no job of ours: $(cat "$B/received")"
    sqs delete-message --receipt-handle "$JOB" >/dev/null 2>>"$B/sqs.log"
    RECEIPT=''
  fi
  [ -n "$RECEIPT" ]
}

# A failed call's words (in sqs.err) kept in sqs.log, and what they mean: CALL_ERROR.
call_failed() {
  cat "$B/sqs.err" >>"$B/sqs.log"
  CALL_ERROR=failed
  grep -q 'NonExistentQueue\|QueueDoesNotExist' "$B/sqs.err" && CALL_ERROR=gone
}

# queue_empty: nothing left anywhere in the queue (visible or held by any instance). Fails when
# something is left, or when the call failed (CALL_ERROR says so, as receive's).
queue_empty() {
  CALL_ERROR=''
  if ! sqs get-queue-attributes --attribute-names ApproximateNumberOfMessages ApproximateNumberOfMessagesNotVisible \
    >"$B/attributes" 2>"$B/sqs.err"; then
    call_failed
    return 1
  fi
  [ "$(json 'import json, sys
a = json.load(sys.stdin).get("Attributes", {})
print(int(a.get("ApproximateNumberOfMessages", 0)) + int(a.get("ApproximateNumberOfMessagesNotVisible", 0)))' <"$B/attributes")" = 0 ]
}

# sqs_try OP ARGS...: sqs, tried up to four times (1, 2 then 4 s apart; the CLI retries a
# throttle or a 5xx itself first): for the calls that settle a held message, where giving up costs
# a job or a repeat.
sqs_try() {
  _try=1
  until sqs "$@" >/dev/null 2>>"$B/sqs.log"; do
    [ "$_try" -lt 4 ] || return 1
    sleep "$_try"
    _try=$((_try * 2))
  done
}

# send_again FAILURES ATTEMPT: the held message's job back in the queue with these counts; the
# held one deleted only once the new one is sent. When the send fails, the held one is made visible
# at once instead (its old counts: a failed attempt is then not counted, rather than lost). When the
# send succeeded but the delete fails, the job is in the queue twice and may run twice (SQS is
# at-least-once anyway): nothing more is sent for it here.
send_again() {
  if sqs_try send-message --message-body "$(json "$BODY_PY" "$JOB" "$CMD" "$1" "$2")"; then
    delete_held
  else
    say "could not send $JOB back to the queue: its message released as it was"
    release_held
  fi
}
delete_held() {
  sqs_try delete-message --receipt-handle "$RECEIPT" || say "could not delete $JOB's message (it may run again)"
}
# The held message visible again now (not after its visibility ends); if that fails too, it comes
# back when its visibility ends.
release_held() {
  sqs_try change-message-visibility --receipt-handle "$RECEIPT" --visibility-timeout 0 ||
    say "could not release $JOB's message (it comes back once its visibility ends)"
}

# A failed SQS call (not "no such queue"): tried again after a growing wait (2 s, doubling, at most
# a minute), each said; failing for STALL_SECONDS in a row ends the worker as stalled (exit 1: the
# agent's limits then apply), never as done while jobs may still be queued. Uses worker.sh's
# stop_worker and pause.
back_off() {
  [ -n "$FAILING_SINCE" ] || FAILING_SINCE=$(now) WAIT=1
  if [ $(($(now) - FAILING_SINCE)) -ge "$STALL_SECONDS" ]; then
    say "the queue has failed every call for $STALL_SECONDS s"
    stop_worker stalled
  fi
  WAIT=$((WAIT * 2))
  [ "$WAIT" -le 60 ] || WAIT=60
  say "an SQS call failed ($(tail -n 1 "$B/sqs.err")): trying again in $WAIT s"
  pause "$WAIT"
}

# keep_held: the held message ours for VISIBILITY more seconds. SQS keeps a message 12 hours at
# most from its receipt (RECEIVED): a heartbeat asking past that is refused whole, and the message
# comes back to another instance while its job still runs here. So this asks for no more than is
# left, and fails with KEEP_ERROR empty once nothing is (HELD_12H says it), or with the CLI's
# refusal in KEEP_ERROR.
HELD_12H="SQS keeps a message 12 hours at most: this job's message is visible again, it may also run elsewhere"
keep_held() {
  KEEP_ERROR=''
  _left=$((43200 - ($(now) - RECEIVED) - 30))
  [ "$_left" -lt "$VISIBILITY" ] || _left=$VISIBILITY
  [ "$_left" -gt 0 ] || return 1
  sqs change-message-visibility --receipt-handle "$RECEIPT" --visibility-timeout "$_left" \
    >/dev/null 2>"$B/heartbeat.err" && return 0
  cat "$B/heartbeat.err" >>"$B/sqs.log"
  KEEP_ERROR=$(tail -n 1 "$B/heartbeat.err")
  KEEP_ERROR=${KEEP_ERROR:-the CLI said nothing}
  return 1
}
