#!/usr/bin/env bash
# Builds the browser SDK, the npm package `@session-gateway/client`, into client-wasm/pkg/.
#
#   scripts/build-sdk.sh            # size-optimised build (profile sdk), wasm-opt, minified JS
#   SDK_WASM_OPT=0 scripts/build-sdk.sh   # skip wasm-opt (faster, larger)
#   SDK_TWIGGY=1 scripts/build-sdk.sh     # also print twiggy's top items (installs twiggy)
#
# Idempotent. Installs what it needs into the ignored .tools/: the wasm32 target (rustup),
# the wasm-bindgen CLI of exactly the version in Cargo.lock (cargo install), and wasm-opt
# from the npm `binaryen` package, esbuild (npm) to minify the JS. No tool downloads
# binaries on its own (no wasm-pack).
# Prints the size of the .wasm and the JS glue, raw and gzipped.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
crate="$root/client-wasm"
pkg="$crate/pkg"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

# The CLI must match the wasm-bindgen library exactly: read the version from Cargo.lock.
wbg_version=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' "$root/Cargo.lock")
wbg="$tools/wasm-bindgen/bin/wasm-bindgen"
if [ "$("$wbg" --version 2>/dev/null)" != "wasm-bindgen $wbg_version" ]; then
  echo "build-sdk: installing wasm-bindgen-cli $wbg_version into $tools/wasm-bindgen"
  cargo install wasm-bindgen-cli --version "=$wbg_version" --force \
    --root "$tools/wasm-bindgen" --target-dir "$tools/cargo-install-target"
fi
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

# Size matters more than speed for a browser SDK: the `sdk` profile of the workspace's
# Cargo.toml optimises for size (opt-level "z", LTO, one codegen unit, panic = "abort").
echo "build-sdk: cargo build (profile sdk, wasm32)"
cargo build --manifest-path "$root/Cargo.toml" --profile sdk -p client-wasm --target wasm32-unknown-unknown
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/sdk/client_wasm.wasm"

rm -rf "$pkg"
mkdir -p "$pkg"
"$wbg" --target web --out-dir "$pkg" --out-name gateway_client "$wasm"

if [ "${SDK_WASM_OPT:-1}" != 0 ]; then
  wasm_opt="$tools/binaryen/node_modules/.bin/wasm-opt"
  if [ ! -x "$wasm_opt" ]; then
    echo "build-sdk: installing wasm-opt (npm binaryen) into $tools/binaryen"
    mkdir -p "$tools/binaryen"
    npm install --prefix "$tools/binaryen" --no-audit --no-fund --silent binaryen@132
  fi
  if [ "${SDK_TWIGGY:-0}" = 1 ]; then
    # The same optimisation with the function names kept, for a profile of what is big.
    profile="$CARGO_TARGET_DIR/sdk-profile.wasm"
    "$wasm_opt" -Oz -g --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
      --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
      "$pkg/gateway_client_bg.wasm" -o "$profile"
    twiggy=$(command -v twiggy || echo "$tools/twiggy/bin/twiggy")
    [ -x "$twiggy" ] || cargo install twiggy --root "$tools/twiggy" --target-dir "$tools/cargo-install-target"
    "$twiggy" top -n 15 "$profile"
  fi
  "$wasm_opt" -Oz --strip-debug --strip-producers --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
    --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
    "$pkg/gateway_client_bg.wasm" -o "$pkg/gateway_client_bg.wasm"
fi

# Short import names in the .wasm and the glue (the generated ones carry 64-bit hashes),
# then the glue and the hand-written modules minified: their docs are in the .d.ts files.
node "$crate/build/shorten-imports.mjs" "$pkg/gateway_client_bg.wasm" "$pkg/gateway_client.js"
esbuild="$tools/esbuild/node_modules/.bin/esbuild"
if [ ! -x "$esbuild" ]; then
  echo "build-sdk: installing esbuild (npm) into $tools/esbuild"
  mkdir -p "$tools/esbuild"
  npm install --prefix "$tools/esbuild" --no-audit --no-fund --silent esbuild@0.25
fi
cp "$crate/npm/index.js" "$crate/npm/react.js" "$pkg/"
for js in gateway_client.js index.js react.js; do
  "$esbuild" "$pkg/$js" --minify --format=esm --target=es2022 --legal-comments=none \
    --log-level=warning --allow-overwrite --outfile="$pkg/$js"
done

# The package: the entry, its types, the README, and package.json with the crate version.
cp "$crate/npm/react.d.ts" "$crate/README.md" "$pkg/"
version=$(cargo metadata --manifest-path "$root/Cargo.toml" --no-deps --format-version 1 |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).packages.find(p=>p.name==="client-wasm").version))')
node -e '
  const fs = require("fs");
  const [template, out, version] = process.argv.slice(1);
  const pkg = JSON.parse(fs.readFileSync(template, "utf8"));
  fs.writeFileSync(out, JSON.stringify({ name: pkg.name, version, ...pkg }, null, 2) + "\n");
' "$crate/npm/package.json" "$pkg/package.json" "$version"

# index.d.ts re-exports the SDK's own declarations from the generated ones, leaving out
# the loader internals (InitInput, InitOutput, …) that the entry handles itself.
node -e '
  const fs = require("fs");
  const [glue, out] = process.argv.slice(1);
  const dts = fs.readFileSync(glue, "utf8");
  const internal = new Set(["InitInput", "InitOutput", "SyncInitInput"]);
  const names = (re) => [...dts.matchAll(re)].map((m) => m[1]).filter((n) => !internal.has(n));
  const classes = names(/^export class (\w+)/gm);
  const types = names(/^export (?:type|interface) (\w+)/gm);
  fs.writeFileSync(out, [
    "// Public API of @session-gateway/client; generated by scripts/build-sdk.sh.",
    `export { ${classes.join(", ")} } from "./gateway_client.js";`,
    `export type {\n  ${types.join(",\n  ")},\n} from "./gateway_client.js";`,
    "",
  ].join("\n"));
' "$pkg/gateway_client.d.ts" "$pkg/index.d.ts"

raw=$(($(stat -c %s "$pkg/gateway_client_bg.wasm") + $(stat -c %s "$pkg/gateway_client.js")))
gz=$(($(gzip -9 -c "$pkg/gateway_client_bg.wasm" | wc -c) + $(gzip -9 -c "$pkg/gateway_client.js" | wc -c)))
echo "build-sdk: $pkg ($version): .wasm + JS glue = $raw bytes, $gz bytes gzipped"
