//! The directory end to end: Brygga's SMP server in-process on 127.0.0.1:0,
//! the client looking up and verifying, and test-only servers that answer
//! with tampered, foreign or otherwise wrong metadata.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::http::{StatusCode, Uri};
use brygga::directory::metadata::{sign_service_metadata, TRANSPORT_PROFILE_AS4};
use brygga::directory::{
    percent_encode_segment, serve, serve_tls, service_metadata_path, smp_http_client, CacheConfig, CachedSmpClient,
    CertPub, DirectoryError, DocumentTypeId, Endpoint, Participant, ParticipantId, ProcessId, ServiceMetadata,
    SmpClient,
};
use brygga::pki::dev::{DevCa, DevIdentity};
use brygga::xmlsec::VerifyError;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

mod support;

struct World {
    ca: DevCa,
    smp: DevIdentity,
    other_smp: DevIdentity,
    ap: DevIdentity,
    habo_sign: DevIdentity,
    habo_enc: DevIdentity,
}

/// Keys are slow to make; one set serves every test.
fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let ca = DevCa::new("Brygga test", "Directory test CA").expect("CA");
        let issue = |org: &str, cn: &str, dns: &str| ca.issue(org, cn, dns).expect("issue");
        World {
            smp: issue("DIGG", "SMP signer", "localhost"),
            other_smp: issue("Mallory", "Other SMP", "smp.example.org"),
            ap: issue("Habo kommun", "AP0040-SDK-TEST", "ap.habo.se"),
            habo_sign: issue("Habo kommun", "Habo signing", "habo.se"),
            habo_enc: issue("Habo kommun", "Habo encryption", "habo.se"),
            ca,
        }
    })
}

fn habo() -> ParticipantId {
    ParticipantId::new("0203:habo.se").expect("valid id")
}

fn participant(id: &str) -> Participant {
    let w = world();
    let mut endpoint = Endpoint::as4("https://ap.habo.se/as4", w.ap.certificate.clone());
    endpoint.description = "Habo access point".into();
    endpoint.technical_contact_url = "mailto:ap@habo.se".into();
    Participant {
        id: ParticipantId::new(id).expect("valid id"),
        document_types: vec![DocumentTypeId::sdk_message_v3(), DocumentTypeId::sdk_receipt()],
        process: ProcessId::sdk(),
        endpoint,
        certpub: CertPub {
            signing: vec![w.habo_sign.certificate.clone()],
            encryption: vec![w.habo_enc.certificate.clone()],
        },
    }
}

fn metadata(id: &str, document_type: DocumentTypeId) -> ServiceMetadata {
    participant(id).service_metadata(&document_type)
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn client(base: &str) -> SmpClient {
    let http = smp_http_client(&[], Duration::from_secs(5)).expect("HTTP client");
    SmpClient::new(base, world().smp.certificate.clone(), http).expect("client").with_timeout(Duration::from_secs(5))
}

/// Brygga's SMP serving `participants`; stops when the sender is used or dropped.
async fn start_smp(participants: Vec<Participant>) -> (String, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = oneshot::channel::<()>();
    let w = world();
    let task = tokio::spawn(serve(listener, participants, w.smp.key.clone(), w.smp.certificate.clone(), async move {
        let _ = stopped.await;
    }));
    let handle = tokio::spawn(async move {
        task.await.expect("server task").expect("server");
    });
    (base, stop, handle)
}

/// What a test-only server saw.
#[derive(Default)]
struct Seen {
    requests: AtomicUsize,
    paths: Mutex<Vec<String>>,
}

/// A server that answers every request with `status` and `body`.
async fn fixed_server(status: StatusCode, body: Vec<u8>) -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let state = (seen.clone(), status, Arc::new(body));
    let app = axum::Router::new().fallback(
        |axum::extract::State((seen, status, body)): axum::extract::State<(Arc<Seen>, StatusCode, Arc<Vec<u8>>)>,
         uri: Uri| async move {
            seen.requests.fetch_add(1, Ordering::SeqCst);
            seen.paths.lock().expect("lock").push(uri.path().to_owned());
            (status, [(axum::http::header::CONTENT_TYPE, "application/xml")], body.as_ref().clone())
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app.with_state(state)).await;
    });
    (base, seen)
}

fn signed(metadata: &ServiceMetadata, signer: &DevIdentity) -> Vec<u8> {
    sign_service_metadata(metadata, &signer.key, &signer.certificate).expect("sign")
}

#[tokio::test]
async fn lookup_round_trip_through_the_in_process_smp() {
    let w = world();
    let (base, stop, server) = start_smp(vec![participant("0203:habo.se")]).await;
    let c = client(&base);

    let found = c.lookup(&habo(), &DocumentTypeId::sdk_message_v3(), now()).await.expect("lookup");
    assert_eq!(found, metadata("0203:habo.se", DocumentTypeId::sdk_message_v3()));
    assert_eq!(found.endpoint.url, "https://ap.habo.se/as4");
    assert_eq!(found.endpoint.transport_profile, TRANSPORT_PROFILE_AS4);
    assert_eq!(found.endpoint.access_point_certificate, w.ap.certificate);
    assert_eq!(found.certpub.encryption_certificate(now()), Some(&w.habo_enc.certificate));
    assert!(found.certpub.is_signing_certificate(&w.habo_sign.certificate, now()));
    assert!(!found.certpub.is_signing_certificate(&w.habo_enc.certificate, now()));

    // The receiver's view: the sender's signing certificate under the receipt type.
    let receipt = c.lookup(&habo(), &DocumentTypeId::sdk_receipt(), now()).await.expect("receipt lookup");
    assert_eq!(receipt.document_type, DocumentTypeId::sdk_receipt());

    // Participant identifiers do not care about case.
    let upper = ParticipantId::new("0203:HABO.SE").expect("valid id");
    let found = c.lookup(&upper, &DocumentTypeId::sdk_message_v3(), now()).await.expect("lookup in upper case");
    assert_eq!(found.participant, habo());

    stop.send(()).expect("server still running");
    tokio::time::timeout(Duration::from_secs(10), server).await.expect("graceful shutdown").expect("server task");
}

#[tokio::test]
async fn the_served_xml_is_signed_smp_metadata() {
    let (base, _stop, _server) = start_smp(vec![participant("0203:habo.se")]).await;
    let url = client(&base).url_for(&habo(), &DocumentTypeId::sdk_message_v3());
    let response = reqwest_plain().get(&url).send().await.expect("GET");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/xml");
    let text = response.text().await.expect("body");
    assert!(text.contains("<SignedServiceMetadata "));
    assert!(text.contains(" xmlns=\"http://docs.oasis-open.org/bdxr/ns/SMP/2016/05\""));
    assert!(
        text.contains("<ParticipantIdentifier scheme=\"iso6523-actorid-upis\">0203:habo.se</ParticipantIdentifier>")
    );
    assert!(text
        .contains("<ProcessIdentifier scheme=\"urn:fdc:digg.se:edelivery:process\">bdx:noprocess</ProcessIdentifier>"));
    assert!(text.contains("<smb:TypeCode>urn:fdc:digg.se:edelivery:certpub:signing-cert</smb:TypeCode>"));
    assert!(text.contains("<smb:TypeCode>urn:fdc:digg.se:edelivery:certpub:encryption-cert</smb:TypeCode>"));
    assert!(text.trim_end().ends_with("</ds:Signature></SignedServiceMetadata>"));

    let bad = format!("{base}/not-an-id/services/nor-this");
    assert_eq!(reqwest_plain().get(&bad).send().await.expect("GET").status(), 400);
}

fn reqwest_plain() -> reqwest::Client {
    smp_http_client(&[], Duration::from_secs(5)).expect("HTTP client")
}

#[tokio::test]
async fn unknown_participant_or_document_type_is_not_found() {
    let (base, _stop, _server) = start_smp(vec![participant("0203:habo.se")]).await;
    let c = client(&base);
    let stranger = ParticipantId::new("0203:okand.se").expect("valid id");
    let err = c.lookup(&stranger, &DocumentTypeId::sdk_message_v3(), now()).await.unwrap_err();
    assert!(matches!(err, DirectoryError::NotFound { ref participant, .. } if participant == "0203:okand.se"), "{err}");

    let base_model = DocumentTypeId::new(brygga::sdk::xhe::DOCUMENT_ID_MESSAGE_V3_BASE).expect("valid id");
    let err = c.lookup(&habo(), &base_model, now()).await.unwrap_err();
    assert!(matches!(err, DirectoryError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn tampered_metadata_is_refused() {
    let good = signed(&metadata("0203:habo.se", DocumentTypeId::sdk_message_v3()), &world().smp);
    let text = String::from_utf8(good).expect("UTF-8");
    assert!(text.contains("https://ap.habo.se/as4"));
    let tampered = text.replace("https://ap.habo.se/as4", "https://ap.mallory.example/as4");
    let (base, _) = fixed_server(StatusCode::OK, tampered.into_bytes()).await;
    let err = client(&base).lookup(&habo(), &DocumentTypeId::sdk_message_v3(), now()).await.unwrap_err();
    assert!(matches!(err, DirectoryError::BadSignature(VerifyError::DigestMismatch { .. })), "{err}");
}

#[tokio::test]
async fn metadata_signed_by_another_key_is_refused() {
    let foreign = signed(&metadata("0203:habo.se", DocumentTypeId::sdk_message_v3()), &world().other_smp);
    let (base, _) = fixed_server(StatusCode::OK, foreign).await;
    let err = client(&base).lookup(&habo(), &DocumentTypeId::sdk_message_v3(), now()).await.unwrap_err();
    assert!(
        matches!(err, DirectoryError::BadSignature(VerifyError::Untrusted(brygga::pki::TrustError::NotPinned))),
        "{err}"
    );
}

#[tokio::test]
async fn unsigned_metadata_is_refused() {
    let doc = metadata("0203:habo.se", DocumentTypeId::sdk_message_v3()).to_document();
    let unsigned = brygga::xml::serialize(&doc, brygga::xml::NodeId::DOCUMENT);
    let (base, _) = fixed_server(StatusCode::OK, unsigned).await;
    let err = client(&base).lookup(&habo(), &DocumentTypeId::sdk_message_v3(), now()).await.unwrap_err();
    assert!(matches!(err, DirectoryError::BadSignature(VerifyError::NoSignature)), "{err}");
}

#[tokio::test]
async fn signed_answer_about_another_participant_is_refused() {
    // Genuinely signed by the SMP, but about someone else: a replay or a
    // misrouted answer must not send Habo's mail to Ödeshög.
    let other = signed(&metadata("0203:odeshog.se", DocumentTypeId::sdk_message_v3()), &world().smp);
    let (base, _) = fixed_server(StatusCode::OK, other).await;
    let err = client(&base).lookup(&habo(), &DocumentTypeId::sdk_message_v3(), now()).await.unwrap_err();
    assert_eq!(
        err,
        DirectoryError::WrongParticipant { expected: "0203:habo.se".into(), found: "0203:odeshog.se".into() }
    );
}

#[tokio::test]
async fn signed_answer_about_another_document_type_is_refused() {
    let receipt = signed(&metadata("0203:habo.se", DocumentTypeId::sdk_receipt()), &world().smp);
    let (base, _) = fixed_server(StatusCode::OK, receipt).await;
    let err = client(&base).lookup(&habo(), &DocumentTypeId::sdk_message_v3(), now()).await.unwrap_err();
    assert!(matches!(err, DirectoryError::WrongDocumentType { .. }), "{err}");
}

#[tokio::test]
async fn endpoints_sdk_cannot_use_are_refused() {
    let mut other_profile = metadata("0203:habo.se", DocumentTypeId::sdk_message_v3());
    other_profile.endpoint.transport_profile = "peppol-transport-as4-v2_0".into();
    let (base, _) = fixed_server(StatusCode::OK, signed(&other_profile, &world().smp)).await;
    let err = client(&base).lookup(&habo(), &DocumentTypeId::sdk_message_v3(), now()).await.unwrap_err();
    assert!(matches!(err, DirectoryError::NoUsableEndpoint(_)), "{err}");

    let mut later = metadata("0203:habo.se", DocumentTypeId::sdk_message_v3());
    later.endpoint.service_activation = Some(now() + time::Duration::days(1));
    let (base, _) = fixed_server(StatusCode::OK, signed(&later, &world().smp)).await;
    let err = client(&base).lookup(&habo(), &DocumentTypeId::sdk_message_v3(), now()).await.unwrap_err();
    assert!(matches!(err, DirectoryError::NoUsableEndpoint(_)), "{err}");

    let mut other_process = metadata("0203:habo.se", DocumentTypeId::sdk_message_v3());
    other_process.process.value = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0".into();
    let (base, _) = fixed_server(StatusCode::OK, signed(&other_process, &world().smp)).await;
    let err = client(&base).lookup(&habo(), &DocumentTypeId::sdk_message_v3(), now()).await.unwrap_err();
    assert!(matches!(err, DirectoryError::NoUsableEndpoint(_)), "{err}");

    let mut plain_http = metadata("0203:habo.se", DocumentTypeId::sdk_message_v3());
    plain_http.endpoint.url = "http://ap.habo.se/as4".into();
    let (base, _) = fixed_server(StatusCode::OK, signed(&plain_http, &world().smp)).await;
    let err = client(&base).lookup(&habo(), &DocumentTypeId::sdk_message_v3(), now()).await.unwrap_err();
    assert!(matches!(err, DirectoryError::Malformed(_)), "{err}");
}

#[tokio::test]
async fn bad_answers_are_malformed_or_unreachable() {
    let doc = DocumentTypeId::sdk_message_v3();
    let (base, _) = fixed_server(StatusCode::OK, b"<html>not SMP".to_vec()).await;
    let err = client(&base).lookup(&habo(), &doc, now()).await.unwrap_err();
    assert!(matches!(err, DirectoryError::Malformed(_)), "{err}");

    let huge = vec![b' '; brygga::directory::SMP_RESPONSE_MAX_BYTES + 1];
    let (base, _) = fixed_server(StatusCode::OK, huge).await;
    let err = client(&base).lookup(&habo(), &doc, now()).await.unwrap_err();
    assert!(matches!(err, DirectoryError::Malformed(ref m) if m.contains("larger")), "{err}");

    let (base, _) = fixed_server(StatusCode::INTERNAL_SERVER_ERROR, Vec::new()).await;
    let err = client(&base).lookup(&habo(), &doc, now()).await.unwrap_err();
    assert!(matches!(err, DirectoryError::Unreachable(ref m) if m.contains("500")), "{err}");

    // Nothing listens on a port just released.
    let port = TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("address").port();
    let err = client(&format!("http://127.0.0.1:{port}")).lookup(&habo(), &doc, now()).await.unwrap_err();
    assert!(matches!(err, DirectoryError::Unreachable(_)), "{err}");
}

#[tokio::test]
async fn requests_carry_the_percent_encoded_identifiers() {
    let good = signed(&metadata("0203:habo.se", DocumentTypeId::sdk_message_v3()), &world().smp);
    let (base, seen) = fixed_server(StatusCode::OK, good).await;
    client(&base).lookup(&habo(), &DocumentTypeId::sdk_message_v3(), now()).await.expect("lookup");
    let paths = seen.paths.lock().expect("lock").clone();
    assert_eq!(
        paths,
        vec!["/iso6523-actorid-upis%3A%3A0203%3Ahabo.se/services/busdox-docid-qns%3A%3Aurn%3Ariv%3Ainfrastructure%3Amessaging%3AMessageWithAttachments%3A3%3A%3AmessagePayload%23%233.0%3A%3Atm-base-ext-sigenc".to_owned()]
    );
}

#[test]
fn url_encoding_matches_the_specs() {
    // DIGG's participant form and the CertPub REST binding's rule: ':' is %3A.
    assert_eq!(
        percent_encode_segment("iso6523-actorid-upis::0203:habo.se"),
        "iso6523-actorid-upis%3A%3A0203%3Ahabo.se"
    );
    // The receipt's document id, with both '::' and '##'.
    assert_eq!(
        service_metadata_path(&habo(), &DocumentTypeId::sdk_receipt()),
        "/iso6523-actorid-upis%3A%3A0203%3Ahabo.se/services/busdox-docid-qns%3A%3Aurn%3Aoasis%3Anames%3Aspecification%3Aubl%3Aschema%3Axsd%3AApplicationResponse-2%3A%3AApplicationResponse%23%23fdc%3Adigg.se%3Aedelivery%3Amessagetype%3Aresponse%3A1%3A%3A2.1%3A%3Atm-base-ext-sigenc"
    );
    // C3.4.4 CertPub REST binding §3, the example, verbatim after the host.
    let example_participant = ParticipantId::new("0203:receivingexample.se").expect("valid id");
    let example_document = DocumentTypeId::new(
        "urn:riv:infrastructure:messaging:messagewithattachments:2::message::2.0::tm-base-ext-sigenc",
    )
    .expect("valid id");
    assert_eq!(
        format!("https://domän{}", service_metadata_path(&example_participant, &example_document)),
        "https://domän/iso6523-actorid-upis%3A%3A0203%3Areceivingexample.se/services/busdox-docid-qns%3A%3Aurn%3Ariv%3Ainfrastructure%3Amessaging%3Amessagewithattachments%3A2%3A%3Amessage%3A%3A2.0%3A%3Atm-base-ext-sigenc"
    );
}

#[tokio::test]
async fn cache_answers_within_the_ttl_and_asks_again_after() {
    let good = signed(&metadata("0203:habo.se", DocumentTypeId::sdk_message_v3()), &world().smp);
    let (base, seen) = fixed_server(StatusCode::OK, good).await;
    let cached =
        CachedSmpClient::new(client(&base), CacheConfig { ttl_secs: 60, negative_ttl_secs: 0, max_entries: 100 });
    let doc = DocumentTypeId::sdk_message_v3();
    let t0 = now();

    cached.lookup(&habo(), &doc, t0).await.expect("first lookup");
    assert_eq!(seen.requests.load(Ordering::SeqCst), 1);
    let again = cached.lookup(&habo(), &doc, t0 + time::Duration::seconds(59)).await.expect("cached lookup");
    assert_eq!(again.participant, habo());
    assert_eq!(seen.requests.load(Ordering::SeqCst), 1, "answered from the cache");
    cached.lookup(&habo(), &doc, t0 + time::Duration::seconds(61)).await.expect("lookup after the TTL");
    assert_eq!(seen.requests.load(Ordering::SeqCst), 2, "expired: asked the SMP again");
}

#[tokio::test]
async fn failures_are_not_cached_and_not_found_only_briefly() {
    let doc = DocumentTypeId::sdk_message_v3();
    let t0 = now();

    let foreign = signed(&metadata("0203:habo.se", DocumentTypeId::sdk_message_v3()), &world().other_smp);
    let (base, seen) = fixed_server(StatusCode::OK, foreign).await;
    let cached = CachedSmpClient::new(client(&base), CacheConfig::default());
    for _ in 0..2 {
        let err = cached.lookup(&habo(), &doc, t0).await.unwrap_err();
        assert!(matches!(err, DirectoryError::BadSignature(_)), "{err}");
    }
    assert_eq!(seen.requests.load(Ordering::SeqCst), 2, "a refused answer is never cached");
    assert!(cached.cache().is_empty());

    let (base, seen) = fixed_server(StatusCode::NOT_FOUND, Vec::new()).await;
    let cached =
        CachedSmpClient::new(client(&base), CacheConfig { ttl_secs: 3600, negative_ttl_secs: 30, max_entries: 10 });
    for at in [0, 10, 29] {
        let err = cached.lookup(&habo(), &doc, t0 + time::Duration::seconds(at)).await.unwrap_err();
        assert!(matches!(err, DirectoryError::NotFound { .. }), "{err}");
    }
    assert_eq!(seen.requests.load(Ordering::SeqCst), 1, "not found is kept for the negative TTL");
    cached.lookup(&habo(), &doc, t0 + time::Duration::seconds(31)).await.unwrap_err();
    assert_eq!(seen.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn lookup_over_tls() {
    let w = world();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    // The SMP signer's certificate names localhost; it doubles as the TLS one.
    let tls = brygga::directory::server::tls_server_config(std::slice::from_ref(&w.smp.certificate), &w.smp.key)
        .expect("TLS config");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve_tls(
        listener,
        vec![participant("0203:habo.se")],
        w.smp.key.clone(),
        w.smp.certificate.clone(),
        tls,
        async move {
            let _ = stopped.await;
        },
    ));

    let http =
        smp_http_client(std::slice::from_ref(&w.ca.identity.certificate), Duration::from_secs(5)).expect("HTTP client");
    let c = SmpClient::new(&format!("https://localhost:{port}/"), w.smp.certificate.clone(), http).expect("client");
    let found = c.lookup(&habo(), &DocumentTypeId::sdk_message_v3(), now()).await.expect("lookup over TLS");
    assert_eq!(found.participant, habo());

    // A client that does not trust the server's CA never gets an answer.
    let untrusting = smp_http_client(&[], Duration::from_secs(5)).expect("HTTP client");
    let c =
        SmpClient::new(&format!("https://localhost:{port}/"), w.smp.certificate.clone(), untrusting).expect("client");
    let err = c.lookup(&habo(), &DocumentTypeId::sdk_message_v3(), now()).await.unwrap_err();
    assert!(matches!(err, DirectoryError::Unreachable(_)), "{err}");

    stop.send(()).expect("server still running");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("graceful shutdown")
        .expect("task")
        .expect("server");
}

#[test]
fn sml_name_for_habo() {
    // base32(sha256("0203:habo.se")) without padding; computed independently
    // with Python's hashlib and base64.
    assert_eq!(
        brygga::directory::sml_naptr_name(&habo(), "edelivery.tech.ec.europa.eu"),
        "2FA62QSTPX6BTELX5PV5BCVCFRTCE4GERBQ5OG6J2G3RDDK7XT5Q.iso6523-actorid-upis.edelivery.tech.ec.europa.eu"
    );
}

#[test]
fn signed_metadata_verifies_in_xmlsec1_and_fails_there_when_tampered() {
    if !support::have_tool("xmlsec1") {
        return;
    }
    let w = world();
    let dir = tempfile::tempdir().expect("temp dir");
    let cert = dir.path().join("smp.pem");
    std::fs::write(&cert, &w.smp.cert_pem).expect("write certificate");
    let mut later = metadata("0203:habo.se", DocumentTypeId::sdk_message_v3());
    later.endpoint.service_activation = Some(time::macros::datetime!(2026-01-01 0:00 UTC));
    later.endpoint.service_expiration = Some(time::macros::datetime!(2030-01-01 0:00 UTC));
    let good = signed(&later, &w.smp);
    let tampered = String::from_utf8(good.clone()).expect("UTF-8").replace("ap.habo.se", "ap.mallory.example");
    for (name, bytes, expect_ok) in [("good.xml", good, true), ("tampered.xml", tampered.into_bytes(), false)] {
        let file = dir.path().join(name);
        std::fs::write(&file, bytes).expect("write metadata");
        let out = std::process::Command::new("xmlsec1")
            .args(["--verify", "--pubkey-cert-pem"])
            .arg(&cert)
            .arg(&file)
            .output()
            .expect("run xmlsec1");
        assert_eq!(out.status.success(), expect_ok, "xmlsec1 on {name}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
