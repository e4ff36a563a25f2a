#!/usr/bin/env bash
# Image test: the static aarch64 acebox in a real aarch64 Linux guest, played from the host.
#   scripts/image-test.sh [path-to-static-aarch64-acebox]    (default dist/openwrt-aarch64/acebox)
# Runs the jobs of scripts/image/, timing each:
#   build      cargo test --no-run --test image: the players, and the simulator they start
#   packages   guest-packages.sh: the host's tools, the arm64 kernel and busybox (apt, cached)
#   initramfs  initramfs.sh: busybox, the kernel's virtio-net modules, acebox, /init = image/init
#   boot       boot.sh: qemu-system-aarch64 (TCG, user networking) until acebox answers
#   play       tests/image.rs (`cargo test --test image -- --ignored`): the suite's own players
#              against acebox in the guest, with the engine simulator on the host (the guest
#              reaches it at 10.0.2.2): HLS for 10 s through the redirect (the HLS Player, and
#              ffmpeg decoding alongside), every segment fetched once from the engine, then 2 s
#              of MPEG-TS from /ace/getstream, and both channels in /status.
# cargo builds the test with the caller's toolchain and target dir (scripts/test.sh: Debian's
# 1.85 in target/msrv, built already). Exit 0 on PASS, 1 on a failed check, 2 on missing inputs.
# Environment: IMAGE_BOOT_TIMEOUT, IMAGE_HOST_PORT (scripts/image/boot.sh).
# The guest's console is left in target/image/console.log.
set -euo pipefail
cd "$(dirname "$0")/.."

acebox=${1:-dist/openwrt-aarch64/acebox}
work=target/image
say() { echo "image-test: $*" >&2; }

# --- phase timings, printed at the end whatever happens ---
phase_names=() phase_secs=() cur_phase='' cur_start=''
started=$EPOCHREALTIME
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
phase_end() {
  [[ -n $cur_phase ]] || return 0
  phase_names+=("$cur_phase")
  phase_secs+=("$(since "$cur_start")")
  say "   $cur_phase took ${phase_secs[-1]} s"
  cur_phase=''
}
phase() {
  phase_end
  cur_phase=$1 cur_start=$EPOCHREALTIME
  say "== $1"
}

booted=''
cleanup() {
  local rc=$? pid
  trap - EXIT
  phase_end
  pid=$(cat "$work/qemu.pid" 2>/dev/null) && kill "$pid" 2>/dev/null && rm -f "$work/qemu.pid"
  if ((rc != 0)) && [[ -n $booted && -s $work/console.log ]]; then
    say "last lines of the guest console ($work/console.log):"
    tail -n 25 "$work/console.log" | tr -d '\r' | sed 's/^/    /' >&2
  fi
  if ((${#phase_names[@]})); then
    say "phase timings:"
    for i in "${!phase_names[@]}"; do
      printf 'image-test:   %-12s %7s s\n' "${phase_names[$i]}" "${phase_secs[$i]}" >&2
    done
    printf 'image-test:   %-12s %7s s\n' total "$(since "$started")" >&2
  fi
  if ((rc == 0)); then
    echo "image-test: PASS"
  else
    echo "image-test: FAIL (exit $rc${booted:+; the guest console and qemu errors are in $work/})"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the input binary ---
if [[ ! -f $acebox ]]; then
  say "no aarch64 acebox at $acebox. Build it with"
  say "  scripts/build-board.sh openwrt-aarch64      (writes dist/openwrt-aarch64/acebox)"
  say "or, after scripts/cross-setup.sh,"
  say "  RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc CARGO_TARGET_DIR=target/msrv \\"
  say "    cargo build --release --target aarch64-unknown-linux-gnu"
  say "  scripts/image-test.sh target/msrv/aarch64-unknown-linux-gnu/release/acebox"
  exit 2
fi
# ELF magic, then e_machine 183 (EM_AARCH64).
if [[ $(od -An -tx1 -N4 "$acebox" | tr -d ' ') != 7f454c46 || $(od -An -tu2 -j18 -N2 "$acebox" | tr -d ' ') != 183 ]]; then
  say "$acebox is not an aarch64 ELF binary"
  exit 2
fi
mkdir -p "$work"

phase build
cargo test --locked --no-run --test image >&2
phase packages
dirs=$(scripts/image/guest-packages.sh)
read -r kdir bdir <<<"$dirs"
phase initramfs
vmlinuz=$(scripts/image/initramfs.sh "$kdir" "$bdir" "$acebox" "$work/initramfs.gz")
phase boot
booted=1
addrs=$(scripts/image/boot.sh "$vmlinuz" "$work/initramfs.gz")
read -r acebox_addr engine_addr <<<"$addrs"
phase play
ACEBOX_IMAGE_ACEBOX=$acebox_addr ACEBOX_IMAGE_ENGINE=$engine_addr \
  cargo test --locked --test image -- --ignored --nocapture >&2
phase_end
