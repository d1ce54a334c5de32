#!/bin/sh
# Browser tests of <score-ticker> in real headless Chromium against the real scoreticker binary.
# Installs what is missing (Debian's chromium, the npm packages, the binary), then runs node --test.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$here"

if [ ! -x /usr/bin/chromium ]; then
  echo "run.sh: installing Debian's chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends chromium
fi

if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund
fi
# The widget's build (esbuild), for the test that rebuilds web/ticker.js from web/src.
if [ ! -d "$root/web/src/node_modules" ]; then
  (cd "$root/web/src" && npm ci --no-audit --no-fund)
fi

# The widget is embedded in the binary, so a binary older than web/ would serve an old widget.
bin=${SCORETICKER_BIN:-$root/target/debug/scoreticker}
if [ ! -x "$bin" ] || { [ -z "${SCORETICKER_BIN:-}" ] && [ -n "$(find "$root/web" -newer "$bin" -print -quit)" ]; }; then
  echo "run.sh: building scoreticker" >&2
  (cd "$root" && cargo build)
fi
export SCORETICKER_BIN="$bin"

mkdir -p artifacts
exec node --test --test-concurrency=1 ./*.test.mjs
