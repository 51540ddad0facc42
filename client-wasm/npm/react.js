// @session-gateway/client/react: a React hook over GatewayClient.subscribe. Plain
// JavaScript (no JSX, no build step); React is an optional peer dependency of the package.
import { useEffect, useState } from "react";

const CONNECTING = { metadata: null, state: "connecting", error: null };

/**
 * Subscribes to a session while the component is mounted and returns its live view:
 * `{ metadata, state, error }`. The subscription is closed on unmount and replaced when
 * `client` or `sessionId` changes; a view never shows another session's data.
 */
export function useSession(client, sessionId) {
  // The view is stored with the (client, session) it belongs to, so that the render
  // right after a change of session shows "connecting" rather than the old session.
  const [held, setHeld] = useState({ client: null, sessionId: null, view: CONNECTING });

  useEffect(() => {
    if (!client || !sessionId) return undefined;
    // Off once this effect is cleaned up: the `closed` state that `close()` reports
    // belongs to a view nobody shows any more.
    let live = true;
    const update = (change) =>
      live &&
      setHeld((current) => {
        const base = current.client === client && current.sessionId === sessionId ? current.view : CONNECTING;
        return { client, sessionId, view: { ...base, ...change(base) } };
      });
    let subscription;
    try {
      subscription = client.subscribe(sessionId, {
        onMetadata: (metadata) => update(() => ({ metadata })),
        onError: (error) => update(() => ({ error })),
        // `open` clears a past error; `closed` after a fatal error keeps it.
        onState: (state, info) =>
          update((view) => ({ state, error: state === "open" ? null : (info.error ?? view.error) })),
      });
    } catch (error) {
      // A malformed session id: reported, not thrown into the render.
      update(() => ({ state: "closed", error }));
      return undefined;
    }
    return () => {
      live = false;
      subscription.close();
    };
  }, [client, sessionId]);

  if (!client || !sessionId) return { metadata: null, state: "closed", error: null };
  return held.client === client && held.sessionId === sessionId ? held.view : CONNECTING;
}
