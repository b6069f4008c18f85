#!/bin/sh
# Runs node of another major version on the given arguments, so the tests can run on a Node that
# this machine does not have (CI: the whole suite on the current LTS):
#
#   sh scripts/with-node.sh 24 node_modules/vitest/vitest.mjs run
#
# That Node comes from the npm registry (the `node` package ships the binary) into .cache/node<MAJOR>
# of this checkout (ignored by git), once: a later run reuses it. Its bin directory goes first on
# PATH, so whatever the command starts as `node` is that Node too.
set -eu
major=${1:?usage: sh scripts/with-node.sh MAJOR ARGS...}
shift
case $major in '' | *[!0-9]*) echo "with-node: MAJOR must be a number, not $major" >&2; exit 2 ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=$root/.cache/node$major
bin=$prefix/node_modules/node/bin
case $("$bin/node" --version 2>/dev/null) in
  "v$major".*) ;;
  *)
    echo "with-node: installing Node $major into $prefix" >&2
    rm -rf "$prefix"
    npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "node@$major" >&2
    "$bin/node" --version >/dev/null
    ;;
esac
PATH=$bin:$PATH
export PATH
exec "$bin/node" "$@"
