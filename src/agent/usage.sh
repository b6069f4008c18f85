# ssh-ec2's measure of a command: its peak memory and wall time. Placed on the instance at
# ~/.ssh-ec2/usage.sh beside lib.sh; sourced by job.sh (a job's command), and run as
# `sh usage.sh FILE COMMAND...` by a plain session's command. POSIX sh (dash).
#
# The peak is the largest resident set (RSS) any single process of the command reached — what
# GNU time's %M and getrusage(RUSAGE_CHILDREN).ru_maxrss say, exact to the kernel's page count.
# Processes running side by side are not added up (a data loader's workers: their sum may be
# more). Chosen over the alternatives: the cgroup's memory.peak counts everything in the cgroup
# (a tmux server's, other sessions'), and sampling /proc misses a short spike.
# How: python3 (every DLAMI, Ubuntu and Amazon Linux has it) forks the command, waits for it and
# asks the kernel; else GNU time (/usr/bin/time -f), where installed; else the peak is unknown (-).
# The measurer ignores SIGINT and SIGQUIT while it waits (as GNU time does) and gives the command
# the default action of every signal back: a Ctrl-C ends the command, which decides its status.
# SIGTERM and SIGHUP it catches, passes to the command and keeps waiting (as timeout(1) does): a
# spot notice's SIGTERM to the job's group (interruption.sh) must not end the measure, and with it
# the job's status, results and notification, while the command still checkpoints. The command may
# so get a group's signal twice (its own and ours).
#
# FILE gets one line, written whole when the command has ended: "PEAK_KIB WALL_SECONDS".
# SSH_EC2_FOREGROUND_MARK, when set (job.sh), names a file made once a Ctrl-C can no longer be
# lost: by the measurer's child, its signals back to the default, just before it becomes the
# command (a job's interrupt waits for it); the command does not see the variable.

# Forks argv[2:], waits, writes "PEAK_KIB WALL_SECONDS" to argv[1] whole (ru_maxrss is KiB on
# Linux), exits with the command's status (128+N when signal N ended it, as a shell reports it).
# Python ignores SIGPIPE and SIGXFSZ itself: the command gets them back as the default.
MEASURE_PY='import os, resource, signal, sys, time
held = (signal.SIGINT, signal.SIGQUIT)
passed = (signal.SIGTERM, signal.SIGHUP)
for s in held:
    signal.signal(s, signal.SIG_IGN)
pid = 0
def pass_on(n, _):
    if pid > 0:
        try:
            os.kill(pid, n)
        except OSError:
            pass
for s in passed:
    signal.signal(s, pass_on)
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    for s in held + passed + (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(s, signal.SIG_DFL)
    mark = os.environ.pop("SSH_EC2_FOREGROUND_MARK", "")
    try:
        if mark:
            open(mark, "w").close()
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, st = os.waitpid(pid, 0)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d %d\n" % (peak, round(time.monotonic() - t0)))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
sys.exit(os.WEXITSTATUS(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st))'

# The system's python3 first: one on PATH may be a shim (pyenv's is a shell script). Run with
# -I -S (no site packages, no environment), it starts in a few tens of milliseconds.
measure_python() {
  if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else command -v python3 2>/dev/null; fi
}

# measured FILE COMMAND...: runs COMMAND, measured; returns its status.
measured() {
  _usage_file=$1
  shift
  _usage_py=$(measure_python)
  if [ -n "$_usage_py" ]; then
    "$_usage_py" -I -S -c "$MEASURE_PY" "$_usage_file" "$@"
    return
  fi
  _usage_mark=${SSH_EC2_FOREGROUND_MARK:-}
  unset SSH_EC2_FOREGROUND_MARK
  [ -z "$_usage_mark" ] || : >"$_usage_mark"
  _usage_t0=$(now)
  rm -f "$_usage_file.peak"
  if /usr/bin/time -f %M -o /dev/null true 2>/dev/null; then
    /usr/bin/time -f %M -o "$_usage_file.peak" "$@"
  else
    "$@"
  fi
  _usage_status=$?
  # GNU time puts "Command exited with non-zero status N" before the figure: the last line.
  _usage_peak=$(tail -n 1 "$_usage_file.peak" 2>/dev/null)
  is_uint "$_usage_peak" || _usage_peak=-
  rm -f "$_usage_file.peak"
  write_whole "$_usage_file" "$_usage_peak $(($(now) - _usage_t0))"
  return "$_usage_status"
}

# Run, not sourced (a plain session's command, exec'd by its shell): `sh usage.sh FILE COMMAND...`.
# python3 takes this process's place, so the command's parent is what it was without a measure
# (its shell's parent, the sshd): only the measurer stands between them, as the shell did. Caught
# (not ignored) until then, as the session's shell does: a Ctrl-C is the command's.
case ${0##*/} in
  usage.sh)
    trap : INT
    . "$(dirname "$0")/lib.sh"
    mkdir -p "$(dirname "$1")"
    py=$(measure_python)
    [ -z "$py" ] || exec "$py" -I -S -c "$MEASURE_PY" "$@"
    measured "$@"
    ;;
esac
