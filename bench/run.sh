#!/usr/bin/env bash
# Builds and runs the benchmarks; each writes its section of bench/RESULTS.md.
#   bench/run.sh [repeats=3] [train_limit=0]
#   - bench_epoch: one distillation epoch on Fashion-MNIST (hard labels / stored / online);
#   - bench_specialists: cases per second of the specialists' combination, batched vs a loop.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --build build --target bench_epoch bench_specialists
build/bench_epoch configs/fashion_mnist.json bench/RESULTS.md "${1:-3}" ${2:-}
build/bench_specialists bench/RESULTS.md 10000 1000 "${1:-3}"
