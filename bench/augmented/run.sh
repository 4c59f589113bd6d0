#!/usr/bin/env bash
# Issue 15's real-data proof: soft targets that survive augmentation, on Fashion-MNIST.
# A zoo teacher (1-channel stem) is trained with crop and flip; one zoo student is then distilled
# three ways with the same epochs and seed: (a) the teacher online on every augmented batch,
# (b) stored soft targets of K = 4 augmented views per image, replayed, (c) stored soft targets of
# the images without augmentation. Each setup is a folder of configs here:
#   resnet20_resnet8    resnet20 -> resnet8, 55,000 images, 8 epochs (about an hour on 2 cores)
#   resnet110_resnet8   resnet110 -> resnet8, 25,000 images, 30 student epochs (about 90 minutes:
#                       45 of them the teacher's training)
# Usage: bench/augmented/run.sh <setup> [all|teacher|students|collect]
#   (DISTILLERY_BUILD_DIR=build by default). Writes <setup>/results.json. The students' times are
#   the measurement: run them on an otherwise idle machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin="$root/${DISTILLERY_BUILD_DIR:-build}/distillery"
setup=${1:?"give a setup: $(cd "$here" && ls -d */ | tr -d / | tr '\n' ' ')"}
phase=${2:-all}
case $phase in all|teacher|students|collect) ;; *) echo "unknown phase $phase" >&2; exit 1 ;; esac
configs="$here/$setup"
[ -f "$configs/teacher.json" ] || { echo "no setup $configs (want teacher.json there)" >&2; exit 1; }
[ -x "$bin" ] || { echo "run scripts/setup.sh first (no $bin)" >&2; exit 1; }
cd "$root"
case $phase in all|teacher) "$bin" train "$configs/teacher.json" --model teacher ;; esac
case $phase in all|students)
  for run in online stored_views stored_no_augmentation; do "$bin" run "$configs/$run.json"; done ;;
esac
# resnet110_resnet8 answers the issue: its results are also bench/augmented/results.json.
headline=()
[[ $setup == resnet110_resnet8 ]] && headline=(--headline)
case $phase in all|collect) python3 "$here/collect.py" "$configs" "${headline[@]}" ;; esac
