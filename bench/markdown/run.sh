#!/bin/sh
# make bench-markdown: the HTML->Markdown table of issue 4, ours beside
# turndown, when the outside corpora are present (../shared/corpora/markdown).
# Needs python3 and cmark-gfm; the turndown peer is installed outside the
# project as the corpus README says (npm install --prefix /tmp/mdpeers ...).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
CORPUS=${MD_CORPUS:-$ROOT/../shared/corpora/markdown}
if [ ! -d "$CORPUS/harness" ]; then
  echo "bench-markdown: no corpus at $CORPUS; skipped"
  exit 0
fi
command -v cmark-gfm >/dev/null || { echo "bench-markdown: needs cmark-gfm (apt-get install cmark-gfm)"; exit 1; }
[ -f "$BUILD/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD" --target html2md ppod-browserd
python3 "$ROOT/bench/markdown/bench.py" --html2md "$BUILD/html2md" --corpus "$CORPUS" "$@"
# The end-to-end row: source.html through POST /browser/markdown (real daemon, real Chromium).
echo
PPOD_BIN_DIR="$BUILD" node "$ROOT/bench/markdown/e2e.js" "$CORPUS"
