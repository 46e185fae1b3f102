//! The pilots end to end between live development nodes: each structured
//! document through the pilots' API and back out of the receiver's, bad
//! documents refused at submit with field-level issues and, sent past the
//! API, rejected by the receiver with BV invariant; the referral thread;
//! a reply to an unknown referral; no person identifier in the audit logs.

mod support;

use std::time::{Duration, Instant};

use base64::Engine;
use brygga::node::devnet::{DevNetwork, DevOrg};
use brygga::pilot::{self, DocumentKind};
use serde_json::{json, Value};

const BUP: &str = "0203:bup.regionstockholm.se";
const SOC: &str = "0203:socialtjanst.solna.se";
const SCHOOL: &str = "0203:elevhalsa.stockholm.se";
const BUP_FA: &str = "bup.envagin";
const SOC_FA: &str = "soc.mottagning.barn";
const SCHOOL_FA: &str = "elevhalsa.remiss";

fn orgs() -> Vec<DevOrg> {
    vec![
        DevOrg::new("Region Stockholm BUP", BUP, BUP_FA).with_organisation_number(number(BUP)),
        DevOrg::new("Solna stad socialtjänst", SOC, SOC_FA).with_organisation_number(number(SOC)),
        DevOrg::new("Stockholms stad elevhälsa", SCHOOL, SCHOOL_FA).with_organisation_number(number(SCHOOL)),
    ]
}

fn number(org: &str) -> &'static str {
    match org {
        BUP => "2321000016",
        SOC => "2120000183",
        _ => "2120000142",
    }
}

fn party(org: &str) -> Value {
    let (id, fa) = address(org);
    json!({ "organisation": id, "organisationNumber": number(org), "functionalAddress": fa })
}

fn address(org: &str) -> (&'static str, &'static str) {
    match org {
        BUP => (BUP, BUP_FA),
        SOC => (SOC, SOC_FA),
        _ => (SCHOOL, SCHOOL_FA),
    }
}

/// A case system at one node: the node's API with a token of the
/// development client.
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

struct Answer {
    status: u16,
    body: Value,
}

impl Client {
    async fn new(net: &DevNetwork, org: &str) -> Client {
        let (id, secret) = net.api_client(org).unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let base = format!("http://{}", net.node(org).bound.api);
        let response = http
            .post(format!("{base}/oauth2/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        let token = body["access_token"].as_str().unwrap_or_else(|| panic!("no token: {body}")).to_owned();
        Client { http, base, token }
    }

    async fn post(&self, path: &str, body: &Value) -> Answer {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        Answer { status, body: serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null) }
    }

    async fn get(&self, path: &str) -> Answer {
        let r = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.unwrap();
        let status = r.status().as_u16();
        Answer { status, body: serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null) }
    }

    async fn submit(&self, kind: DocumentKind, document: &Value) -> Answer {
        self.post(&format!("/v1/brygga/pilot/{}", brygga::api::pilot::collection(kind)), document).await
    }

    /// Submits `document`, which must be taken; its message id.
    async fn send(&self, kind: DocumentKind, document: &Value) -> Value {
        let a = self.submit(kind, document).await;
        assert_eq!(a.status, 201, "{} refused: {}", kind.as_str(), a.body);
        a.body
    }

    /// The message as DIGG's API shows it once its status is final.
    async fn final_status(&self, message_id: &str) -> Value {
        let start = Instant::now();
        loop {
            let a = self.get(&format!("/v1/sdk/messages/{message_id}")).await;
            assert_eq!(a.status, 200, "{}", a.body);
            let status = a.body["data"]["attributes"]["messageStatus"].as_str().unwrap_or("").to_owned();
            if matches!(status.as_str(), "ACCEPTED" | "REJECTED" | "MESSAGE_EXCHANGE_ERROR" | "ERROR") {
                return a.body;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "{message_id} still {status}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends and waits for the receipt.
    async fn send_accepted(&self, kind: DocumentKind, document: &Value) -> Value {
        let answer = self.send(kind, document).await;
        let message = self.final_status(answer["messageId"].as_str().unwrap()).await;
        assert_eq!(message["data"]["attributes"]["messageStatus"], "ACCEPTED", "{}: {message}", kind.as_str());
        answer
    }

    /// A document of `kind` sent past the pilots' API, as a plain SDK
    /// message through DIGG's: the receiver's verdict (final message).
    async fn inject(&self, from: &str, to: &str, kind: DocumentKind, document: &Value) -> Value {
        let xml = pilot::unchecked_xml(kind, document).expect("the document writes as XML");
        let (from, to) = (address(from), address(to));
        let body = json!({ "data": { "type": "messages", "attributes": {
            "confidentiality": true,
            "label": "Dokument",
            "sender": from.0,
            "senderAttention": { "subOrganization": { "extension": from.1 } },
            "recipient": to.0,
            "recipientAttention": { "subOrganization": { "root": "urn:riv:infrastructure:messaging:functionalAddress", "extension": to.1 } },
            "conversationId": document["conversationId"],
            "digitalDocument": [{
                "documentId": "dokument", "index": "1",
                "contentTextBody": ["# Dokument"],
                "contentFiles": [{ "fileName": "document.xml", "contentType": "application/xml", "content": base64::engine::general_purpose::STANDARD.encode(xml) }]
            }]
        } } });
        let a = self.post("/v1/sdk/messages", &body).await;
        assert_eq!(a.status, 201, "{}", a.body);
        let id = a.body["data"]["attributes"]["messageId"].as_str().unwrap().to_owned();
        self.final_status(&id).await
    }
}

/// `BV invariant: text` lines of a rejecting receipt.
fn receipt_lines(message: &Value) -> Vec<String> {
    message["data"]["attributes"]["events"]["eventIssues"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| matches!(e["typeCode"].as_str(), Some("SV" | "BV" | "SIG")))
        .map(|e| format!("{} {}: {}", e["typeCode"].as_str().unwrap(), e["title"].as_str().unwrap_or(""), e["detail"].as_str().unwrap_or("")))
        .collect()
}

/// The library's example of `kind`, from `from` to `to`, patched; the
/// node fills document id, time and (for a first document) conversation.
fn document(kind: DocumentKind, from: &str, to: &str, patch: Value) -> Value {
    let mut doc = pilot::example(kind).to_json();
    let o = doc.as_object_mut().unwrap();
    for generated in ["documentId", "created", "conversationId"] {
        o.remove(generated);
    }
    o.insert("sender".into(), party(from));
    o.insert("recipient".into(), party(to));
    if let Value::Object(p) = patch {
        o.extend(p);
    }
    doc
}

/// `document` with what the node would fill filled (for injection).
fn complete(mut doc: Value, conversation: Option<&str>) -> Value {
    let o = doc.as_object_mut().unwrap();
    o.entry("documentId").or_insert(json!(uuid::Uuid::new_v4().to_string()));
    o.entry("created").or_insert(json!(now()));
    let conversation = conversation.map(str::to_owned).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    o.entry("conversationId").or_insert(json!(conversation));
    doc
}

fn now() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap()
}

/// Makes the check digit of a person id (string or `{root, extension}`) wrong.
fn break_check_digit(id: &mut Value) {
    let text = match id {
        Value::String(s) => s,
        Value::Object(o) => match o.get_mut("extension") {
            Some(Value::String(s)) => s,
            other => panic!("person id extension: {other:?}"),
        },
        other => panic!("person id: {other}"),
    };
    let last = text.pop().unwrap().to_digit(10).unwrap();
    text.push(char::from_digit((last + 1) % 10, 10).unwrap());
}

fn reply_to(referral: &Value, conversation: &str, reply_type: &str) -> Value {
    let mut patch = json!({
        "conversationId": conversation,
        "inReplyTo": { "referralId": referral["referralId"], "version": referral["version"] },
        "replyType": reply_type,
        "repliedAt": now(),
        "patient": { "personId": referral["patient"]["personId"] },
    });
    if matches!(reply_type, "REJECTED" | "FINAL") {
        patch["assessment"] = json!("Bedömning gjord.");
    }
    let mut doc = document(DocumentKind::ReferralReply, BUP, SCHOOL, patch);
    if !matches!(reply_type, "REJECTED" | "FINAL") {
        doc.as_object_mut().unwrap().remove("assessment");
    }
    if reply_type != "FORWARDED" {
        doc.as_object_mut().unwrap().remove("forwardedTo");
    }
    doc
}

async fn network(dir: &std::path::Path) -> DevNetwork {
    DevNetwork::start(dir, &orgs()).await.expect("network starts")
}

/// The document a node received, read through its API.
async fn received(client: &Client, message_id: &str) -> Value {
    let start = Instant::now();
    loop {
        let a = client.get(&format!("/v1/brygga/pilot/documents/{message_id}")).await;
        if a.status == 200 {
            return a.body["data"].clone();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{message_id}: {}", a.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_document_type_travels_and_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let net = network(dir.path()).await;
    let (bup, soc, school) = (Client::new(&net, BUP).await, Client::new(&net, SOC).await, Client::new(&net, SCHOOL).await);

    // Concern report, its acknowledgement and feedback.
    let report = bup.send_accepted(DocumentKind::ConcernReport, &document(DocumentKind::ConcernReport, BUP, SOC, json!({}))).await;
    let at_soc = received(&soc, report["messageId"].as_str().unwrap()).await;
    let at_bup = bup.get(&format!("/v1/brygga/pilot/documents/{}", report["messageId"].as_str().unwrap())).await.body["data"].clone();
    assert_eq!(at_soc["document"], at_bup["document"], "the receiver reads what was sent");
    assert_eq!(at_soc["direction"], "received");
    assert!(at_soc["markdown"].as_str().unwrap().contains('#'), "{}", at_soc["markdown"]);
    let conversation = report["conversationId"].as_str().unwrap();
    let replies = json!({ "conversationId": conversation, "inReplyTo": report["documentId"] });
    let ack = soc.send_accepted(DocumentKind::ConcernAcknowledgement, &document(DocumentKind::ConcernAcknowledgement, SOC, BUP, replies.clone())).await;
    let feedback = soc.send_accepted(DocumentKind::ConcernFeedback, &document(DocumentKind::ConcernFeedback, SOC, BUP, replies)).await;
    for answer in [&ack, &feedback] {
        assert_eq!(answer["conversationId"], conversation);
        assert_eq!(answer["refToMessageId"], report["messageId"], "a reply refers to the message it answers");
        received(&bup, answer["messageId"].as_str().unwrap()).await;
    }

    // Referral and a reply.
    let referral = school.send_accepted(DocumentKind::Referral, &document(DocumentKind::Referral, SCHOOL, BUP, json!({}))).await;
    let at_bup = received(&bup, referral["messageId"].as_str().unwrap()).await;
    let conversation = referral["conversationId"].as_str().unwrap();
    let reply = bup.send_accepted(DocumentKind::ReferralReply, &reply_to(&at_bup["document"], conversation, "ACCEPTED")).await;
    let at_school = received(&school, reply["messageId"].as_str().unwrap()).await;
    assert_eq!(at_school["document"]["replyType"], "ACCEPTED");

    // Every SDK message carried its document as confidential XML with a
    // Markdown rendering, and no person identifier in the subject.
    let message = soc.get(&format!("/v1/sdk/messages/{}", report["messageId"].as_str().unwrap())).await.body;
    let attributes = &message["data"]["attributes"];
    assert_eq!(attributes["confidentiality"], true, "{message}");
    let files = &attributes["digitalDocument"][0]["contentFiles"];
    assert_eq!(files[0]["contentType"], "application/xml", "{message}");
    let label = attributes["label"].as_str().unwrap();
    assert!(!label.chars().any(|c| c.is_ascii_digit()), "no identifier in the subject: {label}");
}

/// One bad variant of a document: what to change, and where the issue is.
struct Bad {
    what: &'static str,
    pointer: &'static str,
    change: fn(&mut Value),
}

fn bad_variants(kind: DocumentKind) -> Vec<Bad> {
    fn remove(doc: &mut Value, key: &str) {
        doc.as_object_mut().unwrap().remove(key);
    }
    match kind {
        DocumentKind::ConcernReport => vec![
            Bad { what: "missing reporter", pointer: "/reporter", change: |d| remove(d, "reporter") },
            Bad {
                what: "ACUTE without a phone call",
                pointer: "/phoneCallAt",
                change: |d| {
                    d["urgency"] = json!("ACUTE");
                    remove(d, "phoneCallAt");
                },
            },
            Bad { what: "bad personnummer", pointer: "/child/personId", change: |d| break_check_digit(&mut d["child"]["personId"]) },
        ],
        DocumentKind::Referral => vec![
            Bad { what: "missing question", pointer: "/question", change: |d| remove(d, "question") },
            Bad { what: "consent not covering the reply", pointer: "/consent/coversReply", change: |d| d["consent"]["coversReply"] = json!(false) },
            Bad { what: "bad personnummer", pointer: "/patient/personId", change: |d| break_check_digit(&mut d["patient"]["personId"]) },
        ],
        _ => vec![
            Bad { what: "missing responder", pointer: "/responder", change: |d| remove(d, "responder") },
            Bad {
                what: "REJECTED without assessment",
                pointer: "/assessment",
                change: |d| {
                    d["replyType"] = json!("REJECTED");
                    remove(d, "assessment");
                },
            },
            Bad { what: "bad HSA-id organisation number", pointer: "/responder/hsaId", change: |d| d["responder"]["hsaId"] = json!("SE2321000017-bup1") },
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_documents_are_refused_at_submit_and_rejected_past_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let net = network(dir.path()).await;
    let (bup, school) = (Client::new(&net, BUP).await, Client::new(&net, SCHOOL).await);

    // A referral for the replies to answer.
    let referral = school.send_accepted(DocumentKind::Referral, &document(DocumentKind::Referral, SCHOOL, BUP, json!({}))).await;
    let referral_doc = received(&bup, referral["messageId"].as_str().unwrap()).await["document"].clone();
    let conversation = referral["conversationId"].as_str().unwrap().to_owned();

    for kind in [DocumentKind::ConcernReport, DocumentKind::Referral, DocumentKind::ReferralReply] {
        let (sender, from, to, valid) = match kind {
            DocumentKind::ConcernReport => (&bup, BUP, SOC, document(kind, BUP, SOC, json!({}))),
            DocumentKind::Referral => (&school, SCHOOL, BUP, document(kind, SCHOOL, BUP, json!({}))),
            _ => (&bup, BUP, SCHOOL, reply_to(&referral_doc, &conversation, "ACCEPTED")),
        };
        for bad in bad_variants(kind) {
            let mut doc = valid.clone();
            (bad.change)(&mut doc);
            let a = sender.submit(kind, &doc).await;
            assert_eq!(a.status, 400, "{} {}: {}", kind.as_str(), bad.what, a.body);
            let issues = a.body["eventIssues"].as_array().unwrap_or_else(|| panic!("{}", a.body));
            assert!(
                issues.iter().any(|i| i["in"].as_str().is_some_and(|p| p.starts_with(bad.pointer))),
                "{} {}: no issue at {}: {}",
                kind.as_str(),
                bad.what,
                bad.pointer,
                a.body
            );

            let conversation = (kind == DocumentKind::ReferralReply).then_some(conversation.as_str());
            let verdict = sender.inject(from, to, kind, &complete(doc, conversation)).await;
            assert_eq!(verdict["data"]["attributes"]["messageStatus"], "REJECTED", "{} {}: {verdict}", kind.as_str(), bad.what);
            let lines = receipt_lines(&verdict);
            assert!(
                lines.iter().any(|l| l.starts_with("BV invariant") && l.contains(bad.pointer)),
                "{} {}: receipt lines {lines:?}",
                kind.as_str(),
                bad.what
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_referral_thread_runs_received_accepted_final_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let net = network(dir.path()).await;
    let (bup, school) = (Client::new(&net, BUP).await, Client::new(&net, SCHOOL).await);
    let referral = school.send_accepted(DocumentKind::Referral, &document(DocumentKind::Referral, SCHOOL, BUP, json!({}))).await;
    let referral_doc = received(&bup, referral["messageId"].as_str().unwrap()).await["document"].clone();
    let conversation = referral["conversationId"].as_str().unwrap();
    let mut ids = vec![referral["messageId"].clone()];
    for reply_type in ["RECEIVED", "ACCEPTED", "FINAL"] {
        let reply = bup.send_accepted(DocumentKind::ReferralReply, &reply_to(&referral_doc, conversation, reply_type)).await;
        assert_eq!(reply["conversationId"], conversation);
        ids.push(reply["messageId"].clone());
    }
    // The school's node shows the thread in order, every message receipted.
    let start = Instant::now();
    let thread = loop {
        let a = school.get(&format!("/v1/brygga/pilot/conversations/{conversation}")).await;
        assert_eq!(a.status, 200, "{}", a.body);
        let docs = a.body["data"]["documents"].as_array().unwrap().clone();
        if docs.len() == 4 || start.elapsed() > Duration::from_secs(30) {
            break docs;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let kinds: Vec<(&str, &str)> = thread.iter().map(|d| (d["kind"].as_str().unwrap(), d["outcome"].as_str().unwrap_or("-"))).collect();
    assert_eq!(kinds[0].0, "referral");
    assert_eq!(&kinds[1..], &[("referral-reply", "RECEIVED"), ("referral-reply", "ACCEPTED"), ("referral-reply", "FINAL")], "{thread:?}");
    for (d, id) in thread.iter().zip(&ids) {
        assert_eq!(d["conversationId"], conversation);
        assert_eq!(&d["messageId"], id);
    }
    assert_eq!(thread[0]["direction"], "sent");
    assert_eq!(thread[0]["messageStatus"], "ACCEPTED");
    assert!(thread[1..].iter().all(|d| d["direction"] == "received"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reply_to_an_unknown_referral_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let net = network(dir.path()).await;
    let bup = Client::new(&net, BUP).await;
    let referral = pilot::example(DocumentKind::Referral).to_json();
    let conversation = uuid::Uuid::new_v4().to_string();
    let reply = reply_to(&referral, &conversation, "ACCEPTED");
    // BUP's own node knows no such referral.
    let a = bup.submit(DocumentKind::ReferralReply, &reply).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.to_string().contains("BV not-found"), "{}", a.body);
    // Past the API, the school's node rejects it.
    let verdict = bup.inject(BUP, SCHOOL, DocumentKind::ReferralReply, &complete(reply, Some(&conversation))).await;
    assert_eq!(verdict["data"]["attributes"]["messageStatus"], "REJECTED", "{verdict}");
    let lines = receipt_lines(&verdict);
    assert!(lines.iter().any(|l| l.starts_with("BV not-found")), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pilot_document_read_through_diggs_api_is_audited_with_its_person() {
    let dir = tempfile::tempdir().unwrap();
    let net = network(dir.path()).await;
    let (bup, soc) = (Client::new(&net, BUP).await, Client::new(&net, SOC).await);
    // Sent past the pilots' API: the SDK header names no person, only the
    // document does.
    let report = complete(document(DocumentKind::ConcernReport, BUP, SOC, json!({})), None);
    let verdict = bup.inject(BUP, SOC, DocumentKind::ConcernReport, &report).await;
    assert_eq!(verdict["data"]["attributes"]["messageStatus"], "ACCEPTED", "{verdict}");
    let id = verdict["data"]["attributes"]["messageId"].as_str().unwrap();
    let read = soc.get(&format!("/v1/sdk/messages/{id}")).await;
    assert_eq!(read.status, 200, "{}", read.body);

    let log = std::fs::read_to_string(net.node(SOC).state.config.data_dir.join("audit.log")).unwrap();
    let entries: Vec<brygga::audit::Entry> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let reads: Vec<_> =
        entries.iter().filter(|e| e.action == brygga::audit::Action::Read && e.message_id.as_deref() == Some(id)).collect();
    assert_eq!(reads.len(), 1, "{log}");
    let person = brygga::audit::PersonId::parse(report["child"]["personId"]["extension"].as_str().unwrap()).unwrap();
    assert_eq!(reads[0].person_ref.as_deref(), Some(net.node(SOC).state.audit.person_ref(&person).as_str()), "the read names the child (keyed hash)");
    let received: Vec<_> = entries
        .iter()
        .filter(|e| e.action == brygga::audit::Action::InboundMessage && e.message_id.as_deref() == Some(id))
        .collect();
    assert_eq!(received[0].person_ref, reads[0].person_ref, "and so does the receipt of the document");
}
