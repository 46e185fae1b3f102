//! `brygga demo`: the two Stockholm pilots between three nodes on this
//! machine, with fresh keys and no setup.
//!
//! Starts an SMP and a node each for Region Stockholm BUP, Solna stad's
//! social services and Stockholms stad's student health (development PKI
//! in a temporary directory, every listener on loopback, AS4 over mutual
//! TLS). Everything goes through the nodes' APIs the way a case system
//! would use them: an OAuth2 token from the node, the pilots' document
//! endpoints to send, DIGG's message API to follow a message and read the
//! inbox, and the conversation endpoint for each thread.
//!
//! 1. An ACUTE concern report from BUP to social services, acknowledged and
//!    answered with feedback.
//! 2. A referral from student health to BUP, answered RECEIVED, ACCEPTED,
//!    FINAL.
//! 3. An invalid referral: refused by the school's own node at once, and,
//!    sent past the checks through DIGG's generic API, rejected by BUP's
//!    node with a signed receipt naming the field.
//!
//! The same (fictional) child is in every document, so that
//! `brygga audit export --person` on BUP's node finds all three kinds.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine;
use clap::Args;
use serde_json::{json, Value};

use super::{CmdResult, Failure};
use crate::node::devnet::{DevNetwork, DevOrg};
use crate::pilot::{self, DocumentKind};

/// Region Stockholm (BUP, child and adolescent psychiatry).
pub const BUP: &str = "0203:bup.regionstockholm.se";
/// Solna stad (social services).
pub const SOCIAL: &str = "0203:socialtjanst.solna.se";
/// Stockholms stad (student health).
pub const SCHOOL: &str = "0203:elevhalsa.stockholm.se";
const BUP_FA: &str = "bup.envagin";
const SOCIAL_FA: &str = "soc.mottagning.barn";
const SCHOOL_FA: &str = "elevhalsa.remiss";

/// The organisations' numbers.
fn organisation_number(org: &str) -> &'static str {
    match org {
        BUP => "2321000016",
        SOCIAL => "2120000183",
        _ => "2120000142",
    }
}

fn party(org: &str, functional_address: &str) -> Value {
    json!({ "organisation": org, "organisationNumber": organisation_number(org), "functionalAddress": functional_address })
}

/// How long the demo waits for a message to reach a final status.
const FINAL_WITHIN: Duration = Duration::from_secs(60);

#[derive(Args, Debug, Default)]
pub struct DemoArgs {
    /// Keep the nodes' files (keys, stores, audit logs, service logs) in
    /// this directory instead of a temporary one that is removed.
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::usage(format!("demo: {e}"))
}

pub(super) fn run(args: DemoArgs) -> CmdResult {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(fail)?;
    runtime.block_on(demo(args))
}

async fn demo(args: DemoArgs) -> CmdResult {
    println!("Brygga demo: the Stockholm SDK pilots between three nodes on this machine\n");
    let (dir, keep) = match args.keep {
        Some(dir) => (dir, true),
        None => (std::env::temp_dir().join(format!("brygga-demo-{}", std::process::id())), false),
    };
    let _ = std::fs::remove_dir_all(&dir);
    init_logs(&dir, keep)?;
    let orgs = [
        DevOrg::new("Region Stockholm BUP", BUP, BUP_FA).with_organisation_number(organisation_number(BUP)),
        DevOrg::new("Solna stad socialtjänst", SOCIAL, SOCIAL_FA).with_organisation_number(organisation_number(SOCIAL)),
        DevOrg::new("Stockholms stad elevhälsa", SCHOOL, SCHOOL_FA).with_organisation_number(organisation_number(SCHOOL)),
    ];
    let started = Instant::now();
    let net = DevNetwork::start(&dir, &orgs).await.map_err(fail)?;
    println!("SMP on http://{} publishing three participants", net.smp);
    for node in &net.nodes {
        println!("  {:<28} {:<18} AS4 https://{}  API http://{}", node.org.name, node.org.org_id, node.bound.as4, node.bound.api);
    }
    println!("  (fresh development PKI in {}, started in {:.1} s)\n", dir.display(), started.elapsed().as_secs_f64());

    let result = run_pilots(&net).await;
    // Stop first: shutdown lets attempts in flight finish and write their
    // audit entries, so the chains are checked complete.
    let logs: Vec<(String, PathBuf)> =
        net.nodes.iter().map(|n| (n.org.name.clone(), n.state.config.data_dir.join("audit.log"))).collect();
    net.stop().await.map_err(fail)?;
    let audit = verify_audit(&logs);
    if keep {
        println!("\nThe nodes' files are kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let checks = result?;
    audit?;
    let failed = checks.failed();
    println!("\nSummary: {} of {} steps ended as expected; every node stopped cleanly.", checks.total - failed, checks.total);
    if failed == 0 {
        Ok(())
    } else {
        Err(fail("a step did not end as expected"))
    }
}

/// The nodes' service logs: into `<dir>/service.log` when the files are
/// kept (RUST_LOG tunes them, info by default), else warnings to stderr.
fn init_logs(dir: &std::path::Path, keep: bool) -> Result<(), Failure> {
    use tracing_subscriber::EnvFilter;
    let filter = |default: &str| EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    if keep {
        std::fs::create_dir_all(dir).map_err(fail)?;
        let file = std::fs::File::create(dir.join("service.log")).map_err(fail)?;
        let _ = tracing_subscriber::fmt().with_env_filter(filter("info")).with_ansi(false).with_writer(std::sync::Mutex::new(file)).try_init();
    } else {
        let _ = tracing_subscriber::fmt().with_env_filter(filter("warn")).with_writer(std::io::stderr).try_init();
    }
    Ok(())
}

/// What was expected and what happened.
#[derive(Default)]
struct Checks {
    total: u32,
    failures: Vec<String>,
}

impl Checks {
    fn expect(&mut self, ok: bool, what: impl Into<String>) {
        self.total += 1;
        if !ok {
            let what = what.into();
            println!("      NOT AS EXPECTED: {what}");
            self.failures.push(what);
        }
    }

    fn failed(&self) -> u32 {
        self.failures.len() as u32
    }
}

// ---------------------------------------------------------------------------
// A case system's view of its node
// ---------------------------------------------------------------------------

/// One organisation's case system: its node's API with a token.
struct CaseSystem {
    name: String,
    http: reqwest::Client,
    base: String,
    token: String,
}

impl CaseSystem {
    async fn connect(net: &DevNetwork, org: &str) -> Result<CaseSystem, Failure> {
        let node = net.node(org);
        let (id, secret) = net.api_client(org).map_err(fail)?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(fail)?;
        let base = format!("http://{}", node.bound.api);
        let scopes = crate::api::scope::Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
        let response = http
            .post(format!("{base}/oauth2/token"))
            .basic_auth(id, Some(&secret))
            .form(&[("grant_type", "client_credentials"), ("scope", scopes.as_str())])
            .send()
            .await
            .map_err(fail)?;
        let status = response.status();
        let body: Value = serde_json::from_slice(&response.bytes().await.map_err(fail)?).map_err(fail)?;
        let token = body["access_token"].as_str().ok_or_else(|| fail(format!("{org}: no token ({status}): {body}")))?.to_owned();
        Ok(CaseSystem { name: node.org.name.clone(), http, base, token })
    }

    async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value), Failure> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .body(body.to_string())
            .send()
            .await
            .map_err(fail)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(fail)?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    async fn get(&self, path: &str) -> Result<Value, Failure> {
        let response = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.map_err(fail)?;
        let status = response.status();
        let body: Value = serde_json::from_slice(&response.bytes().await.map_err(fail)?).map_err(fail)?;
        if !status.is_success() {
            return Err(fail(format!("{}: GET {path}: {status}: {body}", self.name)));
        }
        Ok(body)
    }

    /// Sends a pilot document; the node's answer.
    async fn send(&self, kind: DocumentKind, document: &Value) -> Result<Value, Failure> {
        let (status, body) = self.post(&format!("{}/{}", crate::api::pilot::BASE, crate::api::pilot::collection(kind)), document).await?;
        if status != 201 {
            return Err(fail(format!("{}: {} refused ({status}): {body}", self.name, kind.as_str())));
        }
        Ok(body)
    }

    /// Follows a message through DIGG's API until its status is final;
    /// the statuses seen and the last answer.
    async fn follow(&self, message_id: &str) -> Result<(Vec<String>, Value), Failure> {
        let start = Instant::now();
        let mut seen: Vec<String> = Vec::new();
        loop {
            let body = self.get(&format!("{}/{message_id}", crate::api::digg::BASE)).await?;
            let status = body["data"]["attributes"]["messageStatus"].as_str().unwrap_or("?").to_owned();
            if seen.last() != Some(&status) {
                seen.push(status.clone());
            }
            let last = matches!(status.as_str(), "ACCEPTED" | "REJECTED" | "MESSAGE_EXCHANGE_ERROR" | "ERROR");
            if last || start.elapsed() > FINAL_WITHIN {
                return Ok((seen, body));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends `document` and waits for its receipt; prints the path.
    async fn send_and_follow(&self, kind: DocumentKind, document: &Value, checks: &mut Checks, expect: &str) -> Result<Value, Failure> {
        let answer = self.send(kind, document).await?;
        let id = answer["messageId"].as_str().unwrap_or_default().to_owned();
        let (seen, last) = self.follow(&id).await?;
        println!("      message {}: {}", short(&id), seen.join(" → "));
        print_receipt(&last);
        checks.expect(seen.last().map(String::as_str) == Some(expect), format!("{} ended {:?}, expected {expect}", kind.as_str(), seen.last()));
        Ok(answer)
    }

    /// The newest message in the inbox of this case system with `label`
    /// (DIGG's getMessageByFilter), waiting for it to arrive.
    async fn inbox_message(&self, message_id: &str) -> Result<Value, Failure> {
        let start = Instant::now();
        loop {
            let list = self.get(&format!("{}?filter[messageStatus]=NEW", crate::api::digg::BASE)).await?;
            if let Some(found) = list["data"].as_array().and_then(|items| items.iter().find(|i| i["id"] == message_id)) {
                return Ok(found.clone());
            }
            if start.elapsed() > FINAL_WITHIN {
                return Err(fail(format!("{}: message {message_id} never showed as NEW in the inbox", self.name)));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Reads a received pilot document (audited at the node).
    async fn read_document(&self, message_id: &str) -> Result<Value, Failure> {
        Ok(self.get(&format!("{}/documents/{message_id}", crate::api::pilot::BASE)).await?["data"].clone())
    }

    async fn thread(&self, conversation_id: &str) -> Result<Vec<Value>, Failure> {
        let body = self.get(&format!("{}/conversations/{conversation_id}", crate::api::pilot::BASE)).await?;
        Ok(body["data"]["documents"].as_array().cloned().unwrap_or_default())
    }
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn print_receipt(last: &Value) {
    let attributes = &last["data"]["attributes"];
    match attributes["messageStatus"].as_str().unwrap_or("?") {
        "ACCEPTED" => println!("      receipt: ACCEPTED (signed by the receiving organisation, verified, correlated)"),
        "REJECTED" => {
            println!("      receipt: REJECTED (signed by the receiving organisation, verified, correlated)");
            for line in receipt_lines(last) {
                println!("         {line}");
            }
        }
        _ => {}
    }
}

/// The lines of a rejecting receipt in a message read through DIGG's API:
/// `BV invariant: text`.
pub fn receipt_lines(message: &Value) -> Vec<String> {
    let issues = message["data"]["attributes"]["events"]["eventIssues"].as_array().cloned().unwrap_or_default();
    issues
        .iter()
        .filter(|e| matches!(e["typeCode"].as_str(), Some("SV" | "BV" | "SIG")))
        .map(|e| format!("{} {}: {}", e["typeCode"].as_str().unwrap_or(""), e["title"].as_str().unwrap_or(""), e["detail"].as_str().unwrap_or("")))
        .collect()
}

async fn print_thread(who: &CaseSystem, conversation_id: &str, checks: &mut Checks, expected: &[&str]) -> Result<(), Failure> {
    let thread = who.thread(conversation_id).await?;
    println!("   {}'s view of the conversation {}:", who.name, short(conversation_id));
    let mut seen = Vec::new();
    for (n, d) in thread.iter().enumerate() {
        let kind = d["kind"].as_str().unwrap_or("?");
        let outcome = d["outcome"].as_str().unwrap_or("");
        let direction = d["direction"].as_str().unwrap_or("?");
        let status = d["messageStatus"].as_str().unwrap_or("?");
        println!("      {}. {:<26} {:<9} {:<10} {}", n + 1, kind, direction, outcome, status);
        seen.push(if outcome.is_empty() { kind.to_owned() } else { format!("{kind}:{outcome}") });
    }
    checks.expect(seen == expected, format!("thread {seen:?}, expected {expected:?}"));
    Ok(())
}

// ---------------------------------------------------------------------------
// The pilots
// ---------------------------------------------------------------------------

/// A document of `kind` from the library's example, addressed from
/// `from` to `to`, with `patch` applied; the node fills ids and times.
fn document(kind: DocumentKind, from: (&str, &str), to: (&str, &str), patch: Value) -> Value {
    let mut doc = pilot::example(kind).to_json();
    if let Some(o) = doc.as_object_mut() {
        for generated in ["documentId", "created", "conversationId"] {
            o.remove(generated);
        }
        o.insert("sender".into(), party(from.0, from.1));
        o.insert("recipient".into(), party(to.0, to.1));
        if let Value::Object(p) = patch {
            o.extend(p);
        }
    }
    doc
}

/// The referral's patient: the child of the concern report (the demo
/// follows one child through both pilots).
fn same_child() -> Value {
    let child = pilot::example(DocumentKind::ConcernReport).to_json()["child"].clone();
    json!({ "patient": { "personId": child["personId"], "name": child["name"] } })
}

async fn run_pilots(net: &DevNetwork) -> Result<Checks, Failure> {
    let bup = CaseSystem::connect(net, BUP).await?;
    let social = CaseSystem::connect(net, SOCIAL).await?;
    let school = CaseSystem::connect(net, SCHOOL).await?;
    let mut checks = Checks::default();
    concern_report(&bup, &social, &mut checks).await?;
    referral(&school, &bup, &mut checks).await?;
    invalid_referral(&school, &mut checks).await?;
    Ok(checks)
}

/// Pilot 1: an ACUTE concern report, acknowledged, with feedback.
async fn concern_report(bup: &CaseSystem, social: &CaseSystem, checks: &mut Checks) -> Result<(), Failure> {
    println!("1. Concern report (orosanmälan), {} → {}", bup.name, social.name);
    let report = document(DocumentKind::ConcernReport, (BUP, BUP_FA), (SOCIAL, SOCIAL_FA), json!({}));
    println!("   A BUP clinician reports an ACUTE concern about a child (the phone call to the social services' duty officer is made and noted):");
    let sent = bup.send_and_follow(DocumentKind::ConcernReport, &report, checks, "ACCEPTED").await?;
    let message_id = sent["messageId"].as_str().unwrap_or_default();
    let conversation = sent["conversationId"].as_str().unwrap_or_default().to_owned();
    let document_id = sent["documentId"].as_str().unwrap_or_default().to_owned();

    let arrived = social.inbox_message(message_id).await?;
    println!(
        "   Social services' inbox ({}): \"{}\" from {}",
        SOCIAL_FA,
        arrived["attributes"]["label"].as_str().unwrap_or("?"),
        arrived["attributes"]["sender"].as_str().unwrap_or("?")
    );
    let read = social.read_document(message_id).await?;
    let d = &read["document"];
    println!(
        "   The intake officer opens it: urgency {}, immediate danger {}, phone call made, feedback requested {}",
        d["urgency"].as_str().unwrap_or("?"),
        d["immediateDanger"],
        d["feedbackRequested"]
    );
    checks.expect(d["urgency"] == "ACUTE", "the report read back is ACUTE");

    println!("   Social services acknowledge the report:");
    let ack = document(
        DocumentKind::ConcernAcknowledgement,
        (SOCIAL, SOCIAL_FA),
        (BUP, BUP_FA),
        json!({ "conversationId": conversation, "inReplyTo": document_id }),
    );
    social.send_and_follow(DocumentKind::ConcernAcknowledgement, &ack, checks, "ACCEPTED").await?;
    println!("   ...and, after the protection assessment, give feedback:");
    let feedback = document(
        DocumentKind::ConcernFeedback,
        (SOCIAL, SOCIAL_FA),
        (BUP, BUP_FA),
        json!({ "conversationId": conversation, "inReplyTo": document_id }),
    );
    social.send_and_follow(DocumentKind::ConcernFeedback, &feedback, checks, "ACCEPTED").await?;
    wait_for_thread(bup, &conversation, 3).await?;
    print_thread(bup, &conversation, checks, &["concern-report:ACUTE", "concern-acknowledgement", "concern-feedback:OPENED"]).await?;
    println!();
    Ok(())
}

/// Pilot 2: a referral answered RECEIVED, ACCEPTED, FINAL.
async fn referral(school: &CaseSystem, bup: &CaseSystem, checks: &mut Checks) -> Result<(), Failure> {
    println!("2. Referral (remiss), {} → {} (BUP En väg in)", school.name, bup.name);
    println!("   The school nurse refers the pupil to BUP, with the guardians' consent:");
    let referral = document(DocumentKind::Referral, (SCHOOL, SCHOOL_FA), (BUP, BUP_FA), same_child());
    let sent = school.send_and_follow(DocumentKind::Referral, &referral, checks, "ACCEPTED").await?;
    let message_id = sent["messageId"].as_str().unwrap_or_default();
    let conversation = sent["conversationId"].as_str().unwrap_or_default().to_owned();
    bup.inbox_message(message_id).await?;
    let read = bup.read_document(message_id).await?;
    let d = &read["document"];
    println!(
        "   BUP intake opens it: priority {}, referral {} version {}, consent covers the reply: {}",
        d["priority"].as_str().unwrap_or("?"),
        short(d["referralId"].as_str().unwrap_or("?")),
        d["version"],
        d["consent"]["coversReply"]
    );
    let in_reply_to = json!({ "referralId": d["referralId"], "version": d["version"] });
    let patient = d["patient"]["personId"].clone();
    for (reply_type, extra) in [
        ("RECEIVED", json!({})),
        ("ACCEPTED", json!({ "plannedAction": "Bedömningssamtal med barn och vårdnadshavare." })),
        ("FINAL", json!({ "assessment": "Utredning genomförd. Fortsatt stöd via elevhälsan; återbesök vid behov." })),
    ] {
        println!("   BUP answers {reply_type}:");
        let mut patch = json!({
            "conversationId": conversation,
            "inReplyTo": in_reply_to,
            "replyType": reply_type,
            "repliedAt": now_rfc3339(),
            "patient": { "personId": patient },
        });
        if let (Value::Object(p), Value::Object(e)) = (&mut patch, extra) {
            p.extend(e);
        }
        let mut reply = document(DocumentKind::ReferralReply, (BUP, BUP_FA), (SCHOOL, SCHOOL_FA), patch);
        if reply_type == "RECEIVED" {
            if let Some(o) = reply.as_object_mut() {
                o.remove("assessment");
            }
        }
        bup.send_and_follow(DocumentKind::ReferralReply, &reply, checks, "ACCEPTED").await?;
    }
    wait_for_thread(school, &conversation, 4).await?;
    print_thread(
        school,
        &conversation,
        checks,
        &["referral", "referral-reply:RECEIVED", "referral-reply:ACCEPTED", "referral-reply:FINAL"],
    )
    .await?;
    println!();
    Ok(())
}

/// Pilot 2, invalid: the node refuses it; past the node's checks, the
/// receiver rejects it with a receipt.
async fn invalid_referral(school: &CaseSystem, checks: &mut Checks) -> Result<(), Failure> {
    println!("3. An invalid referral: the consent does not cover BUP's reply");
    let mut referral = document(DocumentKind::Referral, (SCHOOL, SCHOOL_FA), (BUP, BUP_FA), same_child());
    referral["consent"]["coversReply"] = json!(false);
    let path = format!("{}/{}", crate::api::pilot::BASE, crate::api::pilot::collection(DocumentKind::Referral));
    let (status, problem) = school.post(&path, &referral).await?;
    println!("   The school's node refuses it at once ({status}):");
    for issue in problem["eventIssues"].as_array().into_iter().flatten() {
        println!("      {} {}", issue["title"].as_str().unwrap_or(""), issue["detail"].as_str().unwrap_or(""));
    }
    checks.expect(status == 400, format!("the invalid referral was answered {status}, expected 400"));

    println!("   A system that bypasses the checks sends the same document through DIGG's generic message API:");
    let mut filled = referral.clone();
    if let Some(o) = filled.as_object_mut() {
        o.insert("documentId".into(), json!(uuid::Uuid::new_v4().to_string()));
        o.insert("conversationId".into(), json!(uuid::Uuid::new_v4().to_string()));
        o.insert("created".into(), json!(now_rfc3339()));
    }
    // The structured XML as the library writes it, without its checks.
    let xml = pilot::unchecked_xml(DocumentKind::Referral, &filled).map_err(fail)?;
    let body = json!({ "data": { "type": "messages", "attributes": {
        "confidentiality": true,
        "label": "Remiss",
        "sender": SCHOOL,
        "senderAttention": { "subOrganization": { "extension": SCHOOL_FA } },
        "recipient": BUP,
        "recipientAttention": { "subOrganization": { "root": "urn:riv:infrastructure:messaging:functionalAddress", "extension": BUP_FA } },
        "digitalDocument": [{
            "documentId": "remiss", "index": "1",
            "contentTextBody": ["# Remiss\n\n(strukturerad remiss bifogad)"],
            "contentFiles": [{ "fileName": "referral.xml", "contentType": "application/xml", "content": base64::engine::general_purpose::STANDARD.encode(xml) }]
        }]
    } } });
    let (status, created) = school.post(crate::api::digg::BASE, &body).await?;
    checks.expect(status == 201, format!("DIGG's create answered {status}"));
    let id = created["data"]["attributes"]["messageId"].as_str().unwrap_or_default().to_owned();
    let (seen, last) = school.follow(&id).await?;
    println!("      message {}: {}", short(&id), seen.join(" → "));
    print_receipt(&last);
    checks.expect(seen.last().map(String::as_str) == Some("REJECTED"), "the bypassing referral was not REJECTED");
    let lines = receipt_lines(&last);
    checks.expect(
        lines.iter().any(|l| l.starts_with("BV invariant") && l.contains("/consent/coversReply")),
        "the receipt names BV invariant and the field",
    );
    Ok(())
}

/// Waits until `who`'s thread has `n` documents (replies arrive a moment
/// after their sender sees ACCEPTED... or before: the receipt comes last).
async fn wait_for_thread(who: &CaseSystem, conversation_id: &str, n: usize) -> Result<(), Failure> {
    let start = Instant::now();
    while who.thread(conversation_id).await?.len() < n {
        if start.elapsed() > FINAL_WITHIN {
            return Err(fail(format!("{}: the conversation never had {n} documents", who.name)));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn verify_audit(logs: &[(String, PathBuf)]) -> Result<(), Failure> {
    for (name, log) in logs {
        let report = crate::audit::verify(log).map_err(|e| fail(format!("{name}: audit chain broken: {e}")))?;
        println!("audit log of {name:<28} {report}");
    }
    Ok(())
}
