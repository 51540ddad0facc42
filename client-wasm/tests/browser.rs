//! The SDK in headless Chromium against a real running gateway.
//!
//! `scripts/test-sdk.sh` starts `tests/control.py`, which runs the gateway binary (so a
//! test can restart it), and passes both URLs in at compile time. The tests drive the SDK
//! through its exported API, exactly as JavaScript would: option and handler objects are
//! plain JS objects, results are read back as JSON.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use client_wasm::{GatewayClient, Subscription};
use gloo_timers::future::TimeoutFuture;
use js_sys::{Object, Promise, Reflect};
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn gateway_url() -> &'static str {
    match option_env!("SDK_TEST_GATEWAY_URL") {
        Some(url) => url,
        None => panic!("SDK_TEST_GATEWAY_URL is set at compile time by scripts/test-sdk.sh"),
    }
}

fn control_url() -> &'static str {
    match option_env!("SDK_TEST_CONTROL_URL") {
        Some(url) => url,
        None => panic!("SDK_TEST_CONTROL_URL is set at compile time by scripts/test-sdk.sh"),
    }
}

/// A session id no other test (or earlier run against the same gateway) uses.
fn unique_session(prefix: &str) -> String {
    let salt = (js_sys::Math::random() * 1e9) as u64;
    format!("{prefix}-{}-{salt}", js_sys::Date::now() as u64)
}

fn to_js(value: &Value) -> JsValue {
    js_sys::JSON::parse(&value.to_string()).unwrap()
}

fn to_json(value: &JsValue) -> Value {
    if value.is_undefined() {
        return Value::Null;
    }
    serde_json::from_str(&js_sys::JSON::stringify(value).unwrap().as_string().unwrap()).unwrap()
}

/// The fields of a `GatewayError` (`message` is not enumerable on an `Error`).
fn error_fields(error: &JsValue) -> Value {
    assert!(error.is_instance_of::<js_sys::Error>(), "{error:?}");
    let field = |name: &str| to_json(&Reflect::get(error, &name.into()).unwrap());
    json!({
        "status": field("status"), "code": field("code"), "reason": field("reason"),
        "message": field("message"), "fatal": field("fatal"),
    })
}

fn client(options: Value) -> GatewayClient {
    GatewayClient::new(Some(to_js(&options).unchecked_into())).unwrap()
}

async fn resolve(promise: Promise) -> Result<Value, Value> {
    JsFuture::from(promise)
        .await
        .map(|v| to_json(&v))
        .map_err(|e| error_fields(&e))
}

async fn publish(client: &GatewayClient, session: &str, request: Value) -> Value {
    let request = to_js(&request).unchecked_into();
    resolve(client.publish(session.to_owned(), request))
        .await
        .expect("publish")
}

async fn control(method: &str, path: &str) -> Value {
    let response = gloo_net::http::RequestBuilder::new(&format!("{}{path}", control_url()))
        .method(method.parse().unwrap())
        .send()
        .await
        .expect("control server");
    assert!(response.ok(), "control {path}: {}", response.status());
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

async fn sleep(ms: u32) {
    TimeoutFuture::new(ms).await;
}

/// Polls `done` every 20 ms; fails the test with `what` after `timeout_ms`.
async fn until(what: &str, timeout_ms: u32, done: impl Fn() -> bool) {
    let start = js_sys::Date::now();
    while !done() {
        assert!(
            js_sys::Date::now() - start < f64::from(timeout_ms),
            "timed out waiting for {what}"
        );
        sleep(20).await;
    }
}

/// Everything one subscription's handlers were called with, in order.
#[derive(Debug, Default)]
struct Seen {
    snapshots: Vec<Value>,
    updates: Vec<(Value, String)>,
    metadata: Vec<Value>,
    states: Vec<(String, Value)>,
    errors: Vec<Value>,
}

impl Seen {
    fn state_names(&self) -> Vec<&str> {
        self.states.iter().map(|(s, _)| s.as_str()).collect()
    }
}

/// Handler object for `subscribe` that records into a [`Seen`].
struct Recorder {
    seen: Rc<RefCell<Seen>>,
    handlers: Object,
}

impl Recorder {
    fn new() -> Self {
        let seen = Rc::new(RefCell::new(Seen::default()));
        let handlers = Object::new();
        let set = |name: &str, f: JsValue| {
            Reflect::set(&handlers, &name.into(), &f).unwrap();
        };
        let s = seen.clone();
        set(
            "onSnapshot",
            Closure::<dyn FnMut(JsValue)>::new(move |v| s.borrow_mut().snapshots.push(to_json(&v)))
                .into_js_value(),
        );
        let s = seen.clone();
        set(
            "onUpdate",
            Closure::<dyn FnMut(JsValue, String)>::new(move |v, id| {
                s.borrow_mut().updates.push((to_json(&v), id))
            })
            .into_js_value(),
        );
        let s = seen.clone();
        set(
            "onMetadata",
            Closure::<dyn FnMut(JsValue)>::new(move |v| s.borrow_mut().metadata.push(to_json(&v)))
                .into_js_value(),
        );
        let s = seen.clone();
        set(
            "onState",
            Closure::<dyn FnMut(String, JsValue)>::new(move |state, info: JsValue| {
                let mut info_json = to_json(&info);
                let error = Reflect::get(&info, &"error".into()).unwrap();
                if !error.is_undefined() {
                    info_json["error"] = error_fields(&error);
                }
                s.borrow_mut().states.push((state, info_json))
            })
            .into_js_value(),
        );
        let s = seen.clone();
        set(
            "onError",
            Closure::<dyn FnMut(JsValue)>::new(move |e| {
                s.borrow_mut().errors.push(error_fields(&e))
            })
            .into_js_value(),
        );
        Self { seen, handlers }
    }

    fn subscribe(&self, client: &GatewayClient, session: &str) -> Subscription {
        client
            .subscribe(
                session.to_owned(),
                Some(self.handlers.clone().unchecked_into()),
            )
            .unwrap()
    }

    fn seen(&self) -> std::cell::Ref<'_, Seen> {
        self.seen.borrow()
    }
}

fn metadata(subscription: &Subscription) -> Value {
    to_json(&subscription.metadata().unwrap())
}

fn epoch(event_id: &str) -> &str {
    event_id.split_once('-').expect("{epoch}-{seq}").0
}

fn seq(event_id: &str) -> u64 {
    event_id
        .split_once('-')
        .expect("{epoch}-{seq}")
        .1
        .parse()
        .unwrap()
}

/// The first event is a typed snapshot, then each update and delete arrives typed, with
/// its id, and the merged view follows; after `close()` nothing more is delivered.
#[wasm_bindgen_test]
async fn snapshot_then_updates_arrive_typed_and_merged() {
    let client = client(json!({ "baseUrl": gateway_url() }));
    let session = unique_session("typed");
    publish(
        &client,
        &session,
        json!({"operation": "update", "metadata": {"status": "queued", "priority": "high"}}),
    )
    .await;

    let recorder = Recorder::new();
    let subscription = recorder.subscribe(&client, &session);
    until("the snapshot", 10_000, || {
        recorder.seen().snapshots.len() == 1
    })
    .await;
    let snapshot = recorder.seen().snapshots[0].clone();
    assert_eq!(snapshot["session_id"], session.as_str());
    assert_eq!(
        snapshot["metadata"],
        json!({"status": "queued", "priority": "high"})
    );
    let snapshot_id = snapshot["last_event_id"].as_str().unwrap().to_owned();
    assert!(snapshot["updated_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(subscription.state(), "open");

    let nested = json!({"step": 2, "of": [1, 2, 3], "done": false});
    publish(
        &client,
        &session,
        json!({"operation": "update", "metadata": {"status": "processing", "progress": nested}}),
    )
    .await;
    publish(
        &client,
        &session,
        json!({"operation": "delete", "metadata": {"priority": null}}),
    )
    .await;
    until("two updates", 10_000, || recorder.seen().updates.len() == 2).await;

    {
        let seen = recorder.seen();
        let (update, update_id) = &seen.updates[0];
        assert_eq!(update["operation"], "update");
        assert_eq!(update["event"], "metadata_update");
        assert_eq!(
            update["metadata"],
            json!({"status": "processing", "progress": nested})
        );
        assert!(update["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(epoch(update_id), epoch(&snapshot_id));
        assert_eq!(seq(update_id), seq(&snapshot_id) + 1);
        let (delete, delete_id) = &seen.updates[1];
        assert_eq!(delete["operation"], "delete");
        assert_eq!(delete["metadata"], json!({"priority": null}));
        assert_eq!(seq(delete_id), seq(update_id) + 1);

        let merged = json!({"status": "processing", "progress": nested});
        assert_eq!(metadata(&subscription), merged);
        assert_eq!(seen.metadata.last(), Some(&merged));
        assert_eq!(seen.metadata.len(), 3, "one merged view per event");
        assert_eq!(
            subscription.last_event_id().as_deref(),
            Some(delete_id.as_str())
        );
        assert_eq!(seen.state_names(), ["connecting", "open"]);
        assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    }

    subscription.close();
    assert_eq!(subscription.state(), "closed");
    publish(
        &client,
        &session,
        json!({"operation": "update", "metadata": {"status": "after-close"}}),
    )
    .await;
    sleep(500).await;
    let seen = recorder.seen();
    assert_eq!(seen.updates.len(), 2, "an update arrived after close()");
    assert_eq!(seen.state_names(), ["connecting", "open", "closed"]);
}

/// Keys are data whatever their name: `__proto__` and `constructor` land in the view as
/// ordinary keys (no prototype is changed, nothing leaks into other objects), and a delete
/// removes them again.
#[wasm_bindgen_test]
async fn keys_named_like_object_internals_are_plain_data() {
    let client = client(json!({ "baseUrl": gateway_url() }));
    let session = unique_session("proto");
    let recorder = Recorder::new();
    let subscription = recorder.subscribe(&client, &session);
    let odd = json!({"__proto__": {"polluted": true}, "constructor": 1, "status": "ok"});
    publish(
        &client,
        &session,
        json!({"operation": "update", "metadata": odd}),
    )
    .await;
    until("the update", 10_000, || {
        recorder.seen().metadata.last() == Some(&odd)
    })
    .await;
    assert_eq!(metadata(&subscription), odd);
    let fresh = Object::new();
    assert!(Reflect::get(&fresh, &"polluted".into())
        .unwrap()
        .is_undefined());

    publish(
        &client,
        &session,
        json!({"operation": "delete", "metadata": {"__proto__": null, "constructor": null}}),
    )
    .await;
    until("the delete", 10_000, || {
        recorder.seen().metadata.last() == Some(&json!({"status": "ok"}))
    })
    .await;
    assert_eq!(metadata(&subscription), json!({"status": "ok"}));
    subscription.close();
}

/// The gateway is killed and restarted (its in-memory state is lost, its epoch changes),
/// and an update is published before the SDK is back: the SDK reconnects on its own, is
/// resynced with a snapshot holding that update, then keeps receiving updates, and its
/// view equals the server's.
#[wasm_bindgen_test]
async fn a_gateway_restart_is_survived_without_missing_an_update() {
    let client = client(json!({ "baseUrl": gateway_url() }));
    let session = unique_session("restart");
    let recorder = Recorder::new();
    let subscription = recorder.subscribe(&client, &session);
    publish(
        &client,
        &session,
        json!({"operation": "update", "metadata": {"status": "before"}}),
    )
    .await;
    until("the first update", 10_000, || {
        recorder.seen().metadata.last() == Some(&json!({"status": "before"}))
    })
    .await;
    let id_before = subscription.last_event_id().unwrap();

    let restarted = control(
        "POST",
        &format!("/restart?session={session}&key=status&value=during"),
    )
    .await;
    assert!(
        restarted["published"]["event_id"].is_string(),
        "{restarted}"
    );

    until("the update published while disconnected", 30_000, || {
        recorder.seen().metadata.last() == Some(&json!({"status": "during"}))
    })
    .await;
    publish(
        &client,
        &session,
        json!({"operation": "update", "metadata": {"agent_state": "after"}}),
    )
    .await;
    let expected = json!({"status": "during", "agent_state": "after"});
    until("the update after the restart", 10_000, || {
        recorder.seen().metadata.last() == Some(&expected)
    })
    .await;

    let server = resolve(client.get_snapshot(session.clone())).await.unwrap();
    assert_eq!(metadata(&subscription), server["metadata"]);
    assert_eq!(
        subscription.last_event_id().as_deref(),
        server["last_event_id"].as_str()
    );
    assert_ne!(
        epoch(&subscription.last_event_id().unwrap()),
        epoch(&id_before)
    );
    {
        let seen = recorder.seen();
        assert!(
            seen.state_names().contains(&"reconnecting"),
            "{:?}",
            seen.states
        );
        assert_eq!(seen.state_names().last(), Some(&"open"));
        assert_eq!(
            seen.snapshots.len(),
            2,
            "a resync snapshot after the restart"
        );
        assert!(
            seen.errors.iter().all(|e| e["fatal"] == false),
            "{:?}",
            seen.errors
        );
    }
    subscription.close();
}

/// Against a server that keeps answering 503, the SDK retries with backoff and reports
/// each failure with its status; `close()` then stops it at once: no request and no
/// callback afterwards, although retries were due every few hundred milliseconds.
#[wasm_bindgen_test]
async fn close_stops_reconnecting() {
    let client = client(json!({
        "baseUrl": format!("{}/unavailable", control_url()),
        "reconnect": {"minDelayMs": 50, "maxDelayMs": 200},
    }));
    let recorder = Recorder::new();
    let subscription = recorder.subscribe(&client, "retry-me");
    until("three failed attempts", 10_000, || {
        recorder.seen().errors.len() >= 3
    })
    .await;
    {
        let seen = recorder.seen();
        for error in &seen.errors {
            assert_eq!(error["status"], 503);
            assert_eq!(error["code"], "service_unavailable");
            assert_eq!(error["fatal"], false);
        }
        let retries: Vec<&Value> = seen
            .states
            .iter()
            .filter(|(s, _)| s == "reconnecting")
            .map(|(_, info)| info)
            .collect();
        assert!(retries.len() >= 3);
        for (n, info) in retries.iter().enumerate() {
            assert_eq!(info["attempt"], n + 1);
            let delay = info["retryInMs"].as_u64().unwrap();
            assert!((25..=200).contains(&delay), "{info}");
            assert_eq!(info["error"]["status"], 503);
        }
    }

    subscription.close();
    assert_eq!(subscription.state(), "closed");
    let (states, errors) = {
        let seen = recorder.seen();
        (seen.states.len(), seen.errors.len())
    };
    sleep(200).await; // a request already on the wire when close() ran may still land
    let hits_after_close = control("GET", "/hits").await["unavailable"].clone();
    sleep(1_500).await;
    assert_eq!(
        control("GET", "/hits").await["unavailable"],
        hits_after_close,
        "the SDK kept reconnecting after close()"
    );
    let seen = recorder.seen();
    assert_eq!((seen.states.len(), seen.errors.len()), (states, errors));
    assert_eq!(seen.state_names().last(), Some(&"closed"));
}

/// Makes the page look hidden (or visible again, announcing it with `visibilitychange`)
/// to the Page Visibility API, which headless Chromium otherwise always reports visible.
fn pretend_hidden(hidden: bool) {
    let document = web_sys::window().unwrap().document().unwrap();
    if hidden {
        let descriptor = Object::new();
        let getter = js_sys::Function::new_no_args("return true");
        Reflect::set(&descriptor, &"get".into(), &getter).unwrap();
        Reflect::set(&descriptor, &"configurable".into(), &true.into()).unwrap();
        Reflect::define_property(&document, &"hidden".into(), &descriptor).unwrap();
    } else {
        Reflect::delete_property(&document, &"hidden".into()).unwrap();
        let shown = web_sys::Event::new("visibilitychange").unwrap();
        document.dispatch_event(&shown).unwrap();
    }
}

/// A hidden tab does not run a retry loop: after a failure the next attempt waits until
/// the page is visible again, then reconnection resumes.
#[wasm_bindgen_test]
async fn a_hidden_tab_does_not_reconnect_until_shown() {
    let client = client(json!({
        "baseUrl": format!("{}/unavailable", control_url()),
        "reconnect": {"minDelayMs": 20, "maxDelayMs": 40},
    }));
    let hits_before = control("GET", "/hits").await["unavailable"]
        .as_u64()
        .unwrap();
    pretend_hidden(true);
    let recorder = Recorder::new();
    let subscription = recorder.subscribe(&client, "hidden-tab");
    until("the first failure", 10_000, || {
        recorder.seen().errors.len() == 1
    })
    .await;
    sleep(1_000).await; // 25 retries would be due by now in a visible tab
    let hits_hidden = control("GET", "/hits").await["unavailable"]
        .as_u64()
        .unwrap();
    assert_eq!(recorder.seen().errors.len(), 1);
    assert_eq!(hits_hidden, hits_before + 1, "requests while hidden");

    pretend_hidden(false);
    until("retries once visible", 10_000, || {
        recorder.seen().errors.len() >= 3
    })
    .await;
    subscription.close();
    assert!(
        control("GET", "/hits").await["unavailable"]
            .as_u64()
            .unwrap()
            >= hits_hidden + 2
    );
}

/// A token from `tokenProvider` travels in the `Authorization` header, asked for afresh
/// before each attempt, and never in the URL (where access logs would keep it).
#[wasm_bindgen_test]
async fn the_token_goes_in_a_header_fresh_for_each_attempt() {
    let calls = Rc::new(std::cell::Cell::new(0u32));
    let counter = calls.clone();
    let provider = Closure::<dyn FnMut() -> JsValue>::new(move || {
        counter.set(counter.get() + 1);
        let token = JsValue::from(format!("token-{}", counter.get()));
        Promise::resolve(&token).into()
    });
    let options = to_js(&json!({
        "baseUrl": format!("{}/unavailable", control_url()),
        "reconnect": {"minDelayMs": 20, "maxDelayMs": 40},
    }));
    Reflect::set(&options, &"tokenProvider".into(), &provider.into_js_value()).unwrap();
    let client = GatewayClient::new(Some(options.unchecked_into())).unwrap();
    let recorder = Recorder::new();
    let subscription = recorder.subscribe(&client, "token-check");
    until("two attempts", 10_000, || recorder.seen().errors.len() >= 2).await;
    subscription.close();
    sleep(200).await;

    let hits = control("GET", "/hits").await;
    // The last request the server saw carried a token asked for after the first one.
    let token = hits["authorization"].as_str().unwrap();
    let n: u32 = token
        .strip_prefix("Bearer token-")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (2..=calls.get()).contains(&n),
        "{token} after {} calls",
        calls.get()
    );
    assert_eq!(hits["method"], "POST");
    assert_eq!(hits["path"], "/unavailable/v1/events");
}

/// A 4xx is final: reported once with its status and code, the subscription closes with
/// the error in its state info, and there is no retry. Promise rejections carry the
/// gateway's status and code too; invalid input is refused before any request.
#[wasm_bindgen_test]
async fn client_errors_surface_with_status_and_code() {
    let missing = client(json!({ "baseUrl": format!("{}/no-such-prefix", gateway_url()) }));
    let error = fatal_error(&missing, "s1").await;
    assert_eq!(error["status"], 405, "no stream route there: {error}");

    let client = client(json!({ "baseUrl": gateway_url() }));
    let session = unique_session("errors");
    let too_large = json!({"operation": "update", "metadata": {"blob": "x".repeat(100_000)}});
    let error = resolve(client.publish(session.clone(), to_js(&too_large).unchecked_into()))
        .await
        .unwrap_err();
    assert_eq!(error["status"], 413);
    assert_eq!(error["code"], "payload_too_large");
    assert_eq!(error["fatal"], true);

    let mismatch = json!({"session_id": "someone-else", "operation": "update", "metadata": {}});
    let error = resolve(client.publish(session.clone(), to_js(&mismatch).unchecked_into()))
        .await
        .unwrap_err();
    assert_eq!(error["status"], 422);
    assert_eq!(error["code"], "session_mismatch");
    assert!(error["message"].as_str().unwrap().contains("someone-else"));

    let error = resolve(client.get_snapshot("not a session id".into()))
        .await
        .unwrap_err();
    assert_eq!(error["status"], Value::Null);
    assert_eq!(error["code"], "invalid_argument");
    let thrown = client
        .subscribe("bad/id".into(), None)
        .err()
        .expect("subscribe throws on a bad id");
    assert_eq!(thrown.code, "invalid_argument");
}

/// Subscribes and waits for the subscription to end; it must end on exactly one fatal
/// error, without a retry. Returns that error.
async fn fatal_error(client: &GatewayClient, session: &str) -> Value {
    let recorder = Recorder::new();
    let subscription = recorder.subscribe(client, session);
    until("the subscription to close", 10_000, || {
        subscription.state() == "closed"
    })
    .await;
    sleep(300).await;
    let seen = recorder.seen();
    assert_eq!(seen.state_names(), ["connecting", "closed"]);
    assert_eq!(seen.errors.len(), 1, "{:?}", seen.errors);
    assert_eq!(seen.errors[0]["fatal"], true);
    assert_eq!(seen.states[1].1["error"], seen.errors[0]);
    seen.errors[0].clone()
}

/// Against a gateway with authentication on: the token, sent in the header, opens the
/// stream; no token is a final 401, a token for another session a final 403.
#[wasm_bindgen_test]
async fn authentication_failures_are_final_and_a_valid_token_opens_the_stream() {
    let session = unique_session("auth");
    let grant = control("GET", &format!("/token?session={session}")).await;
    let url = grant["url"].as_str().unwrap();
    let authorized = client(json!({ "baseUrl": url, "token": grant["token"] }));
    let recorder = Recorder::new();
    let subscription = recorder.subscribe(&authorized, &session);
    until("the snapshot", 10_000, || {
        recorder.seen().snapshots.len() == 1
    })
    .await;
    subscription.close();

    let error = fatal_error(&authorized, &unique_session("not-granted")).await;
    assert_eq!(error["status"], 403);
    assert_eq!(error["code"], "forbidden");

    let anonymous = client(json!({ "baseUrl": url }));
    let error = fatal_error(&anonymous, &session).await;
    assert_eq!(error["status"], 401);
    assert_eq!(error["code"], "unauthorized");
}

/// Feedback resolves with the stored record; the same idempotency key stores it once;
/// the listing returns it; a validation error carries the gateway's code; a misspelt
/// option fails before any request.
#[wasm_bindgen_test]
async fn feedback_returns_the_stored_record() {
    let client = client(json!({ "baseUrl": gateway_url() }));
    let session = unique_session("feedback");
    let key = unique_session("key");
    let send = |feedback: Value| {
        let options = to_js(&json!({ "idempotencyKey": key })).unchecked_into();
        client.send_feedback(
            session.clone(),
            to_js(&feedback).unchecked_into(),
            Some(options),
        )
    };
    let feedback = json!({"rating": "up", "comment": "spot on"});
    let record = resolve(send(feedback.clone())).await.expect("feedback");
    assert_eq!(record["session_id"], session.as_str());
    assert_eq!(record["rating"], "up");
    assert_eq!(record["sentiment"], "positive");
    assert_eq!(record["comment"], "spot on");
    assert!(record["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(record["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(record["notification"]["status"].is_string(), "{record}");

    let again = resolve(send(feedback)).await.expect("repeated feedback");
    assert_eq!(again["id"], record["id"], "one record per idempotency key");

    let options = to_js(&json!({"limit": 10})).unchecked_into();
    let page = resolve(client.list_feedback(session.clone(), Some(options)))
        .await
        .expect("list");
    assert_eq!(page["items"], json!([record]));

    let long = json!({"rating": null, "comment": "x".repeat(5_000)});
    let error = resolve(client.send_feedback(session.clone(), to_js(&long).unchecked_into(), None))
        .await
        .unwrap_err();
    assert_eq!(error["status"], 422);
    assert_eq!(error["code"], "comment_too_long");

    // The body is the gateway's to validate: its precise code comes back as is.
    let sideways = json!({"rating": "sideways"});
    let error =
        resolve(client.send_feedback(session.clone(), to_js(&sideways).unchecked_into(), None))
            .await
            .unwrap_err();
    assert_eq!(error["status"], 422);
    assert_eq!(error["code"], "invalid_rating");

    // An option typo is refused before any request.
    let typo = to_js(&json!({"idempotencyKy": "k"})).unchecked_into();
    let error = resolve(client.send_feedback(
        session.clone(),
        to_js(&json!({"rating": "up"})).unchecked_into(),
        Some(typo),
    ))
    .await
    .unwrap_err();
    assert_eq!(error["status"], Value::Null);
    assert_eq!(error["code"], "invalid_argument");
    assert!(error["message"].as_str().unwrap().contains("idempotencyKy"));
}

/// A gauge of the gateway's `/metrics` (0 when absent).
async fn gauge(name: &str) -> f64 {
    let text = gloo_net::http::Request::get(&format!("{}/metrics", gateway_url()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// The open multiplexed connections and the sessions on them, as the gateway counts them.
async fn connections() -> (f64, f64) {
    (
        gauge("gateway_sse_multiplexed_streams").await,
        gauge("gateway_sse_multiplexed_sessions").await,
    )
}

/// `n` new sessions, each subscribed on `client` with its own recorder.
fn subscribe_many(
    client: &GatewayClient,
    prefix: &str,
    n: usize,
) -> (Vec<String>, Vec<Recorder>, Vec<Subscription>) {
    let sessions: Vec<String> = (0..n)
        .map(|i| unique_session(&format!("{prefix}{i}")))
        .collect();
    let recorders: Vec<Recorder> = sessions.iter().map(|_| Recorder::new()).collect();
    let subscriptions = sessions
        .iter()
        .zip(&recorders)
        .map(|(session, recorder)| recorder.subscribe(client, session))
        .collect();
    (sessions, recorders, subscriptions)
}

/// Asserts that a subscription's updates are consecutive events of one history: no
/// event missing, none twice.
fn assert_consecutive(updates: &[(Value, String)], after: &str) {
    let mut last = after.to_owned();
    for (_, id) in updates {
        assert_eq!(epoch(id), epoch(&last), "{id} after {last}");
        assert_eq!(
            seq(id),
            seq(&last) + 1,
            "{id} after {last}: a gap or a duplicate"
        );
        last = id.clone();
    }
}

/// Twenty subscriptions of one client: all live on ONE connection (the gateway counts one
/// more multiplexed stream, carrying twenty sessions), and each update reaches its own
/// subscription only.
#[wasm_bindgen_test]
async fn twenty_subscriptions_share_one_connection_and_each_gets_only_its_updates() {
    let client = client(json!({ "baseUrl": gateway_url() }));
    let (streams_before, sessions_before) = connections().await;
    let (sessions, recorders, subscriptions) = subscribe_many(&client, "grid", 20);
    until("twenty live subscriptions", 10_000, || {
        subscriptions.iter().all(|s| s.state() == "open")
            && recorders.iter().all(|r| r.seen().snapshots.len() == 1)
    })
    .await;
    let (streams, carried) = connections().await;
    assert_eq!(
        streams - streams_before,
        1.0,
        "one connection for twenty sessions"
    );
    assert_eq!(carried - sessions_before, 20.0);

    for (n, session) in sessions.iter().enumerate() {
        let update = json!({"operation": "update", "metadata": {"n": n}});
        publish(&client, session, update).await;
    }
    until("each subscription's update", 10_000, || {
        recorders.iter().all(|r| !r.seen().updates.is_empty())
    })
    .await;
    sleep(300).await;
    for (n, (session, recorder)) in sessions.iter().zip(&recorders).enumerate() {
        let seen = recorder.seen();
        assert_eq!(seen.updates.len(), 1, "{session}: {:?}", seen.updates);
        assert_eq!(seen.updates[0].0["session_id"], session.as_str());
        assert_eq!(seen.metadata.last(), Some(&json!({ "n": n })));
        assert_eq!(seen.state_names(), ["connecting", "open"]);
        assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    }
    for subscription in &subscriptions {
        subscription.close();
    }
    // The debounce, then the connection is aborted; the gateway notices at its next
    // write (a heartbeat, every 2 s here).
    let start = js_sys::Date::now();
    while connections().await != (streams_before, sessions_before) {
        assert!(
            js_sys::Date::now() - start < 10_000.0,
            "the connection stayed open"
        );
        sleep(100).await;
    }
}

/// Subscriptions are added and closed while updates flow: each reconnection carries every
/// session's position, so a subscription that stays sees every update exactly once (one
/// snapshot, then consecutive ids) and a new one starts with its snapshot.
#[wasm_bindgen_test]
async fn subscriptions_come_and_go_while_updates_flow_without_loss_or_duplicates() {
    let client = client(json!({ "baseUrl": gateway_url() }));
    let names = ["stays", "leaves", "joins", "late"];
    let sessions: Vec<String> = names.iter().map(|n| unique_session(n)).collect();
    let recorders: Vec<Recorder> = sessions.iter().map(|_| Recorder::new()).collect();
    let mut open: Vec<Option<Subscription>> = vec![None, None, None, None];
    open[0] = Some(recorders[0].subscribe(&client, &sessions[0]));
    open[1] = Some(recorders[1].subscribe(&client, &sessions[1]));
    until("the first two snapshots", 10_000, || {
        recorders[..2].iter().all(|r| r.seen().snapshots.len() == 1)
    })
    .await;
    let mut sent = [0u32; 4];
    for i in 0..40u32 {
        match i {
            8 => open[2] = Some(recorders[2].subscribe(&client, &sessions[2])),
            16 => open[1].take().unwrap().close(),
            20 => open[3] = Some(recorders[3].subscribe(&client, &sessions[3])),
            _ => {}
        }
        for (k, session) in sessions.iter().enumerate() {
            let update = json!({"operation": "update", "metadata": {"i": i}});
            publish(&client, session, update).await;
            sent[k] += 1;
        }
        if i % 4 == 0 {
            sleep(30).await; // let reconnections happen between the bursts
        }
    }
    for (k, recorder) in recorders.iter().enumerate() {
        if k == 1 {
            continue;
        }
        until("the last update", 10_000, || {
            recorder.seen().metadata.last() == Some(&json!({"i": 39}))
        })
        .await;
    }
    sleep(300).await;
    for (k, recorder) in recorders.iter().enumerate() {
        let seen = recorder.seen();
        let snapshot = &seen.snapshots[0];
        assert_eq!(
            seen.snapshots.len(),
            1,
            "{}: resumed, not resynced",
            names[k]
        );
        let start = snapshot["last_event_id"].as_str().unwrap();
        assert_consecutive(&seen.updates, start);
        assert!(seen.errors.is_empty(), "{:?}", seen.errors);
        if k != 1 {
            // The snapshot plus the updates cover every event sent to the session.
            assert_eq!(
                seq(start) + seen.updates.len() as u64,
                u64::from(sent[k]),
                "{}",
                names[k]
            );
        }
    }
    assert_eq!(recorders[1].seen().state_names().last(), Some(&"closed"));
    for subscription in open.into_iter().flatten() {
        subscription.close();
    }
}

/// The gateway restarts under ten subscriptions of one client: every one of them is back
/// on the new connection, resynced (the restarted in-memory gateway has a new history)
/// and live again, with views equal to the server's.
#[wasm_bindgen_test]
async fn every_subscription_resumes_after_a_gateway_restart() {
    let client = client(json!({ "baseUrl": gateway_url() }));
    let (sessions, recorders, subscriptions) = subscribe_many(&client, "back", 10);
    for session in &sessions {
        publish(
            &client,
            session,
            json!({"operation": "update", "metadata": {"at": "before"}}),
        )
        .await;
    }
    until("every first update", 10_000, || {
        recorders
            .iter()
            .all(|r| r.seen().metadata.last() == Some(&json!({"at": "before"})))
    })
    .await;

    control(
        "POST",
        &format!("/restart?session={}&key=at&value=during", sessions[0]),
    )
    .await;
    until("every subscription back", 30_000, || {
        recorders.iter().all(|r| r.seen().snapshots.len() == 2)
            && subscriptions.iter().all(|s| s.state() == "open")
    })
    .await;
    for session in &sessions {
        publish(
            &client,
            session,
            json!({"operation": "update", "metadata": {"next": 1}}),
        )
        .await;
    }
    for (session, subscription) in sessions.iter().zip(&subscriptions) {
        let server = resolve(client.get_snapshot(session.clone())).await.unwrap();
        until("the view to match the server's", 10_000, || {
            metadata(subscription) == server["metadata"]
        })
        .await;
    }
    assert_eq!(
        metadata(&subscriptions[0]),
        json!({"at": "during", "next": 1})
    );
    assert_eq!(
        connections().await,
        (1.0, 10.0),
        "one connection on the new gateway"
    );
    for (recorder, subscription) in recorders.iter().zip(&subscriptions) {
        let seen = recorder.seen();
        assert!(
            seen.state_names().contains(&"reconnecting"),
            "{:?}",
            seen.states
        );
        assert!(
            seen.errors.iter().all(|e| e["fatal"] == false),
            "{:?}",
            seen.errors
        );
        subscription.close();
    }
}

/// A token that covers only some of a client's sessions: those stream on, and each of
/// the others ends alone with a final 403 `forbidden` (`session_not_allowed`), as the
/// gateway's `refused` event says.
#[wasm_bindgen_test]
async fn a_token_covering_some_sessions_keeps_those_and_refuses_the_others() {
    let (a, b, c) = (
        unique_session("mine"),
        unique_session("mine"),
        unique_session("theirs"),
    );
    let grant = control("GET", &format!("/token?session={a}&session={b}")).await;
    let url = grant["url"].as_str().unwrap();
    let reader = client(json!({ "baseUrl": url, "token": grant["token"] }));
    let recorders = [Recorder::new(), Recorder::new(), Recorder::new()];
    let subscriptions: Vec<Subscription> = [&a, &b, &c]
        .iter()
        .zip(&recorders)
        .map(|(session, recorder)| recorder.subscribe(&reader, session))
        .collect();
    until("the refusal", 10_000, || {
        subscriptions[2].state() == "closed"
    })
    .await;
    until("two snapshots", 10_000, || {
        recorders[..2].iter().all(|r| r.seen().snapshots.len() == 1)
    })
    .await;
    {
        let refused = recorders[2].seen();
        assert_eq!(refused.errors.len(), 1);
        let error = &refused.errors[0];
        assert_eq!(
            (error["status"].clone(), error["code"].clone()),
            (json!(403), json!("forbidden"))
        );
        assert_eq!(error["reason"], "session_not_allowed");
        assert_eq!(error["fatal"], true);
        assert!(refused.snapshots.is_empty());
    }
    let publisher_grant =
        control("GET", &format!("/token?session={a}&session={b}&publish=1")).await;
    let publisher = client(json!({ "baseUrl": url, "token": publisher_grant["token"] }));
    publish(
        &publisher,
        &b,
        json!({"operation": "update", "metadata": {"still": "live"}}),
    )
    .await;
    until("the update of a covered session", 10_000, || {
        recorders[1].seen().metadata.last() == Some(&json!({"still": "live"}))
    })
    .await;
    for recorder in &recorders[..2] {
        assert_eq!(recorder.seen().state_names(), ["connecting", "open"]);
        assert!(recorder.seen().errors.is_empty());
    }
    for subscription in &subscriptions {
        subscription.close();
    }
}

/// With a `tokenProvider`, a 401 a fresh token may cure (`token_expired`) is retried
/// once with a new token before it counts: an expired first token opens the stream
/// without an error; a provider that only has expired tokens ends in a final 401 after
/// exactly two requests.
#[wasm_bindgen_test]
async fn an_expired_token_is_refreshed_once_before_the_error_is_final() {
    let session = unique_session("refresh");
    let expired = control("GET", &format!("/token?session={session}&expired=1")).await;
    let valid = control("GET", &format!("/token?session={session}")).await;
    let url = expired["url"].as_str().unwrap().to_owned();
    let provider_client = |tokens: Vec<Value>| {
        let calls = Rc::new(std::cell::Cell::new(0usize));
        let counter = calls.clone();
        let provider = Closure::<dyn FnMut() -> JsValue>::new(move || {
            let n = counter.get();
            counter.set(n + 1);
            JsValue::from(tokens[n.min(tokens.len() - 1)].as_str().unwrap())
        });
        let options = to_js(&json!({ "baseUrl": url }));
        Reflect::set(&options, &"tokenProvider".into(), &provider.into_js_value()).unwrap();
        (
            GatewayClient::new(Some(options.unchecked_into())).unwrap(),
            calls,
        )
    };

    let (client, calls) = provider_client(vec![expired["token"].clone(), valid["token"].clone()]);
    let recorder = Recorder::new();
    let subscription = recorder.subscribe(&client, &session);
    until("the snapshot", 10_000, || {
        recorder.seen().snapshots.len() == 1
    })
    .await;
    assert_eq!(calls.get(), 2, "one refusal, one fresh token");
    assert!(
        recorder.seen().errors.is_empty(),
        "{:?}",
        recorder.seen().errors
    );
    assert_eq!(recorder.seen().state_names(), ["connecting", "open"]);
    subscription.close();

    let (client, calls) = provider_client(vec![expired["token"].clone()]);
    let error = fatal_error(&client, &session).await;
    assert_eq!(
        (error["status"].clone(), error["reason"].clone()),
        (json!(401), json!("token_expired"))
    );
    assert_eq!(calls.get(), 2, "asked once more, then final");
}
