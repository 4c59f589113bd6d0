#!/usr/bin/env bash
# distillery against the plain PyTorch loop a user would otherwise write (issue 5): samples per
# second of the teacher pass, hard-label training, online distillation and distillation from
# stored soft targets, for the demo's student and a tiny one, on Fashion-MNIST in memory, in one
# run on this machine. Each measurement is its own process (for its peak memory), distillery and
# PyTorch alternate, and the table goes into the perf section of bench/RESULTS.md.
#
#   bench/perf.sh [repeats=3] [limit=0]      # limit: use only the first N training images
#   DISTILLERY_FASHION_MNIST=<dir> overrides /usr/share/datasets/fashion-mnist;
#   DISTILLERY_BUILD_DIR=<dir> uses another configured build directory than build/.
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
limit=${2:-0}
data=${DISTILLERY_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
build=${DISTILLERY_BUILD_DIR:-build}
[[ -n ${DISTILLERY_BUILD_DIR:-} ]] || scripts/setup.sh
cmake --build "$build" --target bench_perf
results=$(mktemp)
trap 'rm -f "$results"' EXIT
measure() {  # row student [prefetch: also measure distillery with it, right after]
  echo "  $1 / $2" >&2
  "$build"/bench_perf "$1" "$2" "$data" "$repeats" "$limit" >>"$results"
  if [[ ${3:-} == prefetch ]]; then
    # TrainerOptions::prefetch: one intra-op thread fewer plus the thread gathering the next batch.
    echo "  $1 / $2 / prefetch" >&2
    "$build"/bench_perf "$1" "$2" "$data" "$repeats" "$limit" 128 1 >>"$results"
  fi
  .venv/bin/python bench/reference/perf_reference.py "$1" "$2" "$data" "$repeats" "$limit" \
    >>"$results"
}
measure matmul demo
measure teacher demo
for student in demo tiny; do
  measure hard "$student" prefetch
  measure online "$student"
  measure stored "$student" prefetch
done
.venv/bin/python bench/reference/perf_table.py "$results" bench/RESULTS.md \
  "bench/perf.sh $repeats $limit"
