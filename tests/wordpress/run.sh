#!/bin/sh
# The WordPress plugin (deploy/wordpress/score-ticker) in a real WordPress: Debian's wordpress
# package with PHP and MariaDB (installed when missing), the plugin zip built by
# deploy/wordpress/build-zip.sh, the real scoreticker binary, headless Chromium.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

missing=""
[ -d /usr/share/wordpress ] || missing="$missing wordpress"
[ -d /usr/share/wordpress/wp-content/themes/twentytwentythree ] || missing="$missing wordpress-theme-twentytwentythree"
command -v php >/dev/null || missing="$missing php"
php -m 2>/dev/null | grep -qx mysqli || missing="$missing php-mysql"
command -v mariadbd >/dev/null || missing="$missing mariadb-server"
if [ -n "$missing" ]; then
  echo "tests/wordpress/run.sh: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  # shellcheck disable=SC2086 # one word per package
  apt-get install -y --no-install-recommends $missing
fi
# shellcheck source=tests/harness-deps.sh
. "$root/tests/harness-deps.sh"

sh "$root/deploy/wordpress/build-zip.sh" >/dev/null
exec node --test --test-concurrency=1 "$here"/*.test.mjs
