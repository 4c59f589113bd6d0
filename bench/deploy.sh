#!/usr/bin/env bash
# Issue 16's footprint table: for the demo's teacher and student (Fashion-MNIST) and a CIFAR-size
# pair (resnet32x4 -> resnet8x4 at 100 classes, initial weights: the timings do not depend on
# them), the model file and ONNX file sizes, single-image latency p50 / p99 and batch-64
# throughput on one thread in LibTorch (bench_deploy) and onnxruntime
# (bench/deploy/bench_onnxruntime.py), and the Fashion-MNIST pair's test errors in LibTorch
# (`distillery evaluate`) and in onnxruntime (bench/deploy/evaluate_onnx.py). One run on this
# machine; writes bench/deploy/results.json and bench/deploy/RESULTS.md.
#
#   bench/deploy.sh      # DISTILLERY_BUILD_DIR=<dir> uses another configured build than build/
#   (runs scripts/demo.sh first when runs/fashion_mnist has no teacher.pt / student_distilled.pt)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${DISTILLERY_BUILD_DIR:-build}
[[ -n ${DISTILLERY_BUILD_DIR:-} ]] || scripts/setup.sh
cmake --build "$build" --target bench_deploy distillery_cli
runs=runs/fashion_mnist
[[ -f $runs/teacher.pt && -f $runs/student_distilled.pt ]] || scripts/demo.sh
out=runs/deploy
mkdir -p "$out"
python=.venv/bin/python
measure() {  # name source
  echo "  $1" >&2
  "$build"/bench_deploy "$out" "$1" "$2" >"$out/$1.libtorch.json"
  "$python" bench/deploy/bench_onnxruntime.py "$out/$1.onnx" >"$out/$1.onnxruntime.json"
}
measure fashion_mnist_teacher "$runs/teacher.pt"
measure fashion_mnist_student "$runs/student_distilled.pt"
measure cifar100_resnet32x4 zoo:resnet32x4:3x32x32:100
measure cifar100_resnet8x4 zoo:resnet8x4:3x32x32:100
for pair in teacher:fashion_mnist_teacher student_distilled:fashion_mnist_student; do
  "$build"/distillery evaluate "$runs/${pair%%:*}.pt" --json >"$out/${pair#*:}.evaluate.json"
  "$python" bench/deploy/evaluate_onnx.py "$out/${pair#*:}.onnx" >"$out/${pair#*:}.evaluate_onnx.json"
done
"$python" bench/deploy/collect.py "$out" bench/deploy
