// The event log: what arrived on the stream (type, id, time, payload), newest first.

import { byId, formatTime, h } from "./dom";

/** Older entries are dropped beyond this, so a long QA run cannot grow the page forever. */
const MAX_ENTRIES = 500;

/** `snapshot` and `metadata` come from the stream; `state` and `error` from the connection. */
export type LogType = "snapshot" | "metadata" | "state" | "error";

export class EventLog {
  private readonly table = byId<HTMLTableElement>("log");
  private readonly body = this.table.tBodies[0];
  private readonly empty = byId("log-empty");
  private readonly count = byId("log-count");

  constructor() {
    byId("log-clear").addEventListener("click", () => this.clear());
  }

  add(type: LogType, id: string | null, payload: unknown): void {
    const text = typeof payload === "string" ? payload : JSON.stringify(payload);
    const row = h(
      "tr",
      { class: `log-${type}`, data: { type } },
      h("td", {}, h("span", { class: `tag tag-${type}`, text: type })),
      h("td", { class: "mono id", text: id ?? "—" }),
      h("td", { class: "mono time", text: formatTime(new Date()) }),
      h("td", {}, h("code", { class: "payload", text })),
    );
    this.body.prepend(row);
    while (this.body.rows.length > MAX_ENTRIES) this.body.lastElementChild!.remove();
    this.update();
  }

  clear(): void {
    this.body.replaceChildren();
    this.update();
  }

  private update(): void {
    const n = this.body.rows.length;
    this.count.textContent = String(n);
    this.empty.hidden = n > 0;
    this.table.hidden = n === 0;
  }
}
