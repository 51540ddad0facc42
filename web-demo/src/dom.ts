// Small DOM and formatting helpers shared by the page's panels.

import type { GatewayError } from "@session-gateway/client";

/** The element with `id`; a missing element is a bug in index.html, so it throws. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el as T;
}

/** Creates an element with text content and attributes (no HTML parsing: values are data). */
export function h(
  tag: string,
  props: { class?: string; text?: string; title?: string; data?: Record<string, string> } = {},
  ...children: Node[]
): HTMLElement {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  if (props.text !== undefined) el.textContent = props.text;
  if (props.title) el.title = props.title;
  for (const [k, v] of Object.entries(props.data ?? {})) el.dataset[k] = v;
  el.append(...children);
  return el;
}

/** A metadata value as QA wants to read it: strings bare, everything else as JSON. */
export function formatValue(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Local wall-clock time with milliseconds, the resolution that matters for live updates. */
export function formatTime(date: Date): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/**
 * The SDK's errors are `Error`s carrying `status`, `code` and `fatal`; their `message` is
 * not enumerable, so they are copied into a plain object before being spread or logged.
 * Anything else (a bug, a thrown string) is wrapped so the page always has a code and a
 * message to show.
 */
export function asGatewayError(err: unknown): GatewayError {
  if (err && typeof err === "object" && "code" in err && "message" in err) {
    const e = err as GatewayError;
    return { status: e.status ?? null, code: e.code, message: e.message, fatal: e.fatal };
  }
  return { status: null, code: "client_error", message: String(err), fatal: true };
}

/** `422 invalid_rating: …` — the status, when there is one, then code and message. */
export function describeError(err: GatewayError): string {
  const status = err.status === null || err.status === undefined ? "" : `${err.status} `;
  return `${status}${err.code}: ${err.message}`;
}

/**
 * Shows a result box: a heading line and key/value rows, styled as success, error, or
 * pending (a request in flight, so an earlier result is never mistaken for its answer).
 */
export function showResult(
  box: HTMLElement,
  kind: "ok" | "error" | "pending",
  heading: string,
  rows: [string, string][],
): void {
  const list = h("dl", { class: "record" });
  for (const [key, value] of rows) {
    list.append(h("dt", { text: key }), h("dd", { text: value }));
  }
  box.replaceChildren(h("p", { class: "result-head", text: heading }), list);
  box.dataset.kind = kind;
  box.hidden = false;
}
