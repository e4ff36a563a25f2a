#!/usr/bin/env bash
# Installs Debian/Ubuntu packages with apt-get, through sudo when not root, and says why it
# cannot when the host has no apt-get (the caller names what to install by hand):
#   scripts/apt-install.sh <who> <package>...
# <who> prefixes its messages (setup, fuzz, try...). Refreshes the package indexes first; a
# stale index is a warning, a failed install is an error. Waits up to 120 s for a dpkg lock
# another install holds.
set -euo pipefail
(($# >= 2)) || { echo "usage: scripts/apt-install.sh <who> <package>..." >&2; exit 2; }
who=$1
shift
if ! command -v apt-get >/dev/null 2>&1; then
  echo "$who: not a Debian/Ubuntu host (no apt-get); install by hand: $*" >&2
  exit 1
fi
sudo=()
((EUID == 0)) || sudo=(sudo)
echo "$who: installing $*" >&2
"${sudo[@]}" apt-get update -qq -o DPkg::Lock::Timeout=120 || echo "$who: some package indexes did not refresh; going on" >&2
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq -o DPkg::Lock::Timeout=120 --no-install-recommends "$@" >/dev/null ||
  { echo "$who: apt-get could not install $*" >&2; exit 1; }
