//! The AS4 layer end to end: user message, receipt and error round trips,
//! and the ways a message must be refused, each with what the peer is told.

use std::sync::OnceLock;

use brygga::as4::ebms::{self, UserMessageHeader};
use brygga::as4::error::{HeaderError, PackagingError, PayloadError, ReceiptError, SecurityError, ServiceError};
use brygga::as4::mime::{self, OutboundPart};
use brygga::as4::{
    build_error, build_receipt, build_user_message, check_serviced, parse_and_verify_receipt, parse_inbound,
    peer_error, pmode, soap, unverified_errors, verify_and_open, wss, Action, As4Error, As4Limits, As4Request,
    EbmsError, ErrorCode, UserMessageParams, NOT_SERVICED,
};
use brygga::pki::dev::{DevCa, DevIdentity};
use brygga::pki::{TrustPolicy, TrustedCertificate};
use brygga::spool::{Blob, Spool};
use brygga::xml::{parse_str, serialize, C14nMethod, NodeId};
use brygga::xmlsec::algorithm::{DigestAlgorithm, SignatureAlgorithm, Transform};
use brygga::xmlsec::sign::{sign_with, Attachments, KeyInfoSpec, ReferenceSpec, SigningOptions};
use rustls_pki_types::UnixTime;
use time::{Duration, OffsetDateTime};

/// Two access points under one AP CA, a third AP, and a stranger's CA.
struct Pki {
    ca: DevCa,
    sender: DevIdentity,
    receiver: DevIdentity,
    other: DevIdentity,
    stranger: DevIdentity,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca = DevCa::new("DIGG test", "AP CA").unwrap();
        let sender = ca.issue("Sender AB", "AP0001-SDK-QA", "ap1.example").unwrap();
        let receiver = ca.issue("Receiver AB", "AP0002-SDK-QA", "ap2.example").unwrap();
        let other = ca.issue("Other AB", "AP0003-SDK-QA", "ap3.example").unwrap();
        let stranger_ca = DevCa::new("Elsewhere", "Other CA").unwrap();
        let stranger = stranger_ca.issue("Stranger AB", "AP0001-SDK-QA", "ap1.example").unwrap();
        Pki { ca, sender, receiver, other, stranger }
    })
}

fn trust() -> TrustPolicy {
    TrustPolicy::anchors(vec![pki().ca.identity.certificate.clone()])
}

/// The receiver's certificate as the sender holds it: checked against the
/// AP CA, as it must be after the SMP lookup.
fn receiver_certificate() -> TrustedCertificate {
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(now().unix_timestamp() as u64));
    trust().check(&pki().receiver.certificate, &[], at).unwrap()
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

const XHE: &[u8] = b"<XHE xmlns=\"http://docs.oasis-open.org/bdxr/ns/XHE/1/ExchangeHeaderEnvelope\"><XHEVersionID>1.0</XHEVersionID></XHE>";

fn params() -> UserMessageParams<'static> {
    UserMessageParams {
        message_id: None,
        action: Action::Message,
        conversation_id: "7bc5576a-3f87-4cf5-a0c5-277da06fcacb",
        original_sender: "0203:testb.testbed.inera.se",
        final_recipient: "0203:testa.testbed.inera.se",
    }
}

fn spool() -> Spool {
    Spool::temporary()
}

fn send(xhe: &[u8]) -> As4Request {
    let p = pki();
    build_user_message(
        &params(),
        &Blob::from(xhe),
        &spool(),
        &p.sender.key,
        &p.sender.certificate,
        &receiver_certificate(),
        now(),
    )
    .unwrap()
}

/// The request's body in memory.
fn bytes(request: &As4Request) -> Vec<u8> {
    request.body.to_vec(u64::MAX).unwrap()
}

/// The request's body as the receiver spools it.
fn received(request: &As4Request) -> Blob {
    spool().copy_from(&mut request.body.reader(), u64::MAX).unwrap()
}

fn xhe_of(message: &brygga::as4::VerifiedUserMessage) -> Vec<u8> {
    message.xhe().to_vec(u64::MAX).unwrap()
}

/// Parses and opens `request` at the receiver, under `limits`.
fn receive(request: &As4Request, limits: &As4Limits) -> Result<brygga::as4::VerifiedUserMessage, As4Error> {
    let p = pki();
    let parsed = parse_inbound(&request.content_type, received(request), limits)?;
    verify_and_open(parsed, &trust(), &p.receiver.key, &p.receiver.certificate, now(), limits, &spool())
}

fn code(error: &As4Error) -> ErrorCode {
    peer_error(error).code
}

/// Replaces the first `from` in the body by `to` (same length keeps the
/// MIME framing intact).
fn tampered(request: &As4Request, from: &str, to: &str) -> As4Request {
    assert_eq!(from.len(), to.len());
    let mut body = bytes(request);
    let at = mime_find(&body, from.as_bytes()).unwrap_or_else(|| panic!("'{from}' not in the message"));
    body[at..at + to.len()].copy_from_slice(to.as_bytes());
    As4Request { body: body.into(), ..request.clone() }
}

fn mime_find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn envelope_text(request: &As4Request) -> String {
    let unpacked = mime::unpack(&request.content_type, received(request), &As4Limits::default()).unwrap();
    String::from_utf8(unpacked.envelope).unwrap()
}

/// `request` with its envelope replaced by `envelope` (re-packed).
fn with_envelope(request: &As4Request, envelope: &str) -> As4Request {
    let unpacked = mime::unpack(&request.content_type, received(request), &As4Limits::default()).unwrap();
    let a = &unpacked.attachments[0];
    let packed = mime::pack(
        envelope.as_bytes(),
        &[OutboundPart { content_id: &a.content_id, content_type: &a.content_type, content: &a.content }],
    )
    .unwrap();
    As4Request { content_type: packed.content_type, body: packed.body, ..request.clone() }
}

#[test]
fn user_message_round_trip_delivers_the_xhe() {
    let request = send(XHE);
    assert!(request.content_type.starts_with("multipart/related; boundary="));
    assert!(request.content_type.contains("type=\"application/soap+xml\""));
    assert!(request.message_id.ends_with("@brygga"));
    assert_eq!(mime_find(&bytes(&request), b"ExchangeHeaderEnvelope"), None, "the payload travels encrypted");

    let opened = receive(&request, &As4Limits::default()).unwrap();
    assert_eq!(xhe_of(&opened), XHE);
    assert_eq!(opened.message_id(), request.message_id);
    assert_eq!(opened.conversation_id(), "7bc5576a-3f87-4cf5-a0c5-277da06fcacb");
    assert_eq!(opened.action(), Some(Action::Message));
    assert_eq!(opened.original_sender(), "0203:testb.testbed.inera.se");
    assert_eq!(opened.final_recipient(), "0203:testa.testbed.inera.se");
    assert_eq!(opened.from_party(), "AP0001-SDK-QA");
    assert_eq!(opened.header().to_party, "AP0002-SDK-QA");
    assert_eq!(opened.sender_certificate().certificate(), &pki().sender.certificate);
    // Body, Messaging, Timestamp and the payload are signed.
    assert_eq!(opened.references().len(), 4);
    assert!(opened.references().iter().any(|r| r.uri == "cid:message"));
    assert_eq!(opened.references(), request.sent.references());
}

#[test]
fn the_wire_format_is_digg_s_profile() {
    let request = send(XHE);
    let envelope = envelope_text(&request);
    for expected in [
        "<eb:Service type=\"urn:fdc:digg.se:edelivery:process\">bdx:noprocess</eb:Service>",
        "<eb:PartyId type=\"urn:fdc:digg.se:edelivery:transportprofile:as4:partytype:ap\">AP0001-SDK-QA</eb:PartyId>",
        "<eb:Role>http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/initiator</eb:Role>",
        "<eb:Property name=\"originalSender\" type=\"iso6523-actorid-upis\">0203:testb.testbed.inera.se</eb:Property>",
        "<eb:PartInfo href=\"cid:message\">",
        "<eb:Property name=\"CompressionType\">application/gzip</eb:Property>",
        "http://www.w3.org/2009/xmlenc11#rsa-oaep",
        "http://www.w3.org/2009/xmlenc11#mgf1sha256",
        "http://www.w3.org/2009/xmlenc11#aes128-gcm",
        "oasis-wss-SwAProfile-1.1#Attachment-Content-Only",
        "oasis-wss-SwAProfile-1.1#Attachment-Content-Signature-Transform",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "<wsse:BinarySecurityToken",
        "<wsu:Timestamp",
    ] {
        assert!(envelope.contains(expected), "missing {expected}");
    }
    assert!(envelope.contains(Action::Message.value()));
    let unpacked = mime::unpack(&request.content_type, received(&request), &As4Limits::default()).unwrap();
    assert_eq!(unpacked.attachments[0].content_id, "message");
    assert_eq!(unpacked.attachments[0].content_type, "application/octet-stream");
}

#[test]
fn receipt_round_trip_matches_what_was_signed() {
    let p = pki();
    let request = send(XHE);
    let opened = receive(&request, &As4Limits::default()).unwrap();
    let receipt = build_receipt(&opened, &p.receiver.key, &p.receiver.certificate, now()).unwrap();
    assert_eq!(receipt.content_type, "application/soap+xml; charset=UTF-8");
    let text = String::from_utf8(receipt.body.clone()).unwrap();
    assert!(text.contains("ebbp:NonRepudiationInformation"));
    assert!(text.contains(&format!("<eb:RefToMessageId>{}</eb:RefToMessageId>", request.message_id)));

    let verified = parse_and_verify_receipt(
        &receipt.content_type,
        receipt.body.clone(),
        &request.sent,
        &trust(),
        now(),
        &As4Limits::default(),
    )
    .unwrap();
    assert_eq!(verified.ref_to_message_id, request.message_id);
    assert_eq!(verified.message_id, receipt.message_id);
    assert_eq!(verified.signer.certificate(), &p.receiver.certificate);

    // A genuine receipt for another message does not acknowledge this one.
    let other = send(XHE);
    let result = parse_and_verify_receipt(
        &receipt.content_type,
        receipt.body.clone(),
        &other.sent,
        &trust(),
        now(),
        &As4Limits::default(),
    );
    assert!(matches!(result, Err(As4Error::Receipt(ReceiptError::WrongReference { .. }))), "{result:?}");
}

#[test]
fn receipt_with_other_digests_is_refused() {
    let p = pki();
    // Same MessageId, different content: the receipt's digests are not ours.
    let first = send(XHE);
    let mut again = params();
    again.message_id = Some(first.message_id.clone());
    let second = build_user_message(
        &again,
        &Blob::from(&b"<XHE>other</XHE>"[..]),
        &spool(),
        &p.sender.key,
        &p.sender.certificate,
        &receiver_certificate(),
        now(),
    )
    .unwrap();
    let opened = receive(&second, &As4Limits::default()).unwrap();
    let receipt = build_receipt(&opened, &p.receiver.key, &p.receiver.certificate, now()).unwrap();
    let result = parse_and_verify_receipt(
        &receipt.content_type,
        receipt.body,
        &first.sent,
        &trust(),
        now(),
        &As4Limits::default(),
    );
    assert!(matches!(result, Err(As4Error::Receipt(ReceiptError::NrrMismatch(_)))), "{result:?}");
}

#[test]
fn receipt_from_another_access_point_is_refused() {
    let p = pki();
    let request = send(XHE);
    let opened = receive(&request, &As4Limits::default()).unwrap();
    let receipt = build_receipt(&opened, &p.other.key, &p.other.certificate, now()).unwrap();
    let result = parse_and_verify_receipt(
        &receipt.content_type,
        receipt.body,
        &request.sent,
        &trust(),
        now(),
        &As4Limits::default(),
    );
    assert!(matches!(result, Err(As4Error::Receipt(ReceiptError::WrongSigner { .. }))), "{result:?}");
}

#[test]
fn tampered_receipt_is_refused() {
    let p = pki();
    let request = send(XHE);
    let opened = receive(&request, &As4Limits::default()).unwrap();
    let receipt = build_receipt(&opened, &p.receiver.key, &p.receiver.certificate, now()).unwrap();
    let text = String::from_utf8(receipt.body.clone()).unwrap();
    let forged = text.replacen("<eb:MessageId>", "<eb:MessageId>x", 1);
    let result = parse_and_verify_receipt(
        &receipt.content_type,
        forged.into_bytes(),
        &request.sent,
        &trust(),
        now(),
        &As4Limits::default(),
    );
    let error = result.unwrap_err();
    assert!(matches!(error, As4Error::Security(SecurityError::Signature(_))), "{error:?}");
}

#[test]
fn tampered_messaging_header_fails_authentication() {
    let request = tampered(&send(XHE), "7bc5576a-3f87", "7bc5576a-3f88");
    let error = receive(&request, &As4Limits::default()).unwrap_err();
    assert!(matches!(error, As4Error::Security(SecurityError::Signature(_))), "{error:?}");
    assert_eq!(peer_error(&error), EbmsError::new(ErrorCode::FailedAuthentication), "no detail for security failures");
}

#[test]
fn tampered_body_fails_authentication() {
    let request = send(XHE);
    let envelope = envelope_text(&request).replacen("<env:Body ", "<env:Body xml:lang=\"sv\" ", 1);
    let error = receive(&with_envelope(&request, &envelope), &As4Limits::default()).unwrap_err();
    assert!(matches!(error, As4Error::Security(SecurityError::Signature(_))), "{error:?}");
    assert_eq!(code(&error), ErrorCode::FailedAuthentication);
}

#[test]
fn tampered_timestamp_fails_authentication() {
    let request = send(XHE);
    let envelope = envelope_text(&request);
    let at = envelope.find("<wsu:Expires>").unwrap() + "<wsu:Expires>".len();
    let mut forged = envelope.clone();
    forged.replace_range(at..at + 4, "2999");
    let error = receive(&with_envelope(&request, &forged), &As4Limits::default()).unwrap_err();
    assert!(matches!(error, As4Error::Security(SecurityError::Signature(_))), "{error:?}");
    assert_eq!(code(&error), ErrorCode::FailedAuthentication);
}

#[test]
fn signature_wrapping_is_refused() {
    let request = send(XHE);
    let envelope = envelope_text(&request);
    // A second element claiming the signed Messaging's id: never resolved
    // to "the first one".
    let id_start = envelope.find("wsu:Id=\"_messaging-").unwrap() + "wsu:Id=\"".len();
    let id = &envelope[id_start..id_start + envelope[id_start..].find('"').unwrap()];
    let forged = envelope.replacen("<env:Body ", &format!("<env:Body xml:id=\"{id}\" "), 1);
    let error = receive(&with_envelope(&request, &forged), &As4Limits::default()).unwrap_err();
    assert!(matches!(error, As4Error::Security(SecurityError::Signature(_))), "{error:?}");
    assert_eq!(code(&error), ErrorCode::FailedAuthentication);

    // A signed Messaging moved into the body, a forged one in its place: the
    // body must be empty, and is checked before any signature.
    let messaging_start = envelope.find("<eb:Messaging").unwrap();
    let messaging_end = envelope.find("</eb:Messaging>").unwrap() + "</eb:Messaging>".len();
    let signed = &envelope[messaging_start..messaging_end];
    let forged = envelope
        .replacen(signed, &signed.replace("0203:testa.testbed.inera.se", "0203:evil.example"), 1)
        .replacen("></env:Body>", &format!(">{signed}</env:Body>"), 1);
    let error = receive(&with_envelope(&request, &forged), &As4Limits::default()).unwrap_err();
    assert_eq!(code(&error), ErrorCode::ProcessingModeMismatch, "{error:?}");
}

#[test]
fn expired_timestamp_fails_authentication() {
    let p = pki();
    let request = send(XHE);
    let parsed = parse_inbound(&request.content_type, received(&request), &As4Limits::default()).unwrap();
    let later = now() + Duration::hours(1);
    let error = verify_and_open(
        parsed,
        &trust(),
        &p.receiver.key,
        &p.receiver.certificate,
        later,
        &As4Limits::default(),
        &spool(),
    )
    .unwrap_err();
    assert!(matches!(error, As4Error::Security(SecurityError::Timestamp(_))), "{error:?}");
    assert_eq!(code(&error), ErrorCode::FailedAuthentication);
}

#[test]
fn tampered_attachment_fails_decryption() {
    let request = send(XHE);
    let mut body = bytes(&request);
    // The attachment is the last part; the bytes before its closing
    // delimiter are the GCM tag, those at its start the IV.
    let close = body.windows(17).rposition(|w| w == b"\r\n--MIMEBoundary_").unwrap();
    body[close - 1] ^= 0x01;
    let copy = As4Request { body: body.into(), ..request };
    let error = receive(&copy, &As4Limits::default()).unwrap_err();
    assert!(matches!(error, As4Error::Security(SecurityError::Decryption)), "{error:?}");
    assert_eq!(peer_error(&error), EbmsError::new(ErrorCode::FailedDecryption));
}

#[test]
fn message_for_another_certificate_fails_decryption() {
    let p = pki();
    let request = send(XHE);
    let parsed = parse_inbound(&request.content_type, received(&request), &As4Limits::default()).unwrap();
    let error =
        verify_and_open(parsed, &trust(), &p.other.key, &p.other.certificate, now(), &As4Limits::default(), &spool())
            .unwrap_err();
    assert!(matches!(error, As4Error::Security(SecurityError::Decryption)), "{error:?}");
    assert_eq!(code(&error), ErrorCode::FailedDecryption);
}

#[test]
fn sender_outside_the_access_point_ca_fails_authentication() {
    let p = pki();
    let request = build_user_message(
        &params(),
        &Blob::from(XHE),
        &spool(),
        &p.stranger.key,
        &p.stranger.certificate,
        &receiver_certificate(),
        now(),
    )
    .unwrap();
    let error = receive(&request, &As4Limits::default()).unwrap_err();
    assert!(matches!(error, As4Error::Security(SecurityError::Signature(_))), "{error:?}");
    assert_eq!(code(&error), ErrorCode::FailedAuthentication);
}

#[test]
fn gzip_bomb_is_refused() {
    let bomb = vec![b' '; 4 * 1024 * 1024];
    let request = send(&bomb);
    assert!(request.body.len() < 64 * 1024, "compresses well: {}", request.body.len());
    let limits = As4Limits { max_payload_bytes: 1024 * 1024, ..As4Limits::default() };
    let error = receive(&request, &limits).unwrap_err();
    assert_eq!(error, As4Error::Payload(PayloadError::TooLarge { limit: 1024 * 1024 }));
    assert_eq!(code(&error), ErrorCode::DecompressionFailure);
    // The same message within the cap opens.
    assert_eq!(receive(&request, &As4Limits::default()).unwrap().xhe().len(), bomb.len() as u64);
}

#[test]
fn missing_binary_security_token_is_a_policy_failure() {
    let request = send(XHE);
    let envelope = envelope_text(&request);
    let start = envelope.find("<wsse:BinarySecurityToken").unwrap();
    let end = envelope.find("</wsse:BinarySecurityToken>").unwrap() + "</wsse:BinarySecurityToken>".len();
    let mut stripped = envelope.clone();
    stripped.replace_range(start..end, "");
    let error = receive(&with_envelope(&request, &stripped), &As4Limits::default()).unwrap_err();
    assert!(matches!(error, As4Error::Security(SecurityError::Policy(_))), "{error:?}");
    assert_eq!(peer_error(&error), EbmsError::new(ErrorCode::PolicyNoncompliance));
}

#[test]
fn unknown_action_is_not_serviced() {
    let request = send(XHE);
    let action = Action::Message.value();
    let unknown = action.replace("MessageWithAttachments:3", "MessageWithAttachments:9");
    let request = with_envelope(&request, &envelope_text(&request).replacen(action, &unknown, 1));
    let parsed = parse_inbound(&request.content_type, received(&request), &As4Limits::default()).unwrap();
    let error = check_serviced(parsed.unverified_header(), |_, _| true).unwrap_err();
    assert!(matches!(error, As4Error::Service(ServiceError::UnknownAction(_))), "{error:?}");
    assert_eq!(peer_error(&error), EbmsError::with_detail(ErrorCode::Other, NOT_SERVICED));
}

#[test]
fn participant_not_served_gets_a_signed_not_serviced_error() {
    let p = pki();
    let request = send(XHE);
    let parsed = parse_inbound(&request.content_type, received(&request), &As4Limits::default()).unwrap();
    let served = |recipient: &str, action: Action| recipient == "0203:someone.else" && action == Action::Message;
    let error = check_serviced(parsed.unverified_header(), served).unwrap_err();
    assert!(matches!(error, As4Error::Service(ServiceError::Participant { .. })), "{error:?}");
    assert_eq!(
        check_serviced(parsed.unverified_header(), |r, _| r == "0203:testa.testbed.inera.se").unwrap(),
        Action::Message
    );

    // The receiver answers with a signed error; the sender reads it.
    let answer =
        build_error(Some(parsed.message_id()), &peer_error(&error), &p.receiver.key, &p.receiver.certificate, now())
            .unwrap();
    let result = parse_and_verify_receipt(
        &answer.content_type,
        answer.body.clone(),
        &request.sent,
        &trust(),
        now(),
        &As4Limits::default(),
    );
    let Err(As4Error::Receipt(ReceiptError::PeerErrors(errors))) = result else { panic!("{result:?}") };
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, "EBMS:0004");
    assert_eq!(errors[0].severity, "failure");
    assert_eq!(errors[0].short_description.as_deref(), Some("Other"));
    assert_eq!(errors[0].detail.as_deref(), Some(NOT_SERVICED));
    assert_eq!(errors[0].ref_to_message_in_error.as_deref(), Some(request.message_id.as_str()));
    assert_eq!(unverified_errors(&answer.content_type, answer.body, &As4Limits::default()), errors);
}

#[test]
fn message_over_the_size_cap_is_refused_before_parsing() {
    let limits = As4Limits { max_message_bytes: 1000, ..As4Limits::default() };
    // Not even MIME: the size is checked first.
    let error = parse_inbound("garbage", Blob::from(vec![0xff; 1001]), &limits).unwrap_err();
    assert_eq!(error, As4Error::Packaging(PackagingError::TooLarge { size: 1001, limit: 1000 }));
    assert_eq!(code(&error), ErrorCode::Other);
    let request = send(XHE);
    assert!(matches!(
        parse_inbound(&request.content_type, received(&request), &limits),
        Err(As4Error::Packaging(PackagingError::TooLarge { .. }))
    ));
}

/// A user message built by hand, like `build_user_message` but with
/// `payload` signed and encrypted as it is, without compressing it.
fn hand_built(payload: Vec<u8>) -> As4Request {
    let p = pki();
    let ids = wss::Ids::fresh();
    let header = UserMessageHeader {
        message_id: ebms::new_message_id(),
        timestamp: now(),
        from_party: "AP0001-SDK-QA".into(),
        to_party: "AP0002-SDK-QA".into(),
        service: pmode::SERVICE.into(),
        service_type: Some(pmode::SERVICE_TYPE.into()),
        action: Action::Message.value().into(),
        conversation_id: "c".into(),
        original_sender: "0203:a".into(),
        final_recipient: "0203:b".into(),
        payload_content_id: pmode::PAYLOAD_CONTENT_ID.into(),
        payload_mime_type: pmode::PAYLOAD_MIME_TYPE.into(),
    };
    let mut messaging = String::new();
    ebms::write_user_message(&mut messaging, &ids.messaging, &header);
    let mut security = String::new();
    wss::write_timestamp(&mut security, &ids.timestamp, now());
    wss::write_token(&mut security, &ids.token, &p.sender.certificate);
    let sealing =
        wss::prepare_encryption(&mut security, &ids, "message", pmode::COMPRESSION_TYPE, &p.receiver.certificate)
            .unwrap();
    let mut doc = parse_str(&soap::envelope(&messaging, &security, &ids.body)).unwrap();
    let security_node = soap::recognise(&doc).unwrap().security.unwrap();
    let exclusive = || vec![Transform::Canonicalize(C14nMethod::EXCLUSIVE)];
    let references = [
        ReferenceSpec { uri: format!("#{}", ids.body), transforms: exclusive() },
        ReferenceSpec { uri: format!("#{}", ids.messaging), transforms: exclusive() },
        ReferenceSpec { uri: format!("#{}", ids.timestamp), transforms: exclusive() },
        ReferenceSpec { uri: "cid:message".into(), transforms: vec![Transform::AttachmentContent] },
    ];
    let options = SigningOptions {
        c14n: C14nMethod::EXCLUSIVE,
        algorithm: SignatureAlgorithm::RsaSha256,
        digest: DigestAlgorithm::Sha256,
    };
    let index = doc.children(security_node).len();
    let mut attachments = Attachments::new().with("message", &payload);
    sign_with(
        &mut doc,
        security_node,
        index,
        &references,
        &mut attachments,
        KeyInfoSpec::TokenReference(&ids.token),
        &p.sender.key,
        &options,
    )
    .unwrap();
    let envelope = serialize(&doc, NodeId::DOCUMENT);
    let ciphertext = Blob::from(sealing.encrypt(payload).unwrap());
    let packed = mime::pack(
        &envelope,
        &[OutboundPart { content_id: "message", content_type: "application/octet-stream", content: &ciphertext }],
    )
    .unwrap();
    let sent = send(XHE).sent;
    As4Request { content_type: packed.content_type, body: packed.body, message_id: header.message_id, sent }
}

#[test]
fn bad_compression_is_a_decompression_failure() {
    // The hand-built path itself is sound: a gzip payload opens.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, XHE).unwrap();
    let good = hand_built(gz.finish().unwrap());
    assert_eq!(xhe_of(&receive(&good, &As4Limits::default()).unwrap()), XHE);

    let request = hand_built(b"<XHE>not compressed</XHE>".to_vec());
    let error = receive(&request, &As4Limits::default()).unwrap_err();
    assert!(matches!(error, As4Error::Payload(PayloadError::Decompression(_))), "{error:?}");
    assert_eq!(peer_error(&error), EbmsError::new(ErrorCode::DecompressionFailure));
}

#[test]
fn header_and_packaging_errors_tell_the_peer_what_is_wrong() {
    let request = send(XHE);
    // A second payload part is not in DIGG's P-mode.
    let envelope = envelope_text(&request).replacen("</eb:PartInfo>", "</eb:PartInfo><eb:PartInfo href=\"cid:attachment\"><eb:PartProperties><eb:Property name=\"MimeType\">text/xml</eb:Property><eb:Property name=\"CompressionType\">application/gzip</eb:Property></eb:PartProperties></eb:PartInfo>", 1);
    let error = receive(&with_envelope(&request, &envelope), &As4Limits::default()).unwrap_err();
    assert!(matches!(error, As4Error::Header(HeaderError::PModeMismatch(_))), "{error:?}");
    let told = peer_error(&error);
    assert_eq!(told.code, ErrorCode::ProcessingModeMismatch);
    assert!(told.detail.is_some());

    // SOAP 1.1 is refused at the content type.
    let error = parse_inbound("text/xml; charset=UTF-8", Blob::from(&b"<a/>"[..]), &As4Limits::default()).unwrap_err();
    assert_eq!(code(&error), ErrorCode::MimeInconsistency);

    // A header block we do not know is refused, not ignored.
    let envelope = envelope_text(&request).replacen("<env:Header>", "<env:Header><x:Extra xmlns:x=\"urn:x\"/>", 1);
    let error = receive(&with_envelope(&request, &envelope), &As4Limits::default()).unwrap_err();
    assert_eq!(code(&error), ErrorCode::InvalidHeader);

    // A DOCTYPE never reaches the ebMS layer.
    let envelope = format!("<!DOCTYPE x [<!ENTITY a 'b'>]>{}", envelope_text(&request));
    let error = receive(&with_envelope(&request, &envelope), &As4Limits::default()).unwrap_err();
    assert!(matches!(error, As4Error::Header(HeaderError::Xml(_))), "{error:?}");
    assert_eq!(code(&error), ErrorCode::InvalidHeader);
}

#[test]
fn a_weaker_algorithm_is_a_policy_failure() {
    let request = send(XHE);
    let envelope = envelope_text(&request).replacen(
        "http://www.w3.org/2009/xmlenc11#aes128-gcm",
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
        1,
    );
    let error = receive(&with_envelope(&request, &envelope), &As4Limits::default()).unwrap_err();
    assert!(matches!(error, As4Error::Security(SecurityError::Policy(_))), "{error:?}");
    assert_eq!(code(&error), ErrorCode::PolicyNoncompliance);
}

#[test]
fn error_signals_say_nothing_about_security_details() {
    let p = pki();
    let request = send(XHE);
    let told = peer_error(&As4Error::Security(SecurityError::Decryption));
    let answer =
        build_error(Some(&request.message_id), &told, &p.receiver.key, &p.receiver.certificate, now()).unwrap();
    let text = String::from_utf8(answer.body.clone()).unwrap();
    assert!(text.contains("errorCode=\"EBMS:0102\""));
    assert!(text.contains("origin=\"security\""));
    assert!(!text.contains("ErrorDetail"));
    let result = parse_and_verify_receipt(
        &answer.content_type,
        answer.body,
        &request.sent,
        &trust(),
        now(),
        &As4Limits::default(),
    );
    let Err(As4Error::Receipt(ReceiptError::PeerErrors(errors))) = result else { panic!("{result:?}") };
    assert_eq!(errors[0].code, "EBMS:0102");
    assert_eq!(ErrorCode::from_code(&errors[0].code), Some(ErrorCode::FailedDecryption));
}

/// A 40 MB XHE through file-backed blobs only (spool threshold 0): built,
/// spooled as the receiver does, parsed and opened; what comes out is the
/// XHE, byte for byte, and the spool is empty afterwards.
#[test]
fn a_large_xhe_travels_through_the_spool() {
    use std::io::Write as _;
    const SIZE: usize = 40 * 1024 * 1024;
    let p = pki();
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::new(dir.path().join("spool")).unwrap().with_memory_threshold(0);
    let files = || std::fs::read_dir(spool.dir()).unwrap().count();

    // Base64-like text, as an XHE mostly is: compresses to about 3/4.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut writer = spool.writer(u64::MAX);
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let head = b"<XHE xmlns=\"http://docs.oasis-open.org/bdxr/ns/XHE/1/ExchangeHeaderEnvelope\"><Payload>";
    let tail = b"</Payload></XHE>";
    writer.write_all(head).unwrap();
    digest.update(head);
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut line = [0u8; 4096];
    for _ in 0..(SIZE - head.len() - tail.len()) / line.len() {
        for b in line.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = ALPHABET[(state >> 58) as usize];
        }
        writer.write_all(&line).unwrap();
        digest.update(&line);
    }
    writer.write_all(tail).unwrap();
    digest.update(tail);
    let xhe = writer.finish().unwrap();
    let expected = digest.finish();
    assert!(xhe.path().is_some() && xhe.len() > 39 * 1024 * 1024);

    let request = build_user_message(
        &params(),
        &xhe,
        &spool,
        &p.sender.key,
        &p.sender.certificate,
        &receiver_certificate(),
        now(),
    )
    .unwrap();
    drop(xhe);
    assert!(request.body.len() > 25 * 1024 * 1024, "{}", request.body.len());
    assert!(request.body.pieces().iter().any(|piece| piece.path().is_some()), "the payload is not copied into memory");

    let body = spool.copy_from(&mut request.body.reader(), u64::MAX).unwrap();
    let parsed = parse_inbound(&request.content_type, body, &As4Limits::default()).unwrap();
    let opened = verify_and_open(
        parsed,
        &trust(),
        &p.receiver.key,
        &p.receiver.certificate,
        now(),
        &As4Limits::default(),
        &spool,
    )
    .unwrap();
    assert_eq!(opened.references(), request.sent.references());
    let out = opened.into_xhe();
    assert!(out.path().is_some(), "the XHE comes out in a spool file");
    let mut actual = ring::digest::Context::new(&ring::digest::SHA256);
    out.for_each_chunk(|chunk| actual.update(chunk)).unwrap();
    assert_eq!(out.len() as usize, head.len() + tail.len() + (SIZE - head.len() - tail.len()) / 4096 * 4096);
    assert_eq!(actual.finish().as_ref(), expected.as_ref());
    drop((out, request));
    assert_eq!(files(), 0, "every spool file is gone");
}
