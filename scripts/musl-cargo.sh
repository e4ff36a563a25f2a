#!/usr/bin/env bash
# Runs a cargo command for a static musl target (the OpenWrt boards, MIPS included), the way
# both scripts/build-board.sh and scripts/test.sh do it:
#   scripts/musl-cargo.sh <triple> build --locked --release --bin acebox
#   scripts/musl-cargo.sh <triple> test --locked --lib --bins --tests
# Debian ships no Rust standard library for musl (nor any for MIPS, a tier-3 target), so std is
# compiled from Debian's own sources (`rust-web-src`) with -Zbuild-std, allowed on the stable
# 1.85 compiler by RUSTC_BOOTSTRAP=1, with Debian's cargo so cargo and rustc match. zig (PyPI
# `ziglang`, through `cargo-zigbuild`) is the musl C toolchain and linker; scripts/musl-setup.sh
# installs all of it, pinned.
#   -C target-feature=+crt-static: a static binary (the MIPS musl targets link dynamically by
#     default), which runs on any OpenWrt release and under qemu-user without a sysroot;
#   -C relocation-model=static: the binary is a static executable, not position-independent, so
#     its code needs none either; on MIPS, position-independent code calls every function
#     through the GOT ($gp, $t9), which made the openwrt-mips binary 13% larger (1,039,372 ->
#     906,208 bytes, BENCHMARKS.md);
#   -C link-self-contained=no: Debian has no self-contained musl crt objects; zig supplies them;
#   --cfg libc_unstable_musl_v1_2: zig's musl is 1.2.5 (as OpenWrt's, 1.2.x since 21.02), whose
#     time_t is 64-bit on 32-bit targets too; the libc crate assumes musl 1.1's 32-bit time_t
#     unless told. On MIPS, rustix (polling's, async-io's) calls libc with its own 64-bit
#     timespec, so without this every timerfd timeout was read as zero: timers never fired
#     (found by the mipsel suite; see BENCHMARKS.md). Big-endian MIPS builds another way
#     (--cfg fix_y2038 instead; see below).
# ACEBOX_PANIC=abort-quietly (what scripts/build-board.sh sets for the OpenWrt boards) also
# builds std with `panic_immediate_abort`: a panic aborts at once, without printing its message,
# which takes the formatting machinery out of the binary (see BENCHMARKS.md for the sizes).
# Test binaries need unwinding (a failing test panics and the harness reports it), so `test`
# builds std with panic_unwind and never with panic_immediate_abort.
set -euo pipefail
cd "$(dirname "$0")/.."
(($# >= 2)) || { echo "usage: scripts/musl-cargo.sh <musl triple> <cargo command> [args...]" >&2; exit 2; }
target=$1 cmd=$2
shift 2
case $target in
  *-linux-musl*) ;;
  *) echo "musl-cargo: $target is not a musl target" >&2; exit 2 ;;
esac
. scripts/lib/install.sh
bin=$(scripts/musl-setup.sh)

std=std,panic_abort
std_features=()
case $cmd in
  test) std=std,panic_unwind,panic_abort ;;
  build)
    case ${ACEBOX_PANIC:-message} in
      abort-quietly) std_features=(-Zbuild-std-features=panic_immediate_abort) ;;
      message) ;;
      *) echo "musl-cargo: ACEBOX_PANIC is abort-quietly or message, not $ACEBOX_PANIC" >&2; exit 2 ;;
    esac
    ;;
esac
[[ $cmd == build ]] && cmd=zigbuild
use_debian_rust
export CARGO=/usr/bin/cargo RUSTC_BOOTSTRAP=1
flags="-C target-feature=+crt-static -C relocation-model=static -C link-self-contained=no"
case $target in
  # Big-endian 32-bit MIPS: rustix (under polling, under async-io) hands libc a pointer to its
  # own timespec, whose nanoseconds (a C long) come right after the seconds, padding last. With
  # musl 1.2's 64-bit time_t, musl's big-endian timespec has the padding first, so musl read the
  # nanoseconds from rustix's padding: timerfds and ppoll got whole seconds only (a timeout
  # under a second disarmed polling's timer, and timers never fired; found by the qemu-mips
  # suite, see BENCHMARKS.md). rustix's fix_y2038 mode, meant for 32-bit glibc, copies each
  # field into libc's own timespec instead; it needs the libc crate's musl 1.1 layout (32-bit
  # time_t), whose functions zig's musl 1.2.5 still provides under their old names, as it does
  # for every binary built against musl 1.1. The cost: 32-bit seconds, enough until 2038.
  mips-*) flags+=" --cfg fix_y2038" ;;
  *) flags+=" --cfg libc_unstable_musl_v1_2" ;;
esac
export RUSTFLAGS="$flags${RUSTFLAGS:+ $RUSTFLAGS}"
# cargo-zigbuild runs zig as `python3 -m ziglang`: the venv's python3 must come first.
export PATH=$bin:$PATH
exec cargo-zigbuild "$cmd" --target "$target" -Zbuild-std="$std" "${std_features[@]}" "$@"
