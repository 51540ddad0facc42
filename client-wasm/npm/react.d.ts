// @session-gateway/client/react: a React hook over GatewayClient.subscribe.
import type { ConnectionState, GatewayClient, GatewayError, Metadata } from "./index.js";

/** What `useSession` returns: the live view of one session. */
export interface SessionView {
  /** The merged metadata; `null` until the first snapshot arrives. */
  metadata: Metadata | null;
  /** The subscription's connection state; `closed` when there is no client or session id. */
  state: ConnectionState;
  /** The last error; cleared when the stream is open again, kept after a fatal one. */
  error: GatewayError | null;
}

/**
 * Subscribes to `sessionId` while the component is mounted. The subscription is closed on
 * unmount and replaced when `client` or `sessionId` changes. Pass `null` to subscribe to
 * nothing. Create the client once (outside the component, or with `useMemo`).
 */
export declare function useSession(
  client: GatewayClient | null | undefined,
  sessionId: string | null | undefined,
): SessionView;
