#!/usr/bin/env bash
# Runs the coverage-guided fuzz targets in fuzz/ (cargo-fuzz, libFuzzer) for SECONDS each.
#   scripts/fuzz.sh [SECONDS] [TARGET...]      default: 20 s, every target
# The test suite runs each briefly; `just fuzz 600` runs them longer. Findings land in
# fuzz/artifacts/TARGET/ (reproduce with `cargo fuzz run TARGET fuzz/artifacts/TARGET/FILE`
# from fuzz/, with the environment below); the corpus grows in fuzz/corpus/ (ignored),
# seeded from fuzz/seeds/ (checked in).
#
# cargo-fuzz passes rustc flags that are nightly-only (`-Z…`); the toolchain here is
# stable, and RUSTC_BOOTSTRAP=1 lets stable rustc accept them. No sanitizer: the code under
# test is safe Rust, so AddressSanitizer would add build time and find nothing extra;
# panics and failed assertions are what the targets catch.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(metadata_message event_id sse_frames)

tools="$root/.tools/cargo-fuzz"
if [ ! -x "$tools/bin/cargo-fuzz" ]; then
  echo "fuzz: installing cargo-fuzz into $tools"
  cargo install cargo-fuzz --locked --root "$tools" --quiet
fi
export PATH="$tools/bin:$PATH"
export RUSTC_BOOTSTRAP=1

logs="$root/test-artifacts/fuzz"
mkdir -p "$logs"
cd "$root/fuzz"
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  log="$logs/$target.log"
  if ! cargo fuzz run --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
      -max_total_time="$seconds" -max_len=4096 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz: $target FAILED (full log: $log)"
    exit 1
  fi
  echo "fuzz: $target: $(grep -E '^Done [0-9]+ runs' "$log" || echo 'no summary')"
done
