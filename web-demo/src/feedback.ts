// The feedback form: up / down / neutral plus a comment; shows the stored record or the error.

import type { GatewayClient, Rating } from "@session-gateway/client";
import { asGatewayError, byId, describeError, showResult } from "./dom";

export function setupFeedback(client: () => GatewayClient, sessionId: () => string | null): void {
  const form = byId<HTMLFormElement>("feedback-form");
  const button = byId<HTMLButtonElement>("feedback-send");
  const result = byId("feedback-result");

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = sessionId();
    if (!id) {
      showResult(result, "error", "Not sent", [["reason", "enter a session id above first"]]);
      return;
    }
    const choice = new FormData(form).get("rating");
    const rating: Rating | null = choice === "up" || choice === "down" ? choice : null;
    const comment = byId<HTMLTextAreaElement>("comment").value;
    button.disabled = true;
    showResult(result, "pending", "Sending…", []);
    try {
      const record = await client().sendFeedback(id, { rating, comment });
      showResult(result, "ok", "Stored", [
        ["id", record.id],
        ["session", record.session_id],
        ["sentiment", record.sentiment],
        ["rating", record.rating ?? "none"],
        ["comment", record.comment || "(empty)"],
        ["created", record.created_at],
        ["notification", `${record.notification.status} (attempts: ${record.notification.attempts})`],
      ]);
    } catch (err) {
      showResult(result, "error", "Not stored", [["error", describeError(asGatewayError(err))]]);
    } finally {
      button.disabled = false;
    }
  });
}
