//! `/readyz` per component against real outages: a MongoDB server process stopped and
//! started again, and the SQS endpoint made unreachable and reachable again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use e2e_tests::proxy::Proxy;
use e2e_tests::sqs::Queue;
use e2e_tests::{free_port, unique, Gateway, Services};
use serde_json::Value;
use tokio::process::{Child, Command};

async fn readyz(gateway: &Gateway) -> (u16, Value) {
    let response = reqwest::get(gateway.url("/readyz")).await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Polls `/readyz` until it answers `status` (30 s at most) and returns its body.
async fn wait_for_readyz(gateway: &Gateway, status: u16) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let (code, body) = readyz(gateway).await;
        if code == status {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz never answered {status}; last body {last}");
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("{value}")))
        .unwrap_or_else(|e| panic!("{value} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn mongodb(services: &Services, port: u16) -> Child {
    Command::new(&services.secantusd_bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--storage-path", ":memory:", "--log-level", "WARNING"])
        .kill_on_drop(true)
        .spawn()
        .expect("starting secantusd-py")
}

/// MongoDB stops: `/readyz` answers 503 with `mongodb` down, its error and since when,
/// and `gateway_component_up{component="mongodb"}` is 0. MongoDB starts again: 200,
/// `mongodb` ok since a later time, the last error still shown.
#[tokio::test]
async fn readyz_follows_mongodb_stopping_and_starting() {
    let services = Services::from_env();
    let port = free_port();
    let mut server = mongodb(&services, port);
    let uri =
        format!("mongodb://127.0.0.1:{port}/?directConnection=true&serverSelectionTimeoutMS=500");
    let gateway = Gateway::start(&[("MONGODB_URI", uri)]).await;
    let ready = wait_for_readyz(&gateway, 200).await;
    assert_eq!(ready["components"]["mongodb"]["status"], "ok", "{ready}");
    let up_since = time(&ready["components"]["mongodb"]["since"]);

    server.kill().await.unwrap();
    let stopped_at = Utc::now();
    let down = wait_for_readyz(&gateway, 503).await;
    let mongo = &down["components"]["mongodb"];
    assert_eq!(down["status"], "not_ready");
    assert_eq!(mongo["status"], "down", "{down}");
    assert!(!mongo["error"].as_str().unwrap().is_empty(), "{down}");
    assert!(time(&mongo["since"]) >= stopped_at - chrono::TimeDelta::seconds(1));
    assert!(time(&mongo["since"]) > up_since);
    assert_eq!(mongo["last_error"]["message"], mongo["error"], "{down}");
    let text = gateway.get_text("/metrics").await;
    assert_eq!(
        metric(&text, r#"gateway_component_up{component="mongodb"}"#),
        Some(0.0)
    );

    let _server = mongodb(&services, port);
    let back = wait_for_readyz(&gateway, 200).await;
    let mongo = &back["components"]["mongodb"];
    assert_eq!(mongo["status"], "ok", "{back}");
    assert!(time(&mongo["since"]) > time(&down["components"]["mongodb"]["since"]));
    assert_eq!(
        mongo["last_error"]["message"], down["components"]["mongodb"]["error"],
        "the last error is kept after recovery: {back}"
    );
    let text = gateway.get_text("/metrics").await;
    assert_eq!(
        metric(&text, r#"gateway_component_up{component="mongodb"}"#),
        Some(1.0)
    );
}

/// The SQS endpoint becomes unreachable: `/readyz` answers 503 with `sqs` down and the
/// SDK's error; reachable again: 200 and `sqs` ok, the error kept as `last_error`.
#[tokio::test]
async fn readyz_follows_the_sqs_endpoint_going_away_and_returning() {
    let services = Services::from_env();
    let queue = Queue::create_with(&services, &unique("ready"), 30, &[]).await;
    let proxy = Proxy::start(services.aws_endpoint.trim_start_matches("http://")).await;
    let mut env = services.aws_env();
    env.retain(|(name, _)| *name != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL", proxy.url.clone()));
    env.push(("SQS_METADATA_QUEUE_URL", queue.url.clone()));
    env.push(("SQS_WAIT_SECONDS", "1".into()));
    let gateway = Gateway::start(&env).await;
    let ready = wait_for_readyz(&gateway, 200).await;
    assert_eq!(ready["components"]["sqs"]["status"], "ok", "{ready}");

    proxy.cut();
    let down = wait_for_readyz(&gateway, 503).await;
    let sqs = &down["components"]["sqs"];
    assert_eq!(sqs["status"], "down", "{down}");
    assert!(!sqs["error"].as_str().unwrap().is_empty(), "{down}");
    time(&sqs["since"]);

    proxy.restore();
    let back = wait_for_readyz(&gateway, 200).await;
    let sqs_back = &back["components"]["sqs"];
    assert_eq!(sqs_back["status"], "ok", "{back}");
    assert!(time(&sqs_back["since"]) > time(&sqs["since"]));
    assert!(
        sqs_back["last_error"]["message"].is_string(),
        "the last error is kept: {back}"
    );
    assert_eq!(
        readyz(&gateway).await.1["components"]["mongodb"]["status"],
        "ok",
        "the in-memory store is never down"
    );
}
