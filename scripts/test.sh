#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs (idempotently, into
# ignored folders), starts the real services on free loopback ports, runs every test,
# and stops the services again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

step() { printf '\n=== %s\n' "$*"; }
# Every runner's output also goes to this log, for the summary line at the end.
mkdir -p test-artifacts
log=test-artifacts/test.log
: >"$log"
record() { "$@" 2>&1 | tee -a "$log"; }

step "toolchain and system packages"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target add wasm32-unknown-unknown >/dev/null
# From Debian: headless Chromium and its driver for the browser tests, redis-server and
# redis-cli for the cluster-mode tests.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] \
  || ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium chromium-driver \
    redis-server redis-tools >/dev/null
fi

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

step "shared-types compiles for wasm32"
cargo check -p shared-types --target wasm32-unknown-unknown

step "unit tests (before the services' environment is loaded: they test the defaults)"
record cargo test --workspace --exclude e2e-tests

step "fuzz targets: SQS message, Last-Event-ID, the SDK's SSE parser (20 s each)"
bash scripts/fuzz.sh 20

step "real services (moto_server for SQS/SNS, secantusd-py for MongoDB, redis-server)"
bash scripts/services.sh start
trap 'bash scripts/services.sh stop' EXIT
# shellcheck disable=SC1091
source .services/env

step "the hub's merge on Redis agrees with memory for any order and duplication"
record cargo test -p gateway --test merge_properties

step "gateway binary for the end-to-end tests"
cargo build -p gateway

step "the gateway against its /openapi.json (schemathesis)"
bash scripts/test-openapi.sh

step "end-to-end tests against the gateway binary and the real services"
record cargo test -p e2e-tests --tests

step "browser SDK: unit, headless Chromium against a real gateway, npm package"
record bash scripts/test-sdk.sh

step "QA page and the /ops page in headless Chromium against the gateway and the real services"
record bash scripts/test-demo.sh

step "deployable artifacts: Dockerfile, CloudFormation, nginx, alert rules (scripts/check-deploy.sh)"
# With CI=true it also builds the release binary from the Docker build context and runs
# the template, the gateway and nginx together (a few minutes more).
bash scripts/check-deploy.sh

step "summary"
# cargo: "test result: ok. N passed; M failed"; node --test: "# pass N" / "# fail M".
awk '/^test result:/ { p += $4; f += $6 }
     /^# pass / { p += $3 } /^# fail / { f += $3 }
     END { printf "summary: %d passed, %d failed\n", p, f; exit (f > 0) }' "$log"
