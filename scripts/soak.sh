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
#   ACEBOX_BOARD=openwrt-mipsel scripts/soak.sh --quick     with a router board's capacities
#
# Writes the run's figures and samples (one JSON line) into docs/soak.jsonl, the plot of RSS and
# connections over time into docs/soak.svg, and the table into BENCHMARKS.md between the
# soak:begin and soak:end markers, with the machine, the date, the commit and the command.
# With a board other than host (ACEBOX_BOARD), acebox is built for this machine with that board's
# profile (in target/board-<board>), the viewers spread over at most its channels, and there are
# one fewer of them than a channel takes clients (at most 12), so that the board's limits refuse
# none; the files are docs/soak-<board>.{jsonl,svg} and the markers soak-<board>.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=30
case "${1:-}" in
  "") ;;
  --quick) minutes=2 ;;
  --minutes) minutes=${2:?--minutes wants a number} ;;
  *) echo "usage: scripts/soak.sh [--quick | --minutes N]" >&2; exit 2 ;;
esac
board=${ACEBOX_BOARD:-host}
[[ -f boards/$board.toml ]] || { echo "soak: no board $board in boards/" >&2; exit 2; }
name=soak viewers=12
if [[ $board != host ]]; then
  name=soak-$board
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/board-$board}
  per=$(sed -n 's/^max_clients_per_channel *= *//p' "boards/$board.toml")
  viewers=$((per - 1 < 12 ? per - 1 : 12))
fi
viewers=${ACEBOX_SOAK_VIEWERS:-$viewers}
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
  --label "${minutes} min" | grep '^{' >>"docs/$name.jsonl"
table=$(cargo bench -q --locked --bench load -- soak-report "docs/$name.jsonl" "docs/$name.svg")

block=$(mktemp)
trap 'rm -f "$block" "$block".*' EXIT
{
  echo "<!-- $name:begin (written by scripts/soak.sh; edit the script, not this block) -->"
  echo
  echo "Command: \`$([[ $board == host ]] || echo "ACEBOX_BOARD=$board ")scripts/soak.sh${*:+ $*}\`" \
    "($viewers viewers). Run: ${started}, load average before ${load_before}, acebox at commit ${commit}."
  echo
  echo "Machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)," \
    "$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo)," \
    "$(uname -sr), $(. /etc/os-release && echo "$PRETTY_NAME"), $(rustc --version | cut -d' ' -f1-2)."
  if [[ $board != host ]]; then
    echo
    echo "Board \`$board\`, built for this machine: its capacities and memory budget, this machine's" \
      "CPU. The machine is shared with other engineers' builds and tests."
  fi
  echo
  echo "$table"
  echo
  echo "![acebox RSS, connections, channels and engine sessions over the soak](docs/$name.svg)"
  echo
  echo "The run's figures and every sample: the last line of [docs/$name.jsonl](docs/$name.jsonl)."
  echo
  echo "<!-- $name:end -->"
} >"$block"
heading="## Soak: a long run with faults"
[[ $board == host ]] || heading="### Soak on $board"
scripts/write-block.sh "$name" "$block" BENCHMARKS.md "$heading"
echo "soak: BENCHMARKS.md, docs/$name.svg and docs/$name.jsonl updated" >&2
