# ssh-ec2's batch worker's queue (SQS), placed on the instance at ~/.ssh-ec2/queue.sh and sourced
# by worker.sh (after lib.sh, results.sh and usage.sh, whose profile_aws and measure_python it
# uses), with whose settings it runs: REGION, QUEUE_URL, QUEUE_ENDPOINT, VISIBILITY, POLL_SECONDS,
# B (the batch's directory, where the answers and sqs.log are kept) and say. POSIX sh (dash),
# python3 for the JSON.
#
# A message's body (BATCH.md): {"job","cmd" (base64),"failures","attempt"}; SQS's own receive
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

# A message's body (BATCH.md): JOB CMD FAILURES ATTEMPT.
BODY_PY='import json, sys
print(json.dumps({"job": sys.argv[2], "cmd": sys.argv[3], "failures": int(sys.argv[4]), "attempt": int(sys.argv[5])},
                 separators=(",", ":")))'

# receive: one message into RECEIPT JOB CMD FAILURES ATTEMPT; fails when there was none (or the
# call failed: FAILED_CALLS counts those in a row).
FAILED_CALLS=0
receive() {
  RECEIPT=''
  if ! sqs receive-message --max-number-of-messages 1 --wait-time-seconds "$POLL_SECONDS" \
    --visibility-timeout "$VISIBILITY" >"$B/received" 2>>"$B/sqs.log"; then
    FAILED_CALLS=$((FAILED_CALLS + 1))
    return 1
  fi
  FAILED_CALLS=0
  json "$PARSE_PY" <"$B/received" >"$B/message" || return 1
  { read -r RECEIPT && read -r JOB && read -r CMD && read -r FAILURES && read -r ATTEMPT; } <"$B/message"
  if [ "$RECEIPT" = bad ]; then
    say "deleted a message that is no job of ours: $(cat "$B/received")"
    sqs delete-message --receipt-handle "$JOB" >/dev/null 2>>"$B/sqs.log"
    RECEIPT=''
  fi
  [ -n "$RECEIPT" ]
}

# Nothing left anywhere in the queue (visible or held by any instance).
queue_empty() {
  sqs get-queue-attributes --attribute-names ApproximateNumberOfMessages ApproximateNumberOfMessagesNotVisible \
    >"$B/attributes" 2>>"$B/sqs.log" || return 1
  [ "$(json 'import json, sys
a = json.load(sys.stdin).get("Attributes", {})
print(int(a.get("ApproximateNumberOfMessages", 0)) + int(a.get("ApproximateNumberOfMessagesNotVisible", 0)))' <"$B/attributes")" = 0 ]
}

# send_again FAILURES ATTEMPT: the held message's job back in the queue, then the held one deleted.
send_again() {
  sqs send-message --message-body "$(json "$BODY_PY" "$JOB" "$CMD" "$1" "$2")" >/dev/null 2>>"$B/sqs.log" ||
    say "could not send $JOB back to the queue (it comes back once its visibility ends)"
  delete_held
}
delete_held() { sqs delete-message --receipt-handle "$RECEIPT" >/dev/null 2>>"$B/sqs.log" || say "could not delete $JOB's message"; }
