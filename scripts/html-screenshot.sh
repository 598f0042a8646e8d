#!/bin/sh
# Renders a ChaosKit HTML report in headless Chromium and saves a PNG, to check by eye that
# the page (verdict, charts, failure groups with the largest one expanded) looks right.
#
#   scripts/html-screenshot.sh chaoskit-report/report.html report.png [width] [height]
#
# Needs Chromium (Debian: `apt-get install -y chromium`); not part of CI. The browser runs
# with a fresh profile, no network services, and is given only the local file.
set -eu
if [ $# -lt 1 ]; then
    echo "usage: $0 REPORT.html [OUT.png] [WIDTH] [HEIGHT]" >&2
    exit 2
fi
html=$(realpath "$1")
out=$(realpath -m "${2:-report.png}")
width=${3:-1280}
height=${4:-2600}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
    echo "no chromium found; install it (Debian: apt-get install -y chromium)" >&2
    exit 2
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$profile" \
    --window-size="$width,$height" --screenshot="$out" "file://$html" 2>/dev/null
echo "$out"
