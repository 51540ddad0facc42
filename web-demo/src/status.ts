// The live status panel: every metadata key and value, changed keys highlighted briefly.

import type { Metadata } from "@session-gateway/client";
import { byId, formatTime, formatValue, h } from "./dom";

/** How long a changed key stays highlighted; matches the `flash` animation in style.css. */
const HIGHLIGHT_MS = 1500;

export class StatusPanel {
  private readonly table = byId<HTMLTableElement>("status");
  private readonly body = this.table.tBodies[0];
  private readonly empty = byId("status-empty");
  private readonly meta = byId("status-meta");
  private view: Metadata = {};
  /** When each key last changed, so a re-render keeps an ongoing highlight where it was. */
  private readonly changedAt = new Map<string, number>();

  /** Replaces the view with `metadata`, highlighting the keys whose value differs. */
  show(metadata: Metadata): void {
    const now = performance.now();
    for (const [key, value] of Object.entries(metadata)) {
      if (!(key in this.view) || JSON.stringify(this.view[key]) !== JSON.stringify(value)) {
        this.changedAt.set(key, now);
      }
    }
    for (const key of this.changedAt.keys()) {
      if (!(key in metadata)) this.changedAt.delete(key);
    }
    this.view = { ...metadata };
    this.render(now);
  }

  /** Notes where the view stands: the newest event id and when the panel last changed. */
  setPosition(lastEventId: string | null): void {
    this.meta.textContent = lastEventId
      ? `event ${lastEventId} · ${formatTime(new Date())}`
      : "";
  }

  clear(message: string): void {
    this.view = {};
    this.changedAt.clear();
    this.body.replaceChildren();
    this.table.hidden = true;
    this.meta.textContent = "";
    this.empty.textContent = message;
    this.empty.hidden = false;
  }

  /** What the panel says while it has no rows (e.g. why there is no session to show). */
  setEmptyMessage(message: string): void {
    this.empty.textContent = message;
  }

  private render(now: number): void {
    const keys = Object.keys(this.view).sort();
    const rows = keys.map((key) => {
      const name = h("th", { text: key, class: "key" });
      name.setAttribute("scope", "row");
      const row = h("tr", { data: { key } }, name, h("td", { text: formatValue(this.view[key]), class: "value" }));
      const age = now - (this.changedAt.get(key) ?? -Infinity);
      if (age < HIGHLIGHT_MS) {
        row.classList.add("changed");
        // Continue the highlight where the previous render left it.
        row.style.animationDelay = `-${Math.round(age)}ms`;
        row.addEventListener("animationend", () => row.classList.remove("changed"), { once: true });
      }
      return row;
    });
    this.body.replaceChildren(...rows);
    this.empty.textContent = "The session has no metadata yet.";
    this.empty.hidden = keys.length > 0;
    this.table.hidden = keys.length === 0;
  }
}
