#!/usr/bin/env bash
# The parity test (CTest label "parity"): distillery and the plain PyTorch loop, 200 steps of
# the demo's student on Fashion-MNIST in float64, must give the same per-step losses and final
# weights to 1e-9 relative. Exits 77 (skipped) without the data.
#   parity.sh <parity_dump binary> <python with torch> <fashion-mnist dir> <work dir>
set -euo pipefail
dump=$1 python=$2 data=$3 work=$4
if [[ ! -d "$data" ]]; then
  echo "no Fashion-MNIST at $data: skipped"
  exit 77
fi
rm -rf "$work" && mkdir -p "$work"
"$dump" "$data" "$work/float64" 200 0 float64
"$python" "$(dirname "$0")/distill_reference.py" "$data" "$work/float64" \
  --loss-rtol 1e-9 --weight-rtol 1e-9
