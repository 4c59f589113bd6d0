#!/usr/bin/env bash
# scripts/fetch_data.sh without the network: argument handling, a download whose checksum is
# wrong (served from a local file:// "mirror"), and the idempotent path (data already there).
#
#   tests/scripts/test_fetch_data.sh path/to/scripts/fetch_data.sh
set -uo pipefail
SCRIPT=${1:?usage: test_fetch_data.sh path/to/fetch_data.sh}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failures=0

# expect NAME EXPECTED_STATUS EXPECTED_STDERR_LINE -- COMMAND...
expect() {
  local name=$1 status=$2 line=$3
  shift 4
  local actual
  "$@" >"$WORK/out" 2>"$WORK/err"
  actual=$?
  if [[ $actual != "$status" ]] || ! grep -qxF -- "$line" "$WORK/err" "$WORK/out"; then
    echo "FAIL $name: status $actual (expected $status); output:" >&2
    cat "$WORK/out" "$WORK/err" >&2
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}

usage="usage: scripts/fetch_data.sh [fashion-mnist|cifar10|cifar100] [target_dir]"
expect "too many arguments" 2 "$usage" -- "$SCRIPT" cifar10 a b
expect "help" 2 "$usage" -- "$SCRIPT" --help
expect "unknown data set" 2 \
  'error: unknown data set "cifar-10" (known: fashion-mnist, cifar10, cifar100)' -- "$SCRIPT" cifar-10

# A "mirror" serving an archive that is not the published one.
mkdir -p "$WORK/mirror" "$WORK/src/cifar-10-batches-bin"
echo "not cifar" >"$WORK/src/cifar-10-batches-bin/test_batch.bin"
tar -czf "$WORK/mirror/cifar-10-binary.tar.gz" -C "$WORK/src" cifar-10-batches-bin
actual=$(md5sum "$WORK/mirror/cifar-10-binary.tar.gz" | cut -d' ' -f1)
expect "CIFAR-10 checksum mismatch" 1 \
  "error: cifar-10-binary.tar.gz: MD5 is $actual, expected c32a1d4ab5d03f1284b67883e8d87530 (a damaged download or another file; run the script again, or set CIFAR_URL to another mirror)" \
  -- env CIFAR_URL="file://$WORK/mirror" "$SCRIPT" cifar10 "$WORK/c10"
if [[ -e $WORK/c10/cifar-10-binary.tar.gz.part || -e $WORK/c10/cifar-10-binary.tar.gz || -e $WORK/c10/cifar-10-batches-bin ]]; then
  echo "FAIL the refused download left files behind: $(ls -A "$WORK/c10")" >&2
  failures=$((failures + 1))
fi
cp "$WORK/mirror/cifar-10-binary.tar.gz" "$WORK/mirror/cifar-100-binary.tar.gz"
expect "CIFAR-100 checksum mismatch" 1 \
  "error: cifar-100-binary.tar.gz: MD5 is $actual, expected 03b5dce01913d631647c71ecec9e9cb8 (a damaged download or another file; run the script again, or set CIFAR_URL to another mirror)" \
  -- env CIFAR_URL="file://$WORK/mirror" "$SCRIPT" cifar100 "$WORK/c100"
expect "unreachable mirror" 1 \
  "error: cannot download file://$WORK/nowhere/cifar-10-binary.tar.gz (check the network, or set CIFAR_URL to another mirror)" \
  -- env CIFAR_URL="file://$WORK/nowhere" "$SCRIPT" cifar10 "$WORK/c10"

# Data already in place (files of the right sizes): nothing is fetched, even from a bad mirror.
mkdir -p "$WORK/have/cifar-100-binary"
truncate -s 153700000 "$WORK/have/cifar-100-binary/train.bin"
truncate -s 30740000 "$WORK/have/cifar-100-binary/test.bin"
touch "$WORK/have/cifar-100-binary/fine_label_names.txt" "$WORK/have/cifar-100-binary/coarse_label_names.txt"
expect "CIFAR-100 already there" 0 "ok      $WORK/have/cifar-100-binary" \
  -- env CIFAR_URL="file://$WORK/nowhere" "$SCRIPT" cifar100 "$WORK/have"
# A file of another size is fetched again (and here refused by the checksum).
truncate -s 100 "$WORK/have/cifar-100-binary/test.bin"
expect "CIFAR-100 damaged file refetched" 1 \
  "error: cifar-100-binary.tar.gz: MD5 is $actual, expected 03b5dce01913d631647c71ecec9e9cb8 (a damaged download or another file; run the script again, or set CIFAR_URL to another mirror)" \
  -- env CIFAR_URL="file://$WORK/mirror" "$SCRIPT" cifar100 "$WORK/have"

if [[ $failures -gt 0 ]]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "all passed"
