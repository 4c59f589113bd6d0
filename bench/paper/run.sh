#!/usr/bin/env bash
# The paper's experiments (Hinton et al. 2015) on real data; see bench/paper/paper.py.
#
#   bench/paper/run.sh <big-small|omitted-class|ensemble|regularizer|specialists|sweep|all|report>
#                      [--full | --smoke] [--seeds N] [--mnist DIR | --data DIR]
#                      [--teacher-jitter N] [--temperature T] [--alpha A]
#
# Sets the project up (scripts/setup.sh), builds the distillery program, runs the experiment and
# rewrites bench/paper/RESULTS.md and bench/paper/plots/. DISTILLERY_BUILD_DIR=<dir> uses another
# configured build directory than build/ (and skips the set-up).
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 bench/paper/paper.py --check-args "$@"  # a usage error before minutes of set-up
[[ ${1:-} == report ]] && exec python3 bench/paper/paper.py "$@"  # no runs: no set-up
build=${DISTILLERY_BUILD_DIR:-build}
[[ -n ${DISTILLERY_BUILD_DIR:-} ]] || scripts/setup.sh
cmake --build "$build" --target distillery_cli
exec python3 bench/paper/paper.py --build "$build" "$@"
