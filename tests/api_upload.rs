//! Attachments uploaded as raw bytes (`POST /v1/brygga/attachments`) and
//! named by `attachmentId` in a create request: delivered byte for byte,
//! private to their client, refused when unknown, doubled or too large,
//! kept across a restart, used once; and a large one goes through a sending
//! node process whose peak memory stays well below the attachment.

mod support;
#[path = "support/api_client.rs"]
mod api_client;

use std::time::{Duration, Instant};

use api_client::{add_functional_address, api_section, append_config, message_body, Answer, ApiClient, Client, ALL_SCOPES};
use base64::Engine as _;
use brygga::node::devnet::{DevNetwork, DevOrg};
use serde_json::{json, Value};

const BUP: &str = "0203:bup.regionstockholm.se";
const SOC: &str = "0203:socialtjanst.stockholm.se";
const BUP_FA: &str = "bup.envagin";
const BUP_OTHER_FA: &str = "bup.remisser";
const SOC_FA: &str = "soc.mottagning";
const SECRET: &str = "correct horse battery staple";
const MIB: usize = 1024 * 1024;

/// The tests of this file run one at a time: the large one measures a
/// process's memory and picks free ports for its processes, which the
/// others' networks could take or crowd in between. Held across awaits
/// on purpose: each test has its own runtime, the lock only orders them.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `POST /v1/brygga/attachments` with `bytes` and extra headers.
async fn upload(api: &ApiClient, token: &str, bytes: Vec<u8>, content_type: &str, extra: &[(&str, &str)], query: &str) -> Answer {
    let mut request = api
        .http
        .post(format!("{}/v1/brygga/attachments{query}", api.base))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(bytes);
    for (k, v) in extra {
        request = request.header(*k, *v);
    }
    ApiClient::read(request.send().await.unwrap()).await
}

/// A body of `left` bytes with no declared length (sent chunked).
struct Chunked {
    left: usize,
}

impl hyper::body::Body for Chunked {
    type Data = hyper::body::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<hyper::body::Bytes>, std::io::Error>>> {
        let n = self.left.min(64 * 1024);
        self.left -= n;
        std::task::Poll::Ready((n > 0).then(|| Ok(hyper::body::Frame::data(hyper::body::Bytes::from(vec![b'a'; n])))))
    }
}

/// A create request whose one content file is `file`.
fn body_with_file(sender_fa: &str, file: Value) -> Value {
    let mut body = message_body((BUP, sender_fa), (SOC, SOC_FA), "Remiss med bilaga");
    body["data"]["attributes"]["digitalDocument"][0]["contentFiles"] = json!([file]);
    body
}

fn issue_locations(a: &Answer) -> Vec<String> {
    a.body["eventIssues"].as_array().map(|v| v.iter().filter_map(|i| i["in"].as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

const FILE_AT: &str = "/data/attributes/digitalDocument/0/contentFiles/0";

async fn network(dir: &std::path::Path) -> DevNetwork {
    DevNetwork::start_with(dir, &[DevOrg::new("Region Stockholm BUP", BUP, BUP_FA), DevOrg::new("Stockholms stad socialtjänst", SOC, SOC_FA)], |_, inits| {
        for init in inits {
            let clients: Vec<Client> = if init.org.org_id == BUP {
                add_functional_address(&init.config_file, BUP_OTHER_FA, "BUP remisser");
                vec![
                    Client { id: "case-system", secret: SECRET, scopes: ALL_SCOPES, functional_addresses: &[BUP_FA] },
                    Client { id: "remisser", secret: SECRET, scopes: ALL_SCOPES, functional_addresses: &[BUP_OTHER_FA] },
                    Client { id: "reader", secret: SECRET, scopes: &["urn:sdk.api:getMessage"], functional_addresses: &[BUP_FA] },
                ]
            } else {
                vec![Client { id: "soc-system", secret: SECRET, scopes: ALL_SCOPES, functional_addresses: &[SOC_FA] }]
            };
            append_config(&init.config_file, &api_section(&clients, ""));
        }
    })
    .await
    .expect("network starts")
}

fn client(net: &DevNetwork, org: &str) -> ApiClient {
    let node = net.node(org);
    ApiClient::new(node.bound.api.port(), &node.state.config.trust.tls_ca)
}

/// The receiver's view of message `id`, once it is there.
async fn received(api: &ApiClient, token: &str, id: &str) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = api.get(&format!("/v1/sdk/messages/{id}"), token).await;
        if a.status == 200 || Instant::now() > deadline {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_attachment_is_sent_byte_identical_and_refusals_point_at_the_field() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut net = network(dir.path()).await;
    let api = client(&net, BUP);
    let token = api.token("case-system", SECRET).await;
    let other = api.token("remisser", SECRET).await;

    // Upload: 201 with what the node keeps.
    let bytes = support::pseudo_pdf(3 * MIB + 17, 1);
    let a = upload(&api, &token, bytes.clone(), "application/pdf", &[("content-disposition", "attachment; filename=\"remiss.pdf\"")], "").await;
    assert_eq!(a.status, 201, "{}", a.text);
    let id = a.body["attachmentId"].as_str().unwrap().to_owned();
    assert_eq!(a.body["size"], bytes.len() as u64);
    assert_eq!(a.body["sha256"], support::sha256_hex(&bytes));
    assert_eq!(a.body["contentType"], "application/pdf");
    assert_eq!(a.body["fileName"], "remiss.pdf");
    assert!(a.body["expiresAt"].as_str().is_some_and(|t| t.ends_with('Z')), "{}", a.text);
    assert_eq!(a.header("location").as_deref(), Some(format!("/v1/brygga/attachments/{id}").as_str()));
    // The file name from the query, UTF-8.
    let q = upload(&api, &token, b"hej".to_vec(), "text/plain", &[], "?fileName=h%C3%A4lsning.txt").await;
    assert_eq!((q.status, q.body["fileName"].as_str()), (201, Some("hälsning.txt")), "{}", q.text);

    // The send scope is needed; another client does not see it.
    let reader = api.token("reader", SECRET).await;
    assert_eq!(upload(&api, &reader, b"x".to_vec(), "text/plain", &[], "").await.status, 403);
    assert_eq!(api.get(&format!("/v1/brygga/attachments/{id}"), &other).await.status, 404);
    assert_eq!(api.delete(&format!("/v1/brygga/attachments/{id}"), &other).await.status, 404);
    assert_eq!(api.get(&format!("/v1/brygga/attachments/{id}"), &token).await.status, 200);
    let a = api.post(&other, &body_with_file(BUP_OTHER_FA, json!({ "attachmentId": id })), &[]).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(issue_locations(&a).contains(&format!("{FILE_AT}/attachmentId")), "{}", a.text);

    // Refusals: an unknown id, both content and attachmentId, neither, a
    // bad id, no media type.
    let unknown = uuid::Uuid::new_v4().to_string();
    let a = api.post(&token, &body_with_file(BUP_FA, json!({ "attachmentId": unknown })), &[]).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(issue_locations(&a), vec![format!("{FILE_AT}/attachmentId")], "{}", a.text);
    let both = json!({ "attachmentId": id, "content": "aGVq", "fileName": "a.txt", "contentType": "text/plain" });
    let a = api.post(&token, &body_with_file(BUP_FA, both), &[]).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(issue_locations(&a), vec![FILE_AT.to_owned()], "{}", a.text);
    let a = api.post(&token, &body_with_file(BUP_FA, json!({ "fileName": "a.txt", "contentType": "text/plain" })), &[]).await;
    assert!(a.status == 400 && issue_locations(&a).contains(&format!("{FILE_AT}/content")), "{}", a.text);
    let a = api.post(&token, &body_with_file(BUP_FA, json!({ "attachmentId": "../etc/passwd" })), &[]).await;
    assert!(a.status == 400 && issue_locations(&a).contains(&format!("{FILE_AT}/attachmentId")), "{}", a.text);
    let a = ApiClient::read(api.http.post(format!("{}/v1/brygga/attachments", api.base)).bearer_auth(&token).body("x").send().await.unwrap()).await;
    assert!(a.status == 400 && a.text.contains("header:Content-Type"), "{}", a.text);

    // A declared length over the limit: 413 before the body is read.
    let limit = net.node(BUP).state.config.limits.max_sdk_message_bytes as u64;
    let endless = reqwest::Body::wrap(brygga::spool::ReaderBody::new(std::io::repeat(b'x'), limit + 1));
    let response = api.http.post(format!("{}/v1/brygga/attachments", api.base)).bearer_auth(&token).header("content-type", "application/pdf").body(endless).send().await;
    // The node answers and closes without reading: the client sees the 413,
    // or (when it was still writing) a broken connection.
    match response {
        Ok(r) => {
            let a = ApiClient::read(r).await;
            assert_eq!(a.status, 413, "{}", a.text);
        }
        Err(e) => assert!(e.is_request() && !e.is_timeout(), "{e:?}"),
    }
    assert!(std::fs::read_dir(net.node(BUP).state.config.data_dir.join("uploads")).unwrap().count() == 2, "nothing kept of it");

    // Create with it, fileName and contentType from the upload, with an
    // Idempotency-Key: 201; the same again replays the answer.
    let key = [("idempotency-key", "upload-test-1")];
    let body = body_with_file(BUP_FA, json!({ "attachmentId": id }));
    let created = api.post(&token, &body, &key).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let again = api.post(&token, &body, &key).await;
    assert_eq!((again.status, &again.text), (201, &created.text));
    let message_id = created.body["data"]["attributes"]["messageId"].as_str().unwrap().to_owned();
    // Used: gone, and another message cannot name it.
    assert_eq!(api.get(&format!("/v1/brygga/attachments/{id}"), &token).await.status, 404);
    let a = api.post(&token, &body, &[]).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(!net.node(BUP).state.config.data_dir.join("uploads").join(&id).exists());

    // The receiver has the attachment byte for byte.
    let soc = client(&net, SOC);
    let soc_token = soc.token("soc-system", SECRET).await;
    let got = received(&soc, &soc_token, &message_id).await;
    assert_eq!(got.status, 200, "{}", got.text);
    let file = &got.body["data"]["attributes"]["digitalDocument"][0]["contentFiles"][0];
    assert_eq!(file["fileName"], "remiss.pdf");
    assert_eq!(file["contentType"], "application/pdf");
    let content = base64::engine::general_purpose::STANDARD.decode(file["content"].as_str().unwrap()).unwrap();
    assert!(content == bytes, "the receiver's attachment differs ({} bytes, {} sent)", content.len(), bytes.len());
    // The sender shows its message with the attachment too.
    let own = api.get(&format!("/v1/sdk/messages/{message_id}"), &token).await;
    assert_eq!(own.status, 200, "{}", own.text);
    let own_content = own.body["data"]["attributes"]["digitalDocument"][0]["contentFiles"][0]["content"].as_str().unwrap();
    assert!(base64::engine::general_purpose::STANDARD.decode(own_content).unwrap() == bytes);

    // An upload survives a restart of the node, and is used after it.
    let kept = support::pseudo_pdf(64 * 1024, 2);
    let a = upload(&api, &token, kept.clone(), "application/pdf", &[], "?fileName=efter.pdf").await;
    assert_eq!(a.status, 201, "{}", a.text);
    let kept_id = a.body["attachmentId"].as_str().unwrap().to_owned();
    net.stop_node(BUP).await.unwrap();
    net.restart_node(BUP).await.unwrap();
    let api = client(&net, BUP);
    let token = api.token("case-system", SECRET).await;
    let a = api.get(&format!("/v1/brygga/attachments/{kept_id}"), &token).await;
    assert_eq!((a.status, a.body["sha256"].as_str()), (200, Some(support::sha256_hex(&kept).as_str())), "{}", a.text);
    let file = json!({ "attachmentId": kept_id, "fileName": "omdöpt.pdf" });
    let created = api.post(&token, &body_with_file(BUP_FA, file), &[]).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let message_id = created.body["data"]["attributes"]["messageId"].as_str().unwrap().to_owned();
    let got = received(&soc, &soc_token, &message_id).await;
    let file = &got.body["data"]["attributes"]["digitalDocument"][0]["contentFiles"][0];
    assert_eq!(file["fileName"], "omdöpt.pdf", "{}", got.text);
    assert!(base64::engine::general_purpose::STANDARD.decode(file["content"].as_str().unwrap()).unwrap() == kept);

    // A deleted upload is gone.
    let a = upload(&api, &token, b"bort".to_vec(), "text/plain", &[], "").await;
    let gone = a.body["attachmentId"].as_str().unwrap().to_owned();
    assert_eq!(api.delete(&format!("/v1/brygga/attachments/{gone}"), &token).await.status, 204);
    assert_eq!(api.get(&format!("/v1/brygga/attachments/{gone}"), &token).await.status, 404);
    net.stop().await.unwrap();
}

#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_over_the_message_limit_are_refused() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let net = DevNetwork::start_with(dir.path(), &[DevOrg::new("Region Stockholm BUP", BUP, BUP_FA), DevOrg::new("Stockholms stad socialtjänst", SOC, SOC_FA)], |_, inits| {
        for init in inits {
            let address: &[&str] = if init.org.org_id == BUP { &[BUP_FA] } else { &[SOC_FA] };
            let clients = [Client { id: "case-system", secret: SECRET, scopes: ALL_SCOPES, functional_addresses: address }];
            // 1 MiB messages: an upload of 900 KiB fits, its base64 does not.
            let text = std::fs::read_to_string(&init.config_file).unwrap();
            std::fs::write(&init.config_file, format!("{text}\n[limits]\nmax_sdk_message_bytes = 1048576\n")).unwrap();
            append_config(&init.config_file, &api_section(&clients, ""));
        }
    })
    .await
    .expect("network starts");
    let api = client(&net, BUP);
    let token = api.token("case-system", SECRET).await;
    // Chunked (no length declared): 413 once the bytes pass the limit.
    let chunked = reqwest::Body::wrap(Chunked { left: MIB + 1 });
    let r = api.http.post(format!("{}/v1/brygga/attachments", api.base)).bearer_auth(&token).header("content-type", "text/plain").body(chunked).send().await.unwrap();
    let a = ApiClient::read(r).await;
    assert_eq!(a.status, 413, "{}", a.text);
    let a = upload(&api, &token, support::pseudo_pdf(900 * 1024, 3), "application/pdf", &[], "?fileName=stor.pdf").await;
    assert_eq!(a.status, 201, "{}", a.text);
    let id = a.body["attachmentId"].as_str().unwrap().to_owned();
    let a = api.post(&token, &body_with_file(BUP_FA, json!({ "attachmentId": id })), &[]).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(a.text.contains("Message size to large"), "{}", a.text);
    // Not used: still there.
    assert_eq!(api.get(&format!("/v1/brygga/attachments/{id}"), &token).await.status, 200);
    assert!(std::fs::read_dir(net.node(BUP).state.config.data_dir.join("spool")).unwrap().next().is_none(), "spool not empty");
    net.stop().await.unwrap();
}

/// An 80 MiB upload through a `brygga serve` process: the sender's peak RSS
/// stays below 0.6 × the attachment, and rises by less than 0.4 × it
/// (inline, the create request alone holds the base64 JSON, the decoded
/// bytes and the XML at once); the receiver gets the same bytes. 80 MiB and
/// not less: a test build's node starts at about 36 MiB.
#[test]
fn a_large_upload_is_sent_with_bounded_memory() {
    let _serial = one_at_a_time();
    use support::processes::{free_ports, init_node, participants_file, peak_rss_bytes, start_node_tls_api, start_smp, tail, Children};
    const SIZE: usize = 80 * MIB;
    const LIMITS: &str = "[limits]\nmax_sdk_message_bytes = 125829120\nmax_as4_message_bytes = 209715200\n";
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let ports = free_ports(5);
    let sender = init_node("bup", root, BUP, BUP_FA, ports[0], ports[1], ports[4]);
    let receiver = init_node("soc", root, SOC, SOC_FA, ports[2], ports[3], ports[4]);
    sender.append_config(LIMITS);
    receiver.append_config(LIMITS);
    let bup_clients = [Client { id: "case-system", secret: SECRET, scopes: ALL_SCOPES, functional_addresses: &[BUP_FA] }];
    let soc_clients = [Client { id: "soc-system", secret: SECRET, scopes: ALL_SCOPES, functional_addresses: &[SOC_FA] }];
    append_config(&sender.config, &api_section(&bup_clients, ""));
    append_config(&receiver.config, &api_section(&soc_clients, ""));
    let children = Children::default();
    let participants = participants_file(root, &[(BUP, &sender), (SOC, &receiver)]);
    let smp = start_smp(&children, root, &participants, ports[4]);
    let _receiver_pid = start_node_tls_api(&children, &receiver);
    let sender_pid = start_node_tls_api(&children, &sender);
    let at_start = peak_rss_bytes(sender_pid);
    let ca = brygga::node::devnet::load_config(&sender.config, smp).unwrap().trust.tls_ca;

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let api = ApiClient::new(sender.api.port(), &ca);
        let token = api.token("case-system", SECRET).await;
        let bytes = support::pseudo_pdf(SIZE, 4);
        let digest = support::sha256_hex(&bytes);
        let a = upload(&api, &token, bytes, "application/pdf", &[], "?fileName=stor.pdf").await;
        assert_eq!(a.status, 201, "{}\n{}", a.text, tail(&sender.log, 20));
        assert_eq!(a.body["sha256"], digest);
        let id = a.body["attachmentId"].as_str().unwrap().to_owned();
        let created = api.post(&token, &body_with_file(BUP_FA, json!({ "attachmentId": id })), &[]).await;
        assert_eq!(created.status, 201, "{}\n{}", created.text, tail(&sender.log, 20));
        let message_id = created.body["data"]["attributes"]["messageId"].as_str().unwrap().to_owned();

        // The receiver's inbox (its local API) has the message; DIGG's API
        // there reads messages whole and is not what is measured here.
        let soc = ApiClient::new(receiver.api.port(), &ca);
        let deadline = Instant::now() + Duration::from_secs(300);
        let xml = loop {
            let r = soc.http.get(format!("{}/local/v1/inbox/{SOC_FA}/{message_id}", soc.base)).send().await.unwrap();
            if r.status() == 200 {
                break r.bytes().await.unwrap();
            }
            children.check_alive(receiver.name, &receiver.log);
            assert!(Instant::now() < deadline, "not delivered: {}\n{}", tail(&sender.log, 20), tail(&receiver.log, 20));
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let start = xml.windows(9).position(|w| w == b":content>").expect("a content element") + 9;
        let len = xml[start..].iter().position(|&b| b == b'<').expect("the content element ends");
        let content = base64::engine::general_purpose::STANDARD.decode(&xml[start..start + len]).unwrap();
        assert!(support::sha256_hex(&content) == digest, "the receiver's attachment differs");
    });
    let peak = peak_rss_bytes(sender_pid);
    eprintln!("sender peak RSS: {} MiB at start, {} MiB after a {} MiB attachment", at_start / MIB as u64, peak / MIB as u64, SIZE / MIB);
    assert!((peak as f64) < 0.6 * SIZE as f64, "sender peak RSS {peak} is not below 0.6 × the attachment ({SIZE})");
    assert!(((peak - at_start) as f64) < 0.4 * SIZE as f64, "sender peak RSS rose by {} for an attachment of {SIZE}", peak - at_start);
    assert!(std::fs::read_dir(sender.dir.join("data/spool")).unwrap().next().is_none(), "sender spool not empty");
}
