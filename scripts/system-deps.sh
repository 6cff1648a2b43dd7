#!/bin/sh
# Installs the Debian packages exitflow needs when they are missing:
# Pango (WeasyPrint's text layout), fonts-noto-cjk (Chinese glyphs in notices) and,
# for the browser tests of `make test`, chromium (Playwright cannot download one here).
# As root it installs them with apt; otherwise it prints the exact command and stops.
missing=""
dpkg -s libpango-1.0-0 >/dev/null 2>&1 || missing="$missing libpango-1.0-0 libpangoft2-1.0-0"
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing="$missing fonts-noto-cjk"
if [ "${EXITFLOW_NEEDS_BROWSER:-0}" = "1" ]; then
  command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ]; then
  echo "installing system packages:$missing"
  (apt-get install -y -q $missing || (apt-get update -q && apt-get install -y -q $missing)) >/dev/null
else
  echo "exitflow needs these Debian packages; run:"
  echo "  sudo apt-get install -y$missing"
  exit 1
fi
