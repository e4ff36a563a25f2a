#!/usr/bin/env bash
# acebox's whole check, as CI runs it:
#   1. formatting and lints;
#   2. every test built with Rust 1.85 (the MSRV, Debian's toolchain) on the host, then a short
#      run of each fuzz target (scripts/fuzz.sh);
#   3. the whole suite again under qemu-user for aarch64 and armv7, with the Raspberry Pi
#      profiles, and for mipsel and big-endian mips (static musl) with openwrt-mipsel and
#      openwrt-mips (the test harness runs the target's binaries through ACEBOX_TEST_RUNNER);
#   4. a release build of every board profile, and the packaging tests;
#   5. the image test: the openwrt-aarch64 build booted in an aarch64 VM (qemu-system-aarch64)
#      and played through from the host by tests/image.rs (scripts/image-test.sh).
# `scripts/test.sh host` stops after step 2. It installs what it needs (scripts/setup.sh,
# scripts/browser-setup.sh, scripts/lan-setup.sh, scripts/search-setup.sh, scripts/cross-setup.sh,
# scripts/musl-setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/install.sh
scope=${1:-all}

# Each stage's heading says how long the run has taken so far.
stage() { echo "== [$((SECONDS / 60))m$((SECONDS % 60))s] $*"; }

scripts/setup.sh
scripts/browser-setup.sh
scripts/lan-setup.sh >/dev/null
scripts/search-setup.sh >/dev/null
stage "cargo fmt --check"
cargo fmt --check
stage "cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings

# The integration tests mostly wait on timers and sockets (stalls, timeouts, live segments), so
# four at a time on two cores finish sooner without starving each other (measured: the host
# suite 130 -> 89 s, each qemu suite 150 -> 100 s; no failure in four runs across the three).
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-4}
if debian_rust; then
  use_debian_rust
else
  echo "== Rust 1.85 not found at /usr/bin/rustc (not a Debian host?): using $(rustc --version)"
fi
stage "host: cargo test with $(${RUSTC:-rustc} --version)"
CARGO_TARGET_DIR=target/msrv cargo test --locked
[[ $scope == host ]] && exit 0

stage "fuzz: each cargo-fuzz target for 20 s"
scripts/fuzz.sh 20

scripts/cross-setup.sh
for run in rpi-aarch64:aarch64-unknown-linux-gnu:qemu-aarch64 rpi-armv7:armv7-unknown-linux-gnueabihf:qemu-arm; do
  IFS=: read -r board target runner <<<"$run"
  stage "$target under $runner: cargo test with board $board"
  # --lib --bins --tests: Debian's rustdoc cannot run doc tests through a runner (there are none).
  ACEBOX_BOARD=$board ACEBOX_TEST_RUNNER=$runner CARGO_TARGET_DIR=target/cross \
    cargo test --locked --target "$target" --lib --bins --tests
done

# The MIPS suites, little-endian (openwrt-mipsel, the MT7621 routers) and big-endian
# (openwrt-mips, ath79: most routers with an Atheros/Qualcomm SoC), so that a byte-order mistake
# in TS parsing, hashing or the network code fails a test: std built from source, linked by zig
# (scripts/musl-cargo.sh, as the OpenWrt board builds). Each runs every test with its board's
# capacities (the tests take their sizes from acebox::board). QEMU_CPU=24Kc also reaches the
# binaries the tests start. opt-level 1: LLVM 19 (Rust 1.85) emits a misaligned `lw` in
# unoptimised MIPS code (core's u16::from_str_radix), which the 24Kc traps (SIGBUS); release
# builds are optimised and not affected.
for run in openwrt-mipsel:mipsel-unknown-linux-musl:qemu-mipsel openwrt-mips:mips-unknown-linux-musl:qemu-mips; do
  IFS=: read -r board target runner <<<"$run"
  stage "$target under $runner: cargo test with board $board"
  ACEBOX_BOARD=$board ACEBOX_TEST_RUNNER=$runner QEMU_CPU=24Kc CARGO_TARGET_DIR=target/cross-musl \
    CARGO_PROFILE_DEV_OPT_LEVEL=1 scripts/musl-cargo.sh "$target" test --locked --lib --bins --tests
done

stage "every board profile builds"
for profile in boards/*.toml; do
  scripts/build-board.sh "$(basename "$profile" .toml)"
done

stage "packages: the Pi .debs (cargo-deb) and the OpenWrt init script"
for board in rpi-aarch64 rpi-armv7; do
  deb=$(SKIP_BUILD=1 scripts/build-deb.sh "$board")
  tests/packaging.sh "$deb"
done

stage "image test: openwrt-aarch64 in a QEMU aarch64 VM"
# Its players are tests/image.rs, built by the host stage in target/msrv.
CARGO_TARGET_DIR=target/msrv scripts/image-test.sh dist/openwrt-aarch64/acebox
stage "done"
