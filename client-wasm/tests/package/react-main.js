// A Vite build of a React page using the package's `/react` subpath: shows one session
// through `useSession` and lets smoke.mjs switch the session and unmount the component
// (`window.showSession(id)`, `window.unmount()`).
import { createElement as h, useState } from "react";
import { createRoot } from "react-dom/client";
import { flushSync } from "react-dom";
import { GatewayClient } from "@session-gateway/client";
import { useSession } from "@session-gateway/client/react";

const query = new URLSearchParams(location.search);
const client = new GatewayClient({ baseUrl: query.get("gateway") ?? "" });

function Status({ sessionId }) {
  const { metadata, state, error } = useSession(client, sessionId);
  return h(
    "dl",
    null,
    h("dt", null, "session"),
    h("dd", { id: "session" }, sessionId),
    h("dt", null, "state"),
    h("dd", { id: "state" }, state),
    h("dt", null, "metadata"),
    h("dd", { id: "metadata" }, JSON.stringify(metadata)),
    h("dt", null, "error"),
    h("dd", { id: "error" }, error ? `${error.status} ${error.code}` : ""),
  );
}

function App() {
  const [sessionId, setSessionId] = useState(query.get("session"));
  window.showSession = (id) => flushSync(() => setSessionId(id));
  return h(Status, { sessionId });
}

const root = createRoot(document.getElementById("root"));
root.render(h(App));
window.unmount = () => root.unmount();
