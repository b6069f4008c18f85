#!/bin/sh
# ssh-ec2's job wrapper, placed on the instance at ~/.ssh-ec2/job.sh. POSIX sh (dash), nothing
# to install beyond tmux or screen.
#
# A job is one command (or an interactive login shell) run in tmux or screen for one project
# directory, so it survives a lost connection and can be reattached. Its state is a directory
# of small files that ssh-ec2, `ssh-ec2 ls/logs` and the agent (agent.sh) read:
#   ~/.ssh-ec2/jobs/<id>/cmd       the command text, exactly as typed (absent: a login shell)
#                        dir       the project directory the job runs in
#                        mux       tmux or screen
#                        log       path of the output log (in the project directory)
#                        pid       pid of the shell running the command
#                        started   epoch seconds
#                        ended     epoch seconds, written when it ends...
#                        status    ...then its exit status: present = finished
#                        usage     "PEAK_KIB WALL_SECONDS" of the command (usage.sh), before status
#                        shell     present for an interactive shell (no cmd): the agent's idle rule
#                        docker    --docker: the shell line that runs $c (or a shell) in the container
#                        detached  present if started with --detach, or if it ended with no
#                                  terminal attached and no ssh session (a lost connection): the
#                                  agent's grace rule
# The command never passes through a quoting layer: it arrives base64-encoded and is handed
# whole to "$SHELL" -c, as `ssh host words...` would.
#
#   job.sh start ID MUX DIR DETACHED(0|1) B64CMD|- TOKEN [B64DOCKER]
#                                                    start it (exit JOB_RUNNING_STATUS if one is
#                                                    running, MUX_MISSING_STATUS if MUX is not
#                                                    installed: lib.sh); B64DOCKER: --docker's line
#   job.sh run ID                                    what runs inside the multiplexer
#   job.sh attach ID                                 reattach (returns when detached or ended)
#   job.sh follow ID                                 print the log until the job ends
#   job.sh interrupt ID                              Ctrl-C typed into the job's terminal
#   job.sh status ID                                 none | running PID STARTED |
#                                                    finished STATUS ENDED PEAK_KIB|- WALL_SECONDS|-
#   job.sh log ID                                    print the log
#   job.sh others                                    how many other ssh sessions run now
set -u

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/results.sh"
. "$(dirname "$0")/usage.sh"
. "$(dirname "$0")/notify.sh"

# Single-quotes a word for sh (tmux runs pipe-pane's command with /bin/sh).
quote() { printf "'%s'" "$(printf %s "$1" | sed "s/'/'\\\\''/g")"; }

# running | finished | killed | none (lib.sh job_state: a job that vanished or never started
# was killed).
state() {
  _state=$(job_state "$(jobdir "$1")")
  case $_state in
    vanished | unstarted) echo killed ;;
    *) echo "$_state" ;;
  esac
}

cmd_start() {
  id=$1 mux=$2 dir=$3 detached=$4 b64=$5 token=${6:-} docker=${7:-}
  d=$(jobdir "$id")
  if [ "$(state "$id")" = running ]; then
    echo "ssh-ec2: a job is already running here (pid $(cat "$d/pid" 2>/dev/null))" >&2
    exit "$JOB_RUNNING_STATUS"
  fi
  # Silent: ssh-ec2 says it, with what to do (the attached start's stderr is the user's terminal).
  command -v "$mux" >/dev/null 2>&1 || exit "$MUX_MISSING_STATUS"
  rm -rf "$d" && mkdir -p "$d" || exit 1
  # Which start this is: an interrupt sent with it waits for this job, not the one before.
  if [ -n "$token" ]; then printf '%s\n' "$token" >"$d/token"; fi
  mkdir -p "$dir" || exit 1
  dir=$(cd "$dir" && pwd) || exit 1
  printf '%s\n' "$dir" >"$d/dir"
  printf '%s\n' "$mux" >"$d/mux"
  now >"$d/created"
  [ "$detached" = 1 ] && : >"$d/detached"
  if [ -n "$docker" ]; then printf %s "$docker" | base64 -d >"$d/docker" || exit 1; fi
  # The project's files as the sync up left them: what changes after this is a result (--results),
  # the job's log among them (written from here on).
  results_mark "$d"
  name=$(session "$id")
  if [ "$b64" != - ]; then
    printf %s "$b64" | base64 -d >"$d/cmd" || exit 1
    log="$dir/$JOB_LOG"
    printf '%s\n' "$log" >"$d/log"
    printf '=== ssh-ec2 job started %s: %s\n' "$(utc_now)" "$(cat "$d/cmd")" >>"$log"
  else
    : >"$d/shell"
  fi
  case $mux in
    tmux)
      tmux kill-session -t "=$name" 2>/dev/null
      # Several words: tmux runs them directly, not through the user's $SHELL (which may be fish).
      tmux new-session -d -s "$name" -c "$dir" -x 200 -y 50 sh "$BASE/job.sh" run "$id" || exit 1
      # Logged by tmux itself, so the command keeps its terminal (colours, progress bars).
      [ -f "$d/log" ] && tmux pipe-pane -t "=$name:" "cat >>$(quote "$log")"
      ;;
    screen)
      screen -S "$name" -X quit >/dev/null 2>&1
      rc="$BASE/screenrc"
      { [ -f "$HOME/.screenrc" ] && echo "source $HOME/.screenrc"; echo 'logfile flush 1'; } >"$rc"
      if [ -f "$d/log" ]; then
        (cd "$dir" && screen -c "$rc" -L -Logfile "$log" -dmS "$name" sh "$BASE/job.sh" run "$id") || exit 1
      else
        (cd "$dir" && screen -c "$rc" -dmS "$name" sh "$BASE/job.sh" run "$id") || exit 1
      fi
      ;;
    *) echo "ssh-ec2: unknown multiplexer $mux" >&2; exit 2 ;;
  esac
  # Where its end is announced (--notify): as this start said, whatever a later run writes.
  cp "$BASE/$NOTIFY_CONF" "$d/$NOTIFY_CONF" 2>/dev/null
  : >"$d/go"
}

cmd_run() {
  id=$1
  d=$(jobdir "$id")
  # A Ctrl-C in the job's terminal reaches this shell too (the terminal's foreground group):
  # without a trap it would die of it before writing the status (the job "killed"). Caught, not
  # ignored, so that the command gets the default action; one before the command runs ends it
  # with a shell's 130. The same for the SIGTERM the agent sends the job's process group on a spot
  # interruption notice (interruption.sh): the command checkpoints, this shell records its status.
  interrupted=
  trap 'interrupted=1' INT TERM
  # The log (tmux pipe-pane) is attached right after the session starts: wait for it.
  wait_for 50 test -f "$d/go"
  cd "$(cat "$d/dir")" || exit 1
  # Whole or absent (as status): a reader catching an empty pid file would take the job as killed.
  write_whole "$d/pid" $$
  now >"$d/started"
  if [ -n "$interrupted" ]; then
    (exit 130)
  elif [ -f "$d/docker" ]; then
    # --docker: the command (or a shell) in its container, by the line ssh-ec2 wrote (remote/docker.ts:
    # it reads the command from $c).
    c=$(cat "$d/cmd" 2>/dev/null; printf x)
    c=${c%x}
    : >"$d/fg"
    passing_term eval "$(cat "$d/docker")"
  elif [ -f "$d/cmd" ]; then
    # $(...) strips trailing newlines: an x keeps them, and is removed again.
    c=$(cat "$d/cmd"; printf x)
    # Made by the measurer's child as it becomes the command (usage.sh): a Ctrl-C typed before
    # would reach only this shell's trap or the measurer, which ignores it, and be lost.
    export SSH_EC2_FOREGROUND_MARK="$d/fg"
    measured "$d/$USAGE_FILE" "${SHELL:-/bin/sh}" -c "${c%x}"
  else
    : >"$d/fg"
    "${SHELL:-/bin/sh}" -l
  fi
  status=$?
  unset SSH_EC2_FOREGROUND_MARK
  ended=$(now)
  # Nobody there to see it end, no terminal attached and no ssh session at all (the connection
  # was lost): the agent's grace rule applies, as after --detach.
  attached "$id" || [ "$(cmd_others)" -gt 0 ] || : >"$d/detached"
  # Before the status: whoever waits for the job's end (a sync back, the agent's stop) finds its
  # results in S3 already (--results; nothing when not configured).
  upload_results job-end "$d"
  echo "$ended" >"$d/ended"
  write_whole "$d/status" "$status"
  notify_end "$d" "$status"
}

# Runs "$@" in a subshell with this shell's stdin, passing a SIGTERM sent to the job (its pid file
# names this shell: a stop of the job, the machine's shutdown) on to the programs that subshell
# runs — docker passes it into the container, whose init passes it to the command — while the
# subshell lives on to report docker's status; returns it. A wait cut short by the trap returns
# >128 with the subshell still there (a zombie answers kill -0 until it is waited for). The
# subshell catches TERM itself: a spot notice's SIGTERM to the job's whole group (interruption.sh)
# would otherwise end it at once (dash 143, bash 255) while the container still checkpoints.
passing_term() {
  exec 3<&0
  (
    trap : TERM
    "$@"
  ) <&3 3<&- &
  _child=$!
  exec 3<&-
  _termed=
  trap '_termed=1; pkill -TERM -P "$_child" 2>/dev/null || kill -TERM "$_child" 2>/dev/null' TERM
  wait_child "$_child" _termed
  _status=$?
  trap - TERM
  return "$_status"
}

cmd_attach() {
  id=$1
  d=$(jobdir "$id")
  name=$(session "$id")
  case $(cat "$d/mux" 2>/dev/null) in
    tmux) tmux has-session -t "=$name" 2>/dev/null && exec tmux attach-session -t "=$name" ;;
    screen) screen -ls "$name" >/dev/null 2>&1 && exec screen -x "$name" ;;
  esac
  exit 0
}

cmd_follow() {
  id=$1
  d=$(jobdir "$id")
  [ -f "$d/log" ] || exit 0
  log=$(cat "$d/log")
  # Wait for the job to start (pid), then print the log until it ends.
  wait_for 100 begun "$d"
  if [ "$(state "$id")" = running ]; then
    tail -n +1 -f --pid="$(cat "$d/pid")" "$log" 2>/dev/null || cat "$log"
  else
    cat "$log"
  fi
}

# A Ctrl-C passed on by ssh-ec2 (a job followed without a terminal here): typed into the job's
# pane or window, so the terminal there delivers it to whatever runs in the foreground, as it
# would the user's own. One pressed while the job was still starting waits for its command to be
# in the foreground (fg: see cmd_run) or ended — this job, the start given the same token, not
# the one before it in the same directory (its files are there until the new start replaces
# them); not there within 30 s: not sent.
cmd_interrupt() {
  id=$1 token=${2:-}
  d=$(jobdir "$id")
  name=$(session "$id")
  wait_for 300 foreground_as "$d" "$token" || return 0
  case $(cat "$d/mux" 2>/dev/null) in
    tmux) tmux send-keys -t "=$name:" C-c 2>/dev/null ;;
    screen) screen -S "$name" -p 0 -X stuff "$(printf '\003')" >/dev/null 2>&1 ;;
  esac
  :
}

begun() { [ -f "$1/pid" ] || [ -f "$1/status" ]; }
foreground_as() {
  if [ -n "$2" ] && [ "$(cat "$1/token" 2>/dev/null)" != "$2" ]; then return 1; fi
  [ -f "$1/fg" ] || [ -f "$1/status" ]
}

cmd_status() {
  id=$1
  d=$(jobdir "$id")
  case $(state "$id") in
    none) echo none ;;
    running) echo "running $(cat "$d/pid" 2>/dev/null || echo 0) $(cat "$d/started" 2>/dev/null || cat "$d/created")" ;;
    finished)
      usage=$(cat "$d/$USAGE_FILE" 2>/dev/null)
      echo "finished $(cat "$d/status") $(cat "$d/ended" 2>/dev/null || echo 0) ${usage:-- -}"
      ;;
    killed) echo "killed" ;;
  esac
}

# How many ssh sessions other than the caller's run right now (lib.sh ssh_sessions, leaving out
# our own ancestors), so ssh-ec2 applies its final state only when the last session leaves.
cmd_others() { ssh_sessions $$; }

cmd_log() {
  d=$(jobdir "$1")
  [ -f "$d/log" ] && cat "$(cat "$d/log")"
}

case ${1:-} in
  start) shift; cmd_start "$@" ;;
  run) cmd_run "$2" ;;
  attach) cmd_attach "$2" ;;
  follow) cmd_follow "$2" ;;
  interrupt) cmd_interrupt "$2" "${3:-}" ;;
  status) cmd_status "$2" ;;
  log) cmd_log "$2" ;;
  others) cmd_others ;;
  *) echo "usage: job.sh start|run|attach|follow|interrupt|status|log ID ..." >&2; exit 2 ;;
esac
