#!/usr/bin/env bash
# Builds the gateway's release binary and copies it into OUT_DIR.
# The Dockerfile's builder stage runs exactly this, and `scripts/check-deploy.sh` runs it
# on the same build context Docker would get (.dockerignore applied), so a green check
# means the image's build step works.
#
#   deploy/build-release.sh OUT_DIR
#
# `--locked`: the image builds what Cargo.lock pins, never a fresh resolution.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: deploy/build-release.sh OUT_DIR}
target=${CARGO_TARGET_DIR:-$root/target}

cargo build --manifest-path "$root/Cargo.toml" --locked --release -p gateway --bin gateway
mkdir -p "$out"
cp "$target/release/gateway" "$out/gateway"
# The release profile keeps line tables (file:line in local backtraces); the image drops
# them and keeps the symbols: about 175 MB down to under 40 MB.
strip --strip-debug "$out/gateway"
echo "build-release: $out/gateway ($(du -h "$out/gateway" | cut -f1))"
