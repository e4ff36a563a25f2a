#!/usr/bin/env bash
# Installs the real LAN clients the discovery tests (tests/lan.rs) run against acebox, and
# minidlna to compare with, on a Debian 12 host, each pinned:
#   - Debian's hdhomerun-config (Silicondust's `hdhomerun_config`), gupnp-tools
#     (`gssdp-discover`), minidlna, vlc-bin and vlc-plugin-base (`cvlc` and its UPnP
#     discovery), iproute2 (`ip netns`), at Debian 12's versions;
#   - async-upnp-client (PyPI; Home Assistant's UPnP library and its `upnp-client` command,
#     with python-didl-lite) in a venv of its own under ~/.cache/acebox.
# Prints the venv's bin directory, for the tests (ACEBOX_UPNP_CLIENT_BIN). Safe to run again;
# does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/install.sh

ASYNC_UPNP_CLIENT_VERSION=0.49.0
PYTHON_DIDL_LITE_VERSION=1.5.2

install_missing lan-setup hdhomerun-config=20220303-3 gupnp-tools=0.12.0-2 \
  minidlna=1.3.0+dfsg-2.2+deb12u1 vlc-bin=3.0.24-0+deb12u1 vlc-plugin-base=3.0.24-0+deb12u1 \
  ip@iproute2 python3-venv

venv=${XDG_CACHE_HOME:-$HOME/.cache}/acebox/async-upnp-client-$ASYNC_UPNP_CLIENT_VERSION
if [[ ! -x $venv/bin/upnp-client ]]; then
  echo "lan-setup: installing async-upnp-client==$ASYNC_UPNP_CLIENT_VERSION into $venv" >&2
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "async-upnp-client==$ASYNC_UPNP_CLIENT_VERSION" "python-didl-lite==$PYTHON_DIDL_LITE_VERSION" >&2
fi
echo "$venv/bin"
