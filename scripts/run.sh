#!/usr/bin/env bash
# Runs the gateway with the embedded defaults (in-memory, no AWS, no MongoDB) and the QA
# page at http://127.0.0.1:8080/. The first run builds the browser SDK and the page
# (installing wasm-bindgen-cli, wasm-opt and the npm packages into ignored folders, a few
# minutes); later runs rebuild only when their sources changed. Arguments go to the
# gateway: `scripts/run.sh --help`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

stamp=web-demo/dist/.built-from
sources=$(cat Cargo.lock shared-types/src/*.rs client-wasm/Cargo.toml client-wasm/src/*.rs \
  client-wasm/npm/* web-demo/package*.json web-demo/index.html web-demo/src/* 2>/dev/null | cksum)
if [ ! -f web-demo/dist/index.html ] || [ "$(cat "$stamp" 2>/dev/null)" != "$sources" ]; then
  echo "run: building the browser SDK and the QA page"
  bash scripts/build-demo.sh
  echo "$sources" >"$stamp"
fi
exec cargo run -p gateway -- "$@"
