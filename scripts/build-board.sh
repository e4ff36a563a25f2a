#!/usr/bin/env bash
# Builds acebox for one board profile (boards/<board>.toml): a stripped release binary at
# dist/<board>/acebox, linked as the profile says, with the board's capacities compiled in.
# Installs what it needs on a Debian 12 host and checks the result runs (under qemu-user when
# it is not for the host):
#   - glibc targets (host, Raspberry Pi OS): Debian's Rust 1.85 and its ARM standard libraries,
#     the gcc cross linkers (scripts/cross-setup.sh);
#   - musl targets (OpenWrt, MIPS included): always static, std compiled from Debian's sources
#     and zig as the linker (scripts/musl-cargo.sh, scripts/musl-setup.sh). These build std
#     with `panic_immediate_abort` (ACEBOX_PANIC=abort-quietly): a panic aborts without printing
#     its message, which keeps every OpenWrt binary, MIPS included, under 1 MiB (BENCHMARKS.md).
#     ACEBOX_PANIC=message builds them with panic messages. The MIPS ones lose their `.pdr`
#     section (Debian's binutils-mips-linux-gnu), which strip keeps and nothing reads.
#   scripts/build-board.sh rpi-armv7
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/install.sh

board=${1:-}
if [[ -z $board || ! -f boards/$board.toml ]]; then
  boards=(boards/*.toml)
  boards=("${boards[@]#boards/}")
  echo "usage: scripts/build-board.sh <board>; boards: ${boards[*]%.toml}" >&2
  exit 2
fi
# Debian 12's MIPS cross binutils (their objcopy reads MIPS binaries of either byte order).
MIPS_BINUTILS=2.40-2cross2
field() { sed -n "s/^$1 *= *\(.*\)$/\1/p" "boards/$board.toml" | tr -d '"[] ' ; }
target=$(field target)
features=$(field features)
link=$(field link)
case $target in
  x86_64-unknown-linux-gnu) scripts/setup.sh; runner=() ;;
  aarch64-unknown-linux-gnu) scripts/cross-setup.sh; runner=(qemu-aarch64 -L /usr/aarch64-linux-gnu) ;;
  armv7-unknown-linux-gnueabihf) scripts/cross-setup.sh; runner=(qemu-arm -L /usr/arm-linux-gnueabihf) ;;
  aarch64-unknown-linux-musl) runner=(qemu-aarch64) ;;
  armv7-unknown-linux-musleabihf) runner=(qemu-arm) ;;
  # The 24Kc: the oldest core of the MIPS boards, with no FPU (zig's MIPS musl is soft-float).
  mipsel-unknown-linux-musl) runner=(qemu-mipsel -cpu 24Kc) ;;
  mips-unknown-linux-musl) runner=(qemu-mips -cpu 24Kc) ;;
  *) echo "build-board: no build recipe for target $target" >&2; exit 2 ;;
esac

export CARGO_TARGET_DIR=target/boards/$board
export ACEBOX_BOARD=$board
build=(cargo build)
case $target in
  *-musl*)
    # OpenWrt's userland is musl: its boards are static musl binaries.
    [[ $link == static ]] || { echo "build-board: $target is only built static" >&2; exit 2; }
    export ACEBOX_PANIC=${ACEBOX_PANIC:-abort-quietly}
    build=(scripts/musl-cargo.sh "$target" build)
    ;;
  *)
    use_debian_rust
    # Raspberry Pi OS has glibc (2.36 or newer: bookworm); linking against it keeps the binary
    # under 1 MiB and lets it use the system's name service (NSS) like any Debian program.
    case $link in
      static) export RUSTFLAGS="-C target-feature=+crt-static" ;;
      *) export RUSTFLAGS="-C target-feature=-crt-static" ;;
    esac
    ;;
esac
started=$(date +%s)
"${build[@]}" --locked --release --bin acebox --target "$target" ${features:+--features "$features"}
mkdir -p "dist/$board"
case $target in
  mips*)
    # LLVM writes a .pdr section into MIPS binaries (procedure descriptors for debuggers, 32
    # bytes a function, read by nothing at run time) that `strip` keeps: over 100 kB of every
    # MIPS build (BENCHMARKS.md). Debian's MIPS binutils take it out.
    install_missing build-board "binutils-mips-linux-gnu=$MIPS_BINUTILS"
    mips-linux-gnu-objcopy --remove-section=.pdr \
      "$CARGO_TARGET_DIR/$target/release/acebox" "dist/$board/acebox"
    ;;
  *) cp "$CARGO_TARGET_DIR/$target/release/acebox" "dist/$board/acebox" ;;
esac
size=$(stat -c %s "dist/$board/acebox")
echo "build-board: dist/$board/acebox, linked $link${ACEBOX_PANIC:+, panic $ACEBOX_PANIC}, $size bytes, built in $(( $(date +%s) - started )) s" >&2
# Every board's binary fits in its profile's max_binary_bytes: 1 MiB for OpenWrt (routers' flash
# is small), 1.5 MiB for the Pi and host; BENCHMARKS.md has the sizes.
limit=$(field max_binary_bytes | tr -d _)
((size <= limit)) || { echo "build-board: dist/$board/acebox is $size bytes, over the $limit bytes of max_binary_bytes in boards/$board.toml" >&2; exit 1; }
"${runner[@]}" "dist/$board/acebox" --board | head -1
