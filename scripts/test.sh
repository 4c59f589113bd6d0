#!/usr/bin/env bash
# Builds distillery (running set-up when needed) and runs the whole test suite with CTest.
# Exits non-zero on any failure.
#
#   scripts/test.sh            # everything
#   scripts/test.sh -L unit    # extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
ctest --output-on-failure --timeout 900 "$@"
