#!/bin/sh
# The npm package (deploy/npm) end to end: its declarations against the widget
# (declarations.test.mjs), then npm pack, a React 19 + Vite app that installs the tarball,
# tsc, vite build, and the built page in headless Chromium against the real scoreticker binary
# (react-app.test.mjs). The app's node_modules is kept in target/npm-app between runs.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

if [ ! -x /usr/bin/chromium ]; then
  echo "tests/npm/run.sh: installing Debian's chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends chromium
fi
# The browser tests' harness (the upstream, the service, Chromium) and its playwright-core.
if [ ! -d "$root/tests/browser/node_modules" ]; then
  (cd "$root/tests/browser" && npm ci --no-audit --no-fund)
fi
bin=${SCORETICKER_BIN:-$root/target/debug/scoreticker}
if [ ! -x "$bin" ]; then
  echo "tests/npm/run.sh: building scoreticker" >&2
  (cd "$root" && cargo build)
fi
export SCORETICKER_BIN="$bin"

exec node --test --test-concurrency=1 "$here"/*.test.mjs
