#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a short while, starting from its seed corpus in
# fuzz/corpus/<target>/; fails on the first crash, whose input libFuzzer leaves in
# fuzz/artifacts/<target>/ (rerun it with `RUSTC_BOOTSTRAP=1 cargo fuzz run -a <target> <file>`).
#   scripts/fuzz.sh [seconds-per-target]    (default 20)
# Installs cargo-fuzz if it is missing. Needs rustup's stable toolchain and a C++ compiler
# (libfuzzer-sys builds libFuzzer); installs g++ on a Debian host that has none.
#
# cargo-fuzz asks rustc for nightly-only flags (-Zsanitizer, -Cllvm-args for the coverage
# passes); RUSTC_BOOTSTRAP=1 lets rustup's stable rustc take them, so no nightly is needed.
# AddressSanitizer is used when the toolchain ships its runtime, which rustup's x86_64 and
# aarch64 Linux toolchains do; otherwise the targets run without a sanitizer (acebox is safe
# Rust, so that loses only the checks on its dependencies' unsafe code). Debug assertions are
# on, so arithmetic overflow is a crash too. New inputs the fuzzer finds go to a scratch
# directory, never into the committed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/install.sh
seconds=${1:-20}
CARGO_FUZZ_VERSION=0.13.2

# The build needs rustup's toolchain (its sanitizer runtimes), not one set by the caller (such as
# scripts/test.sh's Debian rustc).
use_machine_rust
export RUSTC_BOOTSTRAP=1

install_missing fuzz c++@g++
scripts/install-tool.sh cargo-fuzz "$CARGO_FUZZ_VERSION"

sysroot=$(rustc --print sysroot)
host=$(rustc -vV | sed -n 's/^host: //p')
sanitizer=none
if compgen -G "$sysroot/lib/rustlib/$host/lib/librustc-*_rt.asan.a" >/dev/null; then
  sanitizer=address
fi
flags=(--debug-assertions --sanitizer "$sanitizer")

echo "== fuzz: building the targets (sanitizer: $sanitizer)"
cargo fuzz build "${flags[@]}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in $(cargo fuzz list); do
  echo "== fuzz: $target for ${seconds}s"
  mkdir -p "$scratch/$target"
  cargo fuzz run "${flags[@]}" "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 2>"$scratch/$target.log" || {
    # From the panic or sanitizer report on (the whole tail when there is none, e.g. a build error).
    report=$(awk '/panicked at|==ERROR: /{found=1} found' "$scratch/$target.log" | head -n 150)
    echo "${report:-$(tail -n 60 "$scratch/$target.log")}" >&2
    echo "fuzz: $target crashed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  }
  grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$scratch/$target.log" || true
done
