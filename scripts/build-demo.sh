#!/usr/bin/env bash
# Builds the QA demo page into web-demo/dist/ (served by the gateway at `/`):
# the browser SDK (scripts/build-sdk.sh → client-wasm/pkg/), the page's npm dependencies
# (`npm ci`, skipped while package-lock.json is unchanged), then `tsc` + `vite build`.
# Idempotent; safe to run again after any change.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
demo="$root/web-demo"

if [ ! -f "$root/scripts/build-sdk.sh" ]; then
  echo "build-demo: scripts/build-sdk.sh is missing; the page needs the SDK package in client-wasm/pkg/" >&2
  exit 1
fi
bash "$root/scripts/build-sdk.sh"

# npm ci wipes node_modules; only do it when the lock file changed since the last install.
stamp="$demo/node_modules/.demo-lock.sha256"
lock_hash=$(sha256sum "$demo/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  echo "build-demo: npm ci"
  (cd "$demo" && npm ci --no-audit --no-fund)
  echo "$lock_hash" >"$stamp"
fi

(cd "$demo" && npm run --silent build)
echo "build-demo: built $demo/dist"
