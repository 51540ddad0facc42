// The QA publish form: sends a test update through `POST /v1/sessions/{id}/metadata`
// when the gateway allows it (`GET /v1/info` says `http_publish`).

import type { GatewayClient, Metadata } from "@session-gateway/client";
import { asGatewayError, byId, describeError, showResult } from "./dom";

export function setupPublish(client: () => GatewayClient, sessionId: () => string | null): void {
  const form = byId<HTMLFormElement>("publish-form");
  const button = byId<HTMLButtonElement>("publish-send");
  const result = byId("publish-result");

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = sessionId();
    if (!id) {
      showResult(result, "error", "Not published", [["reason", "enter a session id above first"]]);
      return;
    }
    const metadata = parseMetadata(byId<HTMLTextAreaElement>("publish-metadata").value);
    if (typeof metadata === "string") {
      showResult(result, "error", "Not published", [["reason", metadata]]);
      return;
    }
    const operation = byId<HTMLSelectElement>("operation").value === "delete" ? "delete" : "update";
    button.disabled = true;
    showResult(result, "pending", "Publishing…", []);
    try {
      const response = await client().publish(id, { operation, metadata });
      showResult(result, "ok", "Published", [
        ["event id", response.event_id ?? "none (nothing changed)"],
        ["applied", response.applied.join(", ") || "none"],
        ["ignored (stale)", response.ignored.join(", ") || "none"],
      ]);
    } catch (err) {
      showResult(result, "error", "Not published", [["error", describeError(asGatewayError(err))]]);
    } finally {
      button.disabled = false;
    }
  });
}

/** Disables the form, with the reason, on a gateway that does not accept HTTP publishing. */
export function setPublishAllowed(allowed: boolean): void {
  byId<HTMLFieldSetElement>("publish-fields").disabled = !allowed;
  const note = byId("publish-note");
  note.textContent = allowed
    ? ""
    : "This gateway does not accept HTTP publishing (HTTP_PUBLISH=false): updates arrive only through the SQS queue.";
  note.hidden = allowed;
}

/** The metadata object, or what is wrong with the text. */
function parseMetadata(text: string): Metadata | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `metadata is not valid JSON: ${(err as Error).message}`;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return 'metadata must be a JSON object, e.g. {"status": "done"}';
  }
  return value as Metadata;
}
