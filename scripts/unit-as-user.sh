#!/bin/sh
# Checks the unit tier's promise: `npm run test:unit` passes as a normal user, with no moto on
# PATH and no network. Run as root (it adds the user, default ssh-ec2-unit, once):
#
#   sh scripts/unit-as-user.sh [USER]
#
# The user gets a copy of this checkout's files (tracked and new, not ignored) in its home, and a
# node_modules of its own whose entries link to this checkout's (vite writes its cache there).
set -eu
user=${1:-ssh-ec2-unit}
[ "$(id -u)" = 0 ] || { echo "unit-as-user: run as root (it adds the user $user)" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
id "$user" >/dev/null 2>&1 || useradd -m -s /bin/sh "$user"
home=$(getent passwd "$user" | cut -d: -f6)
copy=$home/ssh-ec2
rm -rf "$copy"
mkdir -p "$copy/node_modules"
(cd "$root" && git ls-files -z -c -o --exclude-standard | xargs -0 tar -cf - --) | tar -xf - -C "$copy"
for entry in "$root"/node_modules/* "$root"/node_modules/.bin; do ln -s "$(readlink -f "$entry")" "$copy/node_modules/"; done
chown -R "$user:" "$copy"
# A new network namespace has no interface up; PATH holds no moto_server (nor root's own tools).
exec unshare --net runuser -u "$user" -- env -i HOME="$home" PATH=/usr/local/bin:/usr/bin:/bin \
  sh -c 'cd ~/ssh-ec2
    if command -v moto_server; then echo "unit-as-user: moto_server is on PATH" >&2; exit 2; fi
    echo "unit-as-user: as $(id -un), no moto on PATH, no network" && npm run test:unit'
