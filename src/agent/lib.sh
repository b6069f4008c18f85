# ssh-ec2's shell library on the instance, placed at ~/.ssh-ec2/lib.sh beside agent.sh and job.sh,
# which source it (`. "$(dirname "$0")/lib.sh"`). POSIX sh (dash). What both scripts need, once:
# the contract with ssh-ec2, job state, ssh session detection, waiting and timestamps.
#
# Functions here name their own variables with a leading _ : sh has no locals, and the scripts
# use plain names (d, pid, i) of their own.

# ---------------------------------------------------------------------------------------------
# The contract with the TypeScript side: names and numbers ssh-ec2 reads or writes. Declared
# again in src/remote/instance-contract.ts; test/unit/instance-contract.test.ts checks each
# NAME=value line here equal to it. One plain value a line, no quotes, no expansion.

# The directory under $HOME that holds the scripts, the agent's files and the jobs.
STATE_DIR=.ssh-ec2
# Its subdirectory of jobs, one directory per job id.
JOBS_DIR=jobs
# The agent's settings (shell-quoted KEY=VALUE lines), written by ssh-ec2.
AGENT_CONF=agent.conf
# Where --results uploads (results.sh), written by ssh-ec2 unless the run only attaches; a job
# keeps a copy of it from its start, in its own directory.
RESULTS_CONF=results.conf
# Where a job's end is announced (--notify: notify.sh), written by ssh-ec2 unless the run only
# attaches; a job keeps a copy of it from its start, in its own directory.
NOTIFY_CONF=notify.conf
# A job's measure (usage.sh), in its directory: "PEAK_KIB WALL_SECONDS" (PEAK_KIB - if unknown).
USAGE_FILE=usage
# "<reason> <epoch>", written by the agent before it powers off; ssh-ec2 shows and removes it.
POWEROFF_FILE=poweroff
# The agent's reasons for powering off, as written to POWEROFF_FILE.
REASON_MAX_TIME=max-time
REASON_JOB_FINISHED=job-finished
REASON_IDLE=idle
# A job's output log, in the project directory it runs in.
JOB_LOG=ssh-ec2-job.log
# "<action> <time>", written by the agent on a spot interruption notice (interruption.sh): the
# action EC2 takes (stop, terminate, hibernate) and when (ISO 8601, as the metadata service says).
INTERRUPTION_FILE=interruption
# The --on-interrupt hook's output log, in the project directory.
INTERRUPT_LOG=ssh-ec2-interrupt.log
# Batches (worker.sh): ~/.ssh-ec2/BATCH_DIR/<batch>/ holds BATCH_CONF (shell-quoted KEY=VALUE
# lines, written by ssh-ec2), BATCH_MANIFEST (the jobs as the laptop parsed them), WORKER_FILE
# ("<state> <epoch>": worker.sh says which), setup/{log,status}, and one directory per
# job attempted here under JOBS_DIR; WORKER_CANCEL, written by `batch cancel`: stop, re-send nothing.
BATCH_DIR=batch
BATCH_CONF=batch.conf
BATCH_MANIFEST=manifest.json
WORKER_FILE=worker
WORKER_CANCEL=cancel
# A batch job's files: its state line, its output (all attempts here), its last progress (0..100),
# the moment its attempt started (epoch), and the copy of the files its attempt made.
BATCH_JOB_STATE=state
BATCH_JOB_LOG=log
BATCH_JOB_PROGRESS=progress
BATCH_JOB_STARTED=started
BATCH_JOB_FILES=files
# The command a batch job reports its progress with (ssh-ec2-progress N), in STATE_DIR/BIN_DIR.
BIN_DIR=bin
PROGRESS_COMMAND=ssh-ec2-progress
# job.sh start's exit status when a job is already running for the directory...
JOB_RUNNING_STATUS=75
# ...and when the multiplexer asked for (tmux or screen) is not installed.
MUX_MISSING_STATUS=76

# ---------------------------------------------------------------------------------------------

BASE="$HOME/$STATE_DIR"
JOBS="$BASE/$JOBS_DIR"

now() { date +%s; }

# The moment as a log line starts it (UTC, to the second).
utc_now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

is_uint() { case ${1:-} in '' | *[!0-9]*) return 1 ;; esac; }

# wait_for TENTHS COMMAND...: runs COMMAND until it succeeds, at most TENTHS times a tenth of a
# second apart after the first try; fails if it never did.
wait_for() {
  _wait_left=$1
  shift
  until "$@"; do
    [ "$_wait_left" -gt 0 ] || return 1
    sleep 0.1
    _wait_left=$((_wait_left - 1))
  done
}

# min(15, the smallest non-zero limit among the arguments / 3), at least 1: a loop checking this
# often reacts within a third of any limit.
interval_for() {
  _best=15
  for _limit in "$@"; do
    [ "$_limit" -gt 0 ] && [ $((_limit / 3)) -lt "$_best" ] && _best=$((_limit / 3))
  done
  [ "$_best" -lt 1 ] && _best=1
  echo "$_best"
}

# wait_child PID FLAG: waits for the background child PID to end; returns its status. A wait cut
# short by a trapped signal returns >128 with the child still there (a zombie answers kill -0
# until it is waited for): it waits again. A shell that reaps on its own (bash) may have taken the
# status while the trap ran: it keeps it for the next wait (127 once it was reported) — asked
# again when the variable named FLAG (set by the caller's trap) is set.
wait_child() {
  while :; do
    wait "$1"
    _wc_status=$?
    kill -0 "$1" 2>/dev/null || break
  done
  eval "_wc_flag=\${$2:-}"
  if [ -n "$_wc_flag" ] && [ "$_wc_status" -gt 128 ]; then
    wait "$1"
    _wc_again=$?
    [ "$_wc_again" = 127 ] || _wc_status=$_wc_again
  fi
  return "$_wc_status"
}

# Writes a value whole (to a temporary, then renamed): a reader never sees the file empty.
write_whole() { printf '%s\n' "$2" >"$1.tmp" && mv "$1.tmp" "$1"; }

# ---------------------------------------------------------------------------------------------
# The agent's daemon (agent.sh), as the boot-time limit (boot-limit.sh) also looks for it

PIDFILE="$BASE/agent.pid"

# Prints "<pid> <version>" of the running daemon; fails if none. A pid alone is not enough:
# after a reboot the recorded pid may belong to an unrelated process.
running_daemon() {
  [ -f "$PIDFILE" ] || return 1
  read -r _rpid _rversion <"$PIDFILE" 2>/dev/null || return 1
  is_uint "$_rpid" || return 1
  kill -0 "$_rpid" 2>/dev/null || return 1
  case $(ps -o args= -p "$_rpid" 2>/dev/null) in
    *agent.sh*daemon*) printf '%s %s\n' "$_rpid" "${_rversion:-0}" ;;
    *) return 1 ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# Jobs: ~/.ssh-ec2/jobs/<id>/ (the files are described at the top of job.sh)

jobdir() { printf '%s/%s' "$JOBS" "$1"; }

# The state of the job in directory $1:
#   none       no such job
#   finished   it wrote its status
#   running    its shell is alive, or it was created less than 10 s ago and the multiplexer has
#              not run it yet (no pid)
#   vanished   its shell died without writing its status: it was killed
#   unstarted  it never wrote a pid, and was created long ago (or not at all)
job_state() {
  [ -d "$1" ] || { echo none; return; }
  [ -f "$1/status" ] && { echo finished; return; }
  if [ -f "$1/pid" ]; then
    _job_pid=$(cat "$1/pid" 2>/dev/null)
    if is_uint "$_job_pid" && kill -0 "$_job_pid" 2>/dev/null; then echo running; return; fi
    # It may have ended between the two looks: the status is written after the shell's last word.
    [ -f "$1/status" ] && { echo finished; return; }
    echo vanished
    return
  fi
  _job_created=$(cat "$1/created" 2>/dev/null)
  if is_uint "$_job_created" && [ $(($(now) - _job_created)) -lt 10 ]; then echo running; else echo unstarted; fi
}

# tmux or screen's name for the job with id $1.
session() { printf 'ssh-ec2-%s' "$1"; }

# Is a terminal attached to the tmux or screen session of the job with id $1?
attached() {
  _att_name=$(session "$1")
  case $(cat "$(jobdir "$1")/mux" 2>/dev/null) in
    tmux) [ -n "$(tmux list-clients -t "=$_att_name" 2>/dev/null)" ] ;;
    screen) screen -ls "$_att_name" 2>/dev/null | grep -q '(Attached)' ;;
    *) return 1 ;;
  esac
}

# Is the running job in directory $1 a forgotten shell: an interactive shell (job.sh writes
# "shell" for one), no terminal attached to its tmux/screen session, and nothing running in it
# but the shell itself (the job's pid, job.sh run, has the shell as its only descendant)? A
# command, or a shell with anything under it (a training started in the foreground or with &),
# is never one.
idle_shell() {
  [ -f "$1/shell" ] || return 1
  _idle_pid=$(cat "$1/pid" 2>/dev/null)
  is_uint "$_idle_pid" || return 1
  attached "$(basename "$1")" && return 1
  [ "$(descendants "$_idle_pid")" -le 1 ]
}

# How many live processes descend from pid $1 (zombies are nothing).
descendants() {
  ps -e -o pid=,ppid=,stat= 2>/dev/null | awk -v root="$1" '
    { ppid[$1] = $2; stat[$1] = $3 }
    END {
      n = 0
      for (p in ppid) {
        if (stat[p] ~ /^Z/) continue
        for (q = ppid[p]; q in ppid && q != root; q = ppid[q]) ;
        if (q == root) n++
      }
      print n
    }'
}

# ---------------------------------------------------------------------------------------------
# ssh sessions

# How many ssh sessions run right now: processes of this user whose parent is an sshd (a shell, a
# command, an rsync; an idle `ssh -N` master has no such child, tmux/screen servers belong to
# init), leaving out pid $1 and its ancestors when given (the caller's own session).
# Not sshd itself: with privilege separation the per-connection sshd runs as the user too.
# Matching the parent on its command name also covers OpenSSH >= 9.8's sshd-session. A zombie is
# nobody: one under an sshd frozen by a network partition stays until it is reaped. Sessions
# sharing one master connection count one by one.
ssh_sessions() {
  ps -e -o pid=,ppid=,uid=,stat=,comm= 2>/dev/null | awk -v me="$(id -u)" -v self="${1:-}" '
    { comm[$1] = $5; ppid[$1] = $2; uid[$1] = $3; stat[$1] = $4 }
    END {
      for (p = self; p in ppid && !(p in mine); p = ppid[p]) mine[p] = 1
      n = 0
      for (q in comm)
        if (uid[q] == me && stat[q] !~ /^Z/ && comm[q] !~ /^sshd/ && comm[ppid[q]] ~ /^sshd/ && !(q in mine)) n++
      print n
    }'
}

# How many ssh connections of this user are open: their own sshd processes (after login a
# connection's sshd runs as its user; sshd-session on OpenSSH >= 9.8), an idle master included.
ssh_connections() {
  ps -e -o uid=,stat=,comm= 2>/dev/null |
    awk -v me="$(id -u)" '$1 == me && $2 !~ /^Z/ && $3 ~ /^sshd/ { n++ } END { print n + 0 }'
}
