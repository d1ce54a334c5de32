#!/usr/bin/env bash
# Every test of the project, from a fresh clone on a fresh machine:
#   1. the Rust suites: unit tests, integration tests against a real upstream and
#      real WebSocket clients, config/CLI tests, the load tool smoke test;
#   2. the widget in headless Chromium against the real service
#      (tests/browser/run.sh installs Chromium and the npm packages when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Rust tests"
cargo build --locked --bins
cargo test --locked

if [ -f tests/browser/run.sh ]; then
  echo "== Browser tests (headless Chromium)"
  SCORETICKER_BIN="$PWD/target/debug/scoreticker" bash tests/browser/run.sh
fi
