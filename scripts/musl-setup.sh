#!/usr/bin/env bash
# Installs what the static musl builds (the OpenWrt boards, MIPS included) and their qemu-user
# test runs need on a Debian 12 host, every piece pinned (see ../shared/cross-toolchain.md):
#   - Debian's Rust 1.85 (scripts/setup.sh), its cargo (`cargo-web`: cargo and rustc must match
#     for -Zbuild-std) and the standard library's sources (`rust-web-src`), from which
#     -Zbuild-std compiles std for the musl targets, for which Debian ships no std;
#   - zig (PyPI `ziglang`) as the musl C toolchain and linker, driven by `cargo-zigbuild`
#     (PyPI), in a venv of their own under ~/.cache/acebox;
#   - qemu-user (qemu-aarch64, qemu-arm, qemu-mipsel, qemu-mips) to run what was built.
# Prints the venv's bin directory, for scripts/musl-cargo.sh. Safe to run again; does only what
# is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/install.sh
scripts/setup.sh >&2

ZIGLANG_VERSION=0.14.1
CARGO_ZIGBUILD_VERSION=0.24.1

install_missing musl-setup "cargo-web=$ACEBOX_RUST_DEB" "rust-web-src=$ACEBOX_RUST_DEB" qemu-user python3-venv

venv=${XDG_CACHE_HOME:-$HOME/.cache}/acebox/zigbuild-$ZIGLANG_VERSION-$CARGO_ZIGBUILD_VERSION
if [[ ! -x $venv/bin/cargo-zigbuild ]]; then
  echo "musl-setup: installing ziglang==$ZIGLANG_VERSION and cargo-zigbuild==$CARGO_ZIGBUILD_VERSION into $venv" >&2
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" >&2
fi
echo "$venv/bin"
