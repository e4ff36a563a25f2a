#!/usr/bin/env bash
# Installs what acebox's build checks and tests need on a Debian or Ubuntu host, and nothing
# else: ffmpeg (the playback tests and their media), chromium (the status page test and the
# browser test, whose npm packages scripts/browser-setup.sh installs) and Debian's Rust 1.85
# (`rustc-web`, the MSRV check: the compiler the ARM cross builds use). Safe to run again;
# installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

RUSTC_WEB_VERSION=1.85.0+dfsg3-1~deb12u3
need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if ! /usr/bin/rustc --version 2>/dev/null | grep -q '^rustc 1\.85\.'; then
  need+=("rustc-web=$RUSTC_WEB_VERSION" "libstd-rust-web-1.85=$RUSTC_WEB_VERSION" "libstd-rust-web-dev=$RUSTC_WEB_VERSION")
fi
((${#need[@]})) || exit 0

# Off Debian the tests still run by hand (those needing a missing tool say SKIPPED, and
# scripts/test.sh uses the rustc on PATH); CI must have everything.
if ! command -v apt-get >/dev/null 2>&1 && [[ -z ${CI:-} ]]; then
  echo "setup: not a Debian/Ubuntu host; install by hand: ${need[*]}" >&2
  exit 0
fi
scripts/apt-install.sh setup "${need[@]}"
