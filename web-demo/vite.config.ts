import { defineConfig } from "vite";

// The page is served by the gateway at `/`, so asset URLs are relative to the page.
export default defineConfig({
  base: "./",
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
  // The SDK is a linked package outside this folder (../client-wasm/pkg).
  server: { fs: { allow: [".."] } },
});
