# Session Gateway recipes. `just --list` shows them.

# Run the gateway with the embedded defaults (in-memory, no AWS, no MongoDB).
run *ARGS:
    cargo run -p gateway -- {{ARGS}}

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
