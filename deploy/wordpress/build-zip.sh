#!/bin/sh
# Builds target/scoreticker-wordpress.zip: the plugin folder (score-ticker/), as WordPress's
# Plugins → Add New → Upload Plugin takes it. Python's zipfile, so that no zip tool is needed.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
zip="$root/target/scoreticker-wordpress.zip"
mkdir -p "$root/target"
rm -f "$zip"
cd "$root/deploy/wordpress"
python3 -m zipfile -c "$zip" score-ticker
echo "$zip"
