//! Sealing and opening SDK messages end to end: round trips, the order
//! verify → decrypt → validate, every receipt code the receiver produces, and
//! the command line's contract (exit codes, REJECTED lines, receipts).

mod support;

use brygga::spool::{Blob, Spool};
use brygga::pki::dev::{DevCa, DevIdentity};
use brygga::pki::TrustPolicy;
use brygga::sdk::envelope::{self, OpenOptions, ReceiptDecision, ReceivedMessages, Rejection, SealError, SealOptions};
use brygga::sdk::message::{ContentFile, OrgAddress, SdkMessage};
use brygga::sdk::message_rules::SupportedContentTypes;
use brygga::sdk::xhe::{self, BusinessScope, PayloadInfo, XheHeader};
use brygga::sdk::{DetailCode, ReasonCode, ResponseCode};
use brygga::xml::{self, NodeId};
use brygga::xmlsec::cipher::{BlockCipher, KeyTransport};
use brygga::xmlsec::encrypt::{encrypt_element, EncryptionOptions};
use brygga::xmlsec::{sign_enveloped, SigningOptions};
use rustls_pki_types::UnixTime;
use time::OffsetDateTime;

struct Pair {
    sender: DevIdentity,
    recipient: DevIdentity,
    stranger: DevIdentity,
}

fn pair() -> Pair {
    let ca = DevCa::new("Brygga tests", "Test CA").unwrap();
    Pair {
        sender: ca.issue("Region Stockholm", "bup signing", "bup.test").unwrap(),
        recipient: ca.issue("Stockholms stad", "soc encryption", "soc.test").unwrap(),
        stranger: ca.issue("Somebody", "attacker", "attacker.test").unwrap(),
    }
}

const SENDER: &str = "0203:bup.regionstockholm.se";
const RECIPIENT: &str = "0203:socialtjanst.stockholm.se";
const RECIPIENT_FA: &str = "soc.mottagning";

fn message_with(attachment: Option<ContentFile>) -> SdkMessage {
    let mut b = SdkMessage::builder(
        OffsetDateTime::now_utc(),
        OrgAddress::new(SENDER, "bup.envagin"),
        OrgAddress::new(RECIPIENT, RECIPIENT_FA),
    )
    .label("Orosanmälan")
    .text("# Orosanmälan\n\nText **i Markdown**.");
    if let Some(a) = attachment {
        b = b.attachment(a);
    }
    b.build().expect("valid message")
}

fn seal(p: &Pair, message: &[u8], options: &SealOptions) -> Vec<u8> {
    envelope::seal(message, &p.sender.key, &p.sender.certificate, &p.recipient.certificate, options, OffsetDateTime::now_utc())
        .expect("seal")
}

fn open_with(p: &Pair, sealed: Vec<u8>, adjust: impl FnOnce(&mut OpenOptions<'_>)) -> Result<envelope::OpenedMessage, Rejection> {
    let trust = TrustPolicy::Pinned(p.sender.certificate.clone());
    let mut options = OpenOptions::new(&p.recipient.key, &trust, UnixTime::now());
    adjust(&mut options);
    envelope::open(sealed, &options)
}

fn codes(r: &Rejection) -> Vec<(ReasonCode, DetailCode)> {
    r.validation.problems.iter().map(|p| (p.reason, p.detail)).collect()
}

#[test]
fn seal_then_open_round_trips_text_and_a_10_mb_pdf() {
    let p = pair();
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.extend((0..10 * 1024 * 1024).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8 & 0x7f));
    let message = message_with(Some(ContentFile::new("underlag.pdf", "application/pdf", pdf.clone())));
    let sealed = seal(&p, &message.to_xml(), &SealOptions::default());
    let sealed_text = String::from_utf8_lossy(&sealed);
    assert!(sealed_text.contains("http://www.w3.org/2001/04/xmlenc#aes256-cbc"));
    assert!(sealed_text.contains("http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"));
    assert!(sealed_text.contains("<InstanceEncryptionIndicator>true</InstanceEncryptionIndicator>"));
    assert!(!sealed_text.contains("Orosanmälan"), "payload must not be readable in the envelope");

    let opened = open_with(&p, sealed, |_| {}).expect("opens");
    assert_eq!(opened.facts.header.id, message.message_id());
    assert_eq!(opened.facts.header.from_party, SENDER);
    assert_eq!(opened.facts.header.to_party, RECIPIENT);
    assert_eq!(opened.facts.payload.handling_service_id.as_deref(), Some(RECIPIENT_FA));
    let back = SdkMessage::from_xml(&opened.message_xml.to_vec(u64::MAX).unwrap(), &Default::default()).expect("inner message parses");
    assert_eq!(back, message);
    assert_eq!(back.documents[0].content_files[0].content, pdf);
}

#[test]
fn every_cipher_and_key_transport_option_round_trips() {
    let p = pair();
    let message = message_with(None);
    for cipher in [BlockCipher::Aes256Cbc, BlockCipher::Aes128Gcm, BlockCipher::Aes256Gcm] {
        for key_transport in [KeyTransport::RsaOaepMgf1p, KeyTransport::RsaOaepSha256] {
            let options = SealOptions { encryption: Some(EncryptionOptions { cipher, key_transport }), ..SealOptions::default() };
            let opened = open_with(&p, seal(&p, &message.to_xml(), &options), |_| {}).unwrap_or_else(|r| panic!("{cipher:?} {key_transport:?}: {:?}", r.validation));
            assert_eq!(SdkMessage::from_xml(&opened.message_xml.to_vec(u64::MAX).unwrap(), &Default::default()).unwrap(), message);
        }
    }
}

#[test]
fn a_tampered_envelope_is_refused_before_anything_is_decrypted() {
    let p = pair();
    let sealed = seal(&p, &message_with(None).to_xml(), &SealOptions::default());
    let text = String::from_utf8(sealed).unwrap();
    // Flip one character of the encrypted payload (a CBC bit-flipping attempt).
    let at = text.find("<xenc:CipherValue>").unwrap();
    let at = text[at + 18..].find("<xenc:CipherValue>").map(|i| at + 18 + i).unwrap() + 30;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };

    // Opening with a key that could not decrypt anything anyway: if
    // decryption ran first, the answer would be "cannot be decrypted"
    // (withheld receipt). The signature check must answer first.
    let trust = TrustPolicy::Pinned(p.sender.certificate.clone());
    let options = OpenOptions::new(&p.stranger.key, &trust, UnixTime::now());
    let rejection = envelope::open(bytes, &options).unwrap_err();
    assert_eq!(codes(&rejection), vec![(ReasonCode::Sig, DetailCode::Security)]);
    assert!(rejection.validation.problems[0].text.contains("Sender signature not validated"));
    assert_eq!(rejection.receipt, ReceiptDecision::Send);
}

#[test]
fn an_envelope_re_signed_by_someone_else_is_refused() {
    let p = pair();
    let message = message_with(None);
    let forged = envelope::seal(&message.to_xml(), &p.stranger.key, &p.stranger.certificate, &p.recipient.certificate, &SealOptions::default(), OffsetDateTime::now_utc()).unwrap();
    let rejection = open_with(&p, forged, |_| {}).unwrap_err();
    assert_eq!(codes(&rejection), vec![(ReasonCode::Sig, DetailCode::Security)]);
    assert!(rejection.validation.problems[0].text.contains("pinned"));
}

#[test]
fn a_payload_for_another_key_cannot_be_decrypted_and_gets_no_receipt() {
    let p = pair();
    let sealed = envelope::seal(&message_with(None).to_xml(), &p.sender.key, &p.sender.certificate, &p.stranger.certificate, &SealOptions::default(), OffsetDateTime::now_utc()).unwrap();
    let rejection = open_with(&p, sealed, |_| {}).unwrap_err();
    assert_eq!(codes(&rejection), vec![(ReasonCode::Sig, DetailCode::Security)]);
    assert_eq!(rejection.validation.problems[0].text, "payload cannot be decrypted");
    assert_eq!(rejection.receipt, ReceiptDecision::Withhold, "DIGG: no receipt for a payload that cannot be decrypted");
}

#[test]
fn an_unencrypted_payload_is_rejected_sig_security_unless_allowed() {
    let p = pair();
    let options = SealOptions { encryption: None, ..SealOptions::default() };
    let sealed = seal(&p, &message_with(None).to_xml(), &options);
    let rejection = open_with(&p, sealed.clone(), |_| {}).unwrap_err();
    assert!(codes(&rejection).contains(&(ReasonCode::Sig, DetailCode::Security)), "{:?}", rejection.validation);
    assert_eq!(rejection.receipt, ReceiptDecision::Send);
    // The receipt can be built and validates under DIGG's rules.
    let receipt = rejection.receipt(uuid::Uuid::new_v4().to_string(), OffsetDateTime::now_utc()).unwrap();
    assert_eq!(receipt.response, ResponseCode::Rejected);
    assert!(brygga::sdk::receipt::validate_receipt(&receipt.to_document()).is_accepted());
}

#[test]
fn malformed_envelopes_get_no_receipt() {
    let p = pair();
    let rejection = open_with(&p, b"<x:XHE xmlns:x='urn:x'><unclosed></x:XHE>".to_vec(), |_| {}).unwrap_err();
    assert_eq!(codes(&rejection), vec![(ReasonCode::Sv, DetailCode::Structure)]);
    assert_eq!(rejection.receipt, ReceiptDecision::Withhold);
    let doctype = b"<!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;</x>".to_vec();
    assert_eq!(open_with(&p, doctype, |_| {}).unwrap_err().receipt, ReceiptDecision::Withhold);
}

/// Builds, encrypts and signs an envelope by hand, so the envelope and the
/// message can disagree in ways `seal` would never produce.
fn hand_sealed(p: &Pair, message: &SdkMessage, edit: impl FnOnce(&mut XheHeader, &mut PayloadInfo)) -> Vec<u8> {
    hand_sealed_bytes(p, message, &message.to_xml(), edit)
}

/// As [`hand_sealed`], with `xml` as the payload (ids taken from `message`).
fn hand_sealed_bytes(p: &Pair, message: &SdkMessage, xml: &[u8], edit: impl FnOnce(&mut XheHeader, &mut PayloadInfo)) -> Vec<u8> {
    let mut header = XheHeader {
        id: message.message_id().to_owned(),
        creation_date_time: xhe::format_timestamp(OffsetDateTime::now_utc()),
        business_scope: BusinessScope::sdk_message(xhe::FEDERATION_ID_SDK),
        from_party: message.sender_org_id().to_owned(),
        to_party: message.recipient_org_id().to_owned(),
    };
    let mut payload = PayloadInfo {
        document_type_code: xhe::DOCUMENT_TYPE_SDK_MESSAGE.to_owned(),
        content_type_code: "application/xml".to_owned(),
        handling_service_id: Some(message.recipient_functional_address().to_owned()),
        instance_encryption_indicator: true,
    };
    edit(&mut header, &mut payload);
    let (mut doc, content) = xhe::build_xhe(&header, &payload);
    let message_doc = xml::parse_str(std::str::from_utf8(xml).unwrap()).unwrap();
    let node = doc.adopt(content, 0, message_doc)[0];
    encrypt_element(&mut doc, node, &p.recipient.certificate, &EncryptionOptions::default(), &Spool::temporary()).unwrap();
    sign_enveloped(&mut doc, &p.sender.key, &p.sender.certificate, &SigningOptions::default()).unwrap();
    xml::serialize(&doc, NodeId::DOCUMENT)
}

#[test]
fn fields_that_must_agree_between_envelope_and_message_get_their_codes() {
    let p = pair();
    let message = message_with(None);
    let cases: Vec<(&str, Box<dyn Fn(&mut XheHeader, &mut PayloadInfo)>, (ReasonCode, DetailCode))> = vec![
        ("HandlingServiceID", Box::new(|_, pl| pl.handling_service_id = Some("unknown.address".into())), (ReasonCode::Bv, DetailCode::NotFound)),
        ("ToParty", Box::new(|h, _| h.to_party = "0203:someone.else.se".into()), (ReasonCode::Bv, DetailCode::Security)),
        ("FromParty", Box::new(|h, _| h.from_party = "0203:someone.else.se".into()), (ReasonCode::Bv, DetailCode::Invariant)),
        ("ID", Box::new(|h, _| h.id = uuid::Uuid::new_v4().to_string()), (ReasonCode::Bv, DetailCode::Invariant)),
    ];
    for (field, edit, expected) in cases {
        let rejection = open_with(&p, hand_sealed(&p, &message, |h, pl| edit(h, pl)), |_| {}).unwrap_err();
        assert_eq!(codes(&rejection), vec![expected], "{field}: {:?}", rejection.validation);
        assert_eq!(rejection.receipt, ReceiptDecision::Send, "{field}");
    }
    // Control: the same path with nothing edited is accepted.
    open_with(&p, hand_sealed(&p, &message, |_, _| {}), |_| {}).expect("unedited hand-sealed envelope opens");
}

#[test]
fn message_rules_apply_after_decryption_with_their_codes() {
    let p = pair();
    // An attachment type this receiver does not take: BV not-supported.
    let bmp = message_with(Some(ContentFile::new("bild.bmp", "image/bmp", b"BM....".to_vec())));
    // The sender's own policy takes BMP; the receiver's default does not.
    let sender_policy = SealOptions { content_policy: SupportedContentTypes::default().with("image/bmp"), ..SealOptions::default() };
    let rejection = open_with(&p, seal(&p, &bmp.to_xml(), &sender_policy), |_| {}).unwrap_err();
    assert_eq!(codes(&rejection), vec![(ReasonCode::Bv, DetailCode::NotSupported)]);

    // A PDF carrying JavaScript: BV forbidden. Our builder refuses to make
    // one, so the content is swapped into the XML afterwards.
    let benign = b"%PDF-1.7\n<</Type/Catalog>>".to_vec();
    let message = message_with(Some(ContentFile::new("x.pdf", "application/pdf", benign.clone())));
    let hostile = brygga::xmlsec::base64_encode(b"%PDF-1.7\n<</S/JavaScript/JS(app.alert(1))>>");
    let xml = String::from_utf8(message.to_xml()).unwrap().replace(&brygga::xmlsec::base64_encode(&benign), &hostile);
    let rejection = open_with(&p, hand_sealed_bytes(&p, &message, xml.as_bytes(), |_, _| {}), |_| {}).unwrap_err();
    assert_eq!(codes(&rejection), vec![(ReasonCode::Bv, DetailCode::Forbidden)]);
    assert!(!rejection.validation.problems[0].text.contains("app.alert"));
}

struct Inbox(Vec<String>);

impl ReceivedMessages for Inbox {
    fn count(&self, id: &str) -> usize {
        self.0.iter().filter(|m| *m == id).count()
    }
}

#[test]
fn a_message_id_seen_before_is_a_duplicate() {
    let p = pair();
    let message = message_with(None);
    let sealed = seal(&p, &message.to_xml(), &SealOptions::default());
    let trust = TrustPolicy::Pinned(p.sender.certificate.clone());
    let open_against = |inbox: &Inbox| {
        let mut options = OpenOptions::new(&p.recipient.key, &trust, UnixTime::now());
        options.received = Some(inbox);
        envelope::open(sealed.clone(), &options)
    };
    let id = message.message_id().to_owned();
    let rejection = open_against(&Inbox(vec![id.clone()])).unwrap_err();
    assert_eq!(codes(&rejection), vec![(ReasonCode::Bv, DetailCode::Duplicate)]);
    let rejection = open_against(&Inbox(vec![id.clone(), id])).unwrap_err();
    assert_eq!(codes(&rejection), vec![(ReasonCode::Bv, DetailCode::MultipleMatches)]);
    open_against(&Inbox(vec![uuid::Uuid::new_v4().to_string()])).expect("a new messageId is accepted");
}

#[test]
fn an_oversize_message_is_refused_too_long() {
    let p = pair();
    let big = message_with(Some(ContentFile::new("big.pdf", "application/pdf", vec![b'a'; 23 * 1024 * 1024])));
    let err = envelope::seal(&big.to_xml(), &p.sender.key, &p.sender.certificate, &p.recipient.certificate, &SealOptions::default(), OffsetDateTime::now_utc()).unwrap_err();
    match err {
        SealError::InvalidMessage(v) => assert_eq!(v.problems[0].detail, DetailCode::TooLong),
        other => panic!("expected too-long, got {other}"),
    }
}

#[test]
fn receipts_are_signed_sealed_and_verified_back_at_the_sender() {
    let p = pair();
    let message = message_with(None);
    let opened = open_with(&p, seal(&p, &message.to_xml(), &SealOptions::default()), |_| {}).unwrap();
    let now = OffsetDateTime::now_utc();
    let receipt = envelope::receipt_for(&opened.facts, uuid::Uuid::new_v4().to_string(), now, &Default::default());
    // The receiver signs with its own key (here the recipient identity).
    let sealed = envelope::seal_receipt(&receipt, &opened.facts, &p.recipient.key, &p.recipient.certificate, &SigningOptions::default(), now).unwrap();
    let back = envelope::open_receipt(sealed.clone(), &TrustPolicy::Pinned(p.recipient.certificate.clone()), UnixTime::now(), &Default::default()).expect("receipt verifies");
    assert_eq!(back.receipt.response, ResponseCode::Accepted);
    assert_eq!(back.receipt.document_reference, message.message_id());
    assert_eq!(back.receipt.sender_endpoint, RECIPIENT);
    assert_eq!(back.receipt.receiver_endpoint, SENDER);
    assert_eq!(back.facts.payload.handling_service_id.as_deref(), Some(RECIPIENT_FA), "B1.3.3: receipt repeats HandlingServiceID");
    assert!(!back.facts.payload.instance_encryption_indicator, "receipts are signed, never encrypted");
    // A receipt signed by anyone else is refused.
    let wrong = envelope::open_receipt(sealed, &TrustPolicy::Pinned(p.sender.certificate.clone()), UnixTime::now(), &Default::default());
    assert_eq!(wrong.unwrap_err().problems[0].reason, ReasonCode::Sig);
}

mod cli {
    use super::*;
    use support::{brygga, stderr, stdout};

    fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> String {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    }

    #[test]
    fn seal_open_validate_and_receipts_through_the_command_line() {
        let p = pair();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (sk, sc) = (write(d, "s.key", p.sender.key_pem.as_bytes()), write(d, "s.pem", p.sender.cert_pem.as_bytes()));
        let (rk, rc) = (write(d, "r.key", p.recipient.key_pem.as_bytes()), write(d, "r.pem", p.recipient.cert_pem.as_bytes()));
        let message = message_with(None);
        let msg = write(d, "m.xml", &message.to_xml());

        let out = brygga(&["validate", &msg]);
        assert_eq!((out.status.code(), stdout(&out).as_str()), (Some(0), "ACCEPTED\n"));

        let out = brygga(&["xhe", "seal", "--message", &msg, "--sign-key", &sk, "--sign-cert", &sc, "--recipient-cert", &rc]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let sealed = write(d, "sealed.xml", &out.stdout);
        let out = brygga(&["validate", &sealed]);
        assert_eq!(out.status.code(), Some(0), "sealed envelope validates: {}", stderr(&out));

        let receipt = d.join("receipt.xml").display().to_string();
        let out = brygga(&["xhe", "open", "--decrypt-key", &rk, "--sender-cert", &sc, "--receipt-out", &receipt, &sealed]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(SdkMessage::from_xml(&out.stdout, &Default::default()).unwrap(), message);
        let out = brygga(&["validate", &receipt]);
        assert_eq!(out.status.code(), Some(0), "receipt validates: {}", stderr(&out));
        let out = brygga(&["xml", "verify", "--cert", &rc, &receipt]);
        assert_eq!(out.status.code(), Some(0), "receipt is signed by the receiver: {}", stderr(&out));

        // Wrong sender certificate: exit 3, one REJECTED line, a REJECTED receipt.
        let out = brygga(&["xhe", "open", "--decrypt-key", &rk, "--sender-cert", &rc, "--receipt-out", &receipt, &sealed]);
        assert_eq!(out.status.code(), Some(3));
        let lines: Vec<String> = stderr(&out).lines().map(str::to_owned).collect();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("REJECTED SIG security: "), "{lines:?}");
        let text = std::fs::read_to_string(&receipt).unwrap();
        assert!(text.contains("<cbc:ResponseCode>REJECTED</cbc:ResponseCode>") && text.contains("<cbc:ResponseCode>SIG</cbc:ResponseCode>"), "{text}");

        // Usage errors and unreadable input exit 2.
        assert_eq!(brygga(&["xhe", "open", "--decrypt-key", &rk, &sealed]).status.code(), Some(2));
        assert_eq!(brygga(&["validate", "/nonexistent/file.xml"]).status.code(), Some(2));
    }

    #[test]
    fn validate_prints_one_line_per_problem_and_exits_3() {
        let Some(reference) = support::sdk_reference() else { return };
        let minimal = std::fs::read_to_string(reference.join("message-v3/example-valid-minimal.xml")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let bad = minimal
            .replace("3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9</ns2:messageId>", "not-a-uuid</ns2:messageId>")
            .replace("<ns2:root>iso6523-actorid-upis</ns2:root>\n\t\t\t\t\t<ns2:extension>0203:test.recipient", "<ns2:root>wrong</ns2:root>\n\t\t\t\t\t<ns2:extension>0203:test.recipient");
        let file = write(dir.path(), "bad.xml", bad.as_bytes());
        let out = brygga(&["validate", &file]);
        assert_eq!(out.status.code(), Some(3));
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{err}");
        assert!(lines.iter().all(|l| l.starts_with("REJECTED BV invariant: ")), "{err}");
        let out = brygga(&["validate", &write(dir.path(), "ok.xml", minimal.as_bytes())]);
        assert_eq!((out.status.code(), stdout(&out).as_str()), (Some(0), "ACCEPTED\n"));
    }
}

#[test]
fn xmlsec1_verifies_and_decrypts_a_sealed_envelope() {
    if !support::have_tool("xmlsec1") {
        return;
    }
    let p = pair();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    };
    let key = write("r.key", p.recipient.key_pem.as_bytes());
    let sender_cert = write("s.pem", p.sender.cert_pem.as_bytes());
    let message = message_with(None);
    for cipher in [BlockCipher::Aes256Cbc, BlockCipher::Aes256Gcm] {
        let options = SealOptions { encryption: Some(EncryptionOptions { cipher, ..Default::default() }), ..SealOptions::default() };
        let sealed = write("sealed.xml", &seal(&p, &message.to_xml(), &options));
        let verify = std::process::Command::new("xmlsec1").args(["--verify", "--pubkey-cert-pem", &sender_cert, &sealed]).output().unwrap();
        assert!(verify.status.success(), "{cipher:?}: xmlsec1 --verify: {}", String::from_utf8_lossy(&verify.stderr));
        let decrypt = std::process::Command::new("xmlsec1").args(["--decrypt", "--privkey-pem", &key, &sealed]).output().unwrap();
        assert!(decrypt.status.success(), "{cipher:?}: xmlsec1 --decrypt: {}", String::from_utf8_lossy(&decrypt.stderr));
        // xmlsec1's output is the whole envelope with the message back in place.
        let doc = xml::parse(&decrypt.stdout, &Default::default()).unwrap();
        let content = doc
            .descendants(NodeId::DOCUMENT)
            .find(|&n| doc.element(n).is_some_and(|e| e.is(xhe::XHA_NS, "PayloadContent")))
            .unwrap();
        let inner = doc.child_elements(content).next().unwrap();
        assert_eq!(SdkMessage::parse(&doc, inner).unwrap(), message, "{cipher:?}");
    }
}

/// Large content goes through spool files on both sides (a spool that keeps
/// nothing in memory forces every blob and every long base64 run to disk);
/// the result must be exactly what the in-memory path gives, and the spool
/// must be empty afterwards.
#[test]
fn a_large_message_is_sealed_and_opened_through_spool_files() {
    let p = pair();
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::new(dir.path().join("spool")).unwrap().with_memory_threshold(0);
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.extend((0..6 * 1024 * 1024).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8 & 0x7f));
    let message = message_with(Some(ContentFile::new("journal.pdf", "application/pdf", pdf)));
    let xml = message.to_xml();

    let options = SealOptions { spool: spool.clone(), ..SealOptions::default() };
    let prepared = envelope::PreparedMessage::read(&Blob::from(&xml), &options).unwrap();
    assert_eq!(prepared.header().message_id.as_str(), message.message_id());
    let sealed = prepared
        .seal(&p.sender.key, &p.sender.certificate, &p.recipient.certificate, &options, OffsetDateTime::now_utc())
        .unwrap();
    assert!(sealed.path().is_some(), "the envelope was written to a spool file");

    let trust = TrustPolicy::Pinned(p.sender.certificate.clone());
    let mut open_options = OpenOptions::new(&p.recipient.key, &trust, UnixTime::now());
    open_options.spool = spool.clone();
    let opened = envelope::open(sealed.clone(), &open_options).unwrap_or_else(|r| panic!("{:?}", r.validation));
    assert!(opened.message_xml.path().is_some(), "the opened message is a spool file");
    let back = SdkMessage::from_xml(&opened.message_xml.to_vec(u64::MAX).unwrap(), &Default::default()).unwrap();
    assert_eq!(back, message);

    // The in-memory reader agrees on the very same envelope.
    let in_memory = open_with(&p, sealed.to_vec(u64::MAX).unwrap(), |_| {}).unwrap();
    assert_eq!(in_memory.message_xml.to_vec(u64::MAX).unwrap(), opened.message_xml.to_vec(u64::MAX).unwrap());

    // One flipped byte in the large ciphertext is caught by the signature.
    let mut tampered = sealed.to_vec(u64::MAX).unwrap();
    let at = tampered.len() / 2;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let rejection = envelope::open(Blob::from(tampered), &open_options).unwrap_err();
    assert_eq!(rejection.validation.problems[0].reason, ReasonCode::Sig);

    drop((sealed, opened, in_memory, open_options, options));
    assert_eq!(std::fs::read_dir(spool.dir()).unwrap().count(), 0, "nothing is left in the spool");
}
