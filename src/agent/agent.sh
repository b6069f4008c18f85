#!/bin/sh
# ssh-ec2's agent, placed on the instance at ~/.ssh-ec2/agent.sh. POSIX sh (dash); needs only
# coreutils, procps (ps) and curl or wget.
#
# It powers the instance off when the work is done, so a GPU machine is never left running on
# someone's bill. Every few seconds it re-reads ~/.ssh-ec2/agent.conf (written by ssh-ec2;
# shell-quoted KEY=VALUE lines) and looks at what is going on:
#
#   busy  = a job is running (~/.ssh-ec2/jobs/<id>/, see job.sh) or an ssh session is active
#           (a process of this user whose parent is sshd: a shell, a command, rsync; an idle
#           `ssh -N` master has no such child, tmux/screen servers belong to init). A job that is
#           an interactive shell with no terminal attached and nothing running in it but the
#           shell itself (lib.sh idle_shell: `ssh-ec2 --multi tmux`, then Ctrl-b d) is not: a
#           forgotten shell must not keep a GPU machine running. A command always is.
#
# and powers off, first rule that applies:
#
#   max-time      DEADLINE > 0 and now >= DEADLINE. Even while a job runs: it is the hard limit.
#   job-finished  not busy, the last --detach job (or job that ended with nobody connected) ended
#                 at or after the last moment an ssh session was seen (nobody came back since)
#                 and at least JOB_GRACE > 0 full seconds have passed since it ended. Only sessions
#                 count as coming back: a job is still seen running for a moment after the end it
#                 records (job.sh looks for a terminal first), and that must not cancel its own grace.
#   idle          not busy for at least IDLE_TIMEOUT > 0 full seconds, counted from the latest of
#                 the agent's start, the last busy moment and the end a job records (it ran until
#                 then, even if the last round that saw it running came earlier).
#
# So when both job-finished and idle are due, job-finished wins: it is checked first, and with
# IDLE_TIMEOUT <= JOB_GRACE idle can no longer come due earlier just because the agent's rounds
# were slow (a busy machine) and the last one that saw the job running was before its end.
#
# Times are whole seconds, so "at least N full seconds" is "more than N" between two of them: a
# moment read as second S happened anywhere within it.
#
# A changed agent.conf means ssh-ec2 was just here (it rewrites the file only when a setting
# changes): a session seen when the file was written, and a busy moment when the agent notices.
# Rounds may be 15 s apart, so without this a shorter IDLE_TIMEOUT would count from a busy moment
# seen long before and could fire at once, between two ssh commands of the session that set it.
#
# Before powering off it makes sure this is INSTANCE_ID (see poweroff.sh).
#
# agent.conf keys:
#   INSTANCE_ID   the instance this config is for (i-...)
#   IMDS_URL      default http://169.254.169.254
#   POWEROFF      run with sh -c; default: sudo shutdown -h now
#   IDLE_TIMEOUT  seconds, 0 = never
#   DEADLINE      epoch seconds, 0 = none
#   JOB_GRACE     seconds, 0 = never power off for a finished job (idle still applies)
#   ON_INTERRUPT  run on a spot interruption notice (interruption.sh); empty = none
#   PROJECT_DIR   the project directory, relative to the home directory (where ON_INTERRUPT runs)
#
# Between rounds it asks the metadata service for a spot interruption notice every SPOT_POLL
# seconds (interruption.sh), whatever the rounds' interval: the notice gives two minutes only.
#
#   sh agent.sh start         start the daemon unless this version already runs; returns at once
#   sh agent.sh daemon        the loop itself (what start runs, detached)
#   sh agent.sh stop-daemon   stop it
#   sh agent.sh version       print VERSION
#
# Files in ~/.ssh-ec2: agent.pid ("<pid> <version>"), agent.log, poweroff.
set -u

# Bump when this file, lib.sh or poweroff.sh changes: a running daemon of another version is
# replaced (start), and a daemon keeps what it sourced when it started.
VERSION=10

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/poweroff.sh"
. "$(dirname "$0")/interruption.sh"
# --results (upload_results), when ssh-ec2 installed it.
if [ -f "$(dirname "$0")/results.sh" ]; then . "$(dirname "$0")/results.sh"; fi

CONF="$BASE/$AGENT_CONF"
LOG="$BASE/agent.log"

log() { printf '%s agent[%s]: %s\n' "$(utc_now)" "$$" "$*" >>"$LOG"; }

# ---------------------------------------------------------------------------------------------
# Daemon bookkeeping

# Kills the daemon and what it runs (a sleep, a curl): its whole process group when it leads one
# (started by setsid), otherwise only itself.
kill_daemon() {
  pid=$1
  pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')
  if [ "$pgid" = "$pid" ]; then kill -TERM "-$pid" 2>/dev/null; else kill -TERM "$pid" 2>/dev/null; fi
  wait_for 20 gone "$pid"
  kill -KILL "$pid" 2>/dev/null
  return 0
}

gone() { ! kill -0 "$1" 2>/dev/null; }

# Concurrent starts (two ssh-ec2 connecting at once) must not start two daemons. mkdir is atomic;
# a start holds the lock for at most ~5 s, so one still there after 8 s was left by a killed start.
take_lock() {
  lock="$BASE/agent.lock"
  until wait_for 80 mkdir "$lock" 2>/dev/null; do rm -rf "$lock"; done
}
drop_lock() { rmdir "$BASE/agent.lock" 2>/dev/null; return 0; }

cmd_start() {
  mkdir -p "$BASE" || exit 1
  take_lock
  if current=$(running_daemon); then
    set -- $current
    if [ "$2" = "$VERSION" ]; then
      drop_lock
      exit 0
    fi
    log "replacing agent version $2 (pid $1) with version $VERSION"
    kill_daemon "$1"
  fi
  rm -f "$PIDFILE"
  # Fully detached: its own session (no hangup when ssh goes), no terminal, and none of the
  # caller's descriptors, or the ssh exec that ran `start` would wait for the daemon to end.
  script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
  if command -v setsid >/dev/null 2>&1; then
    setsid nohup sh "$script" daemon </dev/null >>"$LOG" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  else
    nohup sh "$script" daemon </dev/null >>"$LOG" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  fi
  # The daemon writes its own pid file; wait for it so a second start right after sees it.
  wait_for 50 running_daemon >/dev/null
  drop_lock
  exit 0
}

cmd_stop_daemon() {
  if current=$(running_daemon); then
    set -- $current
    kill_daemon "$1"
  fi
  rm -f "$PIDFILE"
}

# ---------------------------------------------------------------------------------------------
# What is going on

# Defaults first, so a key removed from the file falls back instead of keeping its old value.
# A config that does not parse is skipped (keeping the previous values): a syntax error in `.`
# would end the daemon.
read_conf() {
  INSTANCE_ID='' IMDS_URL='http://169.254.169.254' POWEROFF='sudo shutdown -h now'
  IDLE_TIMEOUT=0 DEADLINE=0 JOB_GRACE=0 ON_INTERRUPT='' PROJECT_DIR=''
  if [ -f "$CONF" ] && sh -n "$CONF" 2>/dev/null; then
    . "$CONF"
  fi
  for key in IDLE_TIMEOUT DEADLINE JOB_GRACE; do
    eval "value=\${$key:-0}"
    is_uint "$value" || { log "ignoring $key=$value: not a whole number"; value=0; }
    eval "$key=\$value"
  done
}

# Any ssh session at all (lib.sh ssh_sessions).
session_active() { [ "$(ssh_sessions)" -gt 0 ]; }

# Sets JOB_RUNNING (1/0), LAST_JOB_END (latest end of a --detach job, 0 if none) and
# LAST_ANY_END (latest end of any job: a busy moment).
# A job whose shell died without writing its status was killed: it ended when we first noticed,
# which we remember in its directory (the file "vanished").
scan_jobs() {
  JOB_RUNNING=0 LAST_JOB_END=0 LAST_ANY_END=0
  for d in "$JOBS"/*/; do
    [ -d "$d" ] || continue
    d=${d%/}
    case $(job_state "$d") in
      finished)
        end=$(cat "$d/ended" 2>/dev/null)
        is_uint "$end" || end=$(stat -c %Y "$d/status" 2>/dev/null)
        ;;
      # Including one that job.sh has just created, which the multiplexer is about to run.
      running)
        idle_shell "$d" || JOB_RUNNING=1
        continue
        ;;
      vanished)
        if [ ! -f "$d/vanished" ]; then
          now >"$d/vanished"
          log "job $(basename "$d") (pid $(cat "$d/pid" 2>/dev/null)) was killed"
        fi
        end=$(cat "$d/vanished" 2>/dev/null)
        ;;
      *) continue ;;
    esac
    is_uint "$end" || continue
    [ "$end" -gt "$LAST_ANY_END" ] && LAST_ANY_END=$end
    if [ -f "$d/detached" ] && [ "$end" -gt "$LAST_JOB_END" ]; then LAST_JOB_END=$end; fi
  done
}

# What identifies one writing of agent.conf (ssh-ec2 replaces it with mv): inode, mtime to the
# nanosecond, size. Empty if there is none.
conf_stamp() { stat -c '%i %y %s' "$CONF" 2>/dev/null; }

interval() {
  t=$(now)
  remaining=0
  [ "$DEADLINE" -gt "$t" ] && remaining=$((DEADLINE - t))
  interval_for "$IDLE_TIMEOUT" "$JOB_GRACE" "$remaining"
}

# ---------------------------------------------------------------------------------------------
# The loop

cmd_daemon() {
  mkdir -p "$BASE" || exit 1
  # Hold no directory of the caller's (a project directory may be removed or unmounted).
  cd / || exit 1
  echo "$$ $VERSION" >"$PIDFILE"
  # Only our own pid file goes with us: a newer agent may have written its own meanwhile.
  trap 'mine=$(cut -d" " -f1 "$PIDFILE" 2>/dev/null); [ "$mine" = "$$" ] && rm -f "$PIDFILE"; log stopped; exit 0' TERM INT HUP
  STARTED=$(now)
  # The start counts as a busy moment and as a session: whoever started us was just here, so a
  # job that ended before (say, before the instance was last stopped) is not a reason to power
  # off again.
  LAST_BUSY=$STARTED LAST_SESSION=$STARTED
  CONF_SEEN=$(conf_stamp)
  log "started (version $VERSION)"
  while :; do
    # Taken before looking: what is seen below was so at t or later.
    t=$(now)
    read_conf
    stamp=$(conf_stamp)
    if [ "$stamp" != "$CONF_SEEN" ]; then
      CONF_SEEN=$stamp
      # The session was there when it wrote the file (not when we notice: a job that ended in
      # between ended after it, and keeps its grace); busy now, as we cannot know how long it
      # stayed between two rounds.
      written=$(stat -c %Y "$CONF" 2>/dev/null)
      if is_uint "$written" && [ "$written" -gt "$LAST_SESSION" ]; then LAST_SESSION=$written; fi
      LAST_BUSY=$t
    fi
    scan_jobs
    busy=$JOB_RUNNING
    if session_active; then
      busy=1 LAST_SESSION=$t
    fi
    [ "$busy" = 1 ] && LAST_BUSY=$t
    # A job was running until the end it recorded, whenever this agent last looked.
    [ "$LAST_ANY_END" -gt "$LAST_BUSY" ] && LAST_BUSY=$LAST_ANY_END
    reason=''
    if [ "$DEADLINE" -gt 0 ] && [ "$t" -ge "$DEADLINE" ]; then
      reason=$REASON_MAX_TIME
    elif [ "$busy" = 0 ]; then
      # >=: a job that ends within the second of the last round that saw a session.
      # -gt: at least JOB_GRACE (IDLE_TIMEOUT) full seconds, whatever the fractions (see the top).
      if [ "$JOB_GRACE" -gt 0 ] && [ "$LAST_JOB_END" -gt 0 ] && [ "$LAST_JOB_END" -ge "$LAST_SESSION" ] &&
        [ $((t - LAST_JOB_END)) -gt "$JOB_GRACE" ]; then
        reason=$REASON_JOB_FINISHED
      elif [ "$IDLE_TIMEOUT" -gt 0 ] && [ $((t - LAST_BUSY)) -gt "$IDLE_TIMEOUT" ]; then
        reason=$REASON_IDLE
      fi
    fi
    [ -n "$reason" ] && poweroff "$reason"
    # Until the next round, a spot notice is asked for every SPOT_POLL seconds. Each sleep in the
    # background and waited for, so a TERM is handled at once, not after the sleep.
    next=$((t + $(interval)))
    while :; do
      check_interruption
      left=$((next - $(now)))
      [ "$left" -gt 0 ] || break
      [ "$left" -gt "$SPOT_POLL" ] && left=$SPOT_POLL
      sleep "$left" &
      wait $!
    done
  done
}

case ${1:-} in
  start) cmd_start ;;
  daemon) cmd_daemon ;;
  stop-daemon) cmd_stop_daemon ;;
  version) echo "$VERSION" ;;
  *) echo "usage: sh agent.sh start|daemon|stop-daemon|version" >&2; exit 2 ;;
esac
