#!/usr/bin/env bash
# Installs the search test's real client, the `acestream-search` package from PyPI, pinned, into
# a venv of its own under ~/.cache/acebox (tests/search.rs runs it against the engine simulator):
#   - acestream-search 1.6.4 (`acestream_search`), which searches with the current form, /search;
#   - acestream-search 1.4.1 (`acestream_search_legacy`), which searches with the older form,
#     /server/api and an access token;
#   - lxml, which both need for their guide, as a prebuilt wheel.
# Prints the venv's bin directory. Safe to run again; does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/install.sh

ACESTREAM_SEARCH_VERSION=1.6.4
ACESTREAM_SEARCH_LEGACY_VERSION=1.4.1
LXML_VERSION=5.3.0
pins="acestream-search==$ACESTREAM_SEARCH_VERSION acestream-search==$ACESTREAM_SEARCH_LEGACY_VERSION lxml==$LXML_VERSION"

install_missing search-setup python3-venv

# tests/search.rs looks here (XDG_CACHE_HOME or ~/.cache, then acebox/acestream-search).
venv=${XDG_CACHE_HOME:-$HOME/.cache}/acebox/acestream-search
if [[ $(cat "$venv/pins" 2>/dev/null) != "$pins" || ! -x $venv/bin/acestream_search_legacy ]]; then
  echo "search-setup: installing $pins into $venv" >&2
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  pip=("$venv/bin/pip" install -q --disable-pip-version-check --only-binary=lxml)
  "${pip[@]}" "lxml==$LXML_VERSION" "acestream-search==$ACESTREAM_SEARCH_VERSION" >&2
  # The older release beside it, run with its own package first on the path.
  "${pip[@]}" --no-deps --target "$venv/legacy" "acestream-search==$ACESTREAM_SEARCH_LEGACY_VERSION" >&2
  cat >"$venv/bin/acestream_search_legacy" <<EOF
#!/bin/sh
PYTHONPATH="$venv/legacy" exec "$venv/bin/python" -m acestream_search.acestream_search "\$@"
EOF
  chmod +x "$venv/bin/acestream_search_legacy"
  echo "$pins" >"$venv/pins"
fi
echo "$venv/bin"
