# shellcheck shell=bash disable=SC2034,SC2154  # sets $load, $svc for the sourcing script; reads its $root
# What every benchmark script in this folder does the same way: sourced, not run.
#
# Before sourcing, a script sets `root` (the repository) and PROFILE (release, or
# debug to check a script quickly), and may set KILL_SIGNAL (TERM; cluster.sh uses
# KILL, because killing is what it measures). After sourcing it has:
#   pids+=(PID)            processes killed on exit, Ctrl-C included;
#   log MESSAGE            a heading on stderr;
#   build_workspace        builds the service and the load tool; sets $load and $svc;
#   free_port              a free TCP port on 127.0.0.1;
#   wait_listening FILE PID  the "listening" address a child printed as JSON on stdout.

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "-${KILL_SIGNAL:-TERM}" "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)"

log() { printf '\n== %s\n' "$*" >&2; }

# --workspace: the service and the load tool (tests/bench/load), one target dir.
build_workspace() {
  (cd "$root" && cargo build --locked --profile "$([ "$PROFILE" = debug ] && echo dev || echo "$PROFILE")" --workspace --bins) >&2
  load=$root/target/$PROFILE/scoreticker-load
  svc=${SVC:-$root/target/$PROFILE/scoreticker}
}

free_port() {
  for _ in $(seq 200); do
    p=$(( 20000 + RANDOM % 12000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}

wait_listening() { # file pid
  for _ in $(seq 100); do
    addr=$(sed -n 's/.*"listening":"\([^"]*\)".*/\1/p' "$1" | head -1)
    [ -n "$addr" ] && { echo "$addr"; return 0; }
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "$(basename "$0"): $1: did not start" >&2; cat "$1" >&2; return 1
}
