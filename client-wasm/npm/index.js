// Entry of @session-gateway/client. Importing it loads the WebAssembly module (once,
// with a top-level await), so the classes are usable as soon as the import resolves.
import init from "./gateway_client.js";

await init();

export { GatewayClient, Subscription } from "./gateway_client.js";
