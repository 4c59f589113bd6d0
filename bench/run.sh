#!/usr/bin/env bash
# Builds and runs the epoch benchmark on Fashion-MNIST; writes bench/RESULTS.md.
#   bench/run.sh [repeats=3] [train_limit=0]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --build build --target bench_epoch
build/bench_epoch configs/fashion_mnist.json bench/RESULTS.md "${1:-3}" ${2:-}
