#!/usr/bin/env bash
# Tests the QA demo page in headless Chromium against the real gateway, SQS/SNS (moto_server)
# and MongoDB (secantusd-py): builds the page and the gateway, then runs
# web-demo/tests/*.test.mjs (the QA page, and the operator page /ops with a real DLQ) with
# node's test runner. Screenshots of every state and the
# gateway log land in test-artifacts/demo/. Stops everything it started, also on failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
artifacts="$root/test-artifacts/demo"

cleanup() {
  # The test stops the gateway and services itself; this covers a test process that died.
  if [ -f "$artifacts/gateway.pid" ]; then
    kill "$(cat "$artifacts/gateway.pid")" 2>/dev/null || true
    rm -f "$artifacts/gateway.pid"
  fi
  bash scripts/services.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

if [ ! -x "${CHROMIUM_BIN:-/usr/bin/chromium}" ]; then
  echo "test-demo: installing chromium (apt)"
  apt-get install -y --no-install-recommends chromium >/dev/null
fi

bash scripts/build-demo.sh

target="${CARGO_TARGET_DIR:-$root/target}"
cargo build -p gateway
# The target folder may be shared with other checkouts: test a private copy of this build.
mkdir -p "$root/.tools/demo"
cp "$target/debug/gateway" "$root/.tools/demo/gateway"
export GATEWAY_BIN="$root/.tools/demo/gateway"

rm -rf "$artifacts"
mkdir -p "$artifacts"
(cd web-demo && node --test --test-concurrency=1 tests/*.test.mjs)
echo "test-demo: screenshots in $artifacts"
