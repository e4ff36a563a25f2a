#!/usr/bin/env bash
# The image test's second job: the guest's initramfs. Puts busybox, the static aarch64 acebox
# at /usr/bin/acebox, image/init as /init and the kernel modules virtio networking needs into a
# gzipped newc cpio archive, and prints the kernel image to boot it with:
#   scripts/image/initramfs.sh <kernel package dir> <busybox dir> <acebox> <out.gz>  ->  <vmlinuz>
# (the two directories are what scripts/image/guest-packages.sh prints). Modules built into the
# kernel are left out; the others are decompressed (busybox insmod reads plain .ko only) and
# listed in /etc/image-modules in load order, dependencies first. Stages under
# target/image/initramfs/.
set -euo pipefail
cd "$(dirname "$0")/../.."
export LC_ALL=C
(($# == 4)) || { echo "usage: scripts/image/initramfs.sh <kernel dir> <busybox dir> <acebox> <out.gz>" >&2; exit 2; }
kdir=$1 bdir=$2 acebox=$3 out=$4
# The guest's NIC is virtio-mmio (QEMU virt's own bus, scripts/image/boot.sh): no PCI.
net_modules=(virtio_mmio virtio_net)
fail() {
  echo "image-test: FAIL: $*" >&2
  exit 1
}

moddir=$(find "$kdir/lib/modules" "$kdir/usr/lib/modules" -mindepth 1 -maxdepth 1 -type d -print -quit 2>/dev/null) || true
[[ -n $moddir ]] || fail "no lib/modules/<version> in $kdir"
moddir=${moddir%/}
uname_r=${moddir##*/}
vmlinuz=$kdir/boot/vmlinuz-$uname_r
[[ -f $vmlinuz ]] || fail "no $vmlinuz"
[[ -x $bdir/bin/busybox ]] || fail "no bin/busybox in $bdir"

stage=target/image/initramfs
rm -rf "$stage"
mkdir -p "$stage"/{bin,usr/bin,etc,dev,proc,sys,tmp,lib/modules}
cp "$bdir/bin/busybox" "$stage/bin/busybox"
cp "$acebox" "$stage/usr/bin/acebox"
cp image/init "$stage/init"
chmod 755 "$stage/init" "$stage/bin/busybox" "$stage/usr/bin/acebox"
# The kernel opens /dev/console for /init before anything is mounted.
((EUID == 0)) && mknod -m 600 "$stage/dev/console" c 5 1

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
# Adds module $1 after its dependencies, read from its own depends= field.
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
echo "image-test: kernel $uname_r; modules loaded in the guest: ${loaded[*]:-none}; built in: ${compiled_in[*]:-none}" >&2

(cd "$stage" && find . -print0 | sort -z | cpio --null -o -H newc -R 0:0 --quiet) | gzip -6 >"$out"
echo "image-test: initramfs $(stat -c %s "$out") bytes" >&2
echo "$vmlinuz"
