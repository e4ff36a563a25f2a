#!/usr/bin/env bash
# acebox's whole check, as CI runs it: formatting, lints, then every test built and run with
# Rust 1.85 (the MSRV, Debian's cross toolchain), which also proves the MSRV holds.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings

if /usr/bin/rustc --version 2>/dev/null | grep -q '^rustc 1\.85\.'; then
  echo "== cargo test with $(/usr/bin/rustc --version)"
  RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc CARGO_TARGET_DIR=target/msrv cargo test --locked
else
  echo "== Rust 1.85 not found at /usr/bin/rustc: testing with $(rustc --version) (MSRV unchecked)"
  cargo test --locked
fi
