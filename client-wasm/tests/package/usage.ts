// Type-checked (strict) against the installed tarball by scripts/test-sdk.sh: the README's
// example plus every method, and lines that must NOT compile (a type that had decayed to
// `any` would let them through, and the `@ts-expect-error` would then fail the check).
import {
  GatewayClient,
  type ConnectionState,
  type FeedbackRecord,
  type GatewayError,
  type JsonValue,
  type Metadata,
  type MetadataEvent,
  type SnapshotEvent,
  type StateInfo,
  type Subscription,
} from "@session-gateway/client";
import { useSession, type SessionView } from "@session-gateway/client/react";

const client = new GatewayClient({ baseUrl: "http://127.0.0.1:8080", tokenProvider: async () => "jwt" });
const sub: Subscription = client.subscribe("user-session-123", {
  onSnapshot: (snapshot: SnapshotEvent) => console.log(snapshot.metadata, snapshot.last_event_id),
  onUpdate: (event: MetadataEvent, eventId: string) => console.log(event.operation, event.timestamp, eventId),
  onMetadata: (metadata: Metadata) => console.log(metadata["status"]),
  onState: (state: ConnectionState, info: StateInfo) => console.log(state, info.attempt, info.retryInMs),
  onError: (error: GatewayError) => console.log(error.status, error.code, error.message, error.fatal),
});
const state: "connecting" | "open" | "reconnecting" | "closed" = sub.state;
const status: JsonValue | undefined = sub.metadata["status"];
const resumeFrom: string | undefined = sub.lastEventId;
console.log(state, status, resumeFrom);
sub.close();

async function everything(): Promise<FeedbackRecord> {
  const snapshot = await client.getSnapshot("user-session-123");
  const updatedAt: string | null = snapshot.updated_at;
  const info = await client.info();
  const auth: "none" | "jwt" = info.auth;
  const published = await client.publish("user-session-123", {
    operation: "update",
    metadata: { status: "processing", progress: { step: 1, of: [1, 2] }, done: false, eta: null },
  });
  const eventId: string | null = published.event_id;
  const page = await client.listFeedback("user-session-123", { limit: 10 });
  const cursor: string | null = page.next_cursor;
  console.log(updatedAt, auth, eventId, cursor, page.items.length);
  await client.sendFeedback("user-session-123", { rating: null });
  return client.sendFeedback("user-session-123", { rating: "up", comment: "great" }, { idempotencyKey: "k1" });
}

function mustNotCompile(): void {
  // @ts-expect-error a rating is "up", "down" or null
  void client.sendFeedback("s", { rating: "sideways" });
  // @ts-expect-error a handler gets a MetadataEvent, not a number
  client.subscribe("s", { onUpdate: (event: number) => event });
  // @ts-expect-error the state is one of four strings
  const wrong: "paused" = sub.state;
  // @ts-expect-error metadata values are JSON, not functions
  const value: () => void = sub.metadata["status"];
  // @ts-expect-error an operation is "update" or "delete"
  void client.publish("s", { operation: "upsert", metadata: {} });
  console.log(wrong, value);
}

// The React hook (its types only: React itself is not needed to check them).
function hook(): void {
  const view: SessionView = useSession(client, "user-session-123");
  const shown: Metadata | null = view.metadata;
  const connection: ConnectionState = view.state;
  const problem: GatewayError | null = view.error;
  useSession(null, undefined);
  // @ts-expect-error the session id is a string
  useSession(client, 42);
  // @ts-expect-error metadata may be null before the first snapshot
  const never: Metadata = view.metadata;
  console.log(shown, connection, problem, never);
}

void everything;
void hook;
void mustNotCompile;
