#!/usr/bin/env bash
# Autobahn|Testsuite (`wstest -m fuzzingclient`) against the service's echo socket,
# GET /ws/echo, of the real binary: the field's standard conformance proof for a
# WebSocket stack (framing, pings, reserved bits, opcodes, fragmentation, UTF-8,
# closing handshake, limits, permessage-deflate).
#
#   tests/conformance/run.sh                   all 517 cases (about 15 minutes)
#   tests/conformance/run.sh --quick           the cases that take about a minute
#                                              (1-7, 10, samples of 12 and 13):
#                                              what tests/run-all.sh runs
#   tests/conformance/run.sh --peer websockets the same cases against Python's
#                                              `websockets` echo server: checks
#                                              the suite's Python 3 port itself
#
# The binary: $SCORETICKER_BIN, else target/debug/scoreticker (built if missing).
# The service runs with an empty feeds directory and max_message_bytes = "1GiB",
# so every case applies (9.* sends messages of up to 16 MiB).
# The report: target/conformance/report-<full|quick>[-websockets]/ (index.html,
# index.json and one page per case), and its summary table in summary.md there.
# Exits non-zero when a case is FAILED or UNIMPLEMENTED, or did not close
# cleanly (tests/conformance/summary.py).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${CONFORMANCE_CACHE:-$root/target/conformance}"

scope=full
peer=scoreticker
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) scope=quick ;;
    --peer) peer="$2"; shift ;;
    *) echo "usage: $0 [--quick] [--peer scoreticker|websockets]" >&2; exit 2 ;;
  esac
  shift
done
case "$peer" in scoreticker | websockets) ;; *) echo "unknown peer: $peer" >&2; exit 2 ;; esac

"$here/setup.sh"

if [ "$scope" = quick ]; then
  # About a minute: everything but the performance (9.*) and compression (12.*,
  # 13.*) series, and of those a sample: each payload size of 12.1 (default
  # offer) and of 13.3 and 13.5 (server_max_window_bits=9), 13.4.1 and 13.6.1 (15
  # bits), 13.7.1 (several offers).
  cases='["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*",
          "12.1.1", "12.1.5", "12.2.5", "12.4.5", "13.1.1", "13.2.1", "13.3.1", "13.3.5",
          "13.4.1", "13.5.1", "13.5.5", "13.6.1", "13.7.1", "13.7.5"]'
else
  cases='["*"]'
fi
name="report-$scope"
[ "$peer" = scoreticker ] || name="$name-$peer"
run="$cache/run-$scope-$peer"
report="$cache/$name"
rm -rf "$run" "$report"
mkdir -p "$run/feeds.d"

server_pid=""
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap stop_server EXIT

if [ "$peer" = scoreticker ]; then
  bin="${SCORETICKER_BIN:-$root/target/debug/scoreticker}"
  if [ -z "${SCORETICKER_BIN:-}" ] && [ ! -x "$bin" ]; then
    (cd "$root" && cargo build --locked --bin scoreticker)
  fi
  cat >"$run/scoreticker.toml" <<'TOML'
listen = "127.0.0.1:0"
feeds_dir = "feeds.d"

[admin]
listen = "127.0.0.1:0"

[limits]
# Autobahn's 9.* cases send messages of up to 16 MiB; 1 GiB lets every case apply.
max_message_bytes = "1GiB"
TOML
  "$bin" serve --config "$run/scoreticker.toml" >"$run/server.log" 2>&1 &
  server_pid=$!
  addr=""
  for _ in $(seq 100); do
    addr="$(sed -n 's/.*listening on http:\/\/\([0-9.:]*\)\/.*/\1/p' "$run/server.log" | head -n1)"
    [ -n "$addr" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$run/server.log" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "the service did not say where it listens" >&2; cat "$run/server.log" >&2; exit 1; }
  url="ws://$addr/ws/echo"
  agent="scoreticker"
else
  port="$("$cache/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  "$cache/venv/bin/python" "$here/websockets_echo.py" "$port" >"$run/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    "$cache/venv/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
    sleep 0.1
  done
  url="ws://127.0.0.1:$port/"
  agent="websockets"
fi

cat >"$run/spec.json" <<JSON
{
  "outdir": "$report",
  "servers": [{"agent": "$agent", "url": "$url"}],
  "cases": $cases,
  "exclude-cases": [],
  "exclude-agent-cases": {}
}
JSON
echo "== Autobahn|Testsuite ($scope) against $agent at $url"
(cd "$run" && "$cache/venv/bin/wstest" --mode fuzzingclient --spec spec.json >"$run/wstest.log" 2>&1) || {
  echo "wstest failed:" >&2; tail -n 30 "$run/wstest.log" >&2; exit 1
}
stop_server
status=0
python3 "$here/summary.py" "$report/index.json" --markdown >"$report/summary.md" || status=$?
cat "$report/summary.md"
echo "Report: $report/index.html"
exit "$status"
