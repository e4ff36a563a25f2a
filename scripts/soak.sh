#!/usr/bin/env bash
# The soak benchmark (not a CI test): acebox in front of the engine simulator for a long run,
# with HLS players that follow the redirect, HLS players that reload the entry URL and MPEG-TS
# readers joining and leaving six channels, a zapper, and an engine fault every minute
# (restart, 500s, supersede, segment stall, garbage playlist, TS stall, in turn). It samples
# acebox's RSS, open connections and channels and the engine's live sessions every 5 s, counts
# client-visible errors, skipped segments, stalls and gaps, and after the last viewer checks
# that every channel and engine session was stopped (see benches/load/soak.rs).
#
#   scripts/soak.sh                 30 minutes, 12 viewers
#   scripts/soak.sh --quick         2 minutes (a fault every 10 s)
#   scripts/soak.sh --minutes N     N minutes
#   ACEBOX_SOAK_VIEWERS=24 scripts/soak.sh
#
# Writes the run's figures and samples (one JSON line) into docs/soak.jsonl, the plot of RSS and
# connections over time into docs/soak.svg, and the table into BENCHMARKS.md between the
# soak:begin and soak:end markers, with the machine, the date, the commit and the command.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=30
case "${1:-}" in
  "") ;;
  --quick) minutes=2 ;;
  --minutes) minutes=${2:?--minutes wants a number} ;;
  *) echo "usage: scripts/soak.sh [--quick | --minutes N]" >&2; exit 2 ;;
esac
viewers=${ACEBOX_SOAK_VIEWERS:-12}
command -v cargo >/dev/null 2>&1 || { echo "soak: cargo not found: install Rust 1.85 or newer" >&2; exit 1; }

echo "== building the release binaries and the load generator" >&2
cargo bench --locked --bench load --no-run
started=$(date -u '+%Y-%m-%d %H:%M UTC')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src benches Cargo.toml Cargo.lock 2>/dev/null || commit+=" with local changes"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== soak: $minutes minutes, $viewers viewers" >&2
mkdir -p docs
cargo bench -q --locked --bench load -- soak --secs $((minutes * 60)) --clients "$viewers" \
  --label "${minutes} min" | grep '^{' >>docs/soak.jsonl
table=$(cargo bench -q --locked --bench load -- soak-report docs/soak.jsonl docs/soak.svg)

block=$(mktemp)
trap 'rm -f "$block" "$block".*' EXIT
{
  echo "<!-- soak:begin (written by scripts/soak.sh; edit the script, not this block) -->"
  echo
  echo "Command: \`scripts/soak.sh$( ((minutes == 30)) || echo " --minutes $minutes")\`" \
    "($viewers viewers). Run: ${started}, load average before ${load_before}, acebox at commit ${commit}."
  echo
  echo "Machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)," \
    "$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo)," \
    "$(uname -sr), $(. /etc/os-release && echo "$PRETTY_NAME"), $(rustc --version | cut -d' ' -f1-2)."
  echo
  echo "$table"
  echo
  echo "![acebox RSS, connections, channels and engine sessions over the soak](docs/soak.svg)"
  echo
  echo "The run's figures and every sample: the last line of [docs/soak.jsonl](docs/soak.jsonl)."
  echo
  echo "<!-- soak:end -->"
} >"$block"
scripts/write-block.sh soak "$block" BENCHMARKS.md "## Soak: a long run with faults"
echo "soak: BENCHMARKS.md, docs/soak.svg and docs/soak.jsonl updated" >&2
