#!/bin/sh
# The npm package (deploy/npm) end to end: its declarations against the widget
# (declarations.test.mjs), then npm pack, a React 19 + Vite app that installs the tarball,
# tsc, vite build, and the built page in headless Chromium against the real scoreticker binary
# (react-app.test.mjs). The app's node_modules is kept in target/npm-app between runs.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

# shellcheck source=tests/harness-deps.sh
. "$root/tests/harness-deps.sh"

exec node --test --test-concurrency=1 "$here"/*.test.mjs
