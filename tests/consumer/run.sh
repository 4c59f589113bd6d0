#!/usr/bin/env bash
# Installs the built distillery into a scratch prefix, builds tests/consumer against it with
# find_package(distillery), and runs the example it builds on a few real Fashion-MNIST images.
# Exits 77 (skipped) when the data set is not installed.
#
#   tests/consumer/run.sh <build dir> <LibTorch cmake prefix> [data dir]
set -euo pipefail
build=$(cd "$1" && pwd)
torch_prefix=$2
data=${3:-/usr/share/datasets/fashion-mnist}
here=$(cd "$(dirname "$0")" && pwd)
if [[ ! -e $data/train-images-idx3-ubyte && ! -e $data/train-images-idx3-ubyte.gz ]]; then
  echo "no Fashion-MNIST in $data: skipped"
  exit 77
fi
work="$build/consumer"
rm -rf "$work/install" "$work/out"
mkdir -p "$work/out"
cmake --install "$build" --prefix "$work/install" >/dev/null
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$here" -B "$work/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/install;$torch_prefix" >/dev/null
cmake --build "$work/build" -j2
"$work/build/custom_model" "$data" 1 2000 "$work/out" | tee "$work/out/stdout.txt"
grep -q '^teacher: [0-9]* test errors, 421642 parameters, 4241152 multiply-adds per image$' \
  "$work/out/stdout.txt"
grep -q '^student: [0-9]* test errors, 5122 parameters, 1662240 multiply-adds per image$' \
  "$work/out/stdout.txt"
test -s "$work/out/student.pt" && test -s "$work/out/soft_targets.bin"
echo "consumer: built against the installed package and ran"
