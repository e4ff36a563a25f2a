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
scripts/setup.sh >&2

RUST_VERSION=1.85.0+dfsg3-1~deb12u3
ZIGLANG_VERSION=0.14.1
CARGO_ZIGBUILD_VERSION=0.24.1

installed() { [[ $(dpkg-query -W -f '${Version}' "$1" 2>/dev/null) == "$2" ]]; }
need=()
installed cargo-web "$RUST_VERSION" || need+=("cargo-web=$RUST_VERSION")
installed rust-web-src "$RUST_VERSION" || need+=("rust-web-src=$RUST_VERSION")
dpkg -s qemu-user >/dev/null 2>&1 || need+=(qemu-user)
dpkg -s python3-venv >/dev/null 2>&1 || need+=(python3-venv)
((${#need[@]} == 0)) || scripts/apt-install.sh musl-setup "${need[@]}"

venv=${XDG_CACHE_HOME:-$HOME/.cache}/acebox/zigbuild-$ZIGLANG_VERSION-$CARGO_ZIGBUILD_VERSION
if [[ ! -x $venv/bin/cargo-zigbuild ]]; then
  echo "musl-setup: installing ziglang==$ZIGLANG_VERSION and cargo-zigbuild==$CARGO_ZIGBUILD_VERSION into $venv" >&2
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" >&2
fi
echo "$venv/bin"
