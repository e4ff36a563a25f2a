#!/usr/bin/env bash
# Builds the Debian package of acebox for one board with cargo-deb:
#   scripts/build-deb.sh rpi-aarch64   Raspberry Pi OS 64-bit (arm64)
#   scripts/build-deb.sh rpi-armv7     Raspberry Pi OS 32-bit (armhf)
#   scripts/build-deb.sh host          this x86_64 machine (amd64)
# The binary comes from scripts/build-board.sh (stripped, linked as the board profile says,
# with the board's capacities compiled in); cargo-deb packages it with the systemd unit and
# /etc/default/acebox from packaging/debian/, as [package.metadata.deb] in Cargo.toml says, and
# derives Depends (libc6) from the binary. The .deb lands in dist/<board>/; its path is the
# only line on stdout.
#
# Environment:
#   SKIP_BUILD=1        package the dist/<board>/acebox already there instead of building it
#   CARGO_DEB_VERSION   cargo-deb version installed when it is missing (default below)
set -euo pipefail
cd "$(dirname "$0")/.."

# Proven to build with the machine's own toolchain (Rust 1.95), which scripts/install-tool.sh
# uses; not with 1.85, whatever its rust-version says.
CARGO_DEB_VERSION=${CARGO_DEB_VERSION:-3.8.0}

usage() {
  echo "usage: scripts/build-deb.sh <board>   boards: rpi-aarch64, rpi-armv7, host" >&2
  exit 2
}
(($# == 1)) || usage
board=$1
case $board in
  rpi-aarch64) triple=aarch64-unknown-linux-gnu; arch=arm64 ;;
  rpi-armv7) triple=armv7-unknown-linux-gnueabihf; arch=armhf ;;
  host)
    triple=x86_64-unknown-linux-gnu; arch=amd64
    if [[ $(uname -m) != x86_64 ]]; then
      echo "build-deb: the host board is x86_64 Linux; this machine is $(uname -m)" >&2
      exit 2
    fi
    ;;
  *) usage ;;
esac
# The board profile names its target too; they must agree, or the package would be mislabelled.
profile_target=$(sed -n 's/^target *= *"\(.*\)"$/\1/p' "boards/$board.toml")
if [[ $profile_target != "$triple" ]]; then
  echo "build-deb: boards/$board.toml is for $profile_target, expected $triple" >&2
  exit 1
fi

# cargo-deb is built by the machine's own toolchain, not by Debian's rustc that
# scripts/build-board.sh uses for acebox itself.
scripts/install-tool.sh cargo-deb "$CARGO_DEB_VERSION"

bin=dist/$board/acebox
if [[ ${SKIP_BUILD:-0} == 1 ]]; then
  [[ -x $bin ]] || { echo "build-deb: SKIP_BUILD=1 but there is no $bin" >&2; exit 1; }
else
  scripts/build-board.sh "$board" >&2
fi

# cargo-deb takes the binary from the asset path target/release/acebox, which with --target
# it reads as <target dir>/<triple>/release/acebox. Stage the board's binary there, in a
# target dir of its own, so no real cargo build output is overwritten.
stage=target/deb/$board
mkdir -p "$stage/$triple/release"
cp "$bin" "$stage/$triple/release/acebox"
started=$(date +%s)
deb=$(CARGO_TARGET_DIR=$stage cargo deb --no-build --no-strip --target "$triple" \
  --output "dist/$board/" | tail -n 1)
[[ -f $deb ]] || { echo "build-deb: cargo-deb did not report a .deb (got: $deb)" >&2; exit 1; }
got_arch=$(dpkg-deb -f "$deb" Architecture 2>/dev/null || echo unknown)
if [[ $got_arch != "$arch" ]]; then
  echo "build-deb: $deb is for $got_arch, expected $arch" >&2
  exit 1
fi
echo "build-deb: $board ($triple, $arch) packaged in $(($(date +%s) - started)) s" >&2
echo "$deb"
