#!/bin/sh
# ssh-ec2's boot-time limit. Not installed in ~/.ssh-ec2: it travels in the instance's user data
# as a cloud-init boothook (src/remote/on-instance.ts bootLimitScript puts its settings, lib.sh
# and poweroff.sh before it), which cloud-init runs on every boot, not only the first, and from
# the instance's own user data, so an image made from the instance does not carry it along.
# POSIX sh (dash); needs procps (ps) and curl or wget, like the agent.
#
# Without it an instance runs with no limit until a run installs the agent: when the run died
# before that (a laptop closed during boot), or when the instance is started again by something
# else than ssh-ec2 (the console, the CLI). So on every boot, until the agent runs, it powers off:
#
#   max-time   MAX_TIME > 0 seconds after it began (this boot), whatever happens;
#   idle       IDLE_TIMEOUT > 0 full seconds with no ssh connection of the login user at all (an
#              idle `ssh -N` master counts here: a run holds one from its first contact until the
#              agent is installed, so a run that is connecting is never cut) and no new agent.conf.
#
# though never within BOOT_GRACE seconds of the boot: a run that is starting the instance (or
# launched it) connects within seconds of sshd's start, and a limit left by an earlier run (a
# short max time, say) must not cut it before it has written its own;
# and steps aside for good as soon as the agent's daemon runs: a run installed or started it, with
# its limits. The limits are the last run's when a run wrote agent.conf (IDLE_TIMEOUT, MAX_TIME),
# else those of the launch. It powers off like the agent (poweroff.sh: only once IMDS says this is
# INSTANCE_ID, which cloud-init gives boothooks; it writes ~/.ssh-ec2/poweroff, the next run says why).
#
# Settings (set before this file): BOOT_USER (the login user), IDLE_TIMEOUT, MAX_TIME (seconds,
# 0 = none), BOOT_GRACE (seconds), POWEROFF, IMDS_URL.
#
#   sh boot-limit.sh         what cloud-init runs (as root): starts `watch` as BOOT_USER, returns at once
#   sh boot-limit.sh watch   the loop itself (as the login user: ~/.ssh-ec2 stays the user's)
set -u

boot_main() {
  if [ "$(id -u)" = 0 ]; then
    # A copy the login user can read; it runs as that user once the user has a home (on the first
    # boot, cloud-init creates the user after running boothooks).
    copy=/run/ssh-ec2-boot-limit.sh
    { cp "$0" "$copy" && chmod 755 "$copy"; } || exit 0
    (
      until home=$(getent passwd "$BOOT_USER" | cut -d: -f6) && [ -n "$home" ] && [ -d "$home" ]; do sleep 2; done
      if command -v runuser >/dev/null 2>&1; then
        exec runuser -u "$BOOT_USER" -- env HOME="$home" INSTANCE_ID="${INSTANCE_ID:-}" sh "$copy" watch
      fi
      exec su -s /bin/sh -c "HOME='$home' INSTANCE_ID='${INSTANCE_ID:-}' exec sh '$copy' watch" "$BOOT_USER"
    ) </dev/null >/dev/null 2>&1 &
  else
    nohup sh "$0" watch </dev/null >/dev/null 2>&1 &
  fi
  exit 0
}

boot_log() { printf '%s boot-limit[%s]: %s\n' "$(utc_now)" "$$" "$*" >>"$LOG"; }

boot_watch() {
  mkdir -p "$BASE" || exit 1
  cd / || exit 1
  LOG="$BASE/boot-limit.log"
  CONF="$BASE/$AGENT_CONF"
  # poweroff.sh logs through `log`.
  log() { boot_log "$@"; }
  began=$(now)
  id=${INSTANCE_ID:-}
  [ -n "$id" ] || id=$(cat /var/lib/cloud/data/instance-id 2>/dev/null)
  # The last run's limits, if a run wrote them; the instance to power off stays this one.
  if [ -f "$CONF" ] && sh -n "$CONF" 2>/dev/null; then . "$CONF"; fi
  INSTANCE_ID=$id
  for key in IDLE_TIMEOUT MAX_TIME; do
    eval "value=\${$key:-0}"
    is_uint "$value" || value=0
    eval "$key=\$value"
  done
  if [ "$IDLE_TIMEOUT" = 0 ] && [ "$MAX_TIME" = 0 ]; then
    boot_log "no limit to keep (idle timeout and max time off)"
    exit 0
  fi
  boot_log "armed on $INSTANCE_ID: idle timeout ${IDLE_TIMEOUT}s, max time ${MAX_TIME}s"
  last_busy=$began
  conf_seen=$(stat -c %Y "$CONF" 2>/dev/null)
  while :; do
    t=$(now)
    if running_daemon >/dev/null; then
      boot_log "the agent runs: it keeps the limits from now on"
      exit 0
    fi
    [ "$(ssh_connections)" -gt 0 ] && last_busy=$t
    # A run wrote its settings: it was here.
    written=$(stat -c %Y "$CONF" 2>/dev/null)
    if [ "$written" != "$conf_seen" ]; then
      conf_seen=$written
      last_busy=$t
    fi
    reason=''
    if [ "$MAX_TIME" -gt 0 ] && [ $((t - began)) -ge "$MAX_TIME" ]; then
      reason=$REASON_MAX_TIME
    elif [ "$IDLE_TIMEOUT" -gt 0 ] && [ $((t - last_busy)) -gt "$IDLE_TIMEOUT" ]; then
      reason=$REASON_IDLE
    fi
    [ -n "$reason" ] && [ $((t - began)) -ge "$BOOT_GRACE" ] && poweroff "$reason"
    sleep "$(interval_for "$IDLE_TIMEOUT" "$MAX_TIME")"
  done
}

case ${1:-} in
  watch) boot_watch ;;
  *) boot_main ;;
esac
