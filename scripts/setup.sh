#!/usr/bin/env bash
# Installs everything distillery needs on a fresh Debian 12/13 machine and builds it in
# build/ (Release). Idempotent: a second run installs nothing and only rebuilds what changed.
#
#   scripts/setup.sh            # install + configure + build
#   SKIP_APT=1 scripts/setup.sh # when the system packages are already there (no root)
#
# LibTorch comes from `pip install torch==2.13.0` (CPU build) in .venv/. To use an official
# LibTorch instead: cmake -S . -B build -DCMAKE_PREFIX_PATH=/path/to/libtorch
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(build-essential cmake ninja-build python3-venv pkg-config gnuplot-nox
              libcli11-dev libspdlog-dev nlohmann-json3-dev libgtest-dev zlib1g-dev libopencv-core-dev
              libopencv-imgcodecs-dev libopencv-imgproc-dev libonnx-dev libprotobuf-dev
              dataset-fashion-mnist)
TORCH_VERSION=2.13.0
# The ONNX checker and runtime that the export tests run the exported files in (PyPI).
ONNX_VERSION=1.23.2
ONNXRUNTIME_VERSION=1.32.0

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 && -z "${SKIP_APT:-}" ]]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "setup: creating .venv with torch==$TORCH_VERSION (CPU)"
  python3 -m venv .venv
  # Pinned exactly: a looser requirement pulls a CUDA build of several GB. Where the default
  # index would serve a CUDA build, set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu.
  INDEX=()
  [[ -n "${TORCH_INDEX_URL:-}" ]] && INDEX=(--index-url "$TORCH_INDEX_URL")
  .venv/bin/pip install -q "${INDEX[@]}" "torch==$TORCH_VERSION" numpy
fi

if ! .venv/bin/python -c "import onnx, onnxruntime, sys; sys.exit(onnx.__version__ != '$ONNX_VERSION' or onnxruntime.__version__ != '$ONNXRUNTIME_VERSION')" 2>/dev/null; then
  echo "setup: installing onnx==$ONNX_VERSION onnxruntime==$ONNXRUNTIME_VERSION into .venv"
  .venv/bin/pip install -q "onnx==$ONNX_VERSION" "onnxruntime==$ONNXRUNTIME_VERSION"
fi

TORCH_PREFIX=$(.venv/bin/python -c 'import torch; print(torch.utils.cmake_prefix_path)')
GENERATOR=()
command -v ninja >/dev/null && GENERATOR=(-G Ninja)
if [[ ! -f build/CMakeCache.txt ]]; then
  cmake -S . -B build "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$TORCH_PREFIX"
fi
cmake --build build --parallel "$(nproc)"
