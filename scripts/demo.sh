#!/usr/bin/env bash
# The main job on real data: distil a ConvNet teacher into a small MLP student on
# Fashion-MNIST (configs/fashion_mnist.json), comparing it with the same student trained
# from scratch. Runs set-up first when needed. Results: runs/fashion_mnist/results.json.
#
#   scripts/demo.sh [config.json] [extra distillery run flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
CONFIG=${1:-configs/fashion_mnist.json}
shift || true
exec build/distillery run "$CONFIG" "$@"
