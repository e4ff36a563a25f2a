#!/usr/bin/env bash
# Image test: the static aarch64 acebox in a real aarch64 Linux guest. Builds an initramfs with
# Debian's arm64 kernel, busybox, the virtio-net modules and acebox (/init is image/init), boots
# it under qemu-system-aarch64 (TCG, user-mode networking), and from the host plays a stream
# through acebox-in-the-VM against acebox-sim on the host's loopback (the guest reaches it at
# 10.0.2.2): HLS through the redirect for ~10 s (curl, and ffmpeg when installed) with every
# segment fetched once from the engine, then 2 s of MPEG-TS from /ace/getstream.
#   scripts/image-test.sh [path-to-static-aarch64-acebox]    (default dist/openwrt-aarch64/acebox)
# Installs what it needs on Debian (qemu-system-arm, cpio; arm64 packages via apt-get download,
# cached under target/image/). Exit 0 on PASS, 1 on a failed check, 2 on missing inputs.
# Environment: IMAGE_BOOT_TIMEOUT (s, default 180), IMAGE_HOST_PORT (default: a free port).
# The guest's console is left in target/image/console.log.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

acebox=${1:-dist/openwrt-aarch64/acebox}
work=target/image
boot_timeout=${IMAGE_BOOT_TIMEOUT:-180}
play_secs=10
hls_id=0123456789abcdef0123456789abcdef01234567
ts_id=fedcba9876543210fedcba9876543210fedcba98
# The guest's NIC is virtio-mmio (QEMU virt's own bus): no PCI enumeration, no option ROM.
net_device=virtio-net-device
net_modules=(virtio_mmio virtio_net)

sudo=()
((EUID == 0)) || sudo=(sudo)
say() { echo "image-test: $*" >&2; }
fail() {
  say "FAIL: $*"
  exit 1
}

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

qemu_pid='' sim_pid='' ffmpeg_pid='' ts_pid='' console=$work/console.log booted=''
stop() {
  local pid=$1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT
  phase_end
  stop "$ts_pid"
  stop "$ffmpeg_pid"
  stop "$qemu_pid"
  stop "$sim_pid"
  if ((rc != 0)) && [[ -n $booted && -s $console ]]; then
    say "last lines of the guest console ($console):"
    tail -n 25 "$console" | tr -d '\r' | sed 's/^/    /' >&2
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
    echo "image-test: FAIL (exit $rc${booted:+; console, sim and player logs in $work/})"
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

# --- 1. host packages, and the guest's packages (downloaded once, kept under target/image/) ---
phase packages
updated=''
apt_update() {
  [[ -z $updated ]] || return 0
  updated=1
  say "apt-get update"
  "${sudo[@]}" apt-get update -qq -o DPkg::Lock::Timeout=120 || say "some package indexes did not refresh; going on"
}
need=()
command -v qemu-system-aarch64 >/dev/null || need+=(qemu-system-arm)
command -v cpio >/dev/null || need+=(cpio)
command -v curl >/dev/null || need+=(curl)
command -v gzip >/dev/null || need+=(gzip)
if ((${#need[@]})); then
  scripts/apt-install.sh image-test "${need[@]}" || exit 2
  updated=1
fi
foreign=$(dpkg --print-foreign-architectures)
if [[ $'\n'$foreign$'\n' != *$'\n'arm64$'\n'* ]]; then
  say "adding the arm64 architecture to dpkg (for apt-get download only; nothing arm64 is installed)"
  "${sudo[@]}" dpkg --add-architecture arm64
  updated=''
  apt_update
fi

# Prints the candidate version of an arm64 package, or nothing.
candidate() {
  local line out
  out=$(apt-cache policy "$1:arm64" 2>/dev/null) || true
  while read -r line; do
    [[ $line =~ ^Candidate:\ (.+)$ && ${BASH_REMATCH[1]} != '(none)' ]] && echo "${BASH_REMATCH[1]}" && return 0
  done <<<"$out"
  return 0
}
# linux-image-arm64 is a metapackage: prints the real linux-image-<abi>-arm64 it depends on.
kernel_package() {
  local line out
  out=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null) || true
  while read -r line; do
    [[ $line =~ ^Depends:\ (linux-image-[^:\ ]+-arm64)(:arm64)?$ ]] && echo "${BASH_REMATCH[1]}" && return 0
  done <<<"$out"
  return 0
}
# Downloads and unpacks one arm64 package into $work/pkgs/<name>_<version>, once; prints the dir.
fetch() {
  local pkg=$1 ver=$2 dir deb
  dir=$work/pkgs/${pkg}_${ver//:/_}
  if [[ ! -f $dir/.unpacked ]]; then
    rm -rf "$dir" "$dir.debs"
    mkdir -p "$dir.debs"
    say "downloading $pkg:arm64 $ver"
    if ! (cd "$dir.debs" && apt-get download -qq -o APT::Sandbox::User="$(id -un)" "$pkg:arm64=$ver" >&2); then
      rm -rf "$dir.debs"
      return 1
    fi
    for deb in "$dir.debs"/*.deb; do dpkg -x "$deb" "$dir"; done
    rm -rf "$dir.debs"
    touch "$dir/.unpacked"
  fi
  echo "$dir"
}
# What apt resolved last time is kept in $work/pkgs/resolved and reused while the package
# indexes are unchanged (apt-cache takes a second per call).
resolved=$work/pkgs/resolved
resolve_and_fetch() {
  kpkg='' kver='' bver=''
  if [[ -f $resolved && -z $(find /var/lib/apt/lists -maxdepth 1 -newer "$resolved" -print -quit) ]]; then
    read -r kpkg kver bver <"$resolved" || true
  fi
  if [[ -z $bver ]]; then
    kpkg=$(kernel_package)
    [[ -n $kpkg ]] && kver=$(candidate "$kpkg")
    bver=$(candidate busybox-static)
  fi
  [[ -n $kpkg && -n $kver && -n $bver ]] || return 1
  kdir=$(fetch "$kpkg" "$kver") && bdir=$(fetch busybox-static "$bver") || return 1
  echo "$kpkg $kver $bver" >"$resolved"
}
if ! resolve_and_fetch; then
  # No arm64 index yet, or a stale one naming files the mirror no longer has.
  apt_update
  rm -f "$resolved"
  resolve_and_fetch || fail "cannot resolve or download linux-image-arm64:arm64 and busybox-static:arm64 from apt"
fi
say "kernel package $kpkg $kver, busybox-static $bver"

# --- 2. the initramfs ---
phase initramfs
moddir=$(find "$kdir/lib/modules" "$kdir/usr/lib/modules" -mindepth 1 -maxdepth 1 -type d -print -quit 2>/dev/null) || true
[[ -n $moddir ]] || fail "no lib/modules/<version> in $kdir"
moddir=${moddir%/}
uname_r=${moddir##*/}
vmlinuz=$kdir/boot/vmlinuz-$uname_r
[[ -f $vmlinuz ]] || fail "no $vmlinuz"
[[ -x $bdir/bin/busybox ]] || fail "no bin/busybox in $bdir"

stage=$work/initramfs
rm -rf "$stage"
mkdir -p "$stage"/{bin,usr/bin,etc,dev,proc,sys,tmp,lib/modules}
cp "$bdir/bin/busybox" "$stage/bin/busybox"
cp "$acebox" "$stage/usr/bin/acebox"
cp image/init "$stage/init"
chmod 755 "$stage/init" "$stage/bin/busybox" "$stage/usr/bin/acebox"
# The kernel opens /dev/console for /init before anything is mounted.
((EUID == 0)) && mknod -m 600 "$stage/dev/console" c 5 1

# Modules: built-in ones (modules.builtin) are skipped; the others are copied, decompressed
# (busybox insmod reads plain .ko only) and listed in load order, dependencies first, from
# each module's own depends= field.
declare -A builtin=() modpath=() seen=()
while read -r path; do
  name=${path##*/} name=${name%%.ko*}
  builtin[${name//-/_}]=1
done <"$moddir/modules.builtin"
while read -r path; do
  name=${path##*/} name=${name%%.ko*}
  modpath[${name//-/_}]=$path
done < <(find "$moddir/kernel" -name '*.ko*')
loaded=() compiled_in=()
add_module() {
  local name=${1//-/_} src ko deps dep
  [[ -z ${seen[$name]:-} ]] || return 0
  seen[$name]=1
  if [[ -n ${builtin[$name]:-} ]]; then
    compiled_in+=("$name")
    return 0
  fi
  src=${modpath[$name]:-}
  [[ -n $src ]] || fail "kernel module $name is neither built in nor in $moddir"
  ko=$stage/lib/modules/$name.ko
  case $src in
    *.ko) cp "$src" "$ko" ;;
    *.ko.xz) xz -dc "$src" >"$ko" ;;
    *.ko.zst) zstd -qdc "$src" >"$ko" ;;
    *.ko.gz) gzip -dc "$src" >"$ko" ;;
    *) fail "cannot unpack module $src" ;;
  esac
  deps=$(tr '\0' '\n' <"$ko" | awk '/^depends=/ && !done { done = 1; print substr($0, 9) }')
  for dep in ${deps//,/ }; do add_module "$dep"; done
  loaded+=("$name")
}
for m in "${net_modules[@]}"; do add_module "$m"; done
printf '%s.ko\n' "${loaded[@]}" >"$stage/etc/image-modules"
say "kernel $uname_r; modules loaded in the guest: ${loaded[*]:-none}; built in: ${compiled_in[*]:-none}"

(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) | gzip -6 >"$work/initramfs.gz"
say "initramfs $(stat -c %s "$work/initramfs.gz") bytes"

# --- 3. the engine simulator on the host's loopback ---
phase simulator
sim=''
for candidate_sim in target/release/acebox-sim target/debug/acebox-sim; do
  [[ -x $candidate_sim ]] || continue
  [[ -z $sim || $candidate_sim -nt $sim ]] && sim=$candidate_sim
done
if [[ -z $sim ]]; then
  say "building acebox-sim (cargo build --release --bin acebox-sim)"
  cargo build --release --bin acebox-sim >&2
  sim=target/release/acebox-sim
fi
sim_args=(--listen 127.0.0.1:0 --segment-ms 1000)
have_ffmpeg=''
if command -v ffmpeg >/dev/null; then
  have_ffmpeg=1
  # Real video, so ffmpeg can decode what acebox serves: 30 one-second segments, made once.
  if [[ ! -f $work/media/seg29.ts ]]; then
    rm -rf "${work:?}/media" && mkdir -p "$work/media"
    ffmpeg -nostdin -v error -f lavfi -i testsrc=size=320x180:rate=25 -f lavfi -i sine=frequency=440 \
      -t 30 -c:v mpeg2video -g 25 -c:a mp2 -f segment -segment_time 1 -segment_format mpegts \
      "$work/media/seg%d.ts"
  fi
  sim_args+=(--media-dir "$work/media")
else
  # CI installs ffmpeg (scripts/setup.sh): there, playing only synthetic segments is a failure.
  [[ -z ${CI:-} ]] || { say "ffmpeg is not installed on CI (scripts/setup.sh installs it)"; exit 2; }
  say "SKIPPED: ffmpeg not installed (apt-get install ffmpeg): synthetic segments, curl checks only"
fi
"$sim" "${sim_args[@]}" >"$work/sim.out" 2>"$work/sim.log" &
sim_pid=$!
sim_port=''
for _ in $(seq 100); do
  sim_port=$(sed -n 's|^acebox-sim listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$work/sim.out")
  [[ -n $sim_port ]] && break
  kill -0 "$sim_pid" 2>/dev/null || fail "acebox-sim exited: $(cat "$work/sim.log")"
  sleep 0.1
done
[[ -n $sim_port ]] || fail "acebox-sim did not say where it listens within 10 s"
sim_url=http://127.0.0.1:$sim_port
say "$sim on $sim_url (the guest sees it at http://10.0.2.2:$sim_port)"

# --- 4. boot the guest ---
phase boot
port_busy() { (: >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
  for _ in $(seq 20); do
    host_port=$((20000 + RANDOM % 30000))
    port_busy "$host_port" || return 0
  done
}
start_qemu() {
  base=http://127.0.0.1:$host_port
  : >"$console"
  qemu-system-aarch64 -M virt -cpu cortex-a57 -m 512 -smp 2 -nographic -no-reboot \
    -kernel "$vmlinuz" -initrd "$work/initramfs.gz" \
    -append "console=ttyAMA0 panic=-1 simport=$sim_port" \
    -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$host_port-:6880" -device "$net_device,netdev=n0" \
    </dev/null >"$console" 2>"$work/qemu.err" &
  qemu_pid=$!
  say "qemu pid $qemu_pid, console in $console, acebox forwarded to $base"
}
host_port=${IMAGE_HOST_PORT:-}
[[ -n $host_port ]] || pick_port
booted=1 port_tries=1
start_qemu
deadline=$((SECONDS + boot_timeout))
ready=''
while ((SECONDS < deadline)); do
  if grep -qE 'image-init: FATAL|acebox exited with status|Kernel panic' "$console"; then
    fail "the guest failed: $(tr -d '\r' <"$console" | grep -m1 -E 'image-init: FATAL|acebox exited|Kernel panic')"
  fi
  if ! kill -0 "$qemu_pid" 2>/dev/null; then
    wait "$qemu_pid" && rc=0 || rc=$?
    qemu_pid=''
    err=$(tr -d '\r' <"$work/qemu.err" | tail -n 3)
    if [[ -z ${IMAGE_HOST_PORT:-} && $err == *'Could not set up host forwarding'* ]] && ((port_tries++ < 5)); then
      say "port $host_port was taken meanwhile; trying another"
      pick_port
      start_qemu
      continue
    fi
    fail "qemu exited (status $rc) before acebox answered${err:+; qemu said: $err}"
  fi
  if grep -q 'acebox listening on' "$console" &&
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base/status") == 200 ]]; then
    ready=1
    break
  fi
  sleep 1
done
[[ -n $ready ]] || fail "acebox in the guest did not answer $base/status within $boot_timeout s"
say "guest up: $(tr -d '\r' <"$console" | grep -m1 'acebox listening on')"

# --- 5. HLS through acebox in the guest ---
phase hls
manifest="$base/ace/manifest.m3u8?id=$hls_id"
read -r code playlist < <(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}\n' --max-time 60 "$manifest") ||
  fail "connect $manifest: no answer"
[[ $code == 302 && $playlist == "$base/ace/m/$hls_id/"*.m3u8 ]] ||
  fail "connect $manifest answered $code ${playlist:-without a Location}, expected 302 to /ace/m/$hls_id/<client>.m3u8"
say "connect: 302 to ${playlist#"$base"}"
if [[ -n $have_ffmpeg ]]; then
  # A second player on the same channel, decoding what it gets, alongside the curl one.
  rm -f "$work/ffmpeg.progress"
  ffmpeg -nostdin -v error -i "$manifest" -t "$play_secs" -f null - -progress "$work/ffmpeg.progress" \
    2>"$work/ffmpeg.log" &
  ffmpeg_pid=$!
fi
# Checks a file of MPEG-TS: every whole 188-byte packet starts with 0x47. With "whole", the
# file must be whole packets; otherwise a cut-off tail is allowed. Prints the packet count.
ts_check() {
  local file=$1 whole=${2:-} size packets
  size=$(stat -c %s "$file")
  ((size >= 188)) || {
    echo "only $size bytes"
    return 1
  }
  if [[ -n $whole ]] && ((size % 188)); then
    echo "$size bytes, not a multiple of 188"
    return 1
  fi
  packets=$(od -An -v -tx1 -w188 "$file" | awk 'NF == 188 && $1 != "47" { bad = NR } NF == 188 { n++ } END { if (bad) { print "packet " bad " has no 0x47 sync byte"; exit 1 } print n }') || {
    echo "$packets"
    return 1
  }
  echo "$packets"
}
mkdir -p "$work/segments"
rm -f "$work/segments"/*
declare -A fetched=()
segments=0 polls=0 seg_bytes=0
play_end=$((SECONDS + play_secs))
while ((SECONDS < play_end)); do
  polls=$((polls + 1))
  code=$(curl -sS -o "$work/playlist.m3u8" -w '%{http_code}' --max-time 20 "$playlist") || code="error $?"
  [[ $code == 200 ]] || fail "poll $polls of $playlist answered $code"
  head -n 1 "$work/playlist.m3u8" | grep -q '^#EXTM3U' || fail "poll $polls: not an HLS playlist: $(head -c 200 "$work/playlist.m3u8")"
  while read -r uri; do
    uri=${uri%$'\r'}
    [[ -n $uri && $uri != '#'* && -z ${fetched[$uri]:-} ]] || continue
    fetched[$uri]=1
    [[ $uri == http://* ]] && url=$uri || url=$base$uri
    segments=$((segments + 1))
    out=$work/segments/$segments.ts
    code=$(curl -sS -o "$out" -w '%{http_code}' --max-time 30 "$url") || code="error $?"
    [[ $code == 200 ]] || fail "segment $uri answered $code"
    packets=$(ts_check "$out" whole) || fail "segment $uri: $packets"
    seg_bytes=$((seg_bytes + $(stat -c %s "$out")))
  done <"$work/playlist.m3u8"
  sleep 1
done
say "curl player: $polls playlist polls (all 200), $segments segments (all 200, $seg_bytes bytes of whole 0x47 packets)"
((segments >= play_secs / 2)) || fail "only $segments segments in $play_secs s of 1 s segments"
if [[ -n $ffmpeg_pid ]]; then
  for _ in $(seq 60); do
    kill -0 "$ffmpeg_pid" 2>/dev/null || break
    sleep 1
  done
  kill -0 "$ffmpeg_pid" 2>/dev/null && fail "ffmpeg still running 60 s after the curl player finished"
  wait "$ffmpeg_pid" && rc=0 || rc=$?
  ffmpeg_pid=''
  ((rc == 0)) || fail "ffmpeg exited with status $rc: $(tail -n 3 "$work/ffmpeg.log")"
  frames=$(sed -n 's/^frame=//p' "$work/ffmpeg.progress" | tail -n 1)
  out_us=$(sed -n 's/^out_time_us=//p' "$work/ffmpeg.progress" | tail -n 1)
  ((${out_us:-0} >= (play_secs - 1) * 1000000)) || fail "ffmpeg decoded only ${out_us:-0} us of video (${frames:-0} frames)"
  [[ ! -s $work/ffmpeg.log ]] || say "ffmpeg said: $(head -n 3 "$work/ffmpeg.log")"
  say "ffmpeg player: decoded $((out_us / 1000)) ms, $frames frames, exit 0"
fi
stats=$(curl -sS --max-time 5 "$sim_url/sim/stats") || fail "no $sim_url/sim/stats"
stat_of() { grep -o "\"$1\": *[0-9]*" <<<"$stats" | grep -o '[0-9]*$'; }
starts=$(stat_of starts) seg_requests=$(stat_of segment_requests) max_fetches=$(stat_of max_fetches_per_segment)
say "engine (sim): starts $starts, segment_requests $seg_requests, max_fetches_per_segment $max_fetches"
[[ $max_fetches == 1 ]] || fail "max_fetches_per_segment is ${max_fetches:-missing}, expected 1 (each segment fetched once)"
((seg_requests >= segments)) || fail "the engine served $seg_requests segments but the player got $segments"

# --- 6. MPEG-TS through acebox in the guest ---
phase ts
ts_url="$base/ace/getstream?id=$ts_id"
rm -f "$work/ts.bin" "$work/ts.headers"
curl -sS -N -D "$work/ts.headers" -o "$work/ts.bin" --max-time 120 "$ts_url" 2>"$work/ts.curl" &
ts_pid=$!
for _ in $(seq 600); do
  [[ -s $work/ts.bin ]] && break
  kill -0 "$ts_pid" 2>/dev/null || break
  sleep 0.1
done
[[ -s $work/ts.bin ]] || fail "no bytes from $ts_url within 60 s: $(head -n 1 "$work/ts.headers" 2>/dev/null) $(cat "$work/ts.curl")"
sleep 2
kill -0 "$ts_pid" 2>/dev/null || fail "the TS stream ended within 2 s: $(cat "$work/ts.curl")"
stop "$ts_pid"
ts_pid=''
status_line=$(head -n 1 "$work/ts.headers" | tr -d '\r')
[[ $status_line == 'HTTP/1.1 200'* ]] || fail "$ts_url answered $status_line"
packets=$(ts_check "$work/ts.bin") || fail "TS stream: $packets"
# A client starts at a PAT (PID 0) so a player can decode from its first packet.
read -r b1 b2 < <(od -An -tu1 -j1 -N2 "$work/ts.bin")
(((b1 & 0x1f) << 8 | b2)) && fail "the TS stream starts with PID $(((b1 & 0x1f) << 8 | b2)), not a PAT (PID 0)"
say "TS player: $status_line, $(stat -c %s "$work/ts.bin") bytes in ~2 s, $packets whole packets, all with 0x47 sync, PAT first"
status=$(curl -sS --max-time 5 "$base/status") || fail "no $base/status"
grep -qE "\"content_id\": *\"$hls_id\", *\"mode\": *\"hls\"" <<<"$status" || fail "/status lacks the HLS channel: $status"
grep -qE "\"content_id\": *\"$ts_id\", *\"mode\": *\"ts\"" <<<"$status" || fail "/status lacks the TS channel: $status"
say "acebox /status lists both channels (hls and ts)"
phase_end
