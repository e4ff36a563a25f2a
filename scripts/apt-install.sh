#!/usr/bin/env bash
# Installs Debian/Ubuntu packages, for a script that does not source scripts/lib/install.sh
# (scripts/bench.sh), or by hand:
#   scripts/apt-install.sh <who> <package>...
# It is lib/install.sh's apt_install: <who> prefixes the messages; a stale package index is a
# warning, a failed install (or a host without apt-get) an error.
set -euo pipefail
(($# >= 2)) || { echo "usage: scripts/apt-install.sh <who> <package>..." >&2; exit 2; }
. "$(dirname "$0")/lib/install.sh"
apt_install "$@"
