#!/usr/bin/env bash
# Tests the browser SDK (client-wasm) end to end:
#   0. the size budget: scripts/check-sdk-size.sh fails above 40 KiB gzipped (.wasm + JS);
#   1. host unit tests of the crate (SSE parser, backoff, errors, session id messages);
#   2. wasm-bindgen tests in headless Chromium against a real gateway, run by
#      client-wasm/tests/control.py so that a test can restart it;
#   3. the npm package: built by scripts/build-sdk.sh, packed with `npm pack`, installed
#      from the tarball into an empty folder, its types checked with `tsc --noEmit`
#      (strict) on a usage file, its public declarations checked for `any`, and a Vite
#      build of two pages loaded in headless Chromium against the gateway: one that
#      imports the SDK, one that renders a session with the React hook (`/react`).
# SDK_TEST_GATEWAY_BIN=path runs the browser tests against that gateway binary.
# Needs chromium + chromedriver (CI: apt-get install chromium chromium-driver). Installs
# the rest idempotently into .tools/. Stops everything it started, also on failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
work=$(mktemp -d "${TMPDIR:-/tmp}/sdk-test.XXXXXX")
control_pid=""

cleanup() {
  if [ -n "$control_pid" ] && kill -0 "$control_pid" 2>/dev/null; then
    kill "$control_pid" 2>/dev/null || true
    wait "$control_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

echo "test-sdk: building the package"
"$root/scripts/build-sdk.sh"
echo "test-sdk: size budget (.wasm + JS, gzipped)"
"$root/scripts/check-sdk-size.sh" "$root/client-wasm/pkg"
runner="$tools/wasm-bindgen/bin/wasm-bindgen-test-runner"

echo "test-sdk: unit tests"
cargo test --manifest-path "$root/Cargo.toml" -p client-wasm --lib

echo "test-sdk: starting the gateway under the control server"
# SDK_TEST_GATEWAY_BIN: test against that gateway binary instead of building this tree's.
gateway_bin="${SDK_TEST_GATEWAY_BIN:-}"
if [ -z "$gateway_bin" ]; then
  cargo build --manifest-path "$root/Cargo.toml" -p gateway
  gateway_bin="$CARGO_TARGET_DIR/debug/gateway"
fi
# A private copy: the shared target dir may be rebuilt by another build meanwhile.
cp "$gateway_bin" "$work/gateway"
gateway_port=$(free_port)
# The test pages are served from other origins (the wasm-bindgen test runner, the smoke
# page) on ports chosen at run time; they send tokens as headers, never cookies, so the
# credential-less `*` is enough.
CORS_ALLOWED_ORIGINS='*' python3 "$root/client-wasm/tests/control.py" --gateway "$work/gateway" \
  --gateway-port "$gateway_port" --auth-gateway-port "$(free_port)" \
  --state-dir "$work" 2>"$work/control.log" &
control_pid=$!
for _ in $(seq 1 300); do
  [ -s "$work/control.port" ] && break
  kill -0 "$control_pid" 2>/dev/null || { cat "$work/control.log" "$work/gateway.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$work/control.port" ] || { echo "test-sdk: control server did not start" >&2; exit 1; }

echo "test-sdk: browser tests (headless Chromium)"
(
  cd "$root/client-wasm"
  SDK_TEST_GATEWAY_URL="http://127.0.0.1:$gateway_port" \
  SDK_TEST_CONTROL_URL="http://127.0.0.1:$(cat "$work/control.port")" \
  CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}" \
  WASM_BINDGEN_TEST_TIMEOUT=300 \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="$runner" \
    cargo test -p client-wasm --target wasm32-unknown-unknown --test browser
) || { echo "--- gateway log (tail)" >&2; tail -n 40 "$work/gateway.log" >&2; exit 1; }

echo "test-sdk: package checks"
checker="$tools/sdk-check"
if [ ! -x "$checker/node_modules/.bin/tsc" ] || [ ! -x "$checker/node_modules/.bin/vite" ]; then
  mkdir -p "$checker"
  npm install --prefix "$checker" --no-audit --no-fund --silent typescript@5.9 vite@7.3
fi
(cd "$root/client-wasm/pkg" && npm pack --silent --pack-destination "$work") >/dev/null
tarball=$(ls "$work"/session-gateway-client-*.tgz)
app="$work/app"
mkdir -p "$app"
cp "$root/client-wasm/tests/package/"* "$app/"
# React for the page of the `/react` subpath (an optional peer dependency of the package).
(cd "$app" && npm init -y >/dev/null && npm pkg set type=module &&
  npm install --no-audit --no-fund --silent "$tarball" react@19 react-dom@19)
"$checker/node_modules/.bin/tsc" --noEmit -p "$app/tsconfig.json"
node "$app/check-no-any.cjs" "$checker/node_modules/typescript" "$app/node_modules/@session-gateway/client/index.d.ts"
(cd "$app" && "$checker/node_modules/.bin/vite" build --logLevel warn)
ls "$app/dist/assets/"*.wasm >/dev/null
node "$app/smoke.mjs" "$app/dist" "http://127.0.0.1:$gateway_port" "${CHROMEDRIVER:-/usr/bin/chromedriver}"
echo "test-sdk: ok"
