# Sourced (never run) by the scripts that install what acebox's build and tests need: setup.sh,
# cross-setup.sh, musl-setup.sh, fuzz.sh, try.sh, install-tool.sh, the image test. It owns the
# one way each install step is done on a Debian/Ubuntu host, and the version pins they share:
#   as_root CMD...                 CMD as root (through sudo when not root)
#   apt_update WHO                 refresh the package indexes
#   apt_update_once WHO            refresh them unless this script already did
#   apt_install WHO PKG...         apt-get install, with a clear error off Debian or on failure
#   install_missing WHO SPEC...    apt_install what of SPEC is missing (see missing_packages)
#   add_arch WHO ARCH              let apt-get download ARCH packages (dpkg --add-architecture)
#   unpack_debs WHO DIR PKG...     apt-get download PKG... (name:arch=version) and unpack into DIR
#   debian_rust                    whether /usr/bin/rustc is Debian's Rust 1.85 (the MSRV)
#   use_debian_rust                build acebox with it (RUSTC, RUSTDOC)
#   use_machine_rust               build with the machine's own toolchain (rustup's cargo on PATH)
# WHO prefixes the messages (setup, fuzz, try...). Sourcing it installs nothing and changes no
# setting; it never picks what to install, which the sourcing script says.

# Debian 12's Rust 1.85 (rustc-web, cargo-web, its standard libraries and sources): the MSRV,
# the compiler of the cross and musl builds. Every package of it is installed at this version.
ACEBOX_RUST_DEB=1.85.0+dfsg3-1~deb12u3

as_root() {
  if ((EUID == 0)); then "$@"; else sudo "$@"; fi
}

_apt_updated=''
apt_update() {
  _apt_updated=1
  as_root apt-get update -qq -o DPkg::Lock::Timeout=120 || echo "$1: some package indexes did not refresh; going on" >&2
}

apt_update_once() {
  [[ -n $_apt_updated ]] || apt_update "$1"
}

# Refreshes the package indexes first; a stale index is a warning, a failed install an error.
# Waits up to 120 s for a dpkg lock another install holds.
apt_install() {
  local who=$1
  shift
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: not a Debian/Ubuntu host (no apt-get); install by hand: $*" >&2
    return 1
  fi
  echo "$who: installing $*" >&2
  apt_update "$who"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq -o DPkg::Lock::Timeout=120 --no-install-recommends "$@" >/dev/null ||
    { echo "$who: apt-get could not install $*" >&2; return 1; }
}

# Prints, one a line, the packages of SPEC... that are missing:
#   pkg           missing unless dpkg has it installed
#   pkg=version   missing unless dpkg has exactly that version installed
#   command@pkg   missing when `command` is not on PATH (installed any way at all)
missing_packages() {
  local spec
  for spec; do
    case $spec in
      *@*) command -v "${spec%@*}" >/dev/null 2>&1 || echo "${spec#*@}" ;;
      *=*) [[ $(dpkg-query -W -f '${Version}' "${spec%%=*}" 2>/dev/null) == "${spec#*=}" ]] || echo "$spec" ;;
      *) dpkg -s "$spec" >/dev/null 2>&1 || echo "$spec" ;;
    esac
  done
}

install_missing() {
  local who=$1 need
  shift
  mapfile -t need < <(missing_packages "$@")
  ((${#need[@]} == 0)) || apt_install "$who" "${need[@]}"
}

add_arch() {
  local who=$1 arch=$2
  dpkg --print-foreign-architectures | grep -qx "$arch" && return 0
  echo "$who: adding the $arch architecture to dpkg (for apt-get download)" >&2
  as_root dpkg --add-architecture "$arch"
  apt_update "$who"
}

# Downloads into a scratch directory (as this user: apt's sandbox user could not write there)
# and unpacks every package into DIR, which is left as it was on failure.
unpack_debs() {
  local who=$1 dir=$2 tmp deb
  shift 2
  echo "$who: downloading $*" >&2
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User="$(id -un)" "$@" >&2); then
    rm -rf "$tmp"
    return 1
  fi
  mkdir -p "$dir"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$dir"; done
  rm -rf "$tmp"
}

debian_rust() {
  /usr/bin/rustc --version 2>/dev/null | grep -q '^rustc 1\.85\.'
}

use_debian_rust() {
  export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
}

# Drops the compiler, flags and target a caller chose for acebox (scripts/test.sh pins Debian's
# 1.85), so cargo and rustc are the machine's own toolchain's.
use_machine_rust() {
  unset RUSTC RUSTDOC RUSTFLAGS RUSTC_BOOTSTRAP CARGO_TARGET_DIR CARGO_BUILD_TARGET
}
