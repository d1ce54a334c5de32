# Sourced by the suites that drive the widget with tests/browser/harness.mjs (tests/npm/run.sh,
# tests/wordpress/run.sh): installs what the harness needs when missing (Debian's chromium, the
# harness's npm packages, the scoreticker binary) and exports SCORETICKER_BIN. Needs $root.
# shellcheck shell=sh disable=SC2154 # $root is the sourcing script's
if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi
if [ ! -d "$root/tests/browser/node_modules" ]; then
  (cd "$root/tests/browser" && npm ci --no-audit --no-fund)
fi
SCORETICKER_BIN=${SCORETICKER_BIN:-$root/target/debug/scoreticker}
if [ ! -x "$SCORETICKER_BIN" ]; then
  echo "building scoreticker" >&2
  (cd "$root" && cargo build)
fi
export SCORETICKER_BIN
