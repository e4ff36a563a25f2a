#!/usr/bin/env bash
# Runs the standard benchmark set with the load generator (benches/load/) and writes the figures
# into BENCHMARKS.md (between the bench:begin and bench:end markers), the plot into
# docs/bench.svg and every run's raw figures (one JSON line each) into docs/bench.jsonl, with
# the machine, the date and the command.
#
#   scripts/bench.sh            the standard set (7m7s here; the block says how long)
#   ACEBOX_BENCH_SECS=10 scripts/bench.sh    shorter paced runs
#
# The set: 1, 10, 100 and 500 paced HLS players; 1, 50 and 200 MPEG-TS readers; a join storm
# of 100 players in one second; and the saturating clients (1, 10, 100, 200, 500) against acebox
# and then against nginx serving the same bytes, in the same run; and the server-bound runs,
# wrk on one 250 kB and one 2 MB segment over 200 and 1,000 connections, against acebox and
# then nginx; MPEG-TS fan-out to 200 readers that only count bytes. A channel takes at most 128
# clients (the host board), so 200 and more clients are spread over several channels. The block
# ends with issue 12's targets against the run's figures, and how long the whole set took.
#
# It installs what it needs on Debian/Ubuntu (nginx, wrk; Debian's cargo and Rust 1.85 when there is
# no cargo), as root or through sudo. Installing nginx may start Debian's own nginx service on
# port 80; the benchmark never uses it. Not part of CI: the figures depend on the machine.
#
#   ACEBOX_BOARD=openwrt-mipsel scripts/bench.sh    a router board's set instead (about 4 min)
#
# With a board other than host, acebox is built for this machine with that board's profile (its
# channels, clients, rings and memory budget; in target/board-<board>) and the set is sized from
# it: HLS players and MPEG-TS readers on one channel and on every channel, filled to the board's
# clients, and MPEG-TS fan-out. Its table (peak RSS against the board's memory budget, CPU per
# GB) goes into BENCHMARKS.md between the bench-<board> markers, its runs into
# docs/bench-<board>.jsonl. The CPU figures are this machine's, not a router's.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/install.sh
secs=${ACEBOX_BENCH_SECS:-20}
saturate_secs=${ACEBOX_BENCH_SATURATE_SECS:-5}
board=${ACEBOX_BOARD:-host}
[[ -f boards/$board.toml ]] || { echo "bench: no board $board in boards/" >&2; exit 2; }

if [[ $board == host ]]; then
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  [[ -x $nginx ]] || { apt_install bench nginx && nginx=/usr/sbin/nginx; }
  command -v wrk >/dev/null 2>&1 || apt_install bench wrk
  results=docs/bench.jsonl
else
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/board-$board}
  results=docs/bench-$board.jsonl
fi
if ! command -v cargo >/dev/null 2>&1; then
  scripts/setup.sh
  apt_install bench "cargo-web=$ACEBOX_RUST_DEB"
fi

echo "== building the release binaries and the load generator" >&2
cargo bench --locked --bench load --no-run

mkdir -p docs
: >"$results"
block=$(mktemp)
trap 'rm -f "$block" "$block".*' EXIT
run() {
  echo "== load $*" >&2
  cargo bench -q --locked --bench load -- "$@" | grep '^{' >>"$results"
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src benches Cargo.toml Cargo.lock 2>/dev/null || commit+=" with local changes"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
machine() {
  echo "Machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)," \
    "$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo)," \
    "$(uname -sr), $(. /etc/os-release && echo "$PRETTY_NAME"), $(rustc --version | cut -d' ' -f1-2)$1"
}

if [[ $board != host ]]; then
  field() { sed -n "s/^$1 *= *\(.*\)$/\1/p" "boards/$board.toml" | tr -d '"[] _'; }
  channels=$(field max_channels) per=$(field max_clients_per_channel)
  # An HLS channel's first viewer (the load generator's warm-up) stays a client for its lease,
  # so HLS fills a channel with one player fewer than it takes.
  run hls --clients 1 --secs "$secs" --label "HLS, 1 player"
  run hls --clients $((per - 1)) --secs "$secs" --label "HLS, one channel full"
  run hls --clients $((channels * (per - 1))) --channels "$channels" --secs "$secs" --label "HLS, every channel full"
  run ts --clients 1 --secs "$secs" --label "MPEG-TS, 1 reader"
  run ts --clients "$per" --secs "$secs" --label "MPEG-TS, one channel full"
  run ts --clients $((channels * per)) --channels "$channels" --secs "$secs" --label "MPEG-TS, every channel full"
  run fanout --clients $((channels * per)) --channels "$channels" --secs "$secs" --label "MPEG-TS fan-out, every channel full"
  table=$(cargo bench -q --locked --bench load -- board-report "$results")
  took=$((SECONDS / 60))m$((SECONDS % 60))s
  {
    echo "<!-- bench-$board:begin (written by scripts/bench.sh; edit the script, not this block) -->"
    echo
    echo "Command: \`ACEBOX_BOARD=$board scripts/bench.sh\` (runs of ${secs} s), ${took} in all."
    echo "Run: ${started}, load average before ${load_before}, acebox at commit ${commit}."
    echo
    machine "; shared with other engineers' builds and tests, so the figures are noisier than on an idle machine."
    echo
    echo "Board \`$board\`, built for this machine: $(field max_channels) channels, $(field max_clients_per_channel)" \
      "clients per channel, $(field max_connections) connections; HLS ring $(field ring_slots) segments," \
      "$(field playlist_window) listed. 4 s segments of 2 MB (4 Mbit/s), MPEG-TS at 4 Mbit/s."
    echo
    echo "$table"
    echo
    echo "Every run's figures: [docs/bench-$board.jsonl](docs/bench-$board.jsonl)."
    echo
    echo "<!-- bench-$board:end -->"
  } >"$block"
  scripts/write-block.sh "bench-$board" "$block" BENCHMARKS.md "## Router boards: what the box holds"
  echo "bench: BENCHMARKS.md and $results updated" >&2
  exit 0
fi

for n in 1 10 100; do run hls --clients "$n" --secs "$secs"; done
run hls --clients 500 --channels 4 --secs "$secs"
run hls --clients 100 --stagger-ms 1000 --secs "$secs" --label "join storm"
run hls --clients 100 --reload mixed --secs "$secs" --label "100, half reloading the entry URL"
for n in 1 50; do run ts --clients "$n" --secs "$secs"; done
run ts --clients 200 --channels 2 --secs "$secs"
run fanout --clients 200 --channels 2 --secs "$secs"
for run in 1:1 10:1 100:1 200:2 500:4; do
  run saturate --clients "${run%:*}" --channels "${run#*:}" --secs "$saturate_secs" --nginx "$nginx"
done
# Server-bound: wrk (a C client that is not the bottleneck) on one segment, acebox then nginx.
for bytes in 250000 2000000; do
  for connections in 200 1000; do
    run wrk --clients "$connections" --segment-bytes "$bytes" --secs 6 --nginx "$nginx"
  done
done

tables=$(cargo bench -q --locked --bench load -- report "$results" docs/bench.svg)
# The report's tables, in its order, separated by blank lines.
table() { awk -v n="$1" 'BEGIN { RS = ""; ORS = "\n\n" } NR == n' <<<"$tables"; }
took=$((SECONDS / 60))m$((SECONDS % 60))s
{
  echo "<!-- bench:begin (written by scripts/bench.sh; edit the script, not this block) -->"
  echo
  echo "Command: \`scripts/bench.sh\` (paced runs ${secs} s, saturating runs ${saturate_secs} s per server), ${took} in all."
  echo "Run: ${started}, load average before ${load_before}, acebox at commit ${commit}."
  echo
  machine ", nginx $("$nginx" -v 2>&1 | sed 's|.*/||')."
  echo
  echo "### Live play"
  echo
  table 1
  echo "### Saturating clients: acebox against nginx"
  echo
  table 2
  echo "### Server-bound: wrk on one segment, acebox against nginx"
  echo
  echo "\`wrk -t1 -c<connections> -d6s\` on one segment URL of a warm channel, then on the same"
  echo "bytes as a file from nginx; CPU is each server's user+system seconds over its run."
  echo
  table 3
  echo "### MPEG-TS fan-out: readers that only count bytes"
  echo
  echo "Each reader reads \`/ace/getstream\` into a 64 KiB buffer and counts; the stream is 4 Mbit/s."
  echo "CPU per GB next to the HLS path's: the 100 paced players above, and wrk (2 MB, 200)."
  echo
  table 4
  echo "### Issue 12's targets in this run"
  echo
  table 5
  echo "![Throughput and peak RSS against clients](docs/bench.svg)"
  echo
  echo "Every run's figures, as the load generator printed them: [docs/bench.jsonl](docs/bench.jsonl)."
  echo
  echo "<!-- bench:end -->"
} >"$block"

scripts/write-block.sh bench "$block" BENCHMARKS.md
echo "bench: BENCHMARKS.md, docs/bench.svg and docs/bench.jsonl updated" >&2
