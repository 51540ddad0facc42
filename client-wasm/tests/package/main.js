// A bundler build (Vite) of a page that uses the package: proves the .wasm is found and
// emitted as an asset, and the top-level await entry bundles.
import { GatewayClient } from "@session-gateway/client";

const gateway = new URLSearchParams(location.search).get("gateway") ?? "";
const out = document.getElementById("out");
new GatewayClient({ baseUrl: gateway }).info().then(
  (info) => (out.textContent = JSON.stringify(info)),
  (error) => (out.textContent = `${error.status} ${error.code}`),
);
