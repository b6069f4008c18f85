# ssh-ec2's notification of a job's end (--notify URL), placed on the instance at
# ~/.ssh-ec2/notify.sh beside lib.sh; sourced by job.sh. POSIX sh (dash), plus curl (every image
# ssh-ec2 launches has it). A plain session's notification is sent by ssh-ec2 on the laptop.
#
# The settings (shell-quoted KEY=VALUE lines, in NOTIFY_CONF, written by every run that starts
# something; a job keeps a copy from its start, as it does RESULTS_CONF):
#   NOTIFY_URL     http(s) address the JSON is POSTed to (empty: none)
#   NOTIFY_FIELDS  the members ssh-ec2 knows ahead ("job":…,"instance":…,"results":{…}), JSON
#                  made by ssh-ec2 (src/session/notify.ts), so nothing here escapes a string
# The end adds the numbers: exit status, duration, peak memory (usage.sh), the time it ended.
#
# In the background, immune to the hangup of the job's terminal closing: the job's status is
# written before, and nothing waits for this. Short timeouts and a few retries (curl's own: a
# refused connection, a timeout, a 5xx); each attempt's outcome goes to ~/.ssh-ec2/notify.log,
# which names the host only (the URL may carry a secret token, or user:password@): scheme://host/…,
# as src/options/hook-options.ts redactUrl shows it. curl gets the URL and the body in a config on
# its stdin (-K -), never in its argv, which any user of the instance can read (ps).

# A value quoted for curl's config: within double quotes, a backslash and a double quote escaped
# (the body, JSON made by ssh-ec2, and the URL hold no newline).
curl_quoted() { printf '"%s"' "$(printf %s "$1" | sed 's/[\\"]/\\&/g')"; }

# notify_end JOBDIR STATUS
notify_end() {
  NOTIFY_URL='' NOTIFY_FIELDS=''
  # shellcheck disable=SC1090,SC1091
  [ -f "$1/$NOTIFY_CONF" ] && . "$1/$NOTIFY_CONF"
  [ -n "$NOTIFY_URL" ] || return 0
  _notify_peak=- _notify_wall=0
  [ -f "$1/$USAGE_FILE" ] && read -r _notify_peak _notify_wall <"$1/$USAGE_FILE"
  if is_uint "$_notify_peak"; then _notify_peak=$((_notify_peak * 1024)); else _notify_peak=null; fi
  is_uint "$_notify_wall" || _notify_wall=null
  _notify_body=$(printf '{%s,"exit_status":%s,"duration_seconds":%s,"peak_memory_bytes":%s,"ended_at":"%s","sent_from":"instance"}' \
    "$NOTIFY_FIELDS" "$2" "$_notify_wall" "$_notify_peak" "$(utc_now)")
  _notify_host=$(printf %s "$NOTIFY_URL" | sed -n '1s|^\([A-Za-z][A-Za-z0-9+.-]*://\)\([^/?#@]*@\)\{0,1\}\([^/?#]*\).*|\1\3/…|p')
  _notify_host=${_notify_host:-…}
  # Ignored before the fork, inherited by curl: the terminal's hangup may come as soon as job.sh
  # exits, before a trap set inside the subshell would have run.
  trap '' HUP
  (
    if ! command -v curl >/dev/null 2>&1; then
      printf '%s not sent to %s: no curl on this instance\n' "$(utc_now)" "$_notify_host" >>"$BASE/notify.log"
      exit 0
    fi
    if printf 'url = %s\ndata-binary = %s\n' "$(curl_quoted "$NOTIFY_URL")" "$(curl_quoted "$_notify_body")" |
      curl -sS -o /dev/null -f --proto =http,https --connect-timeout 5 --max-time 10 \
        --retry 3 --retry-delay 2 --retry-connrefused -H 'Content-Type: application/json' -K - \
        2>>"$BASE/notify.log"; then
      printf '%s sent to %s\n' "$(utc_now)" "$_notify_host" >>"$BASE/notify.log"
    else
      printf '%s not sent to %s (curl: %s)\n' "$(utc_now)" "$_notify_host" "$?" >>"$BASE/notify.log"
    fi
  ) </dev/null >/dev/null 2>&1 &
}
