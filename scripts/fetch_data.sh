#!/usr/bin/env bash
# Downloads Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) for machines without Debian's
# dataset-fashion-mnist package, and verifies each file by the SHA-256 of its uncompressed
# content (the same bytes whatever the gzip settings of the mirror).
#
#   scripts/fetch_data.sh [target_dir]     # default: data/fashion-mnist
#
# Then point the config's data.dir (or `distillery run --data`) at target_dir.
set -euo pipefail
TARGET=${1:-data/fashion-mnist}
BASE_URL=${FASHION_MNIST_URL:-http://fashion-mnist.s3-website.eu-central-1.amazonaws.com}
declare -A SHA256=(
  [train-images-idx3-ubyte]=c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888
  [train-labels-idx1-ubyte]=bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9
  [t10k-images-idx3-ubyte]=5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b
  [t10k-labels-idx1-ubyte]=0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34
)
mkdir -p "$TARGET"
for name in "${!SHA256[@]}"; do
  file="$TARGET/$name.gz"
  if [[ -f $file ]] && [[ $(gzip -dc "$file" | sha256sum | cut -d' ' -f1) == "${SHA256[$name]}" ]]; then
    echo "ok      $file"
    continue
  fi
  echo "fetch   $BASE_URL/$name.gz"
  curl -fL --retry 3 -o "$file.part" "$BASE_URL/$name.gz"
  actual=$(gzip -dc "$file.part" | sha256sum | cut -d' ' -f1)
  if [[ $actual != "${SHA256[$name]}" ]]; then
    rm -f "$file.part"
    echo "error: $name: SHA-256 of the content is $actual, expected ${SHA256[$name]}" >&2
    exit 1
  fi
  mv "$file.part" "$file"
  echo "ok      $file"
done
