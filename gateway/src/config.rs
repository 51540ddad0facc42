//! Configuration: one clap struct, every field settable by flag or environment variable.
//! `gateway --help` is the reference. The defaults are the embedded mode: no AWS, no
//! MongoDB, everything in memory, bound to 127.0.0.1.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(name = "gateway", version, about, long_about = None)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// SQS queue the producer writes session metadata changes to. Unset: SQS ingest is off
    /// and updates arrive only through `POST /v1/sessions/{id}/metadata`.
    #[arg(long, env = "SQS_METADATA_QUEUE_URL")]
    pub sqs_metadata_queue_url: Option<String>,

    /// Dead-letter queue of the metadata queue, for its metrics and the `/ops` page.
    /// Unset: found from the metadata queue's redrive policy.
    #[arg(long, env = "SQS_METADATA_DLQ_URL")]
    pub sqs_metadata_dlq_url: Option<String>,

    /// Seconds between reads of the metadata queue's and the DLQ's attributes (depth,
    /// in-flight) for the metrics and `/ops`.
    #[arg(long, env = "QUEUE_STATS_INTERVAL_SECONDS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub queue_stats_interval_seconds: u64,

    /// Concurrent long-polling receivers on the metadata queue.
    #[arg(long, env = "SQS_POLLERS", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub sqs_pollers: u16,

    /// Long-poll wait per ReceiveMessage call, in seconds (SQS allows 0–20).
    #[arg(long, env = "SQS_WAIT_SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u8).range(0..=20))]
    pub sqs_wait_seconds: u8,

    /// SNS topic ARN for positive (`up`) feedback; `none` or unset disables the route.
    #[arg(long, env = "SNS_TOPIC_FEEDBACK_GOOD", default_value = "none")]
    pub sns_topic_feedback_good: TopicRoute,

    /// SNS topic ARN for negative (`down`) feedback; `none` or unset disables the route.
    #[arg(long, env = "SNS_TOPIC_FEEDBACK_BAD", default_value = "none")]
    pub sns_topic_feedback_bad: TopicRoute,

    /// SNS topic ARN for neutral (no rating) feedback; `none` or unset disables the route.
    #[arg(long, env = "SNS_TOPIC_FEEDBACK_NEUTRAL", default_value = "none")]
    pub sns_topic_feedback_neutral: TopicRoute,

    /// MongoDB connection string for feedback storage. Unset: an in-memory store that is
    /// lost on restart.
    #[arg(long, env = "MONGODB_URI")]
    pub mongodb_uri: Option<String>,

    /// MongoDB database holding the feedback collection.
    #[arg(long, env = "MONGODB_DATABASE", default_value = "session_gateway")]
    pub mongodb_database: String,

    /// MongoDB collection for feedback records (the outbox state lives in each record).
    #[arg(long, env = "MONGODB_FEEDBACK_COLLECTION", default_value = "feedback")]
    pub mongodb_feedback_collection: String,

    /// Longest accepted feedback comment, in characters.
    #[arg(long, env = "FEEDBACK_COMMENT_MAX_CHARS", default_value_t = 2000)]
    pub feedback_comment_max_chars: usize,

    /// Delay before the first retry of a failed SNS publish, in milliseconds; it doubles
    /// with each further failure.
    #[arg(long, env = "FEEDBACK_RETRY_BASE_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub feedback_retry_base_ms: u64,

    /// Longest delay between retries of a failed SNS publish, in milliseconds. Retries
    /// go on until SNS accepts the notification.
    #[arg(long, env = "FEEDBACK_RETRY_MAX_MS", default_value_t = 300_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub feedback_retry_max_ms: u64,

    /// Accept `POST /v1/sessions/{id}/metadata` (publish without SQS).
    #[arg(long, env = "HTTP_PUBLISH", default_value_t = true, action = clap::ArgAction::Set)]
    pub http_publish: bool,

    // ---- Access control (docs/SECURITY.md) ----
    /// HS256 secret (at least 32 bytes) that signs client JWTs. Any of the three key
    /// settings turns authentication on: every `/v1/sessions/…` request then needs a token.
    #[arg(long, env = "AUTH_JWT_SECRET", value_parser = parse_jwt_secret, hide_env_values = true, help_heading = "Access control")]
    pub auth_jwt_secret: Option<JwtSecret>,

    /// PEM file with the public key of the token issuer (RSA, EC P-256/P-384 or Ed25519):
    /// tokens signed RS*/PS*, ES256/ES384 or EdDSA with the matching private key.
    #[arg(
        long,
        env = "AUTH_JWT_PUBLIC_KEY_FILE",
        help_heading = "Access control"
    )]
    pub auth_jwt_public_key_file: Option<PathBuf>,

    /// JWKS URL of an identity provider (Keycloak, Auth0, Cognito…): keys picked by the
    /// token's `kid`, cached, fetched again for an unknown `kid` or an old set.
    #[arg(long, env = "AUTH_JWKS_URL", value_parser = parse_http_url, help_heading = "Access control")]
    pub auth_jwks_url: Option<String>,

    /// Shortest time between two JWKS fetches, in seconds (tokens with made-up `kid`s
    /// cannot make the gateway hammer the identity provider).
    #[arg(long, env = "AUTH_JWKS_MIN_REFRESH_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600), help_heading = "Access control")]
    pub auth_jwks_min_refresh_seconds: u64,

    /// Age in seconds after which the JWKS is fetched again on use (so removed keys stop
    /// working).
    #[arg(long, env = "AUTH_JWKS_MAX_AGE_SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400), help_heading = "Access control")]
    pub auth_jwks_max_age_seconds: u64,

    /// Required `iss` claim. Unset: the issuer is not checked.
    #[arg(long, env = "AUTH_JWT_ISSUER", help_heading = "Access control")]
    pub auth_jwt_issuer: Option<String>,

    /// Required `aud` claim (one of the token's audiences). Unset: not checked.
    #[arg(long, env = "AUTH_JWT_AUDIENCE", help_heading = "Access control")]
    pub auth_jwt_audience: Option<String>,

    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[arg(long, env = "AUTH_LEEWAY_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=300), help_heading = "Access control")]
    pub auth_leeway_seconds: u64,

    /// Cookie that may carry the token (HttpOnly, set by your login flow): used when there
    /// is no `Authorization` header.
    #[arg(long, env = "AUTH_COOKIE_NAME", default_value = "sg_token", value_parser = parse_cookie_name, help_heading = "Access control")]
    pub auth_cookie_name: String,

    /// Accept the token as the `access_token` query parameter (for a plain `EventSource`),
    /// the least safe source: URLs end up in proxy logs and browser history.
    #[arg(long, env = "AUTH_QUERY_TOKEN", default_value_t = true, action = clap::ArgAction::Set, help_heading = "Access control")]
    pub auth_query_token: bool,

    /// Serve without authentication on a non-loopback address. Without this the gateway
    /// refuses to start there unless a key is configured.
    #[arg(long, env = "ALLOW_ANONYMOUS", help_heading = "Access control")]
    pub allow_anonymous: bool,

    /// Origins allowed by CORS, comma-separated (`https://app.example.com,http://localhost:5173`),
    /// with credentials (cookies). `*`: any origin, never with credentials. Empty: no
    /// cross-origin access.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = "", value_parser = parse_cors_origins, help_heading = "Access control")]
    pub cors_allowed_origins: CorsOrigins,
    // ---- end of access control ----
    /// Redis holding every session's state and history, so several gateways act as one:
    /// `redis://[user:pass@]host:port`, `rediss://…` (TLS), or a Redis Cluster as
    /// `redis-cluster://host:port?node=host2:port2` or a comma-separated list of
    /// `redis://` seed nodes. Unset: sessions live in this process only.
    #[arg(
        long,
        env = "REDIS_URL",
        hide_env_values = true,
        help_heading = "Several gateways"
    )]
    pub redis_url: Option<String>,

    /// With Redis: seconds a session's state and history are kept after its last write.
    #[arg(long, env = "SESSION_TTL_SECONDS", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Several gateways")]
    pub session_ttl_seconds: u64,

    /// With Redis: seconds an SQS MessageId is remembered, so a redelivered message is
    /// applied once whichever node receives it.
    #[arg(long, env = "MESSAGE_DEDUP_SECONDS", default_value_t = 3_600, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Several gateways")]
    pub message_dedup_seconds: u64,

    /// Events kept per session for `Last-Event-ID` replay.
    #[arg(long, env = "REPLAY_BUFFER", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub replay_buffer: u32,

    /// Events queued per SSE subscriber before it is considered slow and resynced.
    #[arg(long, env = "SUBSCRIBER_BUFFER", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub subscriber_buffer: u32,

    /// Seconds between SSE heartbeat comments.
    #[arg(long, env = "HEARTBEAT_SECONDS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub heartbeat_seconds: u64,

    /// Without Redis: seconds a session with no subscribers and no writes is kept in
    /// memory.
    #[arg(long, env = "SESSION_IDLE_SECONDS", default_value_t = 3600)]
    pub session_idle_seconds: u64,

    // --- limits: what one request or one client may use (docs/SECURITY.md, "Limits") ---
    /// Largest accepted request body, in bytes; larger: `413 payload_too_large`.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// Most keys in one publish's `metadata`; more: `422 metadata_too_many_keys`.
    #[arg(long, env = "MAX_METADATA_KEYS", default_value_t = 64)]
    pub max_metadata_keys: usize,

    /// Deepest nesting of a metadata value (a scalar is depth 1, `{"a":1}` depth 2);
    /// deeper: `422 metadata_too_deep`.
    #[arg(long, env = "MAX_METADATA_DEPTH", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub max_metadata_depth: u32,

    /// Largest metadata value, in bytes of compact JSON; larger: `422 metadata_value_too_large`.
    #[arg(long, env = "MAX_METADATA_VALUE_BYTES", default_value_t = 8192)]
    pub max_metadata_value_bytes: usize,

    /// Open SSE streams per client IP address; more: `429 too_many_streams` with `Retry-After`.
    #[arg(long, env = "MAX_STREAMS_PER_CLIENT", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams_per_client: u32,

    /// Open SSE streams in total; more: `503 too_many_streams` with `Retry-After`.
    #[arg(long, env = "MAX_STREAMS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams: u32,

    /// Sessions one multiplexed stream (`/v1/events`) may carry; more:
    /// `400`/`422 too_many_sessions`.
    #[arg(long, env = "MAX_SESSIONS_PER_STREAM", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_sessions_per_stream: u32,

    /// Publish and feedback POSTs per client IP address per minute (sustained rate);
    /// over it: `429 rate_limited` with `Retry-After`. 0 disables the limit.
    #[arg(long, env = "POST_RATE_PER_MINUTE", default_value_t = 600)]
    pub post_rate_per_minute: u32,

    /// POSTs a client IP address may send at once (the bucket the sustained rate refills).
    #[arg(long, env = "POST_RATE_BURST", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub post_rate_burst: u32,

    /// Seconds a client may take to send a request's headers (also how long an idle
    /// kept-alive connection stays open); slower connections are closed, unanswered.
    #[arg(long, env = "HEADER_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_seconds: u64,

    /// Seconds a client may take to send a request's body; slower: `408 request_timeout`.
    #[arg(long, env = "BODY_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout_seconds: u64,
    /// Most keys one session's state holds (deleted keys' tombstones are capped at the same
    /// number, oldest collected first); a change that would hold more: `422 session_full`.
    #[arg(long, env = "MAX_SESSION_KEYS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_session_keys: u32,

    /// Largest session snapshot, in bytes (each key plus its value's compact JSON); a
    /// change that would make it larger: `422 snapshot_too_large`.
    #[arg(long, env = "MAX_SNAPSHOT_BYTES", default_value_t = 256 * 1024, value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub max_snapshot_bytes: u64,

    /// Seconds a deleted key's tombstone is kept; a write older than the delete arriving
    /// later than this may bring the key back (docs/SECURITY.md).
    #[arg(long, env = "TOMBSTONE_HORIZON_SECONDS", default_value_t = 3600)]
    pub tombstone_horizon_seconds: u64,

    /// Seconds a change's `timestamp` may be ahead of this gateway's clock; further:
    /// `422 timestamp_in_future` over HTTP, dead-lettered from SQS.
    #[arg(long, env = "MAX_CLOCK_SKEW_SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=86_400 * 365))]
    pub max_clock_skew_seconds: u64,

    /// Without Redis: most sessions held in memory; at the bound the least recently used
    /// sessions without open streams are dropped.
    #[arg(long, env = "MAX_SESSIONS", default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_sessions: u32,

    /// Metadata fields that may reach browsers, comma-separated (`status,agent_state`);
    /// others are dropped when a change arrives. Unset: every field.
    #[arg(long, env = "GATEWAY_METADATA_FIELDS", value_delimiter = ',')]
    pub metadata_fields: Option<Vec<String>>,

    /// Open SSE streams per token subject (with authentication on); more: `429
    /// too_many_streams` with `Retry-After`.
    #[arg(long, env = "MAX_STREAMS_PER_PRINCIPAL", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams_per_principal: u32,
    // --- end of limits ---
    /// Folder with a built QA demo page to serve at `/` instead of the one embedded in the
    /// binary (a release build embeds web-demo/dist as it was when built; a debug build
    /// reads that folder from disk).
    #[arg(long, env = "DEMO_DIR")]
    pub demo_dir: Option<PathBuf>,

    /// Log format: `text` or `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

impl Config {
    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_seconds)
    }

    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_seconds)
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_seconds)
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_seconds)
    }
}

/// The JWT signing secret; its `Debug` never shows the value.
#[derive(Clone)]
pub struct JwtSecret(pub Vec<u8>);

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(…)")
    }
}

fn parse_jwt_secret(raw: &str) -> Result<JwtSecret, String> {
    if raw.len() < 32 {
        return Err(format!(
            "the secret is {} bytes; HS256 needs at least 32",
            raw.len()
        ));
    }
    Ok(JwtSecret(raw.as_bytes().to_vec()))
}

fn parse_http_url(raw: &str) -> Result<String, String> {
    let uri: axum::http::Uri = raw
        .parse()
        .map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(_)) => Ok(raw.to_owned()),
        _ => Err(format!("{raw:?} is not an http(s) URL")),
    }
}

/// A cookie name is an RFC 6265 token: visible ASCII without separators.
fn parse_cookie_name(raw: &str) -> Result<String, String> {
    let separator = |c: char| "()<>@,;:\\\"/[]?={} \t".contains(c);
    if !raw.is_empty() && raw.chars().all(|c| c.is_ascii_graphic() && !separator(c)) {
        Ok(raw.to_owned())
    } else {
        Err(format!("{raw:?} is not a valid cookie name"))
    }
}

/// Which cross-origin pages may call the gateway from a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin, without credentials: a page can use a token it holds, never the cookie.
    Any,
    /// These origins (`scheme://host[:port]`, lowercase), with credentials. Empty: none.
    List(Vec<String>),
}

fn parse_cors_origins(raw: &str) -> Result<CorsOrigins, String> {
    if raw.trim() == "*" {
        return Ok(CorsOrigins::Any);
    }
    raw.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(parse_origin)
        .collect::<Result<_, _>>()
        .map(CorsOrigins::List)
}

/// An origin as browsers send it: `http(s)://host[:port]`, no path, no trailing slash.
fn parse_origin(raw: &str) -> Result<String, String> {
    let bad = |why: &str| format!("{raw:?} is not an origin ({why}); write scheme://host[:port]");
    if raw == "*" {
        return Err(bad("`*` cannot be mixed with listed origins"));
    }
    let uri: axum::http::Uri = raw.parse().map_err(|_| bad("not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(bad("the scheme must be http or https"));
    }
    let authority = uri.authority().ok_or_else(|| bad("no host"))?;
    if authority.as_str().contains('@') || authority.host().is_empty() {
        return Err(bad("no user info, a host is required"));
    }
    let (_, rest) = raw.split_once("://").ok_or_else(|| bad("no scheme"))?;
    if rest.len() != authority.as_str().len() {
        return Err(bad("no path, query or trailing slash"));
    }
    Ok(raw.to_ascii_lowercase())
}

/// Where one sentiment's notifications go: an SNS topic, or nowhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicRoute {
    Disabled,
    Topic(String),
}

impl TopicRoute {
    pub fn arn(&self) -> Option<&str> {
        match self {
            Self::Disabled => None,
            Self::Topic(arn) => Some(arn),
        }
    }
}

impl FromStr for TopicRoute {
    type Err = String;

    /// `none` or empty disables the route; anything else must be an SNS topic ARN,
    /// `arn:{partition}:sns:{region}:{account}:{name}`.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        if raw.is_empty() || raw.eq_ignore_ascii_case("none") {
            return Ok(Self::Disabled);
        }
        let parts: Vec<&str> = raw.split(':').collect();
        let valid = parts.len() == 6
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && parts[2] == "sns"
            && !parts[3].is_empty()
            && parts[4].len() == 12
            && parts[4].bytes().all(|b| b.is_ascii_digit())
            && (1..=256).contains(&parts[5].len())
            && parts[5]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if valid {
            Ok(Self::Topic(raw.to_owned()))
        } else {
            Err(format!(
                "{raw:?} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME) nor `none`"
            ))
        }
    }
}

impl fmt::Display for TopicRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.arn().unwrap_or("none"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_embedded_mode() {
        let config = Config::try_parse_from(["gateway"]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert!(config.sqs_metadata_queue_url.is_none());
        assert!(config.mongodb_uri.is_none());
        assert!(config.redis_url.is_none());
        assert_eq!(config.sns_topic_feedback_good, TopicRoute::Disabled);
        assert!(config.http_publish);
    }

    #[test]
    fn cors_origins_are_validated() {
        assert_eq!(parse_cors_origins(""), Ok(CorsOrigins::List(vec![])));
        assert_eq!(parse_cors_origins(" * "), Ok(CorsOrigins::Any));
        assert_eq!(
            parse_cors_origins("https://App.example.com, http://localhost:5173"),
            Ok(CorsOrigins::List(vec![
                "https://app.example.com".into(),
                "http://localhost:5173".into()
            ]))
        );
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "ftp://app.example.com",
            "https://user@app.example.com",
            "https://a.example.com,*",
            "null",
        ] {
            assert!(parse_cors_origins(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn auth_settings_are_validated() {
        assert!(parse_cookie_name("sg_token").is_ok());
        assert!(parse_cookie_name("a b").is_err());
        assert!(parse_cookie_name("a;b").is_err());
        assert!(parse_http_url("https://idp.example.com/.well-known/jwks.json").is_ok());
        assert!(parse_http_url("idp.example.com/jwks").is_err());
        let config = Config::try_parse_from(["gateway"]).unwrap();
        assert_eq!(config.cors_allowed_origins, CorsOrigins::List(vec![]));
        assert_eq!(config.auth_leeway_seconds, 30);
        assert!(!config.allow_anonymous);
    }

    #[test]
    fn topic_routes_parse() {
        assert_eq!("none".parse::<TopicRoute>(), Ok(TopicRoute::Disabled));
        assert_eq!("".parse::<TopicRoute>(), Ok(TopicRoute::Disabled));
        let arn = "arn:aws:sns:us-east-1:123456789012:feedback-good";
        assert_eq!(arn.parse::<TopicRoute>(), Ok(TopicRoute::Topic(arn.into())));
        for bad in [
            "feedback-good",
            "arn:aws:sqs:us-east-1:123456789012:q",
            "arn:aws:sns:us-east-1:12:t",
        ] {
            assert!(bad.parse::<TopicRoute>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bad_topic_names_the_variable() {
        let err = Config::try_parse_from(["gateway", "--sns-topic-feedback-bad", "oops"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--sns-topic-feedback-bad"), "{err}");
        assert!(err.contains("not an SNS topic ARN"), "{err}");
    }
}
