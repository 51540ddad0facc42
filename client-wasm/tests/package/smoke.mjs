// Runs the Vite build of main.js in headless Chromium (through chromedriver's WebDriver
// API) and waits until the page shows the gateway's `GET /v1/info`, fetched by the bundled
// SDK: the bundle loads its .wasm, initialises, and talks to a real gateway.
// Usage: node smoke.mjs <dist dir> <gateway url> <chromedriver binary>
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join } from "node:path";

const [dist, gateway, chromedriver] = process.argv.slice(2);
const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const listen = (server) =>
  new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));

const pages = createServer(async (request, response) => {
  const path = new URL(request.url, "http://page").pathname;
  try {
    const body = await readFile(join(dist, path === "/" ? "index.html" : path));
    response.writeHead(200, { "Content-Type": types[extname(path)] ?? "text/html" });
    response.end(body);
  } catch {
    response.writeHead(404).end();
  }
});
const pagePort = await listen(pages);
const probe = createServer();
const driverPort = await listen(probe);
probe.close();

const driver = spawn(chromedriver, [`--port=${driverPort}`], { stdio: "ignore" });
const webdriver = async (method, path, body) => {
  const response = await fetch(`http://127.0.0.1:${driverPort}${path}`, {
    method,
    headers: { "Content-Type": "application/json" },
    body: body && JSON.stringify(body),
  });
  return (await response.json()).value;
};

let session;
try {
  for (let i = 0; ; i++) {
    try {
      if ((await webdriver("GET", "/status")).ready) break;
    } catch (error) {
      if (i > 100) throw error;
    }
    await sleep(100);
  }
  const args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"];
  const created = await webdriver("POST", "/session", {
    capabilities: { alwaysMatch: { "goog:chromeOptions": { binary: "/usr/bin/chromium", args } } },
  });
  session = created.sessionId;
  const page = `http://127.0.0.1:${pagePort}/?gateway=${encodeURIComponent(gateway)}`;
  await webdriver("POST", `/session/${session}/url`, { url: page });
  let shown = "";
  for (let i = 0; i < 200 && !shown.startsWith("{"); i++) {
    await sleep(100);
    shown = await webdriver("POST", `/session/${session}/execute/sync`, {
      script: "return document.getElementById('out').textContent",
      args: [],
    });
  }
  const info = JSON.parse(shown);
  if (typeof info.version !== "string" || typeof info.http_publish !== "boolean") {
    throw new Error(`unexpected /v1/info: ${shown}`);
  }
  console.log(`smoke: the Vite bundle ran in Chromium and read ${shown}`);
} catch (error) {
  console.error(`smoke: ${error.message ?? error}`);
  process.exitCode = 1;
} finally {
  if (session) await webdriver("DELETE", `/session/${session}`).catch(() => {});
  driver.kill();
  pages.close();
}
