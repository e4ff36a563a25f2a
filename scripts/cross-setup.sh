#!/usr/bin/env bash
# Installs what the ARM board builds and their QEMU test runs need on a Debian 12 host, without
# Docker or rustup downloads (see ../shared/cross-toolchain.md): Debian's Rust 1.85 (via
# scripts/setup.sh), its aarch64 and armv7 standard libraries, the gcc cross linkers and
# qemu-user. Safe to run again; does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/install.sh
scripts/setup.sh

install_missing cross-setup gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross qemu-user

# The target standard libraries: installing them through multiarch pulls in a foreign libLLVM
# and can fail on version skew, so unpack the two packages and copy the rustlib directory.
for pair in arm64:aarch64-unknown-linux-gnu armhf:armv7-unknown-linux-gnueabihf; do
  arch=${pair%%:*} triple=${pair#*:}
  [[ -d /usr/lib/rustlib/$triple/lib ]] && continue
  add_arch cross-setup "$arch"
  root=$(mktemp -d)
  unpack_debs cross-setup "$root" "libstd-rust-web-dev:$arch=$ACEBOX_RUST_DEB" "libstd-rust-web-1.85:$arch=$ACEBOX_RUST_DEB"
  as_root cp -r "$root/usr/lib/rustlib/$triple" /usr/lib/rustlib/
  rm -rf "$root"
done
