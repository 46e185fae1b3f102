//! Webhooks on live dev nodes: a receiver that is down (not listening)
//! while events happen, and a restart of the sending node in between,
//! and then answers 503 for a while, still gets every event afterwards,
//! per message in order, each with a valid `X-Brygga-Signature`; and
//! events lost to a crash are added at the next start.

mod support;
#[path = "support/api_client.rs"]
mod api_client;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api_client::{api_section, append_config, message_body, ApiClient, Client, ALL_SCOPES};
use axum::http::{HeaderMap, StatusCode};
use brygga::api::webhook::{verify, EVENT_ID_HEADER, SIGNATURE_HEADER};
use brygga::node::devnet::{DevNetwork, DevOrg};
use serde_json::Value;

const BUP: &str = "0203:bup.regionstockholm.se";
const SOC: &str = "0203:socialtjanst.stockholm.se";
const BUP_FA: &str = "bup.envagin";
const SOC_FA: &str = "soc.mottagning";
const SECRET: &str = "correct horse battery staple";
const HOOK_SECRET: &str = "webhook-signing-secret-0123456789abcdef";

/// What the receiver got: (client path, event JSON, signature valid), in
/// arrival order.
type Received = Arc<Mutex<Vec<(String, Value, bool)>>>;

fn client(net: &DevNetwork, org: &str) -> ApiClient {
    let node = net.node(org);
    ApiClient::new(node.bound.api.port(), &node.state.config.trust.tls_ca)
}

/// A receiver that answers 503 to its first `unavailable` requests, then
/// takes every event.
async fn receiver(listener: tokio::net::TcpListener, received: Received, unavailable: usize) {
    let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let handler = |path: &'static str| {
        let (received, refused) = (received.clone(), refused.clone());
        move |headers: HeaderMap, body: axum::body::Bytes| {
            let (received, refused) = (received.clone(), refused.clone());
            async move {
                if refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < unavailable {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                let sig = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let mut valid = verify(HOOK_SECRET.as_bytes(), sig, &body, now) && !verify(b"another key of 32 characters....", sig, &body, now);
                let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let id = headers.get(EVENT_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
                valid &= event["eventId"] == id;
                received.lock().unwrap().push((path.to_owned(), event, valid));
                StatusCode::NO_CONTENT
            }
        }
    };
    let app = axum::Router::new()
        .route("/bup", axum::routing::post(handler("bup")))
        .route("/soc", axum::routing::post(handler("soc")));
    axum::serve(listener, app).await.unwrap();
}

async fn events(api: &ApiClient, id: &str) -> Vec<Value> {
    let token = api.token(id, SECRET).await;
    let a = api.get("/v1/brygga/webhook-events?since=0&limit=1000", &token).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body["events"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_was_down_gets_every_event_in_order_signed_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // The receiver's port, not listening yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let orgs = vec![DevOrg::new("Region Stockholm BUP", BUP, BUP_FA), DevOrg::new("Stockholms stad socialtjänst", SOC, SOC_FA)];
    let mut net = DevNetwork::start_with(dir.path(), &orgs, |_, inits| {
        for init in inits {
            let (id, fa, path) = if init.org.org_id == BUP { ("case-system", BUP_FA, "bup") } else { ("soc-system", SOC_FA, "soc") };
            std::fs::write(init.config_file.parent().unwrap().join("webhook.secret"), format!("{HOOK_SECRET}\n")).unwrap();
            let clients = [Client { id, secret: SECRET, scopes: ALL_SCOPES, functional_addresses: &[fa] }];
            let mut text = api_section(&clients, "");
            text.push_str(&format!("webhook = {{ url = \"http://127.0.0.1:{port}/{path}\", secret_file = \"webhook.secret\" }}\n"));
            text.push_str("\n[retry]\ninitial_backoff_seconds = 1\nmax_backoff_seconds = 2\n");
            append_config(&init.config_file, &text);
        }
    })
    .await
    .expect("network starts");

    let api = client(&net, BUP);
    let token = api.token("case-system", SECRET).await;
    let mut ids = Vec::new();
    for label in ["Remiss 1", "Remiss 2"] {
        let a = api.post(&token, &message_body((BUP, BUP_FA), (SOC, SOC_FA), label), &[]).await;
        assert_eq!(a.status, 201, "{}", a.text);
        ids.push(a.body["data"]["id"].as_str().or(a.body["id"].as_str()).map(str::to_owned));
    }

    // Events pile up and their deliveries fail while the receiver is down.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let bup = events(&api, "case-system").await;
        let failed = bup.iter().filter(|e| e["attempts"].as_u64() > Some(0) && e["delivery"] == "pending").count();
        if bup.iter().filter(|e| e["event"]["status"] == "ACCEPTED").count() == 2 && failed > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "events: {bup:#?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(events(&client(&net, SOC), "soc-system").await.len() >= 2);

    // A restart of the sending node keeps what is pending.
    let before = events(&api, "case-system").await;
    net.stop_node(BUP).await.unwrap();
    net.restart_node(BUP).await.unwrap();
    let api = client(&net, BUP);
    let pending = events(&api, "case-system").await;
    assert!(pending.iter().all(|e| e["delivery"] == "pending"), "{pending:#?}");
    // Nothing was missing, so the startup reconciliation added nothing.
    assert_eq!(pending.len(), before.len(), "{pending:#?}");

    // The receiver comes up, answers 503 for a while, then takes
    // everything: all of it arrives, in order per message.
    let received: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(receiver(listener, received.clone(), 4));
    let soc_api = client(&net, SOC);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (bup, soc) = loop {
        let bup = events(&api, "case-system").await;
        let soc = events(&soc_api, "soc-system").await;
        if bup.iter().chain(&soc).all(|e| e["delivery"] == "delivered") {
            break (bup, soc);
        }
        assert!(Instant::now() < deadline, "bup {bup:#?} soc {soc:#?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let got = received.lock().unwrap().clone();
    assert!(got.iter().all(|(_, _, valid)| *valid), "a signature did not verify: {got:#?}");
    let got: Vec<(String, Value)> = got.into_iter().map(|(p, e, _)| (p, e)).collect();
    for (path, logged) in [("bup", &bup), ("soc", &soc)] {
        // Every event at least once.
        for e in logged {
            assert!(got.iter().any(|(p, g)| p == path && g == &e["event"]), "{path}: {e} not received");
        }
        // Per message, first arrivals in sequence order 1, 2, …
        let mut next: HashMap<String, u64> = HashMap::new();
        for (_, g) in got.iter().filter(|(p, _)| p == path) {
            let seq = g["sequence"].as_u64().unwrap();
            let n = next.entry(g["messageId"].as_str().unwrap().to_owned()).or_insert(1);
            assert!(seq <= *n, "{path}: {g} before its predecessors");
            if seq == *n {
                *n += 1;
            }
        }
        assert!(logged.iter().all(|e| e["event"].get("messageId").is_some() && e["event"].get("digitalDocument").is_none()));
    }
    assert!(bup.iter().any(|e| e["event"]["type"] == "message.status"));
    assert!(soc.iter().all(|e| e["event"]["type"] == "message.received"));
    let _ = ids;
    net.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_lost_between_a_state_change_and_the_log_are_added_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let orgs = vec![DevOrg::new("Region Stockholm BUP", BUP, BUP_FA), DevOrg::new("Stockholms stad socialtjänst", SOC, SOC_FA)];
    let mut net = DevNetwork::start_with(dir.path(), &orgs, |_, inits| {
        for init in inits {
            let (id, fa) = if init.org.org_id == BUP { ("case-system", BUP_FA) } else { ("soc-system", SOC_FA) };
            std::fs::write(init.config_file.parent().unwrap().join("webhook.secret"), HOOK_SECRET).unwrap();
            let clients = [Client { id, secret: SECRET, scopes: ALL_SCOPES, functional_addresses: &[fa] }];
            let mut text = api_section(&clients, "");
            text.push_str(&format!("webhook = {{ url = \"http://127.0.0.1:{port}/x\", secret_file = \"webhook.secret\" }}\n"));
            append_config(&init.config_file, &text);
        }
    })
    .await
    .expect("network starts");
    let api = client(&net, BUP);
    let token = api.token("case-system", SECRET).await;
    let a = api.post(&token, &message_body((BUP, BUP_FA), (SOC, SOC_FA), "Remiss"), &[]).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !events(&api, "case-system").await.iter().any(|e| e["event"]["status"] == "ACCEPTED") {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // A crash that lost every event: the log is emptied while the node is down.
    let data_dir = net.node(BUP).state.config.data_dir.clone();
    net.stop_node(BUP).await.unwrap();
    {
        let db = sled::open(data_dir.join("store")).unwrap();
        assert!(db.drop_tree("api/webhook-events").unwrap());
        db.flush().unwrap();
    }
    net.restart_node(BUP).await.unwrap();
    let after = events(&client(&net, BUP), "case-system").await;
    assert_eq!(after.len(), 1, "{after:#?}");
    assert_eq!(after[0]["event"]["status"], "ACCEPTED");
    assert_eq!(after[0]["event"]["sequence"], 1);
    net.stop().await.unwrap();
}

#[test]
fn webhook_configuration_errors_name_the_key() {
    use brygga::config::NodeConfig;
    use brygga::node::devnet::init_org;
    let dir = tempfile::tempdir().unwrap();
    let init = init_org(dir.path(), &dir.path().join("ca"), &DevOrg::new("Region Stockholm BUP", BUP, BUP_FA)).unwrap();
    let original = std::fs::read_to_string(&init.config_file).unwrap();
    let folder = init.config_file.parent().unwrap();
    std::fs::write(folder.join("long.secret"), HOOK_SECRET).unwrap();
    std::fs::write(folder.join("short.secret"), "too short\n").unwrap();
    let with = |webhook: &str| {
        let clients = [Client { id: "c", secret: SECRET, scopes: ALL_SCOPES, functional_addresses: &[BUP_FA] }];
        format!("{original}{}webhook = {webhook}\n", api_section(&clients, ""))
    };
    let cases = [
        (r#"{ url = "http://hooks.example.se/x", secret_file = "long.secret" }"#, "api.clients[0].webhook.url"),
        (r#"{ url = "https://hooks.example.se/x", secret_file = "long.secret" }"#, "api.clients[0].webhook.ca_file"),
        (r#"{ url = "http://127.0.0.1:9/x", secret_file = "short.secret" }"#, "api.clients[0].webhook.secret_file"),
        (r#"{ url = "http://127.0.0.1:9/x", secret_file = "missing.secret" }"#, "api.clients[0].webhook.secret_file"),
        (r#"{ url = "http://127.0.0.1:9/x" }"#, "api.clients[0].webhook"),
    ];
    for (webhook, key) in cases {
        std::fs::write(&init.config_file, with(webhook)).unwrap();
        let e = NodeConfig::load(&init.config_file).expect_err(key);
        assert!(e.key.starts_with(key), "{key}: {e}");
    }
    std::fs::write(&init.config_file, with(r#"{ url = "http://[::1]:9/x", secret_file = "long.secret" }"#)).unwrap();
    let config = NodeConfig::load(&init.config_file).expect("valid webhook");
    let hook = config.api.clients[0].webhook.as_ref().unwrap();
    assert_eq!(hook.secret, HOOK_SECRET.as_bytes());
    assert!(!format!("{hook:?}").contains(HOOK_SECRET));
}
