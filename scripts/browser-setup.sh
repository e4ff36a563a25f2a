#!/usr/bin/env bash
# Installs the browser test's npm packages (hls.js and playwright-core, at the versions
# tests/browser/package-lock.json pins) into tests/browser/node_modules with `npm ci`.
# Needs Node 20 or later with npm; without npm it says so and leaves the test to skip (or fail
# on CI). The browser itself is Debian's chromium (scripts/setup.sh): nothing is downloaded
# but the two packages.
set -euo pipefail
cd "$(dirname "$0")/../tests/browser"
if ! command -v npm >/dev/null 2>&1; then
  echo "browser-setup: npm not found; the browser test needs Node 20+ and npm" >&2
  exit 0
fi
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
