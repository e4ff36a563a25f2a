#!/usr/bin/env bash
# Puts the text of BLOCK-FILE into FILE between the lines `<!-- NAME:begin ...` and
# `<!-- NAME:end -->` (the block itself carries both markers), replacing what was there; a
# FILE without the markers gets the block appended under HEADING. Used by bench.sh and soak.sh
# to rewrite their figures in BENCHMARKS.md without touching the text around them.
#   scripts/write-block.sh NAME BLOCK-FILE FILE [HEADING]
set -euo pipefail
(($# >= 3)) || { echo "usage: scripts/write-block.sh NAME BLOCK-FILE FILE [HEADING]" >&2; exit 2; }
name=$1 block=$2 file=$3 heading=${4:-}
if grep -q "<!-- $name:begin" "$file"; then
  awk -v block="$block" -v begin="<!-- $name:begin" -v end="<!-- $name:end -->" '
    index($0, begin) == 1 { while ((getline line < block) > 0) print line; skip = 1; next }
    index($0, end) == 1 { skip = 0; next }
    !skip
  ' "$file" >"$block.new"
  cat "$block.new" >"$file"
  rm -f "$block.new"
else
  { echo; [[ -z $heading ]] || { echo "$heading"; echo; }; cat "$block"; } >>"$file"
fi
