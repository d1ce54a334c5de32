#!/usr/bin/env bash
# Install scoreticker as a systemd service, idempotently.
#
#   deploy/install.sh [--dry-run] [--prefix DIR] [BINARY]
#
# BINARY      the scoreticker binary to install (default: target/release/scoreticker;
#             build it with `cargo build --release`).
# --prefix    install under DIR as if it were / (a staging root, for packaging and
#             tests); systemctl is never called then.
# --dry-run   print what would change, change nothing.
#
# What it does (docs/DEPLOY.md has the details):
#   BINARY               -> /usr/local/bin/scoreticker                         replaced when different
#   scoreticker.service  -> /usr/local/lib/systemd/system/                     replaced when different
#   docs/DEPLOY.md,
#   drop-ins/*.conf      -> /usr/local/share/doc/scoreticker/                  replaced when different
#   scoreticker.toml     -> /etc/scoreticker/scoreticker.toml                  only if absent (never overwritten)
#   feeds.d/*.toml       -> /etc/scoreticker/feeds.d/                          only if that directory is absent
# then, when systemd runs this machine (and no --prefix): daemon-reload, enable --now,
# and a restart if the binary or unit changed while the service was running.
# Running it twice changes nothing the second time.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"

usage() {
  sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

dry_run=0
prefix=""
binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --prefix)
      [ $# -ge 2 ] || { echo "install.sh: --prefix needs a directory" >&2; exit 2; }
      prefix="$2"
      shift
      ;;
    --prefix=*) prefix="${1#--prefix=}" ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *)
      [ -z "$binary" ] || { echo "install.sh: one binary only (got $binary and $1)" >&2; exit 2; }
      binary="$1"
      ;;
  esac
  shift
done

binary="${binary:-$repo/target/release/scoreticker}"
if [ ! -f "$binary" ] || [ ! -x "$binary" ]; then
  echo "install.sh: no executable binary at $binary" >&2
  echo "  build it first: cargo build --release   (or pass the binary's path)" >&2
  exit 1
fi

if [ -n "$prefix" ]; then
  prefix="${prefix%/}"
  if [ "$dry_run" -eq 0 ]; then
    mkdir -p "$prefix"
  fi
  if [ -d "$prefix" ]; then
    prefix="$(cd "$prefix" && pwd)"
  fi
  [ "$prefix" != "/" ] || prefix=""
fi

if [ -z "$prefix" ] && [ "$dry_run" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: installing into / needs root (sudo $0 ...), or use --prefix DIR" >&2
  exit 1
fi

# Directories created here are world-readable (the service's dynamic user must read
# /etc/scoreticker); files get explicit modes below.
umask 022

bin_dst="$prefix/usr/local/bin/scoreticker"
unit_dst="$prefix/usr/local/lib/systemd/system/scoreticker.service"
doc_dir="$prefix/usr/local/share/doc/scoreticker"
etc_dir="$prefix/etc/scoreticker"
conf_dst="$etc_dir/scoreticker.toml"
feeds_dst="$etc_dir/feeds.d"

changed=0

say() { printf '%s\n' "$*"; }

# install_file SRC DST MODE: copy SRC to DST when DST is missing or different, through a
# temporary file in the same directory and a rename, so a running binary is never
# half-written. Sets did_change=1 when it changed (or, dry run, would change) DST.
did_change=0
tmp_file=""
trap 'if [ -n "$tmp_file" ]; then rm -f "$tmp_file"; fi' EXIT
install_file() {
  local src="$1" dst="$2" mode="$3"
  did_change=0
  if [ -f "$dst" ] && cmp -s "$src" "$dst"; then
    if [ "$(stat -c %a "$dst")" = "${mode#0}" ]; then
      say "unchanged  $dst"
    else
      say "chmod $mode $dst"
      changed=$((changed + 1))
      [ "$dry_run" -eq 1 ] || chmod "$mode" "$dst"
    fi
    return 0
  fi
  if [ -e "$dst" ]; then say "update     $dst"; else say "install    $dst"; fi
  changed=$((changed + 1))
  did_change=1
  [ "$dry_run" -eq 0 ] || return 0
  mkdir -p "$(dirname "$dst")"
  tmp_file="$(mktemp "$(dirname "$dst")/.$(basename "$dst").XXXXXX")"
  cp "$src" "$tmp_file"
  chmod "$mode" "$tmp_file"
  mv -f "$tmp_file" "$dst"
  tmp_file=""
}

# keep_or_install SRC DST: the operator's files are never overwritten.
keep_or_install() {
  local src="$1" dst="$2"
  if [ -e "$dst" ]; then
    say "kept       $dst (exists; never overwritten)"
  else
    install_file "$src" "$dst" 0644
  fi
}

install_file "$binary" "$bin_dst" 0755
bin_changed=$did_change
install_file "$here/scoreticker.service" "$unit_dst" 0644
unit_changed=$did_change
if [ -f "$repo/docs/DEPLOY.md" ]; then
  install_file "$repo/docs/DEPLOY.md" "$doc_dir/DEPLOY.md" 0644
fi
# Ready-made drop-ins (port 443, TLS credentials, JSON logs): documentation, not active.
for dropin in "$here"/drop-ins/*.conf; do
  [ -e "$dropin" ] || continue
  install_file "$dropin" "$doc_dir/drop-ins/$(basename "$dropin")" 0644
done

# /etc/scoreticker is the operator's. The example config goes in only when there is
# no config; the example feed only when there is no feeds directory at all (a feed
# the operator deleted does not come back).
if [ ! -d "$etc_dir" ]; then
  say "mkdir      $etc_dir"
  changed=$((changed + 1))
  [ "$dry_run" -eq 1 ] || mkdir -p "$etc_dir"
fi
keep_or_install "$here/scoreticker.toml" "$conf_dst"
if [ -d "$feeds_dst" ]; then
  say "kept       $feeds_dst/ (exists; example feeds not added)"
else
  say "mkdir      $feeds_dst"
  changed=$((changed + 1))
  [ "$dry_run" -eq 1 ] || mkdir -p "$feeds_dst"
  for feed in "$here"/feeds.d/*.toml; do
    [ -e "$feed" ] || continue
    install_file "$feed" "$feeds_dst/$(basename "$feed")" 0644
  done
fi

if [ "$dry_run" -eq 1 ]; then
  say "dry run: $changed change(s) would be made; nothing was changed"
else
  say "$changed change(s) made"
fi

# systemd: only for a real install on a machine that systemd runs.
systemd_running() {
  # sd_booted(3): this directory exists only when systemd is PID 1.
  [ -d /run/systemd/system ] && [ "$(cat /proc/1/comm 2>/dev/null || true)" = "systemd" ]
}

next_steps() {
  say ""
  say "Not starting the service ($1). Next steps:"
  say "  scoreticker check-config --config /etc/scoreticker/scoreticker.toml"
  say "  systemctl daemon-reload"
  say "  systemctl enable --now scoreticker"
  say "  journalctl -u scoreticker -f"
}

if [ -n "$prefix" ]; then
  next_steps "installed under --prefix $prefix"
  exit 0
fi
if ! systemd_running; then
  next_steps "systemd is not running this machine (PID 1 is $(cat /proc/1/comm 2>/dev/null || echo unknown))"
  exit 0
fi

run() {
  say "run        $*"
  [ "$dry_run" -eq 1 ] || "$@"
}

was_active=0
if systemctl is-active --quiet scoreticker.service; then was_active=1; fi
if [ "$unit_changed" -eq 1 ]; then
  run systemctl daemon-reload
fi
# Enabled at boot, and started if it is not running.
if ! run systemctl enable --now scoreticker.service; then
  echo "install.sh: scoreticker did not start. See why:" >&2
  echo "  journalctl -u scoreticker -e" >&2
  echo "  scoreticker check-config --config /etc/scoreticker/scoreticker.toml" >&2
  exit 1
fi
if [ "$was_active" -eq 1 ] && { [ "$bin_changed" -eq 1 ] || [ "$unit_changed" -eq 1 ]; }; then
  # A running service keeps the old binary and unit until restarted. Clients get a
  # close 1001 and reconnect (resuming with `since`).
  run systemctl restart scoreticker.service
fi
if [ "$dry_run" -eq 0 ]; then
  systemctl --no-pager --lines=0 status scoreticker.service || true
  say "logs: journalctl -u scoreticker -f"
fi
