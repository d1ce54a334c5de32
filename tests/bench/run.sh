#!/usr/bin/env bash
# The fan-out benchmark: scoreticker, a Node `ws` peer and the floor (a reference
# broadcaster: `scoreticker-load floor`), same box, same run, same subscribers, same
# message size, measured by the same tool (scoreticker-load).
#
#   tests/bench/run.sh
#
# Settings (environment): N subscribers (10000), DURATION of the main window (30s),
# IDLE_N subscribers for the idle-RSS runs (5000), STORM_N clients in the reconnect
# storm (N), SAT_RATES updates per second per client for the saturation steps
# (2,4,8,16,32), SAT_WINDOW per step (8s), GAMES per feed (20), OUT directory for
# the JSON results and logs (target/bench/<UTC time>), QUIET_MAX: before each
# measurement wait until the machine's busy CPU is at most this % of one core (15;
# the box is shared with builds and tests), for at most QUIET_TIMEOUT seconds (300;
# 0 skips the wait, and the re-measuring of a disturbed window), PROFILE of the build
# (release; `debug` only to check this script quickly: its numbers mean nothing).
#
# What runs, in order: a synthetic ESPN upstream (scoreticker-load upstream) that
# changes one game per active feed per second; then, each against a fresh server:
# scoreticker idle RSS, scoreticker main window + reconnect storm, scoreticker main
# window again with clients offering permessage-deflate (`subscribe --deflate`; its
# row says "plain (server declined)" if the server does not compress), scoreticker
# saturation (one feed per update/s, the same number of games spread over the
# feeds), Node idle RSS, Node main window, Node saturation, then the same three for
# the floor. Prints one table (also written to $OUT/table.md).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
N=${N:-10000}
DURATION=${DURATION:-30s}
IDLE_N=${IDLE_N:-5000}
STORM_N=${STORM_N:-$N}
SAT_RATES=${SAT_RATES:-2,4,8,16,32}
SAT_WINDOW=${SAT_WINDOW:-8s}
GAMES=${GAMES:-20}
QUIET_MAX=${QUIET_MAX:-15}
QUIET_TIMEOUT=${QUIET_TIMEOUT:-300}
PROFILE=${PROFILE:-release}
OUT=${OUT:-$root/target/bench/$(date -u +%Y%m%dT%H%M%SZ)}
max_feeds=$(tr ',' '\n' <<<"$SAT_RATES" | sort -n | tail -1)
[ "$max_feeds" -ge 1 ] 2>/dev/null || max_feeds=1
# The saturation runs spread about GAMES games over max_feeds feeds, so that both
# servers' snapshots stay the size of the main run's (every subscriber gets one).
sat_games=$(( (GAMES + max_feeds - 1) / max_feeds ))

for tool in cargo node npm curl; do
  command -v "$tool" >/dev/null || { echo "run.sh: needs $tool" >&2; exit 1; }
done
# One process may hold only as many sockets as open files: take the hard limit.
# shellcheck source=tests/bench/lib.sh
source "$here/lib.sh"

log "building ($PROFILE)"
build_workspace
if [ ! -f "$here/node_modules/ws/package.json" ]; then
  log "installing the Node peer's dependencies"
  (cd "$here" && npm ci --no-audit --no-fund)
fi
mkdir -p "$OUT"
echo "results: $OUT" >&2

# The first JSON line's "listening" address a child process printed on stdout.


stop() { # pid
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

log "synthetic upstreams: 1 feed of $GAMES games; $max_feeds feeds of $sat_games (saturation); one change per active feed per second"
"$load" upstream --listen 127.0.0.1:0 --games "$GAMES" --feeds 1 --change-every 1s \
  >"$OUT/upstream.out" 2>"$OUT/upstream.log" &
up_pid=$!; pids+=("$up_pid")
up=$(wait_listening "$OUT/upstream.out" "$up_pid")
"$load" upstream --listen 127.0.0.1:0 --games "$sat_games" --feeds "$max_feeds" --active-feeds 1 --change-every 1s \
  >"$OUT/upstream-sat.out" 2>"$OUT/upstream-sat.log" &
up_sat_pid=$!; pids+=("$up_sat_pid")
up_sat=$(wait_listening "$OUT/upstream-sat.out" "$up_sat_pid")
upstream_rate() { curl -fsS "http://$up/control?rate=$1" >/dev/null; }

svc_pid=
start_service() { # name feeds upstream
  local dir=$OUT/$1 port admin_port
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
TOML
  for ((i = 0; i < $2; i++)); do
    cat >"$dir/feeds.d/bench-$i.toml" <<TOML
id = "bench-$i"
adapter = "espn"
url = "http://$3/feed/$i/scoreboard"
schedule = "1s"
league = "nba"
sport = "basketball"
timeout = "5s"
TOML
  done
  RUST_LOG=${RUST_LOG:-info} "$svc" serve --config "$dir/scoreticker.toml" >"$dir/service.log" 2>&1 &
  svc_pid=$!; pids+=("$svc_pid")
  svc_addr=127.0.0.1:$port
  for _ in $(seq 200); do
    curl -fsS "http://$svc_addr/api/v1/games" 2>/dev/null | grep -q '"games":\[{' && return 0
    kill -0 "$svc_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "run.sh: scoreticker did not start (or has no games); see $dir/service.log" >&2
  cat "$dir/service.log" >&2
  return 1
}

node_pid=
start_node() { # name rate games
  node "$here/node-ws-peer.js" --port 0 --games "${3:-$GAMES}" --rate "$2" >"$OUT/$1.out" 2>"$OUT/$1.log" &
  node_pid=$!; pids+=("$node_pid")
  node_addr=$(wait_listening "$OUT/$1.out" "$node_pid")
}

floor_pid=
start_floor() { # name rate games
  "$load" floor --listen 127.0.0.1:0 --games "${3:-$GAMES}" --rate "$2" >"$OUT/$1.out" 2>"$OUT/$1.log" &
  floor_pid=$!; pids+=("$floor_pid")
  floor_addr=$(wait_listening "$OUT/$1.out" "$floor_pid")
}

ws_url() { echo "ws://$1/ws?topics=all"; }

quiet() {
  [ "$QUIET_TIMEOUT" = 0 ] || "$load" wait-quiet --max-percent "$QUIET_MAX" --timeout "${QUIET_TIMEOUT}s"
}
# A window disturbed by other processes is measured again (up to 3 times), unless
# QUIET_TIMEOUT=0 said not to wait.
retries=3
[ "$QUIET_TIMEOUT" = 0 ] && retries=0

# ---- scoreticker
log "scoreticker: idle RSS with $IDLE_N subscribers (no score changes)"
upstream_rate 0
start_service svc-idle 1 "$up"
quiet
"$load" subscribe --retries "$retries" --url "$(ws_url "$svc_addr")" -n "$IDLE_N" --duration 0s --server-pid "$svc_pid" \
  --label scoreticker-idle --json >"$OUT/svc-idle.json"
stop "$svc_pid"

log "scoreticker: $N subscribers, one update per second, $DURATION"
upstream_rate 1
start_service svc-main 1 "$up"
quiet
"$load" subscribe --retries "$retries" --url "$(ws_url "$svc_addr")" -n "$N" --duration "$DURATION" --server-pid "$svc_pid" \
  --label scoreticker --json >"$OUT/svc-main.json"

log "scoreticker: reconnect storm, $STORM_N clients"
quiet
"$load" storm --url "$(ws_url "$svc_addr")" -n "$STORM_N" --server-pid "$svc_pid" \
  --label scoreticker-storm --json >"$OUT/svc-storm.json"
stop "$svc_pid"

log "scoreticker: $N subscribers offering permessage-deflate, one update per second, $DURATION"
start_service svc-deflate 1 "$up"
quiet
"$load" subscribe --deflate --retries "$retries" --url "$(ws_url "$svc_addr")" -n "$N" --duration "$DURATION" --server-pid "$svc_pid" \
  --label scoreticker-deflate --json >"$OUT/svc-deflate.json"
stop "$svc_pid"

log "scoreticker: saturation, $N subscribers, $SAT_RATES updates/s (one feed each)"
start_service svc-sat "$max_feeds" "$up_sat"
quiet
"$load" subscribe --retries "$retries" --url "$(ws_url "$svc_addr")" -n "$N" --duration "$SAT_WINDOW" --server-pid "$svc_pid" \
  --rates "$SAT_RATES" --control "http://$up_sat/control?rate={rate}" --settle 3s \
  --label scoreticker-saturation --json >"$OUT/svc-sat.json"
stop "$svc_pid"

# ---- Node ws
log "Node ws: idle RSS with $IDLE_N subscribers (no broadcasts)"
start_node node-idle 0
quiet
"$load" subscribe --retries "$retries" --url "$(ws_url "$node_addr")" -n "$IDLE_N" --duration 0s --server-pid "$node_pid" \
  --label node-idle --json >"$OUT/node-idle.json"
stop "$node_pid"

log "Node ws: $N subscribers, one update per second, $DURATION"
start_node node-main 1
quiet
"$load" subscribe --retries "$retries" --url "$(ws_url "$node_addr")" -n "$N" --duration "$DURATION" --server-pid "$node_pid" \
  --label node --json >"$OUT/node-main.json"
stop "$node_pid"

log "Node ws: saturation, $N subscribers, $SAT_RATES updates/s"
start_node node-sat 1 $(( sat_games * max_feeds ))
quiet
"$load" subscribe --retries "$retries" --url "$(ws_url "$node_addr")" -n "$N" --duration "$SAT_WINDOW" --server-pid "$node_pid" \
  --rates "$SAT_RATES" --control "http://$node_addr/control?rate={rate}" --settle 3s \
  --label node-saturation --json >"$OUT/node-sat.json"
stop "$node_pid"

# ---- the floor: the same three runs against the reference broadcaster
log "floor: idle RSS with $IDLE_N subscribers (no broadcasts)"
start_floor floor-idle 0
quiet
"$load" subscribe --retries "$retries" --url "$(ws_url "$floor_addr")" -n "$IDLE_N" --duration 0s --server-pid "$floor_pid" \
  --label floor-idle --json >"$OUT/floor-idle.json"
stop "$floor_pid"

log "floor: $N subscribers, one update per second, $DURATION"
start_floor floor-main 1
quiet
"$load" subscribe --retries "$retries" --url "$(ws_url "$floor_addr")" -n "$N" --duration "$DURATION" --server-pid "$floor_pid" \
  --label floor --json >"$OUT/floor-main.json"
stop "$floor_pid"

log "floor: saturation, $N subscribers, $SAT_RATES updates/s"
start_floor floor-sat 1 $(( sat_games * max_feeds ))
quiet
"$load" subscribe --retries "$retries" --url "$(ws_url "$floor_addr")" -n "$N" --duration "$SAT_WINDOW" --server-pid "$floor_pid" \
  --rates "$SAT_RATES" --control "http://$floor_addr/control?rate={rate}" --settle 3s \
  --label floor-saturation --json >"$OUT/floor-sat.json"
stop "$floor_pid"

ws_version=$(node -p "require('$here/node_modules/ws/package.json').version")
{
  echo "scoreticker fan-out benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "scoreticker $(git -C "$root" describe --always --dirty 2>/dev/null || echo '(no git)') ($PROFILE build), load tool, floor and Node peer from tests/bench"
  echo "N=$N subscribers over $(jq -r '.sources | join(",")' "$OUT/svc-main.json" 2>/dev/null || echo 'loopback sources'), window $DURATION, one update/s; saturation steps $SAT_RATES updates/s, $SAT_WINDOW each"
  echo
  "$load" table --service-main "$OUT/svc-main.json" --service-sat "$OUT/svc-sat.json" \
    --service-storm "$OUT/svc-storm.json" --service-idle "$OUT/svc-idle.json" --service-deflate "$OUT/svc-deflate.json" \
    --node-main "$OUT/node-main.json" --node-sat "$OUT/node-sat.json" --node-idle "$OUT/node-idle.json" \
    --node-name "Node ws $ws_version ($(node --version))" \
    --floor-main "$OUT/floor-main.json" --floor-sat "$OUT/floor-sat.json" --floor-idle "$OUT/floor-idle.json"
} | tee "$OUT/table.md"
