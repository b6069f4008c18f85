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
#                        detached  present if started with --detach, or if it ended with no
#                                  terminal attached and no ssh session (a lost connection): the
#                                  agent's grace rule
# The command never passes through a quoting layer: it arrives base64-encoded and is handed
# whole to "$SHELL" -c, as `ssh host words...` would.
#
#   job.sh start ID MUX DIR DETACHED(0|1) B64CMD|-   start it (exit 75 if one is running, 76 if
#                                                    MUX is not installed)
#   job.sh run ID                                    what runs inside the multiplexer
#   job.sh attach ID                                 reattach (returns when detached or ended)
#   job.sh follow ID                                 print the log until the job ends
#   job.sh status ID                                 none | running PID STARTED | finished STATUS ENDED
#   job.sh log ID                                    print the log
#   job.sh others                                    how many other ssh sessions run now
set -u
BASE="$HOME/.ssh-ec2"
LOGNAME_IN_DIR=ssh-ec2-job.log

# Single-quotes a word for sh (tmux runs pipe-pane's command with /bin/sh).
quote() { printf "'%s'" "$(printf %s "$1" | sed "s/'/'\\\\''/g")"; }

jobdir() { printf '%s/jobs/%s' "$BASE" "$1"; }
session() { printf 'ssh-ec2-%s' "$1"; }

# running | finished | killed | none
state() {
  d=$(jobdir "$1")
  [ -d "$d" ] || { echo none; return; }
  [ -f "$d/status" ] && { echo finished; return; }
  if [ -f "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null; then echo running; return; fi
  # Started less than a few seconds ago: the multiplexer has not run it yet.
  if [ ! -f "$d/pid" ] && [ -f "$d/created" ] && [ $(( $(date +%s) - $(cat "$d/created") )) -lt 10 ]; then echo running; return; fi
  echo killed
}

cmd_start() {
  id=$1 mux=$2 dir=$3 detached=$4 b64=$5
  d=$(jobdir "$id")
  if [ "$(state "$id")" = running ]; then
    echo "ssh-ec2: a job is already running here (pid $(cat "$d/pid" 2>/dev/null))" >&2
    exit 75
  fi
  # Silent: ssh-ec2 says it, with what to do (the attached start's stderr is the user's terminal).
  command -v "$mux" >/dev/null 2>&1 || exit 76
  rm -rf "$d" && mkdir -p "$d" || exit 1
  mkdir -p "$dir" || exit 1
  dir=$(cd "$dir" && pwd) || exit 1
  printf '%s\n' "$dir" >"$d/dir"
  printf '%s\n' "$mux" >"$d/mux"
  date +%s >"$d/created"
  [ "$detached" = 1 ] && : >"$d/detached"
  name=$(session "$id")
  if [ "$b64" != - ]; then
    printf %s "$b64" | base64 -d >"$d/cmd" || exit 1
    log="$dir/$LOGNAME_IN_DIR"
    printf '%s\n' "$log" >"$d/log"
    printf '=== ssh-ec2 job started %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(cat "$d/cmd")" >>"$log"
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
  : >"$d/go"
}

cmd_run() {
  id=$1
  d=$(jobdir "$id")
  # The log (tmux pipe-pane) is attached right after the session starts: wait for it.
  i=0
  while [ ! -f "$d/go" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  cd "$(cat "$d/dir")" || exit 1
  # Whole or absent (as status): a reader catching an empty pid file would take the job as killed.
  echo $$ >"$d/pid.tmp" && mv "$d/pid.tmp" "$d/pid"
  date +%s >"$d/started"
  if [ -f "$d/cmd" ]; then
    # $(...) strips trailing newlines: an x keeps them, and is removed again.
    c=$(cat "$d/cmd"; printf x)
    "${SHELL:-/bin/sh}" -c "${c%x}"
  else
    "${SHELL:-/bin/sh}" -l
  fi
  status=$?
  ended=$(date +%s)
  # Nobody there to see it end, no terminal attached and no ssh session at all (the connection
  # was lost): the agent's grace rule applies, as after --detach.
  attached "$id" || [ "$(cmd_others)" -gt 0 ] || : >"$d/detached"
  echo "$ended" >"$d/ended"
  echo "$status" >"$d/status.tmp" && mv "$d/status.tmp" "$d/status"
}

# Is a terminal attached to the job's tmux or screen session?
attached() {
  name=$(session "$1")
  case $(cat "$(jobdir "$1")/mux" 2>/dev/null) in
    tmux) [ -n "$(tmux list-clients -t "=$name" 2>/dev/null)" ] ;;
    screen) screen -ls "$name" 2>/dev/null | grep -q '(Attached)' ;;
    *) return 1 ;;
  esac
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
  i=0
  while [ ! -f "$d/pid" ] && [ ! -f "$d/status" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  if [ "$(state "$id")" = running ]; then
    tail -n +1 -f --pid="$(cat "$d/pid")" "$log" 2>/dev/null || cat "$log"
  else
    cat "$log"
  fi
}

cmd_status() {
  id=$1
  d=$(jobdir "$id")
  case $(state "$id") in
    none) echo none ;;
    running) echo "running $(cat "$d/pid" 2>/dev/null || echo 0) $(cat "$d/started" 2>/dev/null || cat "$d/created")" ;;
    finished) echo "finished $(cat "$d/status") $(cat "$d/ended" 2>/dev/null || echo 0)" ;;
    killed) echo "killed" ;;
  esac
}

# How many ssh sessions other than the caller's run right now (a shell, a command, an rsync: a
# process of ours whose parent is an sshd, and not our own ancestor), so ssh-ec2 applies its
# final state only when the last session leaves. Sessions sharing one master connection count
# one by one.
cmd_others() {
  # A zombie is nobody: one under an sshd frozen by a network partition stays until it is reaped.
  ps -e -o pid=,ppid=,uid=,stat=,comm= 2>/dev/null | awk -v me="$(id -u)" -v self=$$ '
    { comm[$1] = $5; ppid[$1] = $2; uid[$1] = $3; stat[$1] = $4 }
    END {
      for (p = self; p in ppid && !(p in mine); p = ppid[p]) mine[p] = 1
      n = 0
      for (q in comm)
        if (uid[q] == me && stat[q] !~ /^Z/ && comm[q] !~ /^sshd/ && comm[ppid[q]] ~ /^sshd/ && !(q in mine)) n++
      print n
    }'
}

cmd_log() {
  d=$(jobdir "$1")
  [ -f "$d/log" ] && cat "$(cat "$d/log")"
}

case ${1:-} in
  start) shift; cmd_start "$@" ;;
  run) cmd_run "$2" ;;
  attach) cmd_attach "$2" ;;
  follow) cmd_follow "$2" ;;
  status) cmd_status "$2" ;;
  log) cmd_log "$2" ;;
  others) cmd_others ;;
  *) echo "usage: job.sh start|run|attach|follow|status|log ID ..." >&2; exit 2 ;;
esac
