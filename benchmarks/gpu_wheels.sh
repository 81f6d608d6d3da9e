#!/usr/bin/env bash
# Download, here (where PyPI answers), the wheels that benchmarks/gpu_check.sh installs on a GPU machine that reaches
# no package index: for Python 3.12 on x86-64 Linux (this workplace's nvidia-h200 image; docs/gpu.md), into .whl/
# (ignored by git; carry it with the working tree). About 2 MB.
#
#   bash benchmarks/gpu_wheels.sh            # into .whl
#   bash benchmarks/gpu_wheels.sh DIR        # elsewhere
#
# Only what that image lacks, one version each, without their dependencies (--no-deps: the image holds torch,
# torchaudio, numpy, scipy, pytest):
#   nnAudio       the package's own dependency;
#   hear21passt   the reference of the throughput step (its timm and torchaudio extension are stood in for by
#                 tests/parity/oracle.py);
#   hearvalidator the validator step (its TensorFlow is stood in for by gpu_check.py);
#   soundfile, cffi, pycparser   tests/harness (whose verdict rule the validator step uses) imports soundfile.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.whl}
python=${PYTHON:-python3}
wheels=(nnAudio==0.3.4 hear21passt==0.0.26 hearvalidator==2021.0.6 soundfile==0.14.0 cffi==2.1.1 pycparser==3.12)
platforms=()
for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$tag")
done
# --ignore-requires-python: hearvalidator declares Python < 3.9 and runs on 3.12 (docs/harness.md).
"$python" -m pip download --no-deps --only-binary=:all: --ignore-requires-python --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d "$dest" "${wheels[@]}"
ls -l "$dest"
