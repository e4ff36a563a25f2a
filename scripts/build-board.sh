#!/usr/bin/env bash
# Builds acebox for one board profile (boards/<board>.toml): a static, stripped release binary
# at dist/<board>/acebox, with the board's capacities compiled in. Installs what it needs on a
# Debian/Ubuntu host (Debian's Rust 1.85 and its ARM standard libraries, gcc cross linkers,
# qemu-user) and checks the result runs (under qemu-user for ARM).
#   scripts/build-board.sh rpi-armv7
set -euo pipefail
cd "$(dirname "$0")/.."

board=${1:-}
if [[ -z $board || ! -f boards/$board.toml ]]; then
  echo "usage: scripts/build-board.sh <board>; boards: $(cd boards && ls ./*.toml | sed 's|^\./||; s|\.toml$||' | xargs)" >&2
  exit 2
fi
field() { sed -n "s/^$1 *= *\(.*\)$/\1/p" "boards/$board.toml" | tr -d '"[] ' ; }
target=$(field target)
features=$(field features)
case $target in
  x86_64-unknown-linux-gnu) scripts/setup.sh; runner=() ;;
  aarch64-unknown-linux-gnu) scripts/cross-setup.sh; runner=(qemu-aarch64) ;;
  armv7-unknown-linux-gnueabihf) scripts/cross-setup.sh; runner=(qemu-arm) ;;
  *) echo "build-board: no build recipe for target $target" >&2; exit 2 ;;
esac

export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc CARGO_TARGET_DIR=target/boards/$board
export ACEBOX_BOARD=$board
# Static on every board, so one binary runs on any libc (glibc on Pi OS, musl on OpenWrt).
export RUSTFLAGS="-C target-feature=+crt-static"
started=$(date +%s)
cargo build --locked --release --bin acebox --target "$target" ${features:+--features "$features"}
mkdir -p "dist/$board"
cp "$CARGO_TARGET_DIR/$target/release/acebox" "dist/$board/acebox"
echo "build-board: dist/$board/acebox, $(stat -c %s "dist/$board/acebox") bytes, built in $(( $(date +%s) - started )) s" >&2
"${runner[@]}" "dist/$board/acebox" --board | head -1
