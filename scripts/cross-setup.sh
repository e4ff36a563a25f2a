#!/usr/bin/env bash
# Installs what the ARM board builds and their QEMU test runs need on a Debian 12 host, without
# Docker or rustup downloads (see ../shared/cross-toolchain.md): Debian's Rust 1.85 (via
# scripts/setup.sh), its aarch64 and armv7 standard libraries, the gcc cross linkers and
# qemu-user. Safe to run again; does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

RUST_VERSION=1.85.0+dfsg3-1~deb12u3
sudo=()
((EUID == 0)) || sudo=(sudo)

need=()
for pkg in gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross qemu-user; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
((${#need[@]} == 0)) || scripts/apt-install.sh cross-setup "${need[@]}"

# The target standard libraries: installing them through multiarch pulls in a foreign libLLVM
# and can fail on version skew, so unpack the two packages and copy the rustlib directory.
for pair in arm64:aarch64-unknown-linux-gnu armhf:armv7-unknown-linux-gnueabihf; do
  arch=${pair%%:*} triple=${pair#*:}
  [[ -d /usr/lib/rustlib/$triple/lib ]] && continue
  echo "cross-setup: unpacking Rust $RUST_VERSION std for $triple" >&2
  dpkg --print-foreign-architectures | grep -qx "$arch" || {
    "${sudo[@]}" dpkg --add-architecture "$arch"
    "${sudo[@]}" apt-get update -qq || echo "cross-setup: some package indexes did not refresh; going on" >&2
  }
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq "libstd-rust-web-dev:$arch=$RUST_VERSION" "libstd-rust-web-1.85:$arch=$RUST_VERSION")
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$tmp/root"; done
  "${sudo[@]}" cp -r "$tmp/root/usr/lib/rustlib/$triple" /usr/lib/rustlib/
  rm -rf "$tmp"
done
