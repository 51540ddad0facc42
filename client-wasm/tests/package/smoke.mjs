// Runs the Vite build in headless Chromium (through chromedriver's WebDriver API):
// 1. index.html (main.js) must show the gateway's `GET /v1/info`, fetched by the bundled
//    SDK: the bundle loads its .wasm, initialises, and talks to a real gateway;
// 2. react.html (react-main.js) must render, through `useSession` of the `/react` subpath,
//    metadata published to the gateway over HTTP; switching the session must close the
//    old subscription and show only the new session; unmounting must close the last one.
//    Open subscriptions are counted by the gateway's `gateway_sse_subscribers` gauge.
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

  const run = (script) => webdriver("POST", `/session/${session}/execute/sync`, { script, args: [] });
  const text = (id) => run(`return document.getElementById(${JSON.stringify(id)})?.textContent ?? ""`);
  // Polls `read()` until it returns `expected`, for up to 20 s.
  const until = async (what, read, expected) => {
    let last;
    for (let i = 0; i < 200; i++) {
      last = await read();
      if (last === expected) return;
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last)}, expected ${JSON.stringify(expected)}`);
  };
  const subscribers = async () => {
    const metrics = await (await fetch(`${gateway}/metrics`)).text();
    const line = metrics.split("\n").find((l) => l.startsWith("gateway_sse_subscribers "));
    return line ? Number(line.split(" ")[1]) : 0;
  };
  const publish = async (sessionId, status) => {
    const response = await fetch(`${gateway}/v1/sessions/${sessionId}/metadata`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ operation: "update", metadata: { status } }),
    });
    if (!response.ok) throw new Error(`publish: ${response.status} ${await response.text()}`);
  };

  const salt = `${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
  const [first, second] = [`react-a-${salt}`, `react-b-${salt}`];
  const before = await subscribers();
  const reactPage = `http://127.0.0.1:${pagePort}/react.html?gateway=${encodeURIComponent(gateway)}&session=${first}`;
  await webdriver("POST", `/session/${session}/url`, { url: reactPage });
  await until("the hook's state to be open", () => text("state"), "open");
  await until("one subscriber more on the gateway", () => subscribers(), before + 1);
  await publish(first, "shown-by-react");
  await until("the published metadata rendered", () => text("metadata"), '{"status":"shown-by-react"}');

  await run(`window.showSession(${JSON.stringify(second)})`);
  const switched = [await text("session"), await text("metadata")];
  if (switched[0] !== second || switched[1] === '{"status":"shown-by-react"}') {
    throw new Error(`after switching the session the view still showed the old one: ${switched}`);
  }
  await publish(second, "second-session");
  await publish(first, "old-session-must-not-show");
  await until("the second session's metadata rendered", () => text("metadata"), '{"status":"second-session"}');
  await until("the first subscription closed", () => subscribers(), before + 1);
  await sleep(300);
  const shownAfter = await text("metadata");
  if (shownAfter !== '{"status":"second-session"}') throw new Error(`an old session's update leaked: ${shownAfter}`);

  await run("window.unmount()");
  await until("the subscription closed on unmount", () => subscribers(), before);
  console.log(`smoke: useSession rendered live metadata, switched sessions and closed on unmount (subscribers ${before} -> ${before + 1} -> ${before})`);
} catch (error) {
  console.error(`smoke: ${error.message ?? error}`);
  process.exitCode = 1;
} finally {
  if (session) await webdriver("DELETE", `/session/${session}`).catch(() => {});
  driver.kill();
  pages.close();
}
