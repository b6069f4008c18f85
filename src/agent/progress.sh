#!/bin/sh
# ssh-ec2-progress N: a batch job says how far it is (0..100). Placed on the instance at
# ~/.ssh-ec2/progress.sh and linked as ~/.ssh-ec2/bin/ssh-ec2-progress, which the batch worker
# (worker.sh) puts on the job's PATH with SSH_EC2_JOB_DIR, the job's directory: the figure goes to
# its progress file, whole (the live table reads it at any moment). POSIX sh, standalone.
# Digits only, at most three of them once leading zeros are gone (sh arithmetic would read 010 as octal).
n=''
case ${1:-} in
  '' | *[!0-9]*) ;;
  *) n=${1#"${1%%[!0]*}"} n=${n:-0} ;;
esac
if [ $# -ne 1 ] || [ -z "$n" ] || [ ${#n} -gt 3 ] || [ "$n" -gt 100 ]; then
  echo "usage: ssh-ec2-progress N   (N: a whole number from 0 to 100)" >&2
  exit 2
fi
if [ -z "${SSH_EC2_JOB_DIR:-}" ] || [ ! -d "$SSH_EC2_JOB_DIR" ]; then
  echo "ssh-ec2-progress: not in a batch job (no SSH_EC2_JOB_DIR)" >&2
  exit 2
fi
printf '%s\n' "$n" >"$SSH_EC2_JOB_DIR/progress.tmp.$$" && mv -f "$SSH_EC2_JOB_DIR/progress.tmp.$$" "$SSH_EC2_JOB_DIR/progress"
