#!/usr/bin/env bash
# Installs what acebox's build checks and tests need on a Debian or Ubuntu host, and nothing
# else: ffmpeg (the playback tests and their media), chromium (the status page test and the
# browser test, whose npm packages scripts/browser-setup.sh installs), xmltv-util (the guide
# test's `tv_validate_file`) and Debian's Rust 1.85 (`rustc-web`, the MSRV check: the compiler
# the ARM cross builds use). Safe to run again; installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/install.sh

specs=(ffmpeg@ffmpeg chromium@chromium tv_validate_file@xmltv-util)
debian_rust || specs+=("rustc-web=$ACEBOX_RUST_DEB" "libstd-rust-web-1.85=$ACEBOX_RUST_DEB" "libstd-rust-web-dev=$ACEBOX_RUST_DEB")
mapfile -t need < <(missing_packages "${specs[@]}")
((${#need[@]})) || exit 0

# Off Debian the tests still run by hand (those needing a missing tool say SKIPPED, and
# scripts/test.sh uses the rustc on PATH); CI must have everything.
if ! command -v apt-get >/dev/null 2>&1 && [[ -z ${CI:-} ]]; then
  echo "setup: not a Debian/Ubuntu host; install by hand: ${need[*]}" >&2
  exit 0
fi
apt_install setup "${need[@]}"
