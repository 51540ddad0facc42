// QA page of Session Gateway: watch one session live, send feedback, publish test updates.
//
// Layout: `connection` (subscribe + badge), `status` (live metadata), `eventlog`,
// `grid` (many sessions at once),
// `feedback` and `publish` (the two forms), `dom` (helpers). All gateway traffic goes
// through the `@session-gateway/client` SDK.
//
// URL parameters: `?session=ID` fills the session field and connects at once (a link QA
// can share); `?grid=a,b,c` watches those sessions in the grid (`grid`); `?gateway=URL`
// talks to another gateway than the one serving the page.

import "./style.css";
import { GatewayClient, type ServerInfo } from "@session-gateway/client";
import { SessionWatch } from "./connection";
import { asGatewayError, byId, describeError } from "./dom";
import { EventLog } from "./eventlog";
import { GridWatch, parseSessionList } from "./grid";
import { setupFeedback } from "./feedback";
import { setPublishAllowed, setupPublish } from "./publish";
import { StatusPanel } from "./status";

const params = new URLSearchParams(location.search);
const baseUrl = params.get("gateway") ?? location.origin;

const sessionInput = byId<HTMLInputElement>("session-id");
const tokenInput = byId<HTMLInputElement>("token");

/** One client per token: a new token (JWT mode) needs a new client, nothing else does. */
let client: { token: string; instance: GatewayClient } | null = null;
function currentClient(): GatewayClient {
  const token = tokenInput.value.trim();
  if (!client || client.token !== token) {
    client = { token, instance: new GatewayClient(token ? { baseUrl, token } : { baseUrl }) };
  }
  return client.instance;
}

function sessionId(): string | null {
  return sessionInput.value.trim() || null;
}

const watch = new SessionWatch(new StatusPanel(), new EventLog());
setupFeedback(currentClient, sessionId);
setupPublish(currentClient, sessionId);

byId<HTMLFormElement>("connect-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const id = sessionId();
  if (!id) {
    sessionInput.focus();
    return;
  }
  const url = new URL(location.href);
  url.searchParams.set("session", id);
  history.replaceState(null, "", url);
  watch.connect(currentClient(), id);
});
byId("disconnect").addEventListener("click", () => watch.disconnect());

function showInfo(info: ServerInfo): void {
  byId("server-info").textContent =
    `gateway ${info.version} · ${baseUrl} · publish ${info.http_publish ? "on" : "off"} · auth ${info.auth}`;
  byId("token-field").hidden = info.auth !== "jwt";
  setPublishAllowed(info.http_publish);
}

currentClient()
  .info()
  .then(showInfo)
  .catch((err) => {
    const info = byId("server-info");
    info.textContent = `gateway at ${baseUrl} not reachable: ${describeError(asGatewayError(err))}`;
    info.dataset.kind = "error";
  });

const initial = params.get("session");
if (initial) {
  sessionInput.value = initial;
  byId<HTMLFormElement>("connect-form").requestSubmit();
}

const grid = new GridWatch();
const gridInput = byId<HTMLTextAreaElement>("grid-sessions");
byId<HTMLFormElement>("grid-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const sessions = parseSessionList(gridInput.value);
  if (sessions.length === 0) {
    gridInput.focus();
    return;
  }
  const url = new URL(location.href);
  url.searchParams.set("grid", sessions.join(","));
  history.replaceState(null, "", url);
  grid.watch(currentClient(), sessions);
});
byId("grid-stop").addEventListener("click", () => grid.stop());

const initialGrid = params.get("grid");
if (initialGrid) {
  gridInput.value = parseSessionList(initialGrid).join(", ");
  byId<HTMLFormElement>("grid-form").requestSubmit();
}
