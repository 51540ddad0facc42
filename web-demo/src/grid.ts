// Grid mode: watch many sessions at once (a supervisor's view). Every tile is one SDK
// subscription, and all of them share the client's one connection to the gateway, so
// 20 sessions cost one of the browser's six connections per origin, not 20.
//
// URL parameter: `?grid=a,b,c` fills the list and starts watching (a link QA can share).

import type { ConnectionState, GatewayClient, Metadata, Subscription } from "@session-gateway/client";
import { asGatewayError, byId, describeError, formatValue, h } from "./dom";

/** What a tile's state chip says: the SDK's states, `open` named `live`, plus error. */
const LABELS: Record<ConnectionState, string> = {
  connecting: "connecting",
  open: "live",
  reconnecting: "reconnecting",
  closed: "closed",
};

interface Tile {
  sub: Subscription | null;
  el: HTMLElement;
  updates: number;
}

export class GridWatch {
  private readonly list = byId("grid-tiles");
  private readonly summary = byId("grid-summary");
  private readonly stopButton = byId<HTMLButtonElement>("grid-stop");
  private tiles = new Map<string, Tile>();

  /** Watches `sessions` (duplicates dropped), replacing what was watched before. */
  watch(client: GatewayClient, sessions: string[]): void {
    this.stop();
    for (const id of new Set(sessions)) {
      const el = h("li", { class: "tile", data: { session: id, state: "connecting" } },
        h("strong", { class: "tile-id", text: id }),
        h("span", { class: "tile-state", text: "connecting" }),
        h("span", { class: "tile-status", text: "—" }),
        h("span", { class: "tile-meta muted small", text: "" }),
      );
      const tile: Tile = { sub: null, el, updates: 0 };
      this.tiles.set(id, tile);
      this.list.append(el);
      try {
        tile.sub = client.subscribe(id, {
          onState: (state, info) => {
            const detail = info.error ? describeError(asGatewayError(info.error)) : "";
            this.setState(tile, state === "closed" && info.error ? "error" : state, detail);
          },
          onError: (error) => {
            const e = asGatewayError(error);
            if (e.fatal) this.setState(tile, "error", describeError(e));
          },
          onUpdate: () => {
            tile.updates += 1;
          },
          onMetadata: (metadata) => this.show(tile, metadata),
        });
      } catch (err) {
        this.setState(tile, "error", describeError(asGatewayError(err)));
      }
    }
    this.stopButton.disabled = this.tiles.size === 0;
    this.summarize();
  }

  /** Closes every subscription of the grid and empties it. */
  stop(): void {
    for (const tile of this.tiles.values()) tile.sub?.close();
    this.tiles.clear();
    this.list.replaceChildren();
    this.stopButton.disabled = true;
    this.summarize();
  }

  private show(tile: Tile, metadata: Metadata): void {
    const status = metadata.status;
    tile.el.querySelector(".tile-status")!.textContent = status === undefined ? "—" : formatValue(status);
    const keys = Object.keys(metadata).length;
    tile.el.querySelector(".tile-meta")!.textContent =
      `${keys} key${keys === 1 ? "" : "s"} · ${tile.updates} update${tile.updates === 1 ? "" : "s"} · ${tile.sub?.lastEventId ?? ""}`;
    tile.el.dataset.values = JSON.stringify(metadata);
  }

  private setState(tile: Tile, state: ConnectionState | "error", detail: string): void {
    if (tile.el.dataset.state === "error" && state === "closed") return;
    tile.el.dataset.state = state;
    const label = state === "error" ? "error" : LABELS[state];
    const chip = tile.el.querySelector(".tile-state")!;
    chip.textContent = label;
    (chip as HTMLElement).title = detail;
    this.summarize();
  }

  private summarize(): void {
    if (this.tiles.size === 0) {
      this.summary.textContent = "Not watching any session.";
      return;
    }
    const live = [...this.tiles.values()].filter((t) => t.el.dataset.state === "open").length;
    this.summary.textContent = `${live} of ${this.tiles.size} sessions live, on one connection`;
  }
}

/** Session ids typed by QA: separated by commas, spaces or new lines. */
export function parseSessionList(text: string): string[] {
  return text.split(/[\s,]+/).filter((s) => s.length > 0);
}
