#!/usr/bin/env bash
# Fails when the browser SDK's package is over its size budget: the .wasm plus every
# JavaScript file it ships, each compressed with `gzip -9`, summed. Prints every file.
#
#   scripts/check-sdk-size.sh [PKG_DIR]     # default client-wasm/pkg (scripts/build-sdk.sh)
#   SDK_SIZE_BUDGET=40960 scripts/check-sdk-size.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
pkg="${1:-$root/client-wasm/pkg}"
budget="${SDK_SIZE_BUDGET:-40960}" # 40 KiB

shopt -s nullglob
files=("$pkg"/*.wasm "$pkg"/*.js)
[ -e "$pkg/gateway_client_bg.wasm" ] || { echo "check-sdk-size: no package in $pkg (run scripts/build-sdk.sh)" >&2; exit 1; }
total=0
for file in "${files[@]}"; do
  raw=$(stat -c %s "$file")
  gz=$(gzip -9 -c "$file" | wc -c)
  total=$((total + gz))
  printf 'check-sdk-size: %-28s %8d bytes, %7d gzipped\n' "$(basename "$file")" "$raw" "$gz"
done
if [ "$total" -gt "$budget" ]; then
  echo "check-sdk-size: FAIL: $total bytes gzipped, over the budget of $budget" >&2
  exit 1
fi
echo "check-sdk-size: ok: $total bytes gzipped, budget $budget"
