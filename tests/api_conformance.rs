//! Conformance: DIGG's own OpenAPI document (`api/digg/sdk-api-restful.yml`,
//! a verbatim copy) drives schemathesis against a live node: every
//! operation, valid and invalid input, every response checked against the
//! document (`--checks all`). The few checks excluded for defects of the
//! document itself are listed, with reasons, in `api/schemathesis.toml`
//! and docs/api.md.
//!
//! The organisations and functional addresses are the ones in DIGG's
//! examples (`0203:inera.se`, `sdk:utkorg:0203:inera.se` sending to
//! `0203:digg.se`, `sdk:inkorg:0203:digg.se`), so the document's own
//! example request creates and delivers a real message.
//!
//! Needs `schemathesis` (PyPI) on PATH. Without it the test is skipped with
//! a message, unless the environment variable CI is set: then it fails.

mod support;
#[path = "support/api_client.rs"]
mod api_client;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use api_client::{api_section, append_config, message_body, ApiClient, Client, ALL_SCOPES};
use serde_json::json;
use brygga::node::devnet::{DevNetwork, DevOrg};

const INERA: &str = "0203:inera.se";
const INERA_FA: &str = "sdk:utkorg:0203:inera.se";
const DIGG: &str = "0203:digg.se";
const DIGG_FA: &str = "sdk:inkorg:0203:digg.se";
const SECRET: &str = "conformance secret, not for production";
/// The example value of GET /sdk/messages/{messageId}'s path parameter.
const GET_EXAMPLE_ID: &str = "19c7e876-ef6f-4fb0-bccb-e93e3ab6e69f";
/// The messageId of the document's example request.
const POST_EXAMPLE_MESSAGE_ID: &str = "ff325210-0690-42fe-b86f-95ecab821223";
/// The example value of DELETE's path parameter.
const DELETE_EXAMPLE_ID: &str = "f92d0823-e219-4985-bace-07a4102f2988";

fn schemathesis() -> Option<String> {
    for candidate in ["schemathesis", "st"] {
        if Command::new(candidate).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return Some(candidate.to_owned());
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digg_openapi_document_drives_schemathesis_against_a_live_node() {
    let Some(st) = schemathesis() else {
        if std::env::var_os("CI").is_some() {
            panic!("schemathesis is not installed, and CI is set: .ci/run installs it (pip install schemathesis)");
        }
        eprintln!("SKIPPED: schemathesis is not installed (pip install schemathesis); DIGG API conformance did not run");
        return;
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = repo.join("api/digg/sdk-api-restful.yml");
    let st_config = repo.join("api/schemathesis.toml");

    let dir = tempfile::tempdir().unwrap();
    let orgs = [DevOrg::new("Inera", INERA, INERA_FA), DevOrg::new("Digg", DIGG, DIGG_FA)];
    let net = DevNetwork::start_with(dir.path(), &orgs, |_, inits| {
        for init in inits {
            let fa = if init.org.org_id == INERA { INERA_FA } else { DIGG_FA };
            let clients = [Client { id: "conformance", secret: SECRET, scopes: ALL_SCOPES, functional_addresses: &[fa] }];
            append_config(&init.config_file, &api_section(&clients, ""));
        }
    })
    .await
    .expect("network starts");
    let node = net.node(INERA);
    let port = node.bound.api.port();
    let api = ApiClient::new(port, &node.state.config.trust.tls_ca);
    let token = api.token("conformance", SECRET).await;

    // Real data for the document's example ids: a message to read (GET by
    // id's example) and one to delete (DELETE's example), both delivered,
    // and an incoming message, so lists and items are checked with content.
    for id in [GET_EXAMPLE_ID, DELETE_EXAMPLE_ID] {
        let mut body = message_body((INERA, INERA_FA), (DIGG, DIGG_FA), "Meddelandets rubrik");
        body["data"]["attributes"]["messageId"] = json!(id);
        let created = api.post(&token, &body, &[]).await;
        assert_eq!(created.status, 201, "{}", created.text);
    }
    let digg = net.node(DIGG);
    let digg_api = ApiClient::new(digg.bound.api.port(), &digg.state.config.trust.tls_ca);
    let digg_token = digg_api.token("conformance", SECRET).await;
    let reply = digg_api.post(&digg_token, &message_body((DIGG, DIGG_FA), (INERA, INERA_FA), "Svar"), &[]).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = api.get("/v1/sdk/messages", &token).await;
        let statuses: Vec<&str> = a.body["data"].as_array().unwrap().iter().map(|m| m["attributes"]["messageStatus"].as_str().unwrap()).collect();
        if statuses.len() == 3 && statuses.iter().all(|s| ["ACCEPTED", "NEW"].contains(s)) {
            break;
        }
        assert!(Instant::now() < deadline, "the prepared messages did not settle: {statuses:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ca = node.state.config.trust_paths.tls_ca.clone();

    let mut command = tokio::process::Command::new(&st);
    command
        .arg("--config-file")
        .arg(&st_config)
        .arg("run")
        .arg(&spec)
        .args(["--url", &format!("https://localhost:{port}/v1")])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg("--tls-verify")
        .arg(&ca)
        .args(["--checks", "all"])
        .args(["--max-examples", "100", "--seed", "20261125", "--workers", "1", "--request-timeout", "20"])
        .arg("--report-junit-path")
        .arg(dir.path().join("junit.xml"))
        // Its cache directory goes there too, not into the repository.
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(240), command.output())
        .await
        .expect("schemathesis finished within 4 minutes")
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");

    // The node's own document, as it serves it, against the same node.
    let mut own = tokio::process::Command::new(&st);
    own.arg("--config-file")
        .arg(repo.join("api/schemathesis-own.toml"))
        .arg("run")
        .arg(format!("https://localhost:{port}/v1/openapi.yaml"))
        .args(["--url", &format!("https://localhost:{port}")])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg("--tls-verify")
        .arg(&ca)
        .args(["--checks", "all"])
        .args(["--max-examples", "20", "--seed", "20261125", "--workers", "1", "--request-timeout", "20"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .kill_on_drop(true);
    let own_output = tokio::time::timeout(Duration::from_secs(240), own.output())
        .await
        .expect("schemathesis finished within 4 minutes")
        .expect("schemathesis runs");
    let own_stdout = String::from_utf8_lossy(&own_output.stdout);
    println!("{own_stdout}\n{}", String::from_utf8_lossy(&own_output.stderr));
    // The document's example request created a real message, and its
    // DELETE example deleted the delivered message prepared for it.
    let store = &net.node(INERA).state.store;
    let example = store.outbox_entry(POST_EXAMPLE_MESSAGE_ID).unwrap();
    let deleted = api.get(&format!("/v1/sdk/messages/{DELETE_EXAMPLE_ID}"), &token).await.status;
    let audit = api_client::audit_entries(&net.node(INERA).state.config.data_dir);
    let read = audit.iter().any(|e| e.action == brygga::audit::Action::Read && e.message_id.as_deref() == Some(GET_EXAMPLE_ID));
    net.stop().await.unwrap();
    assert!(output.status.success(), "schemathesis found non-conformance (exit {:?}); its report is above", output.status.code());
    assert!(own_output.status.success(), "the node does not conform to its own document (exit {:?}); the report is above", own_output.status.code());
    assert!(stdout.contains("SUMMARY"), "no schemathesis summary");
    assert!(example.is_some(), "DIGG's example request did not create its message");
    assert_eq!(deleted, 404, "DELETE's example did not delete its message");
    assert!(read, "GET's example message was never read whole (no READ in the audit log)");
}
