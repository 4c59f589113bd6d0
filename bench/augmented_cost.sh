#!/usr/bin/env bash
# What augmentation costs distillation (issue 15): samples per second of one epoch of the demo's
# student distilled from the ConvNet teacher, with the teacher's logits stored (plain images),
# the teacher online (plain, and on every augmented batch: crop with 2 pixels of padding and
# flips), and stored for K = 1 and K = 4 augmented views replayed; with the one-time cost of
# computing the stored soft targets. One process per row, on this machine, in one run.
#
#   bench/augmented_cost.sh [repeats=3] [limit=0]   # DISTILLERY_BUILD_DIR=<dir> (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
limit=${2:-0}
data=${DISTILLERY_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
build=${DISTILLERY_BUILD_DIR:-build}
cmake --build "$build" --target bench_perf >&2
echo "| row | samples/s per epoch | soft targets, s (once) |"
echo "| --- | --- | --- |"
for row in stored online online-augmented views-1 views-4; do
  "$build"/bench_perf "$row" demo "$data" "$repeats" "$limit" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
once = r.get("soft_targets_seconds")
print("| {} | {:.0f} | {} |".format(r["row"], r["samples_per_second"],
                                   "-" if once is None else "{:.2f}".format(once)))'
done
