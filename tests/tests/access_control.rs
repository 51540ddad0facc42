//! Access control over real HTTP: token verification (HS256 secret, PEM public key, JWKS
//! with rotation), token sources, per-route scopes, per-session grants, CORS, and the
//! refusal to serve anonymously on a public address. Gateways run in this process
//! (`gateway::run` on port 0) except where the process's own output is checked.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e_tests::app::{self, App};
use e2e_tests::{Gateway, SseStream};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!";
const ISSUER: &str = "https://idp.test";
const AUDIENCE: &str = "session-gateway";

fn fixture(name: &str) -> String {
    format!("{}/fixtures/auth/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

fn now() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.unwrap().as_secs() as i64
}

/// Standard claims for the PEM/JWKS gateway, with `extra` merged over them.
fn claims(extra: Value) -> Value {
    let mut claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "exp": now() + 600,
        "sessions": ["s1"], "scope": "subscribe feedback",
    });
    for (k, v) in extra.as_object().unwrap() {
        match v {
            Value::Null => claims.as_object_mut().unwrap().remove(k),
            _ => claims.as_object_mut().unwrap().insert(k.clone(), v.clone()),
        };
    }
    claims
}

enum Signer {
    Rsa(&'static str),
    Ec(&'static str),
    Ed(&'static str),
    Hmac(Vec<u8>),
}

fn sign(signer: Signer, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let key = match signer {
        Signer::Rsa(f) => EncodingKey::from_rsa_pem(&pem(f)).unwrap(),
        Signer::Ec(f) => EncodingKey::from_ec_pem(&pem(f)).unwrap(),
        Signer::Ed(f) => EncodingKey::from_ed_pem(&pem(f)).unwrap(),
        Signer::Hmac(secret) => EncodingKey::from_secret(&secret),
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, &key).unwrap()
}

fn rs256(claims: &Value) -> String {
    sign(Signer::Rsa("rsa-a.key.pem"), Algorithm::RS256, None, claims)
}

fn hs256(claims: &Value) -> String {
    sign(Signer::Hmac(SECRET.into()), Algorithm::HS256, None, claims)
}

/// Unpadded base64url, as JWTs use.
fn b64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| n << 8 | *b as u32) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// A JWK of a private key fixture's public half, with `kid`.
fn jwk(signer: Signer, alg: Algorithm, kid: &str) -> Jwk {
    let key = match signer {
        Signer::Rsa(f) => EncodingKey::from_rsa_pem(&pem(f)).unwrap(),
        Signer::Ec(f) => EncodingKey::from_ec_pem(&pem(f)).unwrap(),
        Signer::Ed(f) => EncodingKey::from_ed_pem(&pem(f)).unwrap(),
        Signer::Hmac(secret) => EncodingKey::from_secret(&secret),
    };
    let mut jwk = Jwk::from_encoding_key(&key, alg).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

/// A JWKS endpoint on a local axum server: its key set can be replaced while it runs, and
/// it counts how often the gateway fetched it.
struct JwksServer {
    url: String,
    keys: Arc<Mutex<JwkSet>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(keys: Vec<Jwk>) -> Self {
        let keys = Arc::new(Mutex::new(JwkSet { keys }));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (set, count) = (keys.clone(), fetches.clone());
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                count.fetch_add(1, Ordering::SeqCst);
                let body = serde_json::to_value(&*set.lock().unwrap()).unwrap();
                async move { axum::Json(body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, keys, fetches }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// A request's status, `error.code`, `error.reason` and `WWW-Authenticate` header.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    code: String,
    reason: String,
    challenge: Option<String>,
}

async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let text = |field: &str| body["error"][field].as_str().unwrap_or("").to_owned();
    Answer {
        status,
        code: text("code"),
        reason: text("reason"),
        challenge,
    }
}

/// A gateway with an RSA public key (PEM), a JWKS holding an EC and an Ed25519 key, and
/// an issuer and audience to check.
async fn identity_provider_gateway() -> (App, JwksServer) {
    let jwks = JwksServer::start(vec![
        jwk(Signer::Ec("ec-p256.key.pem"), Algorithm::ES256, "ec-1"),
        jwk(Signer::Ed("ed25519.key.pem"), Algorithm::EdDSA, "ed-1"),
    ])
    .await;
    let key_file = fixture("rsa-a.pub.pem");
    let app = App::start(&[
        "--auth-jwt-public-key-file",
        &key_file,
        "--auth-jwks-url",
        &jwks.url,
        "--auth-jwt-issuer",
        ISSUER,
        "--auth-jwt-audience",
        AUDIENCE,
    ])
    .await;
    (app, jwks)
}

/// Every hostile or insufficient token gets its exact status, code and reason; 401s carry
/// a Bearer challenge, and no case leaks the JWT library's wording.
#[tokio::test]
async fn hostile_tokens_get_exact_statuses_and_reasons() {
    let (app, _jwks) = identity_provider_gateway().await;
    let client = reqwest::Client::new();
    let valid = rs256(&claims(json!({})));
    let tampered = {
        let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
        parts[1] = b64(claims(json!({"sessions": "*"})).to_string().as_bytes());
        parts.join(".")
    };
    let alg_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims(json!({})).to_string().as_bytes())
    );
    // HS256 keyed with the RSA public key the gateway trusts: the classic key confusion.
    let confused = sign(
        Signer::Hmac(pem("rsa-a.pub.pem")),
        Algorithm::HS256,
        None,
        &claims(json!({})),
    );
    let es256 = |kid: &str| {
        let c = claims(json!({}));
        sign(
            Signer::Ec("ec-p256.key.pem"),
            Algorithm::ES256,
            Some(kid),
            &c,
        )
    };
    let other_rsa = sign(
        Signer::Rsa("rsa-b.key.pem"),
        Algorithm::RS256,
        None,
        &claims(json!({})),
    );
    let snapshot = "/v1/sessions/s1";
    let cases: Vec<(&str, Option<String>, &str, u16, &str)> = vec![
        ("no token", None, snapshot, 401, "token_missing"),
        (
            "expired",
            Some(rs256(&claims(json!({"exp": now() - 120})))),
            snapshot,
            401,
            "token_expired",
        ),
        (
            "not yet valid",
            Some(rs256(&claims(json!({"nbf": now() + 600})))),
            snapshot,
            401,
            "token_not_yet_valid",
        ),
        (
            "no exp",
            Some(rs256(&claims(json!({"exp": null})))),
            snapshot,
            401,
            "token_invalid",
        ),
        (
            "tampered claims",
            Some(tampered),
            snapshot,
            401,
            "token_invalid",
        ),
        (
            "signed by another RSA key",
            Some(other_rsa),
            snapshot,
            401,
            "token_invalid",
        ),
        (
            "wrong issuer",
            Some(rs256(&claims(json!({"iss": "https://evil.test"})))),
            snapshot,
            401,
            "token_wrong_issuer",
        ),
        (
            "no issuer",
            Some(rs256(&claims(json!({"iss": null})))),
            snapshot,
            401,
            "token_wrong_issuer",
        ),
        (
            "wrong audience",
            Some(rs256(&claims(json!({"aud": "another-api"})))),
            snapshot,
            401,
            "token_wrong_audience",
        ),
        (
            "unknown kid",
            Some(es256("no-such-key")),
            snapshot,
            401,
            "unknown_key",
        ),
        ("alg none", Some(alg_none), snapshot, 401, "token_invalid"),
        (
            "HS256 keyed with the RSA public key",
            Some(confused),
            snapshot,
            401,
            "token_invalid",
        ),
        (
            "garbage",
            Some("not.a.jwt".into()),
            snapshot,
            401,
            "token_invalid",
        ),
        (
            "huge token",
            Some(format!("{valid}{}", "A".repeat(20_000))),
            snapshot,
            401,
            "token_invalid",
        ),
        (
            "another session",
            Some(valid.clone()),
            "/v1/sessions/s2",
            403,
            "session_not_allowed",
        ),
        (
            "no sessions claim",
            Some(rs256(&claims(json!({"sessions": null})))),
            snapshot,
            403,
            "session_not_allowed",
        ),
        (
            "feedback scope only",
            Some(rs256(&claims(json!({"scope": "feedback"})))),
            snapshot,
            403,
            "scope_missing",
        ),
        (
            "metrics without admin",
            Some(valid.clone()),
            "/metrics",
            403,
            "scope_missing",
        ),
        (
            "metrics without token",
            None,
            "/metrics",
            401,
            "token_missing",
        ),
    ];
    for (name, token, path, status, reason) in cases {
        let mut request = client.get(app.url(path));
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        let got = answer(request).await;
        let code = if status == 401 {
            "unauthorized"
        } else {
            "forbidden"
        };
        assert_eq!(
            (got.status, got.code.as_str(), got.reason.as_str()),
            (status, code, reason),
            "{name}"
        );
        let challenge = got.challenge.unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "{name}: {challenge:?}");
    }

    let publish = json!({"operation": "update", "metadata": {"status": "ok"}});
    let subscriber_publishes = client
        .post(app.url("/v1/sessions/s1/metadata"))
        .bearer_auth(&valid)
        .json(&publish);
    let got = answer(subscriber_publishes).await;
    assert_eq!((got.status, got.reason.as_str()), (403, "scope_missing"));
    let reader = rs256(&claims(json!({"scope": "subscribe"})));
    let reader_posts_feedback = client
        .post(app.url("/v1/sessions/s1/feedback"))
        .bearer_auth(&reader)
        .json(&json!({"rating": "up"}));
    let got = answer(reader_posts_feedback).await;
    assert_eq!((got.status, got.reason.as_str()), (403, "scope_missing"));
}

/// Valid tokens from each key type work, within the leeway, and each route's scope
/// admits exactly its holders.
#[tokio::test]
async fn valid_tokens_of_every_key_type_get_what_their_scopes_allow() {
    let (app, _jwks) = identity_provider_gateway().await;
    let client = reqwest::Client::new();
    let c = claims(json!({}));
    let tokens = [
        ("RS256 (PEM)", rs256(&c)),
        (
            "PS256 (PEM)",
            sign(Signer::Rsa("rsa-a.key.pem"), Algorithm::PS256, None, &c),
        ),
        (
            "ES256 (JWKS)",
            sign(
                Signer::Ec("ec-p256.key.pem"),
                Algorithm::ES256,
                Some("ec-1"),
                &c,
            ),
        ),
        (
            "EdDSA (JWKS)",
            sign(
                Signer::Ed("ed25519.key.pem"),
                Algorithm::EdDSA,
                Some("ed-1"),
                &c,
            ),
        ),
        (
            "expired within the leeway",
            rs256(&claims(json!({"exp": now() - 10}))),
        ),
        (
            "several audiences",
            rs256(&claims(json!({"aud": ["other", AUDIENCE]}))),
        ),
    ];
    for (name, token) in tokens {
        let got = client.get(app.url("/v1/sessions/s1")).bearer_auth(&token);
        assert_eq!(got.send().await.unwrap().status(), 200, "{name}");
    }

    let publisher = rs256(&claims(json!({"scope": "publish", "sessions": "*"})));
    let publish = client
        .post(app.url("/v1/sessions/any-session/metadata"))
        .bearer_auth(&publisher)
        .json(&json!({"operation": "update", "metadata": {"status": "ok"}}));
    assert_eq!(publish.send().await.unwrap().status(), 202);
    let feedback = client
        .post(app.url("/v1/sessions/s1/feedback"))
        .bearer_auth(rs256(&claims(json!({"scope": "feedback"}))))
        .json(&json!({"rating": "up"}));
    assert_eq!(feedback.send().await.unwrap().status(), 201);

    let admin = rs256(&claims(json!({"scope": "admin", "sessions": null})));
    let metrics = client.get(app.url("/metrics")).bearer_auth(&admin);
    assert_eq!(metrics.send().await.unwrap().status(), 200);
    let readyz = |token: Option<&str>| {
        let mut request = client.get(app.url("/readyz"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let anonymous = readyz(None).await;
    assert_eq!(anonymous, json!({"status": "ready"}), "no component detail");
    assert_eq!(readyz(Some(&rs256(&c))).await, json!({"status": "ready"}));
    assert!(readyz(Some(&admin)).await["components"].is_object());
    let info: Value = client
        .get(app.url("/v1/info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["auth"], "jwt", "/v1/info stays open");
}

/// The token may come as a Bearer header, a cookie or the `access_token` query; the first
/// source present is the only one read (header, then cookie, then query).
#[tokio::test]
async fn token_sources_follow_their_precedence() {
    let app = App::start(&[
        "--auth-jwt-secret",
        SECRET,
        "--auth-cookie-name",
        "sg_token",
    ])
    .await;
    let client = reqwest::Client::new();
    let s1 = hs256(&json!({"exp": now() + 600, "sessions": ["s1"]}));
    let s2 = hs256(&json!({"exp": now() + 600, "sessions": ["s2"]}));
    let bad = "bad".to_owned();
    let cookie = |t: &str| format!("theme=dark; sg_token={t}");
    let cases = [
        ("cookie", None, Some(cookie(&s1)), None, 200, ""),
        ("query", None, None, Some(&s1), 200, ""),
        (
            "header over cookie",
            Some(&s2),
            Some(cookie(&s1)),
            None,
            403,
            "session_not_allowed",
        ),
        (
            "cookie over query",
            None,
            Some(cookie(&s2)),
            Some(&s1),
            403,
            "session_not_allowed",
        ),
        (
            "a bad header is not skipped",
            Some(&bad),
            Some(cookie(&s1)),
            None,
            401,
            "token_invalid",
        ),
        (
            "another cookie name",
            None,
            Some(format!("other={s1}")),
            None,
            401,
            "token_missing",
        ),
    ];
    for (name, header, cookie, query, status, reason) in cases {
        let url = match query {
            Some(t) => app.url(&format!("/v1/sessions/s1?access_token={t}")),
            None => app.url("/v1/sessions/s1"),
        };
        let mut request = client.get(url);
        if let Some(t) = header {
            request = request.bearer_auth(t);
        }
        if let Some(c) = cookie {
            request = request.header("cookie", c);
        }
        let got = answer(request).await;
        assert_eq!(
            (got.status, got.reason.as_str()),
            (status, reason),
            "{name}"
        );
    }

    let no_query = App::start(&["--auth-jwt-secret", SECRET, "--auth-query-token", "false"]).await;
    let url = no_query.url(&format!("/v1/sessions/s1?access_token={s1}"));
    let got = answer(client.get(url)).await;
    assert_eq!((got.status, got.reason.as_str()), (401, "token_missing"));
}

/// Tokens minted before scopes existed keep their rights: no `scope` claim means
/// `subscribe feedback`, plus `publish` with `"publish": true`. An RS256 token is refused
/// by a gateway that only knows a secret.
#[tokio::test]
async fn tokens_without_scope_keep_their_former_rights() {
    let app = App::start(&["--auth-jwt-secret", SECRET]).await;
    let client = reqwest::Client::new();
    let update = json!({"operation": "update", "metadata": {"status": "ok"}});
    let reader = hs256(&json!({"exp": now() + 600, "sessions": ["s1"]}));
    let publisher = hs256(&json!({"exp": now() + 600, "sessions": "*", "publish": true}));

    let got = answer(client.get(app.url("/v1/sessions/s1")).bearer_auth(&reader)).await;
    assert_eq!(got.status, 200);
    let post = |token: &str| {
        client
            .post(app.url("/v1/sessions/s1/metadata"))
            .bearer_auth(token)
            .json(&update)
    };
    assert_eq!(answer(post(&reader)).await.reason, "scope_missing");
    assert_eq!(answer(post(&publisher)).await.status, 202);
    let rsa = rs256(&json!({"exp": now() + 600, "sessions": "*"}));
    let got = answer(client.get(app.url("/v1/sessions/s1")).bearer_auth(&rsa)).await;
    assert_eq!((got.status, got.reason.as_str()), (401, "token_invalid"));
}

/// A new key published in the JWKS is picked up on its first unknown `kid`, but fetches
/// are rate-limited: made-up `kid`s within the interval cause no fetch at all.
#[tokio::test]
async fn jwks_rotation_is_picked_up_and_refreshes_are_rate_limited() {
    let jwks = JwksServer::start(vec![jwk(
        Signer::Rsa("rsa-a.key.pem"),
        Algorithm::RS256,
        "a",
    )])
    .await;
    let app = App::start(&[
        "--auth-jwks-url",
        &jwks.url,
        "--auth-jwks-min-refresh-seconds",
        "2",
    ])
    .await;
    assert_eq!(jwks.fetches(), 1, "fetched once at startup");
    let client = reqwest::Client::new();
    let claims = json!({"exp": now() + 600, "sessions": ["s1"], "scope": "subscribe"});
    let with = |file: &'static str, kid: &str| {
        sign(Signer::Rsa(file), Algorithm::RS256, Some(kid), &claims)
    };
    let get = |token: String| answer(client.get(app.url("/v1/sessions/s1")).bearer_auth(token));

    assert_eq!(get(with("rsa-a.key.pem", "a")).await.status, 200);
    jwks.keys
        .lock()
        .unwrap()
        .keys
        .push(jwk(Signer::Rsa("rsa-b.key.pem"), Algorithm::RS256, "b"));
    // Within the interval: the new kid is unknown and nothing is fetched, however often.
    for i in 0..20 {
        let got = get(with("rsa-b.key.pem", &format!("made-up-{i}"))).await;
        assert_eq!(got.reason, "unknown_key");
    }
    assert_eq!(get(with("rsa-b.key.pem", "b")).await.reason, "unknown_key");
    assert_eq!(jwks.fetches(), 1, "no fetch within the refresh interval");

    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        get(with("rsa-b.key.pem", "b")).await.status,
        200,
        "rotated key"
    );
    assert_eq!(jwks.fetches(), 2);
    assert_eq!(
        get(with("rsa-a.key.pem", "a")).await.status,
        200,
        "old key still listed"
    );
    assert_eq!(get(with("rsa-b.key.pem", "c")).await.reason, "unknown_key");
    assert_eq!(
        jwks.fetches(),
        2,
        "the next unknown kid waits for the interval"
    );
}

/// A JWKS that cannot be fetched is the gateway's problem, not the client's: 503 with
/// `Retry-After`, not a 401 that would make a client drop its token.
#[tokio::test]
async fn an_unreachable_jwks_answers_503() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks.json", closed.local_addr().unwrap());
    drop(closed);
    let app = App::start(&["--auth-jwks-url", &url]).await;
    let claims = json!({"exp": now() + 600, "sessions": ["s1"]});
    let token = sign(
        Signer::Rsa("rsa-a.key.pem"),
        Algorithm::RS256,
        Some("a"),
        &claims,
    );
    let response = reqwest::Client::new()
        .get(app.url("/v1/sessions/s1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
}

async fn preflight(app: &App, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, app.url("/v1/sessions/s1/events"))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// CORS: no cross-origin access by default; listed origins get access with credentials;
/// `*` gives any origin access without credentials.
#[tokio::test]
async fn cors_allows_only_listed_origins() {
    let closed = App::start(&[]).await;
    let response = preflight(&closed, "https://evil.example").await;
    assert_eq!(header(&response, "access-control-allow-origin"), None);
    let read = reqwest::Client::new()
        .get(closed.url("/v1/sessions/s1"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&read, "access-control-allow-origin"), None);

    let listed = App::start(&[
        "--cors-allowed-origins",
        "https://app.example,http://localhost:5173",
    ])
    .await;
    let response = preflight(&listed, "https://app.example").await;
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    assert_eq!(
        header(&response, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
    let allowed = header(&response, "access-control-allow-headers").unwrap_or_default();
    assert!(allowed.contains("authorization"), "{allowed}");
    let response = preflight(&listed, "https://evil.example").await;
    assert_eq!(header(&response, "access-control-allow-origin"), None);

    let any = App::start(&["--cors-allowed-origins", "*"]).await;
    let response = preflight(&any, "https://elsewhere.example").await;
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert_eq!(header(&response, "access-control-allow-credentials"), None);
}

/// Startup refuses a malformed origin, naming the setting.
#[tokio::test]
async fn a_malformed_cors_origin_stops_startup() {
    use clap::Parser;
    for bad in ["https://app.example/", "app.example", "https://a.example,*"] {
        let args = ["gateway", "--cors-allowed-origins", bad];
        let err = gateway::config::Config::try_parse_from(args)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--cors-allowed-origins") && err.contains("origin"),
            "{err}"
        );
    }
}

/// No authentication on a non-loopback address: startup is refused, naming the ways out;
/// `--allow-anonymous` or a key lets it start.
#[tokio::test]
async fn an_open_gateway_on_a_public_address_refuses_to_start() {
    let public = || tokio::net::TcpListener::bind("0.0.0.0:0");
    let result = app::run_briefly(app::config(&[]), public().await.unwrap()).await;
    let err = format!("{:#}", result.expect("it stopped").unwrap_err());
    assert!(
        err.contains("ALLOW_ANONYMOUS") && err.contains("AUTH_JWKS_URL"),
        "{err}"
    );

    let anonymous = app::config(&["--allow-anonymous"]);
    assert!(
        app::run_briefly(anonymous, public().await.unwrap())
            .await
            .is_none(),
        "serving"
    );
    let with_key = app::config(&["--auth-jwt-secret", SECRET]);
    assert!(
        app::run_briefly(with_key, public().await.unwrap())
            .await
            .is_none(),
        "serving"
    );
}

/// A token passed in the query string opens the stream and never reaches the process's
/// log, nor do rejected ones (the gateway binary, to read its real output).
#[tokio::test]
async fn query_tokens_never_reach_the_log() {
    let gateway = Gateway::start(&[("AUTH_JWT_SECRET", SECRET.into())]).await;
    let reader = hs256(&json!({"exp": now() + 600, "sessions": ["s1"]}));
    let expired = hs256(&json!({"exp": now() - 600, "sessions": ["s1"]}));
    let mut stream = SseStream::connect(
        &gateway.url(&format!("/v1/sessions/s1/events?access_token={reader}")),
        None,
    )
    .await;
    stream.expect("snapshot").await;
    let url = gateway.url(&format!("/v1/sessions/s1?access_token={expired}"));
    assert_eq!(reqwest::get(url).await.unwrap().status(), 401);
    let logs = gateway.logs();
    assert!(
        logs.contains("token_expired"),
        "the refusal is logged by its code"
    );
    assert!(
        !logs.contains(&reader) && !logs.contains(&expired),
        "a token leaked into the log"
    );
}

/// A secret too short for HS256 and an unreadable key file stop startup with the
/// variable's name.
#[tokio::test]
async fn bad_key_settings_stop_startup() {
    let listen = ("LISTEN_ADDR", "127.0.0.1:0");
    let stderr = e2e_tests::startup_error(&[("AUTH_JWT_SECRET", "short")]).await;
    assert!(
        stderr.contains("AUTH_JWT_SECRET") && stderr.contains("at least 32"),
        "{stderr}"
    );
    let stderr =
        e2e_tests::startup_error(&[("AUTH_JWT_PUBLIC_KEY_FILE", "/nonexistent.pem"), listen]).await;
    assert!(stderr.contains("AUTH_JWT_PUBLIC_KEY_FILE"), "{stderr}");
    let not_a_key = fixture("../../Cargo.toml");
    let stderr =
        e2e_tests::startup_error(&[("AUTH_JWT_PUBLIC_KEY_FILE", &not_a_key), listen]).await;
    assert!(
        stderr.contains("no RSA, EC or Ed25519 public key"),
        "{stderr}"
    );
}
