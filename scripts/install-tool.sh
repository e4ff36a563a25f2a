#!/usr/bin/env bash
# Installs a cargo subcommand the build only uses (cargo-deb, cargo-fuzz), at a pinned version,
# when `cargo <sub> --version` does not already report it:
#   scripts/install-tool.sh cargo-deb 3.8.0
# Tools are compiled by the machine's own toolchain (rustup's `cargo` on PATH), never by the
# compiler a caller chose for acebox itself: scripts/test.sh and scripts/build-board.sh export
# RUSTC=/usr/bin/rustc (Debian's 1.85, the MSRV), and a tool's own dependencies may need a newer
# Rust than its `rust-version` says (cargo-deb 3.8.0 uses let-chains, Rust 1.88). So the caller's
# compiler, flags and target directory are dropped for the install.
set -euo pipefail
. "$(dirname "$0")/lib/install.sh"
(($# == 2)) || { echo "usage: scripts/install-tool.sh <crate> <version>" >&2; exit 2; }
crate=$1 version=$2
sub=${crate#cargo-}
use_machine_rust
if [[ $(cargo "$sub" --version 2>/dev/null) == *" $version"* ]]; then
  exit 0
fi
echo "install-tool: installing $crate $version with $(rustc --version) (cargo install --locked)" >&2
started=$(date +%s)
cargo install --locked --force "$crate@$version" >&2
echo "install-tool: $crate $version installed in $(($(date +%s) - started)) s" >&2
