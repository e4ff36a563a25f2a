#!/usr/bin/env bash
# Builds acebox for one board profile (boards/<board>.toml): a stripped release binary at
# dist/<board>/acebox, linked as the profile says (static, or against glibc), with the board's
# capacities compiled in. Installs what it needs on a Debian/Ubuntu host (Debian's Rust 1.85 and its ARM standard libraries, gcc cross linkers,
# qemu-user) and checks the result runs (under qemu-user for ARM).
#   scripts/build-board.sh rpi-armv7
set -euo pipefail
cd "$(dirname "$0")/.."

board=${1:-}
if [[ -z $board || ! -f boards/$board.toml ]]; then
  boards=(boards/*.toml)
  boards=("${boards[@]#boards/}")
  echo "usage: scripts/build-board.sh <board>; boards: ${boards[*]%.toml}" >&2
  exit 2
fi
field() { sed -n "s/^$1 *= *\(.*\)$/\1/p" "boards/$board.toml" | tr -d '"[] ' ; }
target=$(field target)
features=$(field features)
link=$(field link)
case $target in
  x86_64-unknown-linux-gnu) scripts/setup.sh; runner=() ;;
  aarch64-unknown-linux-gnu) scripts/cross-setup.sh; runner=(qemu-aarch64 -L /usr/aarch64-linux-gnu) ;;
  armv7-unknown-linux-gnueabihf) scripts/cross-setup.sh; runner=(qemu-arm -L /usr/arm-linux-gnueabihf) ;;
  *) echo "build-board: no build recipe for target $target" >&2; exit 2 ;;
esac

export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc CARGO_TARGET_DIR=target/boards/$board
export ACEBOX_BOARD=$board
# OpenWrt's userland is musl, so its boards link glibc in statically; Raspberry Pi OS has
# glibc (2.36 or newer: bookworm), and linking against it keeps the binary under 1 MiB.
case $link in
  static) export RUSTFLAGS="-C target-feature=+crt-static" ;;
  *) export RUSTFLAGS="-C target-feature=-crt-static" ;;
esac
started=$(date +%s)
cargo build --locked --release --bin acebox --target "$target" ${features:+--features "$features"}
mkdir -p "dist/$board"
cp "$CARGO_TARGET_DIR/$target/release/acebox" "dist/$board/acebox"
echo "build-board: dist/$board/acebox, linked $link, $(stat -c %s "dist/$board/acebox") bytes, built in $(( $(date +%s) - started )) s" >&2
"${runner[@]}" "dist/$board/acebox" --board | head -1
