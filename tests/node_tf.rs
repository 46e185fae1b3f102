//! DIGG's platform approval test cases (Testfall för plattformsgodkännande,
//! 2022-12-09) and the AS4 behaviour around them, on nodes that talk: an
//! SMP and nodes on loopback, mutual TLS, real files. tests/node.rs has
//! TF-01/TF-04. TF-08 (a 70 MB message) is not here: too slow for a debug
//! build's test run.
//!
//! Each test starts its own network in a temporary directory. Waits poll
//! with a deadline.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use brygga::as4::{self, Action, As4Error, As4Limits, As4Request, ReceivedError, UserMessageParams};
use brygga::audit::{Action as AuditAction, Entry, Outcome};
use brygga::limits::XmlLimits;
use brygga::node::devnet::{self, DevInit, DevNetwork, DevNode, DevOrg};
use brygga::node::metrics::Counter;
use brygga::node::outbox::{DocumentType, InboxEntry, NewOutboxEntry, OutboxEntry, OutboxState};
use brygga::node::store::{Store, StoreError};
use brygga::pki::dev::{serial_number, DevCa, DevIdentity, DevPurpose};
use brygga::pki::{Certificate, PrivateKey, TrustPolicy};
use brygga::sdk::envelope::{self, SealOptions};
use brygga::sdk::message::{ContentFile, DigitalDocument, Ii, MessageUuid, OrgAddress, Person, Reference, SdkMessage};
use brygga::sdk::xhe::{DS_NS, XHA_NS, XHB_NS};
use brygga::xml::NodeId;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const BUP: &str = "0203:bup.regionstockholm.se";
const BUP_FA: &str = "bup.envagin";
const SOC: &str = "0203:socialtjanst.stockholm.se";
const SOC_FA: &str = "soc.mottagning";

fn orgs() -> Vec<DevOrg> {
    vec![
        DevOrg::new("Region Stockholm BUP", BUP, BUP_FA),
        DevOrg::new("Stockholms stad socialtjänst", SOC, SOC_FA),
    ]
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Polls `probe` until it gives a value; fails the test after `limit`.
async fn eventually<T>(what: impl Display, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(start.elapsed() < limit, "gave up after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn entry(node: &DevNode, id: &str) -> Option<OutboxEntry> {
    node.state.store.outbox_entry(id).expect("store readable")
}

/// The outbox entry once it is final.
async fn settled(node: &DevNode, id: &str, limit: Duration) -> OutboxEntry {
    eventually(format!("{id} to reach a final state"), limit, || entry(node, id).filter(|e| e.state().is_final())).await
}

fn inbox(node: &DevNode) -> Vec<InboxEntry> {
    node.state.store.inbox(&node.org.functional_address, &Default::default()).expect("inbox readable")
}

/// Outbox entries of every state (receipts included).
fn outbox_count(node: &DevNode) -> u64 {
    node.state.store.count_by_state().outbox.values().sum()
}

fn audit(node: &DevNode) -> Vec<Entry> {
    let text = std::fs::read_to_string(node.state.config.data_dir.join("audit.log")).expect("audit log");
    text.lines().map(|l| serde_json::from_str(l).expect("audit line")).collect()
}

fn audited(node: &DevNode, action: AuditAction, outcome: Outcome) -> Vec<Entry> {
    audit(node).into_iter().filter(|e| e.action == action && e.outcome == outcome).collect()
}

fn org(net: &DevNetwork, org_id: &str) -> DevOrg {
    net.node(org_id).org.clone()
}

/// A plain message from `from` to `to`.
fn message(from: &DevOrg, to: &DevOrg) -> SdkMessage {
    SdkMessage::builder(
        OffsetDateTime::now_utc(),
        OrgAddress::new(&from.org_id, &from.functional_address),
        OrgAddress::new(&to.org_id, &to.functional_address),
    )
    .label("Samordnad individuell plan")
    .text("Kallelse till SIP-möte.")
    .build()
    .expect("valid message")
}

/// Seals `xml` as `from` would for `to`, signed with `signer` (default: the
/// organisation signing key `from` publishes).
fn seal(from: &DevNode, to: &DevNode, xml: &[u8], signer: Option<&DevIdentity>) -> Vec<u8> {
    let own = &from.state.config.keys.org_signing;
    let (key, cert) = match signer {
        Some(s) => (&s.key, &s.certificate),
        None => (own.key(), own.certificate()),
    };
    let options = SealOptions { federation_id: from.state.config.federation_id.clone(), ..SealOptions::default() };
    let recipient = to.state.config.keys.org_encryption.certificate();
    envelope::seal(xml, key, cert, recipient, &options, OffsetDateTime::now_utc()).expect("sealed")
}

/// The AS4 user message `from`'s access point would send `to`'s, carrying
/// `xhe` (whose identifier is the AS4 ConversationId, C3.2.1 §2.7 [a]).
fn as4_request(from: &DevNode, to: &DevNode, final_recipient: &str, xhe_id: &str, xhe: &[u8]) -> As4Request {
    let receiver = from
        .state
        .config
        .trust
        .access_points
        .check(to.state.config.keys.access_point.certificate(), &[], rustls_pki_types::UnixTime::now())
        .expect("receiving access point trusted");
    let params = UserMessageParams {
        message_id: None,
        action: Action::Message,
        conversation_id: xhe_id,
        original_sender: from.state.org_id(),
        final_recipient,
    };
    let ap = &from.state.config.keys.access_point;
    let xhe = brygga::spool::Blob::from(xhe);
    as4::build_user_message(&params, &xhe, &from.state.spool, ap.key(), ap.certificate(), &receiver, OffsetDateTime::now_utc())
        .expect("AS4 message")
}

/// An HTTP answer from an AS4 endpoint.
struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

/// POSTs `body` to `to`'s AS4 endpoint over mutual TLS with `client`.
async fn post_with(client: &reqwest::Client, to: &DevNode, content_type: &str, body: Vec<u8>) -> Result<Answer, reqwest::Error> {
    let response = client
        .post(format!("https://127.0.0.1:{}/as4", to.bound.as4.port()))
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Ok(Answer { status, content_type, body: response.bytes().await?.to_vec() })
}

/// POSTs as `from`'s access point (its TLS client identity).
async fn post(from: &DevNode, to: &DevNode, content_type: &str, body: Vec<u8>) -> Answer {
    post_with(&from.state.as4_http, to, content_type, body).await.expect("AS4 endpoint answers")
}

/// Checks the answer as the sender does: a receipt signed by `to`'s access
/// point for `request`, or the verified errors it reports.
fn receipt_or_errors(to: &DevNode, request: &As4Request, answer: &Answer) -> Result<(), Vec<ReceivedError>> {
    let trust = TrustPolicy::Pinned(to.state.config.keys.access_point.certificate().clone());
    match as4::parse_and_verify_receipt(
        &answer.content_type,
        answer.body.clone(),
        &request.sent,
        &trust,
        OffsetDateTime::now_utc(),
        &As4Limits::default(),
    ) {
        Ok(_) => Ok(()),
        Err(As4Error::Receipt(as4::error::ReceiptError::PeerErrors(errors))) => Err(errors),
        Err(other) => panic!("neither a receipt nor a signed error from {}: {other}", to.org.org_id),
    }
}

/// Puts `sealed` straight into `node`'s outbox, past the submission checks;
/// the node's worker sends it like any other message.
fn enqueue(node: &DevNode, msg: &SdkMessage, sealed: &[u8]) {
    let entry = OutboxEntry::new(
        NewOutboxEntry {
            id: msg.message_id().to_owned(),
            recipient_org_id: msg.recipient_org_id().to_owned(),
            recipient_functional_address: msg.recipient_functional_address().to_owned(),
            document_type: DocumentType::Message,
            conversation_id: msg.conversation_id().to_owned(),
        },
        OffsetDateTime::now_utc(),
        &node.state.retry,
    );
    node.state.store.submit(&entry, sealed).expect("stored");
    node.state.outbox_notify.notify_one();
}

fn node_dir(init: &DevInit) -> PathBuf {
    init.config_file.parent().expect("node directory").to_owned()
}

fn init_of<'a>(inits: &'a [DevInit], org_id: &str) -> &'a DevInit {
    inits.iter().find(|i| i.org.org_id == org_id).expect("initialised")
}

/// Replaces `from` with `to` in a node's configuration file.
fn edit_config(config_file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(config_file).expect("node.toml");
    assert!(text.contains(from), "{} has no {from:?}", config_file.display());
    std::fs::write(config_file, text.replacen(from, to, 1)).expect("node.toml written");
}

/// A signing certificate of `node`'s organisation from the right CA, but
/// not the one it publishes in CertPub.
fn unpublished_signer(net: &DevNetwork, node: &DevNode) -> DevIdentity {
    load_ca(&net.ca_dir(), "organisation-ca")
        .issue_for(&node.org.name, "unpublished signing", &DevPurpose::Signing)
        .unwrap()
}

fn load_ca(ca_dir: &Path, stem: &str) -> DevCa {
    let read = |ext: &str| std::fs::read_to_string(ca_dir.join(format!("{stem}.{ext}"))).expect("CA file");
    DevCa::load(&read("pem"), &read("key")).expect("CA loads")
}

/// Stops a node, failing the test if it does not stop within 20 s.
async fn stop(net: &mut DevNetwork, org_id: &str) {
    tokio::time::timeout(Duration::from_secs(20), net.stop_node(org_id))
        .await
        .unwrap_or_else(|_| panic!("{org_id} did not stop within 20 s"))
        .expect("stops cleanly");
}

// ---------------------------------------------------------------------------
// TF-02: the receiving access point's certificate is revoked
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tf02_no_message_goes_to_an_access_point_whose_certificate_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    // The access point CA revokes SOC's access point certificate; BUP's node
    // loads that CRL (trust.crls). SOC keeps running with its certificate.
    let net = DevNetwork::start_with(dir.path(), &orgs(), |ca_dir, inits| {
        let soc_ap = Certificate::from_pem_file(&node_dir(init_of(inits, SOC)).join("keys/ap.pem")).unwrap();
        let crl = load_ca(ca_dir, "access-point-ca").revoke(&[serial_number(&soc_ap).unwrap()]).unwrap();
        let bup = init_of(inits, BUP);
        std::fs::write(node_dir(bup).join("trust/access-point-ca.crl"), crl).unwrap();
        edit_config(&bup.config_file, "# crls = [\"trust/tls-ca.crl\"]", "crls = [\"trust/access-point-ca.crl\"]");
    })
    .await
    .expect("network starts");
    let (bup, soc) = (net.node(BUP), net.node(SOC));
    assert_eq!(bup.state.config.trust.crls.len(), 1, "BUP loaded the CRL");

    let msg = message(&bup.org, &soc.org);
    bup.state.submit("test", msg.to_xml()).await.expect("accepted for sending");
    let done = settled(bup, msg.message_id(), Duration::from_secs(20)).await;
    assert_eq!(done.state(), OutboxState::MessageExchangeError, "{done:?}");
    let reason = done.last_error().unwrap_or_default();
    assert!(reason.contains("revoked"), "{reason}");
    assert_eq!(done.attempts(), 1, "a revoked receiver is a permanent failure, not retried");
    let logged = audited(bup, AuditAction::SendAttempt, Outcome::Error);
    let why = |e: &Entry| e.detail.as_deref().is_some_and(|d| d.contains("revoked"));
    assert!(logged.iter().any(|e| e.message_id.as_deref() == Some(msg.message_id()) && why(e)), "{logged:?}");

    // Nothing reached SOC: no inbox entry, no AS4 message answered at all.
    assert!(inbox(soc).is_empty());
    assert_eq!(soc.state.metrics.get(Counter::InboundAccepted) + soc.state.metrics.get(Counter::InboundRefusedEbms), 0);

    // The same CRL protects BUP as a receiver: SOC's messages, signed with
    // the revoked certificate, are refused with a security error.
    let back = message(&soc.org, &bup.org);
    soc.state.submit("test", back.to_xml()).await.expect("accepted for sending");
    let refused = eventually("SOC's first attempt", Duration::from_secs(20), || {
        entry(soc, back.message_id()).filter(|e| e.state() == OutboxState::ScheduledForResend)
    })
    .await;
    assert!(refused.last_error().unwrap_or_default().contains("EBMS:0103"), "{refused:?}");
    assert!(inbox(bup).is_empty());
    net.stop().await.unwrap();
}

// ---------------------------------------------------------------------------
// TF-03: a sender whose certificates come from another environment
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tf03_a_sender_with_an_access_point_certificate_from_another_environment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = DevNetwork::start(&dir.path().join("net"), &orgs()).await.expect("network starts");
    let net_ca = net.ca_dir();

    // Another environment: its own CA directory, so its access point and
    // organisation certificates come from other CAs. To get as far as AS4 it
    // gets a TLS certificate the network accepts, and trusts the network's
    // TLS CA, SMP and access points; SMP publishes it with the others.
    let other = DevOrg::new("Annan miljö", "0203:annan-miljo.example.se", "annan.funktion");
    let init = devnet::init_org(&dir.path().join("other"), &dir.path().join("other-ca"), &other).expect("init");
    let own = node_dir(&init);
    let own_tls = (std::fs::read(own.join("keys/tls.key")).unwrap(), std::fs::read(own.join("keys/tls.pem")).unwrap());
    let tls = load_ca(&net_ca, "tls-ca")
        .issue_for(&other.name, "AP-OTHER TLS", &DevPurpose::Tls(vec!["localhost".into(), "127.0.0.1".into()]))
        .unwrap();
    std::fs::write(own.join("keys/tls.key"), &tls.key_pem).unwrap();
    std::fs::write(own.join("keys/tls.pem"), &tls.cert_pem).unwrap();
    std::fs::copy(net_ca.join("tls-ca.pem"), own.join("trust/tls-ca.pem")).unwrap();
    std::fs::copy(net_ca.join("smp.pem"), own.join("trust/smp.pem")).unwrap();
    let mut ap_bundle = std::fs::read_to_string(own.join("trust/access-point-ca.pem")).unwrap();
    ap_bundle.push_str(&std::fs::read_to_string(net_ca.join("access-point-ca.pem")).unwrap());
    std::fs::write(own.join("trust/access-point-ca.pem"), ap_bundle).unwrap();
    net.add_node(other.clone(), init.config_file.clone()).await.expect("other node starts");

    let (intruder, soc) = (net.node(&other.org_id), net.node(SOC));
    let intruder_ap = intruder.state.config.keys.access_point.certificate();
    assert!(
        soc.state.config.trust.access_points.check(intruder_ap, &[], rustls_pki_types::UnixTime::now()).is_err(),
        "the intruder's access point certificate is from another CA"
    );

    // Through its own outbox: SOC answers with a signed security error, and
    // the intruder's node keeps the code.
    let msg = message(&other, &soc.org);
    intruder.state.submit("test", msg.to_xml()).await.expect("accepted for sending");
    let refused = eventually("the intruder's first attempt", Duration::from_secs(20), || {
        entry(intruder, msg.message_id()).filter(|e| e.attempts() >= 1 && e.state() != OutboxState::Submitted)
    })
    .await;
    assert_eq!(refused.state(), OutboxState::ScheduledForResend, "{refused:?}");
    assert!(refused.last_error().unwrap_or_default().contains("EBMS:0103"), "{refused:?}");

    // By hand, to read the error: EBMS:0103, origin security, signed by SOC.
    let request = as4_request(intruder, soc, SOC, msg.message_id(), &seal(intruder, soc, &msg.to_xml(), None));
    let answer = post(intruder, soc, &request.content_type, request.body.to_vec(u64::MAX).unwrap()).await;
    assert_eq!(answer.status, 500);
    let errors = receipt_or_errors(soc, &request, &answer).expect_err("refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].code, "EBMS:0103");
    assert_eq!(errors[0].origin.as_deref(), Some("security"));

    // With its own environment's TLS certificate it does not get past TLS.
    let foreign_tls = brygga::transport::tls::client_config(
        &PrivateKey::from_pem(&own_tls.0).unwrap(),
        &Certificate::all_from_pem(&own_tls.1).unwrap(),
        &[Certificate::from_pem_file(&net_ca.join("tls-ca.pem")).unwrap()],
        &[],
        Default::default(),
    )
    .unwrap();
    let client = reqwest::Client::builder().use_preconfigured_tls((*foreign_tls).clone()).build().unwrap();
    let refused = post_with(&client, soc, &request.content_type, request.body.to_vec(u64::MAX).unwrap()).await;
    assert!(refused.is_err(), "the TLS handshake must fail");

    // Nothing stored at SOC, nothing answered with a business receipt.
    assert!(inbox(soc).is_empty());
    assert_eq!(outbox_count(soc), 0);
    assert!(soc.state.metrics.get(Counter::InboundRefusedEbms) >= 2);
    net.stop().await.unwrap();
}

// ---------------------------------------------------------------------------
// TF-05: the receiving access point is unreachable
// ---------------------------------------------------------------------------

/// Moves an outbox entry's expiry to `after` from now, as if it had been
/// submitted that long before its exchange time runs out (the `[retry]`
/// section counts expiry in hours).
fn expire_in(store: &Store, id: &str, after: Duration) {
    let at = (OffsetDateTime::now_utc() + after).format(&Rfc3339).unwrap();
    loop {
        let current = store.outbox_entry(id).unwrap().expect("entry");
        let mut json = serde_json::to_value(&current).unwrap();
        json["expires_at"] = serde_json::Value::String(at.clone());
        let mut aged: OutboxEntry = serde_json::from_value(json).unwrap();
        match store.update(&mut aged) {
            Ok(()) => return,
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => panic!("{e}"),
        }
    }
}

/// BUP's retry policy in TF-05: 1 s, then 2 s at most, no jitter.
const FAST_RETRY: &str = "
[retry]
max_attempts = 100
initial_backoff_seconds = 1
max_backoff_seconds = 2
multiplier = 2.0
jitter = 0.0
expiry_hours = 1
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tf05_messages_to_an_unreachable_access_point_are_resent_with_backoff_and_arrive_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = DevNetwork::start_with(dir.path(), &orgs(), |_, inits| {
        let config = &init_of(inits, BUP).config_file;
        let mut text = std::fs::read_to_string(config).unwrap();
        text.push_str(FAST_RETRY);
        std::fs::write(config, text).unwrap();
    })
    .await
    .expect("network starts");
    let (bup_org, soc_org) = (org(&net, BUP), org(&net, SOC));
    let soc_address = net.node(SOC).bound.as4;
    stop(&mut net, SOC).await;

    let mut ids = Vec::new();
    for _ in 0..5 {
        let msg = message(&bup_org, &soc_org);
        net.node(BUP).state.submit("test", msg.to_xml()).await.expect("accepted for sending");
        ids.push(msg.message_id().to_owned());
    }

    // Each fails and is rescheduled: 1 s after the first attempt, 2 s after
    // the second (no jitter).
    let mut backoff: HashMap<(String, u32), Duration> = HashMap::new();
    eventually("two failed attempts of every message", Duration::from_secs(20), || {
        for id in &ids {
            let e = entry(net.node(BUP), id).expect("entry");
            if e.state() == OutboxState::ScheduledForResend {
                assert!(e.last_error().unwrap_or_default().contains("cannot reach"), "{e:?}");
                let gap = e.next_attempt_at() - e.last_attempt_at().expect("attempted");
                backoff.insert((id.clone(), e.attempts()), gap.try_into().expect("positive"));
            }
            assert!(!e.state().is_final(), "{e:?}");
        }
        let seen = |id: &String, n: u32| backoff.contains_key(&(id.clone(), n));
        ids.iter().all(|id| seen(id, 1) && seen(id, 2)).then_some(())
    })
    .await;
    for id in &ids {
        let (first, second) = (backoff[&(id.clone(), 1)], backoff[&(id.clone(), 2)]);
        assert!(first >= Duration::from_secs(1) && first < Duration::from_millis(1500), "{first:?}");
        assert!(second >= Duration::from_secs(2) && second < Duration::from_millis(2500), "{second:?}");
    }

    // SOC comes back where SMP says it is: every message arrives, once.
    net.restart_node(SOC).await.expect("SOC restarts");
    assert_eq!(net.node(SOC).bound.as4, soc_address);
    for id in &ids {
        let done = settled(net.node(BUP), id, Duration::from_secs(30)).await;
        assert_eq!(done.state(), OutboxState::Accepted, "{done:?}");
    }
    let received: Vec<String> = inbox(net.node(SOC)).iter().map(|e| e.message_id().to_owned()).collect();
    assert_eq!(received.len(), 5, "{received:?}");
    assert_eq!(received.iter().collect::<BTreeSet<_>>(), ids.iter().collect::<BTreeSet<_>>());

    // Unreachable until its exchange time runs out: MESSAGE_EXCHANGE_ERROR.
    stop(&mut net, SOC).await;
    let late = message(&bup_org, &soc_org);
    net.node(BUP).state.submit("test", late.to_xml()).await.expect("accepted for sending");
    eventually("the first failed attempt", Duration::from_secs(10), || {
        entry(net.node(BUP), late.message_id()).filter(|e| e.state() == OutboxState::ScheduledForResend)
    })
    .await;
    expire_in(&net.node(BUP).state.store, late.message_id(), Duration::from_secs(3));
    let done = settled(net.node(BUP), late.message_id(), Duration::from_secs(15)).await;
    assert_eq!(done.state(), OutboxState::MessageExchangeError, "{done:?}");
    assert!(done.last_error().unwrap_or_default().contains("expire"), "{done:?}");
    net.stop().await.unwrap();
}

// ---------------------------------------------------------------------------
// TF-06, TF-07: every optional field, and none
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tf06_tf07_the_fullest_and_the_barest_envelope_are_both_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let net = DevNetwork::start(dir.path(), &orgs()).await.expect("network starts");
    let (bup, soc) = (net.node(BUP), net.node(SOC));

    let earlier = MessageUuid::new_v4();
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.extend((0..64 * 1024u32).map(|i| (i % 251) as u8));
    let fullest = SdkMessage::builder(
        OffsetDateTime::now_utc(),
        OrgAddress::new(BUP, BUP_FA).with_label("Region Stockholm").with_functional_address_label("BUP Enväg in"),
        OrgAddress::new(SOC, SOC_FA).with_label("Stockholms stad").with_functional_address_label("Socialtjänstens mottagning"),
    )
    .label("Orosanmälan – komplettering")
    .confidentiality(false)
    .generating_system(Ii::new("1.2.752.129.2.1.4.1", "journalsystem-42"))
    .conversation_id(MessageUuid::new_v4())
    .ref_to_message_id(earlier)
    .sender_person(Person { id: Some(Ii::new("1.2.752.29.4.19", "SE2321000016-ABCD")), label: Some("Anna Andersson".into()) })
    .sender_person(Person { id: None, label: Some("Handläggare BUP".into()) })
    .recipient_person(Person { id: Some(Ii::new("1.2.752.129.2.1.3.1", "19121212-1212")), label: Some("Tolvan Tolvansson".into()) })
    .sender_reference(Reference { id: Ii::new("journal", "J-2024-001"), label: Some("Journal".into()) })
    .recipient_reference(Reference { id: Ii::new("dnr", "SOC-2024/123"), label: Some("Ärende".into()) })
    .recipient_reference(Reference { id: Ii::new("dnr", "SOC-2024/124"), label: None })
    .text("# Komplettering\n\nSe **bilagor**.")
    .text("Andra stycket.")
    .attachment(ContentFile::new("underlag.pdf", "application/pdf", pdf))
    .document(DigitalDocument {
        document_id: "bilagor".into(),
        document_name: Some("Bilagor".into()),
        index: Some("2".into()),
        content_files: vec![
            ContentFile::new("anteckning.txt", "text/plain", "Anteckning åäö".as_bytes().to_vec()),
            ContentFile::new("data.xml", "application/xml", b"<a>1</a>".to_vec()),
        ],
        content_texts: vec!["Bilagor till anmälan.".into()],
    })
    .build()
    .expect("the fullest message is valid");
    let barest = SdkMessage::builder(
        OffsetDateTime::now_utc(),
        OrgAddress::new(BUP, BUP_FA),
        OrgAddress::new(SOC, SOC_FA),
    )
    .text("x")
        .build()
        .expect("the barest message is valid");
    assert!(barest.header.label.is_none() && barest.header.generating_system.is_none() && barest.documents.len() == 1);

    for msg in [&fullest, &barest] {
        bup.state.submit("test", msg.to_xml()).await.expect("accepted for sending");
    }
    for msg in [&fullest, &barest] {
        let done = settled(bup, msg.message_id(), Duration::from_secs(30)).await;
        assert_eq!(done.state(), OutboxState::Accepted, "{done:?}");
        let stored = soc.state.store.load_inbound_payload(SOC_FA, msg.message_id()).unwrap().expect("in SOC's inbox");
        assert_eq!(&SdkMessage::from_xml(&stored.to_vec(u64::MAX).unwrap(), &Default::default()).unwrap(), msg, "delivered intact");
    }
    assert_eq!(inbox(soc).len(), 2);
    net.stop().await.unwrap();
}

// ---------------------------------------------------------------------------
// TF-09: a badly formatted envelope
// ---------------------------------------------------------------------------

/// `sealed` without `Header/ID`, signed again with `key` so only the format
/// is wrong.
fn without_header_id(sealed: &[u8], key: &PrivateKey, cert: &Certificate) -> Vec<u8> {
    let mut doc = brygga::xml::parse(sealed, &XmlLimits::default()).unwrap();
    let root = doc.document_element().unwrap();
    let header = doc.child_named(root, XHA_NS, "Header").unwrap();
    let id = doc.child_named(header, XHB_NS, "ID").unwrap();
    doc.detach(id);
    let signature = doc.child_named(root, DS_NS, "Signature").unwrap();
    doc.detach(signature);
    brygga::xmlsec::sign_enveloped(&mut doc, key, cert, &Default::default()).unwrap();
    brygga::xml::serialize(&doc, NodeId::DOCUMENT)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tf09_a_badly_formatted_envelope_is_logged_for_operators_without_a_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let net = DevNetwork::start(dir.path(), &orgs()).await.expect("network starts");
    let (bup, soc) = (net.node(BUP), net.node(SOC));
    let signing = &bup.state.config.keys.org_signing;

    // Signed by the sender, but the envelope breaks the XHE profile; and an
    // envelope that is not XML at all. C3.2.4 §2.1.2 and TF-09: no message
    // receipt for either; log it as a conformance error for operators.
    let msg = message(&bup.org, &soc.org);
    let no_id = without_header_id(&seal(bup, soc, &msg.to_xml(), None), signing.key(), signing.certificate());
    let sealed = seal(bup, soc, &message(&bup.org, &soc.org).to_xml(), None);
    let broken = sealed[..sealed.len() / 2].to_vec();
    for xhe in [&no_id, &broken] {
        let request = as4_request(bup, soc, SOC, msg.message_id(), xhe);
        let answer = post(bup, soc, &request.content_type, request.body.to_vec(u64::MAX).unwrap()).await;
        // The AS4 layer took delivery: its receipt is signed and matches.
        assert_eq!(answer.status, 200);
        receipt_or_errors(soc, &request, &answer).expect("AS4 receipt");
    }
    let rejected = audited(soc, AuditAction::ValidationResult, Outcome::Rejected);
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(rejected.iter().all(|e| e.detail.as_deref().is_some_and(|d| d.starts_with("SV structure"))), "{rejected:?}");
    assert!(inbox(soc).is_empty());
    assert_eq!(outbox_count(soc), 0, "no receipt queued");
    assert_eq!(soc.state.metrics.get(Counter::BusinessReceiptsSent), 0);

    // Both envelopes are kept for operators, as received, with what was
    // wrong beside them; the counter operators alert on went up twice.
    assert_eq!(soc.state.metrics.get(Counter::Quarantined), 2);
    let quarantine = soc.state.config.data_dir.join("quarantine");
    let mut kept: Vec<Vec<u8>> = Vec::new();
    let mut notes = 0;
    for entry in std::fs::read_dir(&quarantine).unwrap() {
        let path = entry.unwrap().path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("xhe") => kept.push(std::fs::read(&path).unwrap()),
            Some("json") => {
                let note: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                assert_eq!(note["originalSender"], BUP);
                assert!(note["problems"].as_str().unwrap().starts_with("SV structure"), "{note}");
                notes += 1;
            }
            other => panic!("unexpected file {other:?} in quarantine"),
        }
    }
    kept.sort();
    let mut sent = vec![no_id.clone(), broken.clone()];
    sent.sort();
    assert_eq!(kept, sent, "the envelopes are kept byte for byte");
    assert_eq!(notes, 2);

    // SOC keeps serving.
    let next = message(&bup.org, &soc.org);
    bup.state.submit("test", next.to_xml()).await.expect("accepted for sending");
    assert_eq!(settled(bup, next.message_id(), Duration::from_secs(20)).await.state(), OutboxState::Accepted);
    assert_eq!(inbox(soc).len(), 1);
    net.stop().await.unwrap();
}

// ---------------------------------------------------------------------------
// TF-10: envelope values that do not match what SMP publishes
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tf10_an_envelope_that_does_not_match_the_published_metadata_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let net = DevNetwork::start(dir.path(), &orgs()).await.expect("network starts");
    let (bup, soc) = (net.node(BUP), net.node(SOC));

    // Signed with a certificate of BUP's from the right CA, but not the one
    // BUP publishes in CertPub: REJECTED, SIG security, back at BUP.
    let unpublished = unpublished_signer(&net, bup);
    let msg = message(&bup.org, &soc.org);
    enqueue(bup, &msg, &seal(bup, soc, &msg.to_xml(), Some(&unpublished)));
    let done = settled(bup, msg.message_id(), Duration::from_secs(20)).await;
    assert_eq!(done.state(), OutboxState::Rejected, "{done:?}");
    let receipt = done.receipt().expect("business receipt");
    assert_eq!(receipt.from_org_id, SOC);
    assert!(!receipt.accepted);
    assert!(
        receipt.lines.iter().any(|l| l.reason_code == "SIG" && l.detail_code.as_deref() == Some("security")),
        "{:?}",
        receipt.lines
    );
    assert!(inbox(soc).is_empty());

    // The XHE names parties the AS4 message does not (C3.4.6 §3.1.6 [a], [b]):
    // another sender organisation than the AS4 originalSender, another
    // recipient than the AS4 finalRecipient. Not stored, not receipted (a
    // receipt would go to a party that sent nothing), logged.
    let elsewhere = DevOrg::new("Annan kommun", "0203:annan.kommun.example.se", BUP_FA);
    let spoofed_sender = message(&elsewhere, &soc.org);
    let wrong_recipient = message(&bup.org, &DevOrg::new("Annan", "0203:annan.example.se", SOC_FA));
    for msg in [&spoofed_sender, &wrong_recipient] {
        let request = as4_request(bup, soc, SOC, msg.message_id(), &seal(bup, soc, &msg.to_xml(), None));
        let answer = post(bup, soc, &request.content_type, request.body.to_vec(u64::MAX).unwrap()).await;
        let _ = receipt_or_errors(soc, &request, &answer);
    }
    let rejected = audited(soc, AuditAction::ValidationResult, Outcome::Rejected);
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    let mismatches = rejected.iter().filter(|e| e.detail.as_deref() == Some("BV security")).count();
    assert_eq!(mismatches, 2, "{rejected:?}");
    assert!(inbox(soc).is_empty(), "{:?}", inbox(soc));
    // One receipt only: the SIG rejection above.
    assert_eq!(soc.state.metrics.get(Counter::BusinessReceiptsSent), 1);
    net.stop().await.unwrap();
}

// ---------------------------------------------------------------------------
// AS4: unknown participant, tampering, resends
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_for_a_participant_the_access_point_does_not_serve_gets_ebms_0004_not_serviced() {
    let dir = tempfile::tempdir().unwrap();
    let net = DevNetwork::start(dir.path(), &orgs()).await.expect("network starts");
    let (bup, soc) = (net.node(BUP), net.node(SOC));
    let msg = message(&bup.org, &soc.org);
    let request = as4_request(bup, soc, "0203:nobody.example.se", msg.message_id(), &seal(bup, soc, &msg.to_xml(), None));
    let answer = post(bup, soc, &request.content_type, request.body.to_vec(u64::MAX).unwrap()).await;

    let errors = as4::unverified_errors(&answer.content_type, answer.body.clone(), &As4Limits::default());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].code, "EBMS:0004");
    assert_eq!(errors[0].detail.as_deref(), Some(as4::NOT_SERVICED));
    assert_eq!(errors[0].ref_to_message_in_error.as_deref(), Some(request.message_id.as_str()));
    // And it is signed by SOC's access point.
    assert_eq!(receipt_or_errors(soc, &request, &answer).expect_err("an error").len(), 1);
    assert!(inbox(soc).is_empty());
    assert_eq!(outbox_count(soc), 0);
    net.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_as4_message_gets_a_security_error_and_is_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let net = DevNetwork::start(dir.path(), &orgs()).await.expect("network starts");
    let (bup, soc) = (net.node(BUP), net.node(SOC));
    let msg = message(&bup.org, &soc.org);
    let request = as4_request(bup, soc, SOC, msg.message_id(), &seal(bup, soc, &msg.to_xml(), None));

    // One hex digit of the ConversationId, inside the signed eb:Messaging.
    let mut body = request.body.to_vec(u64::MAX).unwrap();
    let marker = b":ConversationId>";
    let at = body.windows(marker.len()).position(|w| w == marker).expect("ConversationId in the envelope") + marker.len();
    body[at] = if body[at] == b'a' { b'b' } else { b'a' };
    let answer = post(bup, soc, &request.content_type, body).await;

    let errors = receipt_or_errors(soc, &request, &answer).expect_err("refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(["EBMS:0101", "EBMS:0102"].contains(&errors[0].code.as_str()), "{errors:?}");
    assert_eq!(errors[0].origin.as_deref(), Some("security"));
    assert!(inbox(soc).is_empty());
    assert_eq!(outbox_count(soc), 0);

    // The untouched message goes through.
    let answer = post(bup, soc, &request.content_type, request.body.to_vec(u64::MAX).unwrap()).await;
    receipt_or_errors(soc, &request, &answer).expect("AS4 receipt");
    assert_eq!(inbox(soc).len(), 1);
    net.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_declared_over_the_size_cap_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let net = DevNetwork::start(dir.path(), &orgs()).await.expect("network starts");
    let (bup, soc) = (net.node(BUP), net.node(SOC));
    let msg = message(&bup.org, &soc.org);
    let request = as4_request(bup, soc, SOC, msg.message_id(), &seal(bup, soc, &msg.to_xml(), None));

    // Zeros, announced as one byte over the cap: answered from the headers.
    let length = soc.state.config.limits.max_as4_message_bytes as u64 + 1;
    let zeros = brygga::spool::ReaderBody::new(std::io::Read::take(std::io::repeat(0), length), length);
    let response = bup
        .state
        .as4_http
        .post(format!("https://127.0.0.1:{}/as4", soc.bound.as4.port()))
        .header(reqwest::header::CONTENT_TYPE, &request.content_type)
        .body(reqwest::Body::wrap(zeros))
        .send()
        .await
        .expect("an answer before the body is sent");
    assert_eq!(response.status().as_u16(), 500);
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_owned();
    let body = response.bytes().await.unwrap().to_vec();
    let answer = Answer { status: 500, content_type, body };
    let errors = receipt_or_errors(soc, &request, &answer).expect_err("refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].code, "EBMS:0004");
    assert!(errors[0].detail.as_deref().unwrap_or_default().contains("message exceeds"), "{errors:?}");
    assert_eq!(std::fs::read_dir(soc.state.spool.dir()).unwrap().count(), 0, "nothing spooled");
    assert!(inbox(soc).is_empty());
    net.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_as4_resend_of_a_rejected_message_gets_no_second_business_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let net = DevNetwork::start(dir.path(), &orgs()).await.expect("network starts");
    let (bup, soc) = (net.node(BUP), net.node(SOC));
    // Signed with a certificate BUP does not publish: REJECTED with a receipt.
    let unpublished = unpublished_signer(&net, bup);
    let msg = message(&bup.org, &soc.org);
    let request = as4_request(bup, soc, SOC, msg.message_id(), &seal(bup, soc, &msg.to_xml(), Some(&unpublished)));
    // The sender missed our AS4 receipt and sends the same AS4 message again.
    for _ in 0..2 {
        let answer = post(bup, soc, &request.content_type, request.body.to_vec(u64::MAX).unwrap()).await;
        assert_eq!(answer.status, 200);
        receipt_or_errors(soc, &request, &answer).expect("an AS4 receipt both times");
    }
    assert_eq!(soc.state.metrics.get(Counter::BusinessReceiptsSent), 1, "one REJECTED receipt, not two");
    assert_eq!(soc.state.metrics.get(Counter::InboundDuplicates), 1);
    assert_eq!(outbox_count(soc), 1);
    assert!(inbox(soc).is_empty());
    net.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_as4_message_twice_is_stored_once_and_receipted_both_times() {
    let dir = tempfile::tempdir().unwrap();
    let net = DevNetwork::start(dir.path(), &orgs()).await.expect("network starts");
    let (bup, soc) = (net.node(BUP), net.node(SOC));
    let msg = message(&bup.org, &soc.org);
    let request = as4_request(bup, soc, SOC, msg.message_id(), &seal(bup, soc, &msg.to_xml(), None));

    for _ in 0..2 {
        let answer = post(bup, soc, &request.content_type, request.body.to_vec(u64::MAX).unwrap()).await;
        assert_eq!(answer.status, 200);
        receipt_or_errors(soc, &request, &answer).expect("AS4 receipt, both times");
    }
    assert_eq!(inbox(soc).len(), 1);
    assert_eq!(soc.state.metrics.get(Counter::InboundDuplicates), 1);
    // One business receipt, ACCEPTED; the resend is not a new message.
    assert_eq!(soc.state.metrics.get(Counter::BusinessReceiptsSent), 1);
    assert_eq!(outbox_count(soc), 1);
    assert!(audited(soc, AuditAction::BusinessReceipt, Outcome::Rejected).is_empty(), "{:?}", audit(soc));
    assert_eq!(audited(soc, AuditAction::BusinessReceipt, Outcome::Accepted).len(), 1);
    net.stop().await.unwrap();
}

// ---------------------------------------------------------------------------
// Stop and restart
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_restarts_from_its_files_with_inbox_and_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = DevNetwork::start(dir.path(), &orgs()).await.expect("network starts");
    let (bup_org, soc_org) = (org(&net, BUP), org(&net, SOC));
    let msg = message(&bup_org, &soc_org);
    net.node(BUP).state.submit("test", msg.to_xml()).await.expect("accepted for sending");
    assert_eq!(settled(net.node(BUP), msg.message_id(), Duration::from_secs(20)).await.state(), OutboxState::Accepted);
    let before = inbox(net.node(SOC));
    assert_eq!(before.len(), 1);

    for org_id in [BUP, SOC] {
        stop(&mut net, org_id).await;
    }
    for org_id in [BUP, SOC] {
        net.restart_node(org_id).await.expect("restarts from the same files");
    }
    let (bup, soc) = (net.node(BUP), net.node(SOC));
    assert_eq!(inbox(soc), before);
    let stored = soc.state.store.load_inbound_payload(SOC_FA, msg.message_id()).unwrap().expect("payload kept");
    assert_eq!(SdkMessage::from_xml(&stored.to_vec(u64::MAX).unwrap(), &Default::default()).unwrap(), msg);
    let kept = entry(bup, msg.message_id()).expect("outbox entry kept");
    assert_eq!(kept.state(), OutboxState::Accepted);
    assert!(kept.receipt().is_some_and(|r| r.accepted));

    // They work, and their audit logs carry on the same chains.
    let next = message(&soc_org, &bup_org);
    soc.state.submit("test", next.to_xml()).await.expect("accepted for sending");
    assert_eq!(settled(soc, next.message_id(), Duration::from_secs(20)).await.state(), OutboxState::Accepted);
    for node in [bup, soc] {
        brygga::audit::verify(node.state.config.data_dir.join("audit.log")).expect("audit chain verifies");
    }
    net.stop().await.unwrap();
}
