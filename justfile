# Session Gateway recipes. `just --list` shows them.

# Run the gateway with the embedded defaults and the QA page at http://127.0.0.1:8080/.
run *ARGS:
    ./scripts/run.sh {{ARGS}}

# Build the browser SDK npm package into client-wasm/pkg/.
sdk:
    bash scripts/build-sdk.sh

# Build the QA page into web-demo/dist/.
demo:
    bash scripts/build-demo.sh

# Browser SDK tests: headless Chromium against the gateway, and the packed tarball.
test-sdk:
    bash scripts/test-sdk.sh

# QA page tests in headless Chromium against the gateway and the real services.
test-demo:
    bash scripts/test-demo.sh

# Fuzz every target for SECONDS each (the suite runs 20 s); findings land in fuzz/artifacts/.
fuzz SECONDS="600":
    bash scripts/fuzz.sh {{SECONDS}}

# Check the gateway against its /openapi.json with schemathesis.
test-openapi:
    bash scripts/test-openapi.sh

# Benchmark against Nchan and Pushpin: scenarios (a)–(e) of BENCHMARKS.md, repeated,
# pinned; prints the tables (they go in BENCHMARKS.md by hand). Settings are bench/run.sh's
# BENCH_* variables, e.g. `BENCH_SCALE=0.05 BENCH_SECONDS=3 BENCH_REPEATS=1 just bench`.
bench:
    bash bench/run.sh

# Check deploy/: hadolint, cfn-lint, nginx -t, promtool; DEPLOY_CHECK_BUILD=1 adds the
# release build from the Docker build context and the stack + gateway + nginx run.
deploy-check:
    bash scripts/check-deploy.sh

# The whole test suite, as CI runs it.
test:
    ./scripts/test.sh

# Start the real services (moto_server, secantusd-py); `source .services/env` afterwards.
services:
    bash scripts/services.sh start

# Stop the real services.
services-stop:
    bash scripts/services.sh stop

# Format and lint.
check:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
