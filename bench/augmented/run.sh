#!/usr/bin/env bash
# Issue 15's real-data proof: soft targets that survive augmentation, on Fashion-MNIST.
# A resnet20 teacher (1-channel stem) is trained with crop and flip; one resnet8 student is then
# distilled three ways with the same epochs and seed: (a) the teacher online on every augmented
# batch, (b) stored soft targets of K = 4 augmented views per image, replayed, (c) stored soft
# targets of the images without augmentation. Writes bench/augmented/results.json.
# Usage: bench/augmented/run.sh   (DISTILLERY_BUILD_DIR=build by default; about an hour on 2 cores)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin="$root/${DISTILLERY_BUILD_DIR:-build}/distillery"
cd "$root"
[ -x "$bin" ] || { echo "run scripts/setup.sh first (no $bin)" >&2; exit 1; }
"$bin" train "$here/teacher.json" --model teacher
for run in online stored_views stored_no_augmentation; do
  "$bin" run "$here/$run.json"
done
python3 "$here/collect.py" runs/augmented "$here/results.json"
