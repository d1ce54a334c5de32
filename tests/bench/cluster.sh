#!/usr/bin/env bash
# The cluster benchmark: two nodes x N subscribers through one local Redis against
# one node x 2N, same upstream, same tool (scoreticker-load); then failover time.
#
#   tests/bench/cluster.sh
#
# Settings (environment): N subscribers per node (5000), DURATION of each window
# (30s), GAMES in the synthetic upstream (20), RUNS of the failover measurement
# (10), LEASE of the cluster (5s), REDIS server binary (redis-server; valkey-server
# works too), OUT directory for JSON results and logs (target/bench/cluster-<UTC>),
# QUIET_MAX / QUIET_TIMEOUT as in run.sh (wait for a quiet machine before each window),
# PROFILE (release; `debug` checks the script quickly, its numbers mean nothing).
#
# Measured: upstream change -> delivery latency p50/p99 and CPU per delivery of
# each server process (scoreticker-load subscribe --server-pid), Redis CPU per
# event (its utime+stime over the window / events published), and failover time:
# kill -9 of the leader -> the survivor serves the first event of the new leader
# (polled every 50 ms), RUNS times. Prints a table (also $OUT/table.md).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
N=${N:-5000}
DURATION=${DURATION:-30s}
GAMES=${GAMES:-20}
RUNS=${RUNS:-10}
LEASE=${LEASE:-5s}
REDIS=${REDIS:-redis-server}
QUIET_MAX=${QUIET_MAX:-15}
QUIET_TIMEOUT=${QUIET_TIMEOUT:-300}
OUT=${OUT:-$root/target/bench/cluster-$(date -u +%Y%m%dT%H%M%SZ)}
PROFILE=${PROFILE:-release}

for tool in cargo curl python3 "$REDIS"; do
  command -v "$tool" >/dev/null || { echo "cluster.sh: needs $tool" >&2; exit 1; }
done
KILL_SIGNAL=KILL
# shellcheck source=tests/bench/lib.sh
source "$here/lib.sh"

log "building ($PROFILE)"
build_workspace
mkdir -p "$OUT"
echo "results: $OUT" >&2

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
seq_of() { curl -fsS "http://$1/api/v1/games" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seq"])'; }
quiet() { [ "$QUIET_TIMEOUT" = 0 ] || "$load" wait-quiet --max-percent "$QUIET_MAX" --timeout "${QUIET_TIMEOUT}s"; }
# Without the quiet waits, a window disturbed by other processes is not measured again either.
retries=3
[ "$QUIET_TIMEOUT" = 0 ] && retries=0

log "Redis ($REDIS) with its append-only file"
redis_port=$(free_port)
mkdir -p "$OUT/redis"
"$REDIS" --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
  --dir "$OUT/redis" --daemonize no >"$OUT/redis.log" 2>&1 &
redis_pid=$!; pids+=("$redis_pid")
sleep 0.5

log "synthetic upstream: $GAMES games, one change per second"
"$load" upstream --listen 127.0.0.1:0 --games "$GAMES" --change-every 1s >"$OUT/upstream.out" 2>"$OUT/upstream.log" &
pids+=("$!")
for _ in $(seq 100); do
  up=$(sed -n 's/.*"listening":"\([^"]*\)".*/\1/p' "$OUT/upstream.out" | head -1)
  [ -n "$up" ] && break
  sleep 0.1
done

declare -A node_pid node_addr node_admin
start_node() { # name cluster(0/1)
  local dir=$OUT/$1 port admin
  port=$(free_port); admin=$(free_port)
  mkdir -p "$dir/feeds.d"
  printf 'listen = "127.0.0.1:%s"\nfeeds_dir = "feeds.d"\n[admin]\nlisten = "127.0.0.1:%s"\n' "$port" "$admin" >"$dir/scoreticker.toml"
  if [ "$2" = 1 ]; then
    printf '[cluster]\nredis = "redis://127.0.0.1:%s/0"\nnode_id = "%s"\nlease = "%s"\n' "$redis_port" "$1" "$LEASE" >>"$dir/scoreticker.toml"
  fi
  printf 'id = "bench-0"\nadapter = "espn"\nurl = "http://%s/feed/0/scoreboard"\nschedule = "1s"\nleague = "nba"\nsport = "basketball"\ntimeout = "5s"\n' "$up" >"$dir/feeds.d/bench-0.toml"
  RUST_LOG=${RUST_LOG:-info} "$svc" serve --config "$dir/scoreticker.toml" >>"$dir/service.log" 2>&1 &
  node_pid[$1]=$!; pids+=("$!")
  node_addr[$1]=127.0.0.1:$port
  node_admin[$1]=127.0.0.1:$admin
  for _ in $(seq 300); do
    curl -fsS "http://127.0.0.1:$port/api/v1/games" 2>/dev/null | grep -q '"games":\[{' && return 0
    sleep 0.1
  done
  echo "cluster.sh: $1 did not start; see $dir/service.log" >&2; return 1
}
restart_node() { # name (same config, same ports)
  local dir=$OUT/$1
  RUST_LOG=${RUST_LOG:-info} "$svc" serve --config "$dir/scoreticker.toml" >>"$dir/service.log" 2>&1 &
  node_pid[$1]=$!; pids+=("$!")
  for _ in $(seq 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://${node_addr[$1]}/readyz")" = 200 ] && return 0
    sleep 0.1
  done
  return 1
}
is_leader() { curl -fsS "http://${node_admin[$1]}/metrics" 2>/dev/null | grep -c '^scoreticker_cluster_leader 1' >/dev/null; }

log "one node, $((2 * N)) subscribers, $DURATION"
start_node single 0
quiet
"$load" subscribe --url "ws://${node_addr[single]}/ws?topics=all" -n "$((2 * N))" --duration "$DURATION" \
  --server-pid "${node_pid[single]}" --retries "$retries" --label single --json >"$OUT/single.json"
kill "${node_pid[single]}"; wait "${node_pid[single]}" 2>/dev/null || true

log "two nodes, $N subscribers each, $DURATION"
start_node a 1
start_node b 1
quiet
r0=$(cpu_ticks "$redis_pid"); s0=$(seq_of "${node_addr[a]}")
"$load" subscribe --url "ws://${node_addr[a]}/ws?topics=all" -n "$N" --duration "$DURATION" \
  --server-pid "${node_pid[a]}" --retries "$retries" --label node-a --sources 127.0.0.2,127.0.0.3 --json >"$OUT/node-a.json" &
la=$!
"$load" subscribe --url "ws://${node_addr[b]}/ws?topics=all" -n "$N" --duration "$DURATION" \
  --server-pid "${node_pid[b]}" --retries "$retries" --label node-b --sources 127.0.0.4,127.0.0.5 --json >"$OUT/node-b.json" &
lb=$!
wait "$la" "$lb"
r1=$(cpu_ticks "$redis_pid"); s1=$(seq_of "${node_addr[a]}")
hz=$(getconf CLK_TCK)
redis_us_per_event=$(python3 -c "print(round(($r1-$r0)*1e6/$hz/max(1,$s1-$s0),1))")
echo "{\"redis_cpu_us_per_event\": $redis_us_per_event, \"events\": $((s1 - s0))}" >"$OUT/redis.json"

log "failover: kill -9 the leader, $RUNS times"
: >"$OUT/failover.txt"
run=0
while [ "$run" -lt "$RUNS" ]; do
  if is_leader a; then dead=a; alive=b; elif is_leader b; then dead=b; alive=a; else sleep 0.2; continue; fi
  run=$((run + 1))
  before=$(seq_of "${node_addr[$alive]}")
  t0=$(date +%s%N)
  kill -9 "${node_pid[$dead]}"; wait "${node_pid[$dead]}" 2>/dev/null || true
  while [ "$(seq_of "${node_addr[$alive]}")" = "$before" ] || ! is_leader "$alive"; do sleep 0.05; done
  t1=$(date +%s%N)
  echo "$(( (t1 - t0) / 1000000 ))" | tee -a "$OUT/failover.txt" >&2
  restart_node "$dead"
done

python3 - "$OUT" "$LEASE" <<'PY' | tee "$OUT/table.md"
import json, sys
out, lease = sys.argv[1], sys.argv[2]
def phase(name):
    d = json.load(open(f"{out}/{name}.json"))
    p = d["phases"][0]
    return d, p
print("| run | subscribers | p50 ms | p99 ms | CPU µs/delivery |")
print("|---|---|---|---|---|")
for name in ["single", "node-a", "node-b"]:
    d, p = phase(name)
    lat = p["latency_ms"]
    print(f"| {name} | {d['connected']} | {lat['p50']} | {lat['p99']} | {round(p['cpu_us_per_delivery'] or 0, 2)} |")
r = json.load(open(f"{out}/redis.json"))
print(f"\nRedis CPU per event: {r['redis_cpu_us_per_event']} µs ({r['events']} events)")
f = [int(x) for x in open(f"{out}/failover.txt").read().split()]
if f:
    print(f"Failover (kill -9 → first event from the new leader, lease {lease}, poll 1s), {len(f)} runs: "
          f"min {min(f)} ms, median {sorted(f)[len(f)//2]} ms, max {max(f)} ms")
PY
