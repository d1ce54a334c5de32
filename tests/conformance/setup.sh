#!/usr/bin/env bash
# Installs Autobahn|Testsuite (`wstest`), ported to Python 3, into a cache
# directory (default target/conformance/, or $CONFORMANCE_CACHE). Idempotent: a
# second run finds the installed port and returns at once.
#
# The suite on PyPI (autobahntestsuite 25.10.1) is Python 2 only. The port:
#   1. a venv on Debian's Python 3.11 with the suite's pinned dependencies
#      (requirements.txt beside this script: Twisted 22.10, wsaccel, ...);
#   2. the sources of autobahntestsuite 25.10.1, autobahn 0.10.9 and txaio 2.1.0
#      downloaded from PyPI (pip download);
#   3. the suite converted by lib2to3 (python3 -m lib2to3 -w -n);
#   4. autobahn-py3.patch for what lib2to3 cannot see (py2 `str` payloads taken
#      as octets, old-style class bases, integer division, zope's @implementer,
#      the report writer's bytes and str), applied to the suite and to autobahn;
#   5. autobahn and txaio installed from their patched sources, the suite too.
# Needs the Debian packages python3-venv and python3-lib2to3 (tests/run-all.sh
# installs them).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${CONFORMANCE_CACHE:-$root/target/conformance}"
python=/usr/bin/python3

# What the installed port was built from: any change to these rebuilds it.
stamp="$(cat "$here/setup.sh" "$here/autobahn-py3.patch" "$here/requirements.txt" | sha256sum | cut -c1-16)"
if [ -f "$cache/venv/.installed-$stamp" ] && [ -x "$cache/venv/bin/wstest" ]; then
  exit 0
fi

echo "== Installing Autobahn|Testsuite (Python 3 port) in $cache"
rm -rf "$cache/venv" "$cache/src"
mkdir -p "$cache/src" "$cache/downloads"
"$python" -m venv "$cache/venv"
pip=("$cache/venv/bin/pip" --disable-pip-version-check --quiet)
"${pip[@]}" install --requirement "$here/requirements.txt"

# The sources (sdists only: none of the three has a wheel for Python 3 that fits).
"${pip[@]}" download --no-deps --no-binary :all: --dest "$cache/downloads" \
  autobahntestsuite==25.10.1 autobahn==0.10.9 txaio==2.1.0
for name in autobahntestsuite-25.10.1 autobahn-0.10.9 txaio-2.1.0; do
  tar -xzf "$cache/downloads/$name.tar.gz" -C "$cache/src"
done

# lib2to3 is deprecated (and gone in 3.13) but still ships with 3.11.
suite="$cache/src/autobahntestsuite-25.10.1/autobahntestsuite"
"$python" -W ignore::DeprecationWarning -m lib2to3 --write --nobackups "$suite" >"$cache/src/lib2to3.log" 2>&1
# Some of the suite's files have CRLF line endings; the patch is written for LF.
find "$suite" -name '*.py' -exec sed -i 's/\r$//' {} +
patch --quiet --forward -p1 -d "$cache/src" <"$here/autobahn-py3.patch"

for name in txaio-2.1.0 autobahn-0.10.9 autobahntestsuite-25.10.1; do
  "${pip[@]}" install --no-deps --no-build-isolation "$cache/src/$name"
done
"$cache/venv/bin/wstest" --help >/dev/null
touch "$cache/venv/.installed-$stamp"
echo "== wstest installed: $cache/venv/bin/wstest"
