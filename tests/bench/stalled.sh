#!/usr/bin/env bash
# What a stalled client costs: N clients that send their request and never read
# (receive buffer 4 KiB), first on /sse, then on /ws, each against a fresh server,
# same upstream, same snapshot. Prints the server's RSS growth per client and the
# kernel's send queue per client socket (`ss`, not part of RSS).
#
#   tests/bench/stalled.sh
#
# Settings (environment): N stalled clients per transport (200), GAMES in the
# snapshot, all changing every second (470: ~188 KB snapshot), SETTLE seconds
# between the last client connecting and the reading (40), SEND_TIMEOUT of the
# server (120s: longer than SETTLE, so no client is dropped yet and what is
# measured is a stalled client's full cost), PROFILE (debug).
# SVC: the service binary to measure (default: the one built here; to compare
# with an older build).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
N=${N:-200}
GAMES=${GAMES:-470}
SETTLE=${SETTLE:-40}
SEND_TIMEOUT=${SEND_TIMEOUT:-120s}
PROFILE=${PROFILE:-debug}
OUT=${OUT:-$root/target/bench/stalled-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
# shellcheck source=tests/bench/lib.sh
source "$here/lib.sh"
build_workspace

"$load" upstream --listen 127.0.0.1:0 --games "$GAMES" --feeds 1 --change-every 1s --changes-per-tick "$GAMES" \
  >"$OUT/upstream.out" 2>"$OUT/upstream.log" &
pids+=($!)
for _ in $(seq 100); do
  up=$(sed -n 's/.*"listening":"\([^"]*\)".*/\1/p' "$OUT/upstream.out" | head -1)
  [ -n "$up" ] && break
  sleep 0.1
done
[ -n "$up" ] || { echo "stalled.sh: the upstream did not start" >&2; exit 1; }


rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

measure() { # transport path
  local dir=$OUT/$1 port admin_port svc_pid base after snap sendq
  port=$(free_port)
  admin_port=$(free_port)
  mkdir -p "$dir/feeds.d"
  cat >"$dir/scoreticker.toml" <<TOML
listen = "127.0.0.1:$port"
feeds_dir = "feeds.d"

[admin]
listen = "127.0.0.1:$admin_port"

[limits]
heartbeat = "20s"
send_timeout = "$SEND_TIMEOUT"
TOML
  cat >"$dir/feeds.d/bench.toml" <<TOML
id = "bench"
adapter = "espn"
url = "http://$up/feed/0/scoreboard"
schedule = "1s"
league = "nba"
sport = "basketball"
timeout = "5s"
TOML
  RUST_LOG=warn "$svc" serve --config "$dir/scoreticker.toml" >"$dir/service.log" 2>&1 &
  svc_pid=$!; pids+=("$svc_pid")
  for _ in $(seq 300); do
    curl -fsS "http://127.0.0.1:$port/api/v1/games" 2>/dev/null | grep -q '"games":\[{' && break
    sleep 0.2
  done
  snap=$(curl -fsS "http://127.0.0.1:$port/api/v1/games" | wc -c)
  sleep 5
  base=$(rss_kib "$svc_pid")
  # The clients: one process holding N sockets that never read.
  python3 - "$port" "$2" "$N" "$SETTLE" "$dir/clients.done" <<'PY' &
import socket, sys, time
port, path, n, settle, done = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
ws = path.startswith("/ws")
socks = []
for i in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    if ws:
        head += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    s.sendall((head + "\r\n").encode())
    socks.append(s)
time.sleep(settle)
open(done, "w").close()
time.sleep(3600)
PY
  local clients=$!; pids+=("$clients")
  while [ ! -f "$dir/clients.done" ]; do sleep 0.5; done
  after=$(rss_kib "$svc_pid")
  sendq=$(ss -Htn state established "( sport = :$port )" | awk '{s += $2; n++} END {printf "%d %d", s, n}')
  kill "$clients"; wait "$clients" 2>/dev/null || true
  kill "$svc_pid"; wait "$svc_pid" 2>/dev/null || true
  read -r q n <<<"$sendq"
  printf '| %s | %d | %d B | %d KiB | %d KiB | %.1f KiB | %d KiB |\n' "$1" "$N" "$snap" "$base" "$after" \
    "$(echo "($after - $base) / $N" | bc -l)" "$(( q / (n > 0 ? n : 1) / 1024 ))"
}

echo "| transport | stalled clients | snapshot | RSS before | RSS stalled | RSS per client | kernel Send-Q per socket |"
echo "|---|---|---|---|---|---|---|"
measure sse "/sse?topics=all"
measure ws "/ws?topics=all"
