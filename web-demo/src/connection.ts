// Watching one session: subscribes through the SDK, drives the connection badge and feeds
// the status panel and the event log.

import type {
  ConnectionState,
  GatewayClient,
  GatewayError,
  StateInfo,
  Subscription,
} from "@session-gateway/client";
import { asGatewayError, byId, describeError, formatTime } from "./dom";
import type { EventLog } from "./eventlog";
import type { StatusPanel } from "./status";

/** What the badge shows: the SDK's states, `open` named `live`, plus idle and error. */
type BadgeState = "idle" | "connecting" | "live" | "reconnecting" | "closed" | "error";

export class SessionWatch {
  private readonly badge = byId("badge");
  private readonly badgeLabel = byId("badge-label");
  private readonly badgeDetail = byId("badge-detail");
  private readonly disconnectButton = byId<HTMLButtonElement>("disconnect");
  private sub: Subscription | null = null;
  /** Bumped on every connect and disconnect so callbacks of a replaced subscription are ignored. */
  private generation = 0;
  /** A fatal error of the current subscription; the `closed` state that follows keeps showing it. */
  private fatal: GatewayError | null = null;

  constructor(
    private readonly status: StatusPanel,
    private readonly log: EventLog,
  ) {}

  connect(client: GatewayClient, sessionId: string): void {
    this.stop();
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    this.fatal = null;
    this.status.clear("Waiting for the session's snapshot…");
    this.disconnectButton.disabled = false;
    try {
      this.sub = this.subscribe(client, sessionId, current);
    } catch (err) {
      // The SDK checks the session id before sending anything and throws on a bad one.
      this.onError({ ...asGatewayError(err), fatal: true });
      this.disconnectButton.disabled = true;
    }
  }

  private subscribe(client: GatewayClient, sessionId: string, current: () => boolean): Subscription {
    return client.subscribe(sessionId, {
      onState: (state, info) => current() && this.onState(state, info),
      onError: (error) => current() && this.onError(asGatewayError(error)),
      onSnapshot: (snapshot) =>
        current() && this.log.add("snapshot", snapshot.last_event_id, snapshot),
      onUpdate: (event, eventId) => current() && this.log.add("metadata", eventId, event),
      onMetadata: (metadata) => {
        if (!current()) return;
        this.status.show(metadata);
        this.status.setPosition(this.sub?.lastEventId ?? null);
      },
    });
  }

  /** Closes the stream on the user's request; the view keeps its last values. */
  disconnect(): void {
    if (!this.sub) return;
    this.stop();
    this.setBadge("closed", "closed", `disconnected at ${formatTime(new Date())}`);
    this.log.add("state", null, { state: "closed", reason: "disconnected by user" });
  }

  private stop(): void {
    this.generation++;
    this.sub?.close();
    this.sub = null;
    this.disconnectButton.disabled = true;
  }

  private onState(state: ConnectionState, info: StateInfo): void {
    this.log.add("state", null, { state, ...info });
    switch (state) {
      case "connecting":
        this.setBadge("connecting", "connecting", "");
        break;
      case "open":
        this.setBadge("live", "live", `since ${formatTime(new Date())}`);
        break;
      case "reconnecting": {
        const parts = [`attempt ${info.attempt}`];
        if (info.retryInMs !== undefined) parts.push(`next try in ${(info.retryInMs / 1000).toFixed(1)} s`);
        if (info.error) parts.push(describeError(info.error));
        this.setBadge("reconnecting", "reconnecting", parts.join(" · "));
        break;
      }
      case "closed": {
        const error = info.error ? asGatewayError(info.error) : this.fatal;
        if (error) {
          this.setBadge("error", "error", describeError(error));
        } else {
          this.setBadge("closed", "closed", "");
        }
        this.sub = null;
        this.disconnectButton.disabled = true;
        break;
      }
    }
  }

  private onError(error: GatewayError): void {
    this.log.add("error", null, error);
    if (error.fatal) {
      this.fatal = error;
      this.setBadge("error", "error", describeError(error));
      this.status.setEmptyMessage("Not connected: see the error above.");
    }
  }

  private setBadge(state: BadgeState, label: string, detail: string): void {
    this.badge.dataset.state = state;
    this.badgeLabel.textContent = label;
    this.badgeDetail.textContent = detail;
  }
}
