// Gives the wasm module's imports short names, in the .wasm and in its JS glue alike.
// wasm-bindgen names each import after the function and a 64-bit hash
// (`__wbg_fetch_3509530369f33b1d`); ~90 of those hashes, stored in both files, barely
// compress. Run by scripts/build-sdk.sh after wasm-opt.
// Usage: node shorten-imports.mjs <module_bg.wasm> <module.js>
import { readFileSync, writeFileSync } from "node:fs";

const [wasmPath, jsPath] = process.argv.slice(2);
const wasm = readFileSync(wasmPath);
let js = readFileSync(jsPath, "utf8");
if (/\$\d/.test(js)) throw new Error("the glue already uses $<digit> names");

let at = 8; // magic + version
const uleb = () => {
  let value = 0, shift = 0, byte;
  do {
    byte = wasm[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return value;
};
const encodeUleb = (value) => {
  const out = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return Buffer.from(out);
};
const name = () => {
  const length = uleb();
  const text = wasm.subarray(at, at + length).toString("utf8");
  at += length;
  return text;
};
const encodeName = (text) => Buffer.concat([encodeUleb(Buffer.byteLength(text)), Buffer.from(text)]);
const limits = () => {
  const flags = wasm[at++];
  uleb();
  if (flags & 1) uleb();
};

const parts = [wasm.subarray(0, 8)];
let renamed = 0;
while (at < wasm.length) {
  const id = wasm[at++];
  const size = uleb();
  const end = at + size;
  if (id !== 2) {
    parts.push(Buffer.from([id]), encodeUleb(size), wasm.subarray(at, end));
    at = end;
    continue;
  }
  const count = uleb();
  const entries = [encodeUleb(count)];
  for (let i = 0; i < count; i++) {
    const module = name();
    let field = name();
    const descStart = at;
    const kind = wasm[at++];
    if (kind === 0) uleb(); // function: type index
    else if (kind === 1) { at++; limits(); } // table: reference type, limits
    else if (kind === 2) limits(); // memory
    else if (kind === 3) at += 2; // global: value type, mutability
    else if (kind === 4) { at++; uleb(); } // tag
    else throw new Error(`unknown import kind ${kind}`);
    const key = new RegExp(`\\b${field}\\b`, "g");
    if (/^__wbg|^__wbindgen/.test(field) && key.test(js)) {
      const short = `$${(renamed++).toString(36)}`;
      js = js.replace(key, short);
      field = short;
    }
    entries.push(encodeName(module), encodeName(field), wasm.subarray(descStart, at));
  }
  if (at !== end) throw new Error("malformed import section");
  const section = Buffer.concat(entries);
  parts.push(Buffer.from([id]), encodeUleb(section.length), section);
}
writeFileSync(wasmPath, Buffer.concat(parts));
writeFileSync(jsPath, js);
console.log(`shorten-imports: ${renamed} imports renamed`);
