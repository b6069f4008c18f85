# ssh-ec2's results upload (--results s3://bucket/prefix), placed on the instance at
# ~/.ssh-ec2/results.sh beside lib.sh, which it needs; sourced by job.sh (a job's end) and the
# agent (an interruption notice), and run as `sh results.sh mark|upload REASON` by a plain
# session's command. POSIX sh (dash), plus the AWS CLI an instance image has (a DLAMI's `aws`).
#
# The new and changed files of the project directory, since the command started (the sync up is
# done by then: a mark written at that moment, and `find -cnewer` it — the time each file was last
# written HERE, which the sync up cannot set back: a file it brought keeps the laptop's
# modification time, a minute old or a second), go to RESULTS_URL with `aws s3 sync` — which also skips
# what an earlier upload of this run already sent (an interruption notice, then the job's end).
# The whole project is never sent, nor ~/.ssh-ec2 (the state here), a data volume, what the
# project's .rsyncignore ignores or what looks like a secret (below); nothing in S3 is deleted.
#
# The credentials are the instance profile's only, from the metadata service: the CLI is told the
# agent's own IMDS_URL (so under test it asks the sandbox, never 169.254.169.254), and no key,
# profile or config file of the environment. The settings (shell-quoted KEY=VALUE lines):
#   RESULTS_URL       s3://bucket/prefix/<directory name>/ (empty: no upload)
#   RESULTS_DIR       the project directory, relative to the home directory
#   RESULTS_ENDPOINT  the S3 endpoint, when not AWS's (SSH_EC2_RESULTS_ENDPOINT: the sandbox's)
#   RESULTS_REGION    the region the CLI signs for
# They are in RESULTS_CONF (IMDS_URL in agent.conf), written by every run that starts something.
# A job takes a copy of it, and its own mark, at its start (results_mark JOBDIR): a later run
# (an --attach, a plain session meanwhile) changes neither what its end uploads nor where.
# Each upload says one line on stderr (a job's: in its log) and appends to ~/.ssh-ec2/results.log.

# results_mark [JOBDIR]: the moment the files that follow count as results — a plain session's
# (no JOBDIR) or a job's. A file's times are the kernel's coarse clock (a tick, or a whole second
# on some file systems): the mark waits until the clock has moved past its own time, so that what
# the command writes next is strictly newer and what the sync up wrote before is not (once, a
# mark dated a second early sent the files the sync up had just written: the laptop's times of
# files edited a moment before the run).
results_mark() {
  [ -z "${1:-}" ] || cp "$BASE/$RESULTS_CONF" "$1/$RESULTS_CONF" 2>/dev/null || :
  fresh_mark "${1:-$BASE}/results-since"
}

# fresh_mark FILE: FILE made now, returning once the clock has moved past its time (above); a
# batch job's attempt (worker.sh) marks its own.
fresh_mark() {
  : >"$1"
  _tick=0
  while [ "$_tick" -lt 300 ]; do
    : >"$1.tick"
    [ -n "$(find "$1.tick" -newer "$1" 2>/dev/null)" ] && break
    sleep 0.01 2>/dev/null || sleep 1
    _tick=$((_tick + 1))
  done
  rm -f "$1.tick"
}

# upload_results REASON [JOBDIR]: what changed since the mark of that job (the agent at a notice:
# the running job's), else since a plain session's. A subshell, so that the settings and the
# staging directory stay its own; never fails its caller (a job's status is the command's,
# whatever the upload did).
upload_results() (
  RESULTS_URL='' RESULTS_DIR='' RESULTS_ENDPOINT='' RESULTS_REGION='' IMDS_URL=''
  _why=$1 _from=${2:-$BASE}
  RESULTS_MARK="$_from/results-since"
  # shellcheck disable=SC1090,SC1091
  [ -f "$BASE/$AGENT_CONF" ] && . "$BASE/$AGENT_CONF"
  # shellcheck disable=SC1090,SC1091
  [ -f "$_from/$RESULTS_CONF" ] && . "$_from/$RESULTS_CONF"
  [ -n "$RESULTS_URL" ] || return 0
  _log="$BASE/results.log"
  say() { printf 'ssh-ec2: %s\n' "$*" >&2; printf '%s %s\n' "$(utc_now)" "$*" >>"$_log"; }
  if ! command -v aws >/dev/null 2>&1; then
    say "results not uploaded ($_why): no aws CLI on this instance"
    return 0
  fi
  if ! cd "$HOME/${RESULTS_DIR:-.}" 2>/dev/null; then
    say "results not uploaded ($_why): no directory $RESULTS_DIR"
    return 0
  fi
  [ -f "$RESULTS_MARK" ] || { say "results not uploaded ($_why): no command ran since the sync up"; return 0; }
  # Hard links of the new files, at their paths, in a directory of their own on the same file
  # system: one `aws s3 sync` of it sends them all (mtimes kept, so a repeat skips what is there).
  _stage="$BASE/results-stage.$$"
  rm -rf "$_stage" && mkdir -p "$_stage" || return 0
  new_files_to "$_stage" "$RESULTS_MARK" link
  # Counted by the shell, not by lines: a name may hold a newline.
  _count=$(find "$_stage" -type f -exec sh -c 'echo "$#"' sh {} + | awk '{ n += $1 } END { print n + 0 }')
  if [ "$_count" -eq 0 ]; then
    say "results ($_why): nothing new to upload to $RESULTS_URL"
    rm -rf "$_stage"
    return 0
  fi
  say "results ($_why): uploading $_count new or changed file(s) to $RESULTS_URL"
  upload_stage "$_stage" "$RESULTS_URL" "$RESULTS_REGION" "$RESULTS_ENDPOINT" "$_log" "results ($_why)" || :
  return 0
)

# upload_stage STAGE URL REGION ENDPOINT LOG WHAT: STAGE's files to URL (`aws s3 sync`, nothing
# deleted there), the CLI's words appended to LOG, one line said (the caller's say) about WHAT;
# STAGE removed. Tried three times (5 then 20 s apart: the CLI retries a throttle or a 5xx itself
# first); fails as the last try did.
upload_stage() {
  _up_try=0 _up_status=0
  while :; do
    profile_aws "$3" s3 sync "$1" "$2" --only-show-errors --no-progress --no-follow-symlinks \
      ${4:+--endpoint-url "$4"} >>"$5" 2>&1
    _up_status=$?
    _up_try=$((_up_try + 1))
    [ "$_up_status" != 0 ] && [ "$_up_try" -lt 3 ] || break
    sleep $((_up_try * _up_try * 5))
  done
  if [ "$_up_status" = 0 ]; then
    say "$6: uploaded to $2"
  else
    say "$6: the upload to $2 failed (see $5)"
  fi
  rm -rf "$1"
  return "$_up_status"
}

# new_files_to DEST MARK link|copy: the files of the current directory (a project) written here
# after MARK, at their paths under DEST — hard links (what an upload of them sends), or copies (a
# batch job's files/, which the next job may overwrite in place, which would change a hard link:
# a reflink where the file system has them, so no second copy of the bytes) — minus what is never
# a result. A copy also keeps a symbolic link as a link when it points inside the project, and
# skips it otherwise; each skip and each failure (ENOSPC) is said on stderr, and any failure fails.
new_files_to() (
  _dest=$1 _since=$2 _how=$3
  # Never sent (README: Results in S3): ./.ssh-ec2, the state when the project is the home itself;
  # a .git at any depth (a --git checkout's fetches change it, and its config may hold a token);
  # any other file system under the project (-xdev), a data volume at ./data above all (mountpoint
  # names it where -xdev alone would still stage its mount point's directory): it is no result,
  # and a hard link cannot cross to the stage, so a copy would fill the root disk; what the
  # project's .rsyncignore ignores (a .venv, node_modules); files that look like secrets, whatever
  # .rsyncignore says (the names of SECRET_FILES and SECRET_DIRS in src/sync/ignore-rules.ts).
  set -- -path ./.ssh-ec2 -o -name .git
  if [ -d ./data ] && command -v mountpoint >/dev/null 2>&1 && mountpoint -q ./data; then
    set -- "$@" -o -path ./data
  fi
  for _n in .env '.env.*' '*.pem' '*.key' .netrc .git-credentials; do set -- "$@" -o -name "$_n"; done
  set -- "$@" -o "(" -name 'id_*' ! -name 'id_*.pub' ")" -o "(" -type d "(" -name .aws -o -name .ssh ")" ")"
  # .rsyncignore at the root, by git's rules as far as find has them: a name alone matches at any
  # depth, one with a slash from the root, a trailing slash directories only; `!` and nested
  # files are not read (more is then sent, never less of what you keep).
  if [ -f .rsyncignore ]; then
    while IFS= read -r _p || [ -n "$_p" ]; do
      _p=${_p%"$(printf '\r')"}
      case $_p in '' | '#'* | '!'*) continue ;; esac
      _d=''
      case $_p in */) _d=1 _p=${_p%/} ;; esac
      case $_p in /*) _p=${_p#/} _t='-path' _p="./$_p" ;; */*) _t='-path' _p="./$_p" ;; *) _t='-name' ;; esac
      if [ -n "$_d" ]; then set -- "$@" -o "(" -type d "$_t" "$_p" ")"; else set -- "$@" -o "$_t" "$_p"; fi
    done <.rsyncignore
  fi
  _reflink=''
  [ "$_how" = copy ] && cp --reflink=auto /dev/null "$_dest.reflink" 2>/dev/null && _reflink=--reflink=auto
  rm -f "$_dest.reflink"
  # -cnewer: written here after the mark (its status changed: content, or times set by a tool).
  find . -xdev "(" "$@" ")" -prune -o "(" -type f -o -type l ")" -cnewer "$_since" -exec sh -c '
    stage=$1 how=$2 reflink=$3 root=$(pwd -P) bad=0; shift 3
    for f; do
      if [ -L "$f" ]; then
        [ "$how" = copy ] || continue
        case $(readlink -f "$f") in
          "$root"/*) ;;
          *) echo "ssh-ec2: $f not kept: a symbolic link to $(readlink "$f"), outside the project" >&2; continue ;;
        esac
      fi
      mkdir -p "$stage/$(dirname "$f")" || { bad=1; continue; }
      if [ "$how" = link ]; then ln "$f" "$stage/$f" 2>/dev/null && continue; fi
      cp -P -p $reflink "$f" "$stage/$f" || bad=1
    done
    exit "$bad"
  ' sh "$_dest" "$_how" "$_reflink" {} +
)

# s3_rm URL REGION ENDPOINT LOG: one object away (none there is no error); a refusal said on stdout.
s3_rm() {
  profile_aws "$2" s3 rm "$1" --only-show-errors ${3:+--endpoint-url "$3"} >>"$4" 2>&1 && return 0
  say "could not remove $1 (see $4)"
  return 1
}

# profile_aws REGION ARGS...: the AWS CLI with the instance profile's credentials only (IMDS_URL:
# the agent's metadata service), never a key, profile or config file of the environment — nor
# anything else of it that could send the CLI elsewhere or re-credential it (AWS_REGION, which CLI
# v2 prefers; AWS_ENDPOINT_URL*, AWS_CA_BUNDLE, AWS_USE_FIPS_ENDPOINT, a proxy, a PYTHONPATH...):
# an empty environment (env -i) but HOME, PATH, the locale and what is set here. Endpoints are
# given by the caller with --endpoint-url.
profile_aws() {
  _aws_region=$1
  shift
  env -i HOME="$HOME" PATH="$PATH" ${LANG:+LANG="$LANG"} ${LC_ALL:+LC_ALL="$LC_ALL"} \
    AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null \
    AWS_EC2_METADATA_SERVICE_ENDPOINT="${IMDS_URL:-http://169.254.169.254}/" \
    ${_aws_region:+AWS_DEFAULT_REGION="$_aws_region"} ${_aws_region:+AWS_REGION="$_aws_region"} \
    aws "$@"
}

# Run, not sourced (a plain session's command): `sh results.sh mark` or `upload REASON`.
case ${0##*/} in
  results.sh)
    . "$(dirname "$0")/lib.sh"
    case ${1:-} in
      mark) results_mark ;;
      upload) upload_results "${2:-session-end}" ;;
      *) echo "usage: results.sh mark | upload REASON" >&2; exit 2 ;;
    esac
    ;;
esac
