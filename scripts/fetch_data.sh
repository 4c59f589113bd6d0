#!/usr/bin/env bash
# Downloads a data set distillery reads, verifies it and unpacks it where the readers look.
#
#   scripts/fetch_data.sh fashion-mnist [target_dir]   # default: data/fashion-mnist
#   scripts/fetch_data.sh cifar10 [target_dir]         # default: data/cifar10
#   scripts/fetch_data.sh cifar100 [target_dir]        # default: data/cifar100
#   scripts/fetch_data.sh path/to/dir                  # Fashion-MNIST into that folder (as before)
#
# Fashion-MNIST (Xiao, Rasul & Vollgraf 2017; for machines without Debian's
# dataset-fashion-mnist package): each file is verified by the SHA-256 of its uncompressed
# content (the same bytes whatever the gzip settings of the mirror).
# CIFAR-10 / CIFAR-100 (Krizhevsky 2009): the binary archive from the authors' page is verified
# by the MD5 published there, then only the expected files are unpacked into
# target_dir/cifar-10-batches-bin or target_dir/cifar-100-binary (the archive is removed).
# Idempotent: data already in place (right checksums, or for CIFAR the right file sizes) is not
# fetched again. FASHION_MNIST_URL and CIFAR_URL name another mirror (any URL curl reads).
#
# Then point the config's data.dir (or `distillery run --data`) at target_dir.
set -euo pipefail

usage() {
  echo "usage: scripts/fetch_data.sh [fashion-mnist|cifar10|cifar100] [target_dir]" >&2
  exit 2
}

fetch_fashion_mnist() {
  local target=$1
  local base_url=${FASHION_MNIST_URL:-http://fashion-mnist.s3-website.eu-central-1.amazonaws.com}
  declare -A sha256=(
    [train-images-idx3-ubyte]=c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888
    [train-labels-idx1-ubyte]=bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9
    [t10k-images-idx3-ubyte]=5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b
    [t10k-labels-idx1-ubyte]=0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34
  )
  mkdir -p "$target"
  for name in "${!sha256[@]}"; do
    local file="$target/$name.gz"
    if [[ -f $file ]] && [[ $(gzip -dc "$file" | sha256sum | cut -d' ' -f1) == "${sha256[$name]}" ]]; then
      echo "ok      $file"
      continue
    fi
    echo "fetch   $base_url/$name.gz"
    curl -fL --retry 3 -o "$file.part" "$base_url/$name.gz"
    local actual
    actual=$(gzip -dc "$file.part" | sha256sum | cut -d' ' -f1)
    if [[ $actual != "${sha256[$name]}" ]]; then
      rm -f "$file.part"
      echo "error: $name: SHA-256 of the content is $actual, expected ${sha256[$name]}" >&2
      exit 1
    fi
    mv "$file.part" "$file"
    echo "ok      $file"
  done
}

# fetch_cifar TARGET ARCHIVE MD5 FOLDER NAME:SIZE...  (SIZE "-" for the small text files)
fetch_cifar() {
  local target=$1 archive=$2 md5=$3 folder=$4
  shift 4
  local base_url=${CIFAR_URL:-https://www.cs.toronto.edu/~kriz}
  local members=() complete=1 entry
  for entry in "$@"; do
    local name=${entry%%:*} size=${entry##*:}
    members+=("$folder/$name")
    local file="$target/$folder/$name"
    if [[ ! -f $file ]] || [[ $size != - && $(stat -c %s "$file") != "$size" ]]; then complete=0; fi
  done
  if [[ $complete == 1 ]]; then
    echo "ok      $target/$folder"
    return
  fi
  mkdir -p "$target"
  local path="$target/$archive"
  echo "fetch   $base_url/$archive"
  if ! curl -fL --retry 3 -o "$path.part" "$base_url/$archive"; then
    rm -f "$path.part"
    echo "error: cannot download $base_url/$archive (check the network, or set CIFAR_URL to" \
         "another mirror)" >&2
    exit 1
  fi
  local actual
  actual=$(md5sum "$path.part" | cut -d' ' -f1)
  if [[ $actual != "$md5" ]]; then
    rm -f "$path.part"
    echo "error: $archive: MD5 is $actual, expected $md5 (a damaged download or another file;" \
         "run the script again, or set CIFAR_URL to another mirror)" >&2
    exit 1
  fi
  mv "$path.part" "$path"
  # Only the expected members: nothing else in the archive is written.
  tar -xzf "$path" -C "$target" "${members[@]}"
  rm -f "$path"
  echo "ok      $target/$folder"
}

if [[ $# -gt 2 ]]; then usage; fi
DATASET=${1:-fashion-mnist}
case $DATASET in
  -h|--help) usage ;;
  fashion-mnist|cifar10|cifar100) TARGET=${2:-data/$DATASET} ;;
  *)
    # The older form: a single target folder for Fashion-MNIST.
    if [[ $# -eq 1 && ( $DATASET == */* || -d $DATASET ) ]]; then
      TARGET=$DATASET
      DATASET=fashion-mnist
    else
      echo "error: unknown data set \"$DATASET\" (known: fashion-mnist, cifar10, cifar100)" >&2
      usage
    fi
    ;;
esac

case $DATASET in
  fashion-mnist) fetch_fashion_mnist "$TARGET" ;;
  cifar10)
    # 10,000 records of 3073 bytes in each batch.
    fetch_cifar "$TARGET" cifar-10-binary.tar.gz c32a1d4ab5d03f1284b67883e8d87530 \
      cifar-10-batches-bin data_batch_1.bin:30730000 data_batch_2.bin:30730000 \
      data_batch_3.bin:30730000 data_batch_4.bin:30730000 data_batch_5.bin:30730000 \
      test_batch.bin:30730000 batches.meta.txt:- ;;
  cifar100)
    # 50,000 and 10,000 records of 3074 bytes.
    fetch_cifar "$TARGET" cifar-100-binary.tar.gz 03b5dce01913d631647c71ecec9e9cb8 \
      cifar-100-binary train.bin:153700000 test.bin:30740000 fine_label_names.txt:- \
      coarse_label_names.txt:- ;;
esac
