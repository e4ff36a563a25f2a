#!/usr/bin/env bash
# The image test's third job: boots the guest under qemu-system-aarch64 (QEMU virt, TCG, 2 CPUs,
# 512 MB, user-mode networking) as a daemon, and waits until acebox in it answers /status on the
# host port forwarded to its 6880. The guest's acebox is told to use the engine at a free host
# loopback port (10.0.2.2:<port> from the guest), where nothing needs to listen yet. Prints
# both host addresses:
#   scripts/image/boot.sh <vmlinuz> <initramfs.gz>  ->  <acebox addr> <engine addr>
# qemu's pid is left in target/image/qemu.pid (the VM runs until killed; it is killed here if
# acebox never answers), the guest's console in target/image/console.log.
# Environment: IMAGE_BOOT_TIMEOUT (s, default 180), IMAGE_HOST_PORT (default: a free port).
set -euo pipefail
cd "$(dirname "$0")/../.."
(($# == 2)) || { echo "usage: scripts/image/boot.sh <vmlinuz> <initramfs.gz>" >&2; exit 2; }
vmlinuz=$1 initramfs=$2
work=target/image
console=$work/console.log pidfile=$work/qemu.pid
boot_timeout=${IMAGE_BOOT_TIMEOUT:-180}
fail() {
  echo "image-test: FAIL: $*" >&2
  exit 1
}
qemu_pid() { cat "$pidfile" 2>/dev/null; }
trap 'rc=$?; ((rc == 0)) || kill "$(qemu_pid)" 2>/dev/null || true' EXIT

# A port nothing listens on, other than $1, below Linux's ephemeral range (32768 and up), so no
# connection another program opens meanwhile takes it.
free_port() {
  local port
  for _ in $(seq 20); do
    port=$((20000 + RANDOM % 12000))
    [[ $port != "${1:-}" ]] && ! (: >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && echo "$port" && return 0
  done
  fail "no free port found"
}

engine_port=$(free_port)
for try in 1 2 3 4 5; do
  host_port=${IMAGE_HOST_PORT:-$(free_port "$engine_port")}
  rm -f "$pidfile"
  : >"$console"
  # The guest's NIC is virtio-mmio (QEMU virt's own bus): no PCI enumeration, no option ROM.
  qemu-system-aarch64 -M virt -cpu cortex-a57 -m 512 -smp 2 -no-reboot \
    -display none -monitor none -serial "file:$console" -daemonize -pidfile "$pidfile" \
    -kernel "$vmlinuz" -initrd "$initramfs" \
    -append "console=ttyAMA0 panic=-1 simport=$engine_port" \
    -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$host_port-:6880" -device virtio-net-device,netdev=n0 \
    </dev/null 2>"$work/qemu.err" && break
  err=$(tail -n 3 "$work/qemu.err")
  [[ -z ${IMAGE_HOST_PORT:-} && $err == *'Could not set up host forwarding'* && $try -lt 5 ]] ||
    fail "qemu did not start${err:+: $err}"
  echo "image-test: port $host_port was taken meanwhile; trying another" >&2
done
base=http://127.0.0.1:$host_port
echo "image-test: qemu pid $(qemu_pid), console in $console, acebox forwarded to $base" >&2

deadline=$((SECONDS + boot_timeout))
until grep -q 'acebox listening on' "$console" &&
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base/status") == 200 ]]; do
  if grep -qE 'image-init: FATAL|acebox exited with status|Kernel panic' "$console"; then
    fail "the guest failed: $(tr -d '\r' <"$console" | grep -m1 -E 'image-init: FATAL|acebox exited|Kernel panic')"
  fi
  kill -0 "$(qemu_pid)" 2>/dev/null || fail "qemu exited before acebox answered"
  ((SECONDS < deadline)) || fail "acebox in the guest did not answer $base/status within $boot_timeout s"
  sleep 1
done
echo "image-test: guest up: $(tr -d '\r' <"$console" | grep -m1 'acebox listening on')" >&2
echo "127.0.0.1:$host_port 127.0.0.1:$engine_port"
