#!/usr/bin/env bash
# Regenerates the GEAR gallery of docs/gear.md from the repository root:
#   bash docs/gallery/regenerate.sh [PYTHON_BIN_DIR]
# PYTHON_BIN_DIR holds hear-gear (default .venv/bin). The hearbaseline runs need, in that environment,
# `pip install --no-deps hearbaseline==2021.1.1` and librosa 0.9 (hearbaseline calls librosa's old API);
# they are skipped when hearbaseline is not importable.
set -euo pipefail
BIN=${1:-.venv/bin}
OUT=docs/gallery
MODULES=(lowlevel_mel lowlevel_cqt handcrafted)
if "$BIN/python" -c "import hearbaseline" 2>/dev/null; then
  MODULES=(hearbaseline "${MODULES[@]}")
fi
for preset in paper perceptual; do
  runs=()
  for module in "${MODULES[@]}"; do
    "$BIN/hear-gear" gear "$module" --preset "$preset" --out "$OUT/$preset/$module" --no-progress
    rm -f "$OUT/$preset/$module"/isomap_*.png  # single-parameter copies of isomap.png: kept out of the repository
    runs+=("$OUT/$preset/$module")
  done
  "$BIN/hear-gear" gear-compare "${runs[@]}" --out "$OUT/$preset/compare"
done
