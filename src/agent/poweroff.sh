# The agent's poweroff, placed at ~/.ssh-ec2/poweroff.sh and sourced by agent.sh (after lib.sh).
# POSIX sh (dash); needs curl or wget.
#
# Before powering off it asks the instance metadata service (IMDSv2) which instance this is,
# and refuses unless that is INSTANCE_ID: a wrong or copied config must never take down some
# other machine. Then it writes ~/.ssh-ec2/poweroff ("<reason> <epoch>", which ssh-ec2 shows on
# the next connection) and runs POWEROFF with SSH_EC2_INSTANCE_ID and SSH_EC2_REASON set.
#
# Reads agent.sh's settings (INSTANCE_ID, IMDS_URL, POWEROFF) and uses its log.

# After a poweroff attempt, give the machine this long to go down before trying again.
RETRY_POWEROFF=60

# Prints the body of a GET or PUT (IMDSv2 wants PUT for the token) with one extra header.
http() {
  method=$1 url=$2 header=$3
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --connect-timeout 2 --max-time 2 -X "$method" -H "$header" "$url" 2>/dev/null
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O - -T 2 -t 1 --method="$method" --header="$header" "$url" 2>/dev/null
  else
    return 127
  fi
}

# Prints the id of the instance we run on, from IMDSv2; fails with why on stdout.
imds_instance_id() {
  url=${IMDS_URL%/}
  if ! token=$(http PUT "$url/latest/api/token" 'X-aws-ec2-metadata-token-ttl-seconds: 60') || [ -z "$token" ]; then
    echo "no IMDSv2 token from $url"
    return 1
  fi
  if ! id=$(http GET "$url/latest/meta-data/instance-id" "X-aws-ec2-metadata-token: $token") || [ -z "$id" ]; then
    echo "no instance id from $url"
    return 1
  fi
  echo "$id"
}

LAST_REFUSAL=''
LAST_POWEROFF=0

poweroff() {
  reason=$1
  t=$(now)
  [ $((t - LAST_POWEROFF)) -ge "$RETRY_POWEROFF" ] || return 0
  why=''
  if ! id=$(imds_instance_id); then
    why=$id
  elif [ -z "$INSTANCE_ID" ]; then
    why="INSTANCE_ID is not set in $CONF"
  elif [ "$id" != "$INSTANCE_ID" ]; then
    why="this is $id, not $INSTANCE_ID"
  fi
  if [ -n "$why" ]; then
    # Every round tries again; the log says so once per new reason.
    if [ "$LAST_REFUSAL" != "$reason: $why" ]; then
      log "refusing to power off ($reason): $why"
      LAST_REFUSAL="$reason: $why"
    fi
    return 0
  fi
  LAST_REFUSAL=''
  LAST_POWEROFF=$t
  log "powering off $INSTANCE_ID: $reason"
  echo "$reason $t" >"$BASE/$POWEROFF_FILE"
  (
    export SSH_EC2_INSTANCE_ID="$INSTANCE_ID" SSH_EC2_REASON="$reason"
    sh -c "$POWEROFF"
  ) </dev/null >>"$LOG" 2>&1 || log "poweroff command failed ($?): $POWEROFF"
}
