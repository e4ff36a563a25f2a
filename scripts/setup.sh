#!/usr/bin/env bash
# Installs what acebox's build checks and tests need on a Debian or Ubuntu host, and nothing
# else: ffmpeg (the playback tests and their media), chromium (the status page test and the
# browser test, whose npm packages scripts/browser-setup.sh installs) and Debian's Rust 1.85
# (`rustc-web`, the MSRV check: the compiler the ARM cross builds use). Safe to run again;
# installs only what is missing.
set -euo pipefail

RUSTC_WEB_VERSION=1.85.0+dfsg3-1~deb12u3
need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if ! /usr/bin/rustc --version 2>/dev/null | grep -q '^rustc 1\.85\.'; then
  need+=("rustc-web=$RUSTC_WEB_VERSION" "libstd-rust-web-1.85=$RUSTC_WEB_VERSION" "libstd-rust-web-dev=$RUSTC_WEB_VERSION")
fi
((${#need[@]})) || exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: not a Debian/Ubuntu host; install by hand: ${need[*]}" >&2
  exit 0
fi
sudo=()
((EUID == 0)) || sudo=(sudo)
echo "setup: installing ${need[*]}" >&2
"${sudo[@]}" apt-get update -qq || echo "setup: some package indexes did not refresh; going on" >&2
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
