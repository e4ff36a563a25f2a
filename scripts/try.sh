#!/usr/bin/env bash
# One command to see acebox work with no AceStream engine at hand: builds acebox and the engine
# simulator acebox-sim (release, with the machine's cargo), makes a minute of test video with
# ffmpeg (installed with apt-get when missing), starts both on loopback and prints the URLs and
# player commands to try. Ctrl-C or SIGTERM stops both (acebox first, so its engine sessions
# stop) and removes the temporary files; the script then exits 0.
#   scripts/try.sh [--listen ADDR:PORT]
# --listen (or ACEBOX_LISTEN) is where acebox listens, default 127.0.0.1:6880 (port 0 picks a
# free one); the simulator takes a free loopback port. Environment for tests: TRY_ACEBOX_BIN and
# TRY_SIM_BIN run these binaries instead of building; TRY_RUNNER runs them through a command
# (qemu-aarch64...). The last line printed once both serve is machine-readable:
#   try: ready acebox=URL engine=URL hls=URL ts=URL dir=TEMPDIR
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/install.sh

listen=${ACEBOX_LISTEN:-127.0.0.1:6880}
if (($# == 2)) && [[ $1 == --listen ]]; then
  listen=$2
elif (($#)); then
  echo "usage: scripts/try.sh [--listen ADDR:PORT]" >&2
  exit 2
fi
id=0123456789abcdef0123456789abcdef01234567
read -ra runner <<<"${TRY_RUNNER:-}"

say() { echo "try: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/acebox-try.XXXXXX")
pids=()
# Stops what was started, newest first (acebox before the simulator it stops sessions at), and
# removes the temporary files.
cleanup() {
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'say "stopping"; exit 0' INT TERM

# Starts a binary in the background with its stdout on a pipe, and sets `addr` from its first
# line, `... listening on http://ADDR` (the pipe stays open until the script ends).
start() {
  local name=$1 line='' fd
  shift
  mkfifo "$tmp/$name.out"
  "${runner[@]}" "$@" >"$tmp/$name.out" &
  pids+=($!)
  exec {fd}<"$tmp/$name.out"
  read -r -t 60 line <&"$fd" || true
  [[ $line == *" listening on http://"* ]] || return 1
  addr=${line##*http://}
}

acebox=${TRY_ACEBOX_BIN:-} sim=${TRY_SIM_BIN:-}
if [[ -z $acebox || -z $sim ]]; then
  command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust 1.85 or newer (https://rustup.rs)"
  say "building acebox and acebox-sim (cargo build --release)"
  cargo build --release --bin acebox --bin acebox-sim >&2
  acebox=${CARGO_TARGET_DIR:-target}/release/acebox sim=${CARGO_TARGET_DIR:-target}/release/acebox-sim
fi

install_missing try ffmpeg@ffmpeg
say "making 60 s of test video in $tmp/media (ffmpeg)"
mkdir "$tmp/media"
ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=640x360:rate=25 -f lavfi -i sine=frequency=440 \
  -t 60 -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 50 -keyint_min 50 -sc_threshold 0 \
  -c:a aac -f segment -segment_time 2 -segment_format mpegts "$tmp/media/seg%d.ts" ||
  die "ffmpeg could not make the test video"

# The simulator logs every segment it serves: to a file, shown when something goes wrong.
start acebox-sim "$sim" --listen 127.0.0.1:0 --segment-ms 2000 --media-dir "$tmp/media" 2>"$tmp/sim.log" ||
  { tail -n 20 "$tmp/sim.log" >&2; die "the engine simulator $sim did not start"; }
engine=$addr
start acebox "$acebox" --engine "http://$engine" --listen "$listen" ||
  die "acebox $acebox did not start on $listen (why is above; if the port is taken, choose another with --listen, port 0 picks a free one)"
# A wildcard address is not one to open: the same port on loopback is.
base=http://$addr
base=${base/#http:\/\/0.0.0.0:/http://127.0.0.1:}
base=${base/#http:\/\/\[::\]:/http://[::1]:}
hls=$base/ace/manifest.m3u8?id=$id
ts=$base/ace/getstream?id=$id

cat <<EOF

acebox is serving at $base, in front of a simulated engine (http://$engine) playing test video.
Open in VLC (Media > Open Network Stream), mpv, or any IPTV player:
  HLS       $hls
  MPEG-TS   $ts
Or paste one of:
  mpv '$hls'
  vlc '$ts'
  ffplay '$hls'
Both URLs are one channel: open them in several players at once, HLS and MPEG-TS together,
and acebox holds one engine session for all of them.
In a browser:
  status page  $base/
  JSON status  $base/status
  metrics      $base/metrics
Ctrl-C stops everything.
try: ready acebox=$base engine=http://$engine hls=$hls ts=$ts dir=$tmp
EOF

wait -n "${pids[@]}" || true
tail -n 20 "$tmp/sim.log" >&2
die "acebox or the engine simulator stopped on its own (acebox's log above, then the simulator's)"
