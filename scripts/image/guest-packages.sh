#!/usr/bin/env bash
# The image test's first job: what it needs from apt. Installs the host's tools (qemu-system-arm,
# cpio, curl, gzip) when missing, and downloads and unpacks the guest's two arm64 packages,
# Debian's kernel (linux-image-arm64's current linux-image-<abi>-arm64) and busybox-static,
# once, under target/image/pkgs/ (nothing arm64 is installed). Prints the two directories:
#   scripts/image/guest-packages.sh    ->  <kernel package dir> <busybox dir>
# Exit 1 when apt cannot resolve or download them, 2 when the host tools cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/install.sh
pkgs=target/image/pkgs
mkdir -p "$pkgs"

install_missing image-test qemu-system-aarch64@qemu-system-arm cpio@cpio curl@curl gzip@gzip || exit 2
add_arch image-test arm64

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
# Unpacks one arm64 package into $pkgs/<name>_<version>, once; prints the directory.
fetch() {
  local pkg=$1 ver=$2 dir
  dir=$pkgs/${pkg}_${ver//:/_}
  if [[ ! -f $dir/.unpacked ]]; then
    rm -rf "$dir"
    unpack_debs image-test "$dir" "$pkg:arm64=$ver" || return 1
    touch "$dir/.unpacked"
  fi
  echo "$dir"
}
# What apt resolved last time is kept in $pkgs/resolved and reused while the package indexes
# are unchanged (apt-cache takes a second per call).
resolved=$pkgs/resolved
resolve_and_fetch() {
  local kpkg='' kver='' bver='' kdir bdir
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
  echo "image-test: kernel package $kpkg $kver, busybox-static $bver" >&2
  echo "$kdir $bdir"
}
if ! resolve_and_fetch; then
  # No arm64 index yet, or a stale one naming files the mirror no longer has.
  apt_update_once image-test
  rm -f "$resolved"
  resolve_and_fetch || {
    echo "image-test: FAIL: cannot resolve or download linux-image-arm64:arm64 and busybox-static:arm64 from apt" >&2
    exit 1
  }
fi
