//! The exchanges: build a user message, read and open one, answer it with
//! a receipt or an error, and check the receipt that answers ours.

use std::io::{self, BufRead, Read, Write};

use rustls_pki_types::UnixTime;
use time::OffsetDateTime;

use crate::limits::XmlLimits;
use crate::pki::{Certificate, PrivateKey, TrustPolicy, TrustedCertificate};
use crate::spool::{Blob, Recorded, Spool, TooLarge, IO_BUFFER};
use crate::xml::{parse, parse_str, serialize, C14nMethod, Document, NodeId};
use crate::xmlsec::algorithm::{Transform, DSIG_NS};
use crate::xmlsec::sign::{sign_with, Attachments, KeyInfoSpec, ReferenceSpec, SigningOptions};
use crate::xmlsec::verify::verify_wss_signature;
use crate::xmlsec::VerifiedSignature;

use super::ebms::{self, new_message_id, Messaging, NrrReference, ReceivedError, SignalContent, UserMessageHeader};
use super::error::{
    As4Error, EbmsError, HeaderError, LocalError, PackagingError, PayloadError, ReceiptError, SecurityError,
    ServiceError,
};
use super::mime::{self, OutboundPart, PackedBody};
use super::pmode::{Action, COMPRESSION_TYPE, PAYLOAD_CONTENT_ID, PAYLOAD_MIME_TYPE, SERVICE, SERVICE_TYPE};
use super::soap::{self, Envelope, SOAP12_NS};
use super::wss::{self, Decryptor, Encryption, Ids, SecurityHeader};
use super::As4Limits;

/// What the sender decides about a user message; the rest is DIGG's P-mode
/// or comes from the access points' certificates.
#[derive(Debug, Clone)]
pub struct UserMessageParams<'a> {
    /// `None` for a new message; the earlier id when sending it again, so
    /// the receiver's duplicate detection recognises it.
    pub message_id: Option<String>,
    pub action: Action,
    /// The XHE's identifier (C3.2.1 §2.7.a).
    pub conversation_id: &'a str,
    /// C1, `0203:...`.
    pub original_sender: &'a str,
    /// C4, `0203:...`.
    pub final_recipient: &'a str,
}

/// A user message ready to POST, and what is needed to check its receipt.
#[derive(Debug, Clone)]
pub struct As4Request {
    /// The HTTP `Content-Type`.
    pub content_type: String,
    /// Stream it ([`PackedBody::reader`]); its length is `Content-Length`.
    pub body: PackedBody,
    pub message_id: String,
    pub sent: SentMessage,
}

/// What we signed, kept to check the receipt's non-repudiation information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    message_id: String,
    receiver_party: String,
    references: Vec<NrrReference>,
}

impl SentMessage {
    pub fn message_id(&self) -> &str {
        &self.message_id
    }
    /// The receiving access point's party id (its certificate's common name).
    pub fn receiver_party(&self) -> &str {
        &self.receiver_party
    }
    /// The `ds:Reference`s of our signature.
    pub fn references(&self) -> &[NrrReference] {
        &self.references
    }
}

/// A signal (receipt or error) ready to return as the HTTP response.
#[derive(Debug, Clone)]
pub struct As4Response {
    pub content_type: String,
    pub body: Vec<u8>,
    pub message_id: String,
}

/// A user message read and recognised, not yet verified. Its header is a
/// claim, and its payload cannot be reached: only [`verify_and_open`]
/// decrypts, and only into a [`VerifiedUserMessage`].
pub struct ParsedAs4 {
    doc: Document,
    envelope: Envelope,
    security: SecurityHeader,
    encryption: Encryption,
    header: UserMessageHeader,
    ciphertext: Blob,
}

impl ParsedAs4 {
    /// Who claims to send what to whom: for routing decisions (C3.2.1 §2.5,
    /// see [`check_serviced`]) and for `RefToMessageId` in an error. Not
    /// verified.
    pub fn unverified_header(&self) -> &UserMessageHeader {
        &self.header
    }

    /// The claimed MessageId: take it before [`verify_and_open`] consumes
    /// the message, for the error's `RefToMessageId`.
    pub fn message_id(&self) -> &str {
        &self.header.message_id
    }
}

/// Without the payload, which may be large and is not for logs.
impl std::fmt::Debug for ParsedAs4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedAs4")
            .field("header", &self.header)
            .field("ciphertext_bytes", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

/// A user message whose signature verified, from a trusted access point,
/// decrypted and decompressed.
pub struct VerifiedUserMessage {
    header: UserMessageHeader,
    sender: TrustedCertificate,
    references: Vec<NrrReference>,
    xhe: Blob,
}

impl VerifiedUserMessage {
    pub fn header(&self) -> &UserMessageHeader {
        &self.header
    }
    pub fn message_id(&self) -> &str {
        &self.header.message_id
    }
    pub fn conversation_id(&self) -> &str {
        &self.header.conversation_id
    }
    /// DIGG's action; `None` only if the caller skipped [`check_serviced`].
    pub fn action(&self) -> Option<Action> {
        Action::from_value(&self.header.action)
    }
    pub fn original_sender(&self) -> &str {
        &self.header.original_sender
    }
    pub fn final_recipient(&self) -> &str {
        &self.header.final_recipient
    }
    /// The sending access point: its party id is its certificate's name.
    pub fn from_party(&self) -> &str {
        &self.header.from_party
    }
    pub fn sender_certificate(&self) -> &TrustedCertificate {
        &self.sender
    }
    /// The signature's references, as the receipt lists them.
    pub fn references(&self) -> &[NrrReference] {
        &self.references
    }
    /// The XHE, in memory or in a spool file (large messages).
    pub fn xhe(&self) -> &Blob {
        &self.xhe
    }
    pub fn into_xhe(self) -> Blob {
        self.xhe
    }
}

/// Without the payload.
impl std::fmt::Debug for VerifiedUserMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedUserMessage")
            .field("header", &self.header)
            .field("sender", &self.sender.certificate())
            .field("xhe_bytes", &self.xhe.len())
            .finish_non_exhaustive()
    }
}

/// A receipt that verified and acknowledges our message.
#[derive(Debug, Clone)]
pub struct VerifiedReceipt {
    pub message_id: String,
    pub ref_to_message_id: String,
    pub timestamp: OffsetDateTime,
    pub signer: TrustedCertificate,
}

fn structure(what: impl Into<String>) -> As4Error {
    HeaderError::Structure(what.into()).into()
}

fn policy(what: impl Into<String>) -> As4Error {
    SecurityError::Policy(what.into()).into()
}

fn unix(now: OffsetDateTime) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(now.unix_timestamp().max(0) as u64))
}

fn common_name(certificate: &Certificate, whose: &str) -> Result<String, LocalError> {
    certificate
        .common_name()
        .filter(|cn| !cn.is_empty())
        .ok_or_else(|| LocalError::Key(format!("the {whose} certificate has no common name to use as party id")))
}

/// Signs Body, Messaging, Timestamp (and the attachments given) with the
/// profile's algorithms; returns the signature node.
fn sign_envelope(
    doc: &mut Document,
    ids: &Ids,
    attachment: Option<(&str, &Blob)>,
    key: &PrivateKey,
) -> Result<NodeId, As4Error> {
    let envelope = soap::recognise(doc).map_err(|e| LocalError::Build(e.to_string()))?;
    let security = envelope.security.ok_or_else(|| LocalError::Build("no security header".into()))?;
    let exclusive = || vec![Transform::Canonicalize(C14nMethod::EXCLUSIVE)];
    let mut references = vec![
        ReferenceSpec { uri: format!("#{}", ids.body), transforms: exclusive() },
        ReferenceSpec { uri: format!("#{}", ids.messaging), transforms: exclusive() },
        ReferenceSpec { uri: format!("#{}", ids.timestamp), transforms: exclusive() },
    ];
    let mut attachments = Attachments::new();
    if let Some((content_id, content)) = attachment {
        references
            .push(ReferenceSpec { uri: format!("cid:{content_id}"), transforms: vec![Transform::AttachmentContent] });
        attachments = attachments.with_blob(content_id, content);
    }
    let options = SigningOptions {
        c14n: C14nMethod::EXCLUSIVE,
        algorithm: wss::SIGNATURE_ALGORITHM,
        digest: wss::DIGEST_ALGORITHM,
    };
    let index = doc.children(security).len();
    let key_info = KeyInfoSpec::TokenReference(&ids.token);
    sign_with(doc, security, index, &references, &mut attachments, key_info, key, &options)
        .map_err(|e| LocalError::Key(e.to_string()).into())
}

/// The `ds:Reference`s of the signature at `signature`.
fn signature_references(doc: &Document, signature: NodeId) -> Result<Vec<NrrReference>, HeaderError> {
    let signed_info = doc
        .child_named(signature, DSIG_NS, "SignedInfo")
        .ok_or_else(|| HeaderError::Structure("no SignedInfo".into()))?;
    doc.children_named(signed_info, DSIG_NS, "Reference").map(|r| ebms::read_nrr_reference(doc, r)).collect()
}

fn storage(error: io::Error) -> LocalError {
    LocalError::storage(error)
}

/// Level 1: an XHE is mostly base64 of encrypted or compressed content, on
/// which higher levels cost four times the time and save next to nothing.
/// Streams from `data` into a blob of `spool`.
fn gzip(data: &Blob, spool: &Spool) -> Result<Blob, LocalError> {
    let mut encoder = flate2::write::GzEncoder::new(spool.writer(u64::MAX), flate2::Compression::fast());
    let mut reader = data.reader().map_err(storage)?;
    loop {
        let chunk = reader.fill_buf().map_err(storage)?;
        if chunk.is_empty() {
            break;
        }
        encoder.write_all(chunk).map_err(storage)?;
        let n = chunk.len();
        reader.consume(n);
    }
    encoder.finish().map_err(storage)?.finish().map_err(storage)
}

/// Decompresses one gzip member of at most `limit` bytes (AS4 §3.1) into a
/// blob of `spool`, in chunks; a bomb stops at the limit, and trailing data
/// is refused. Bad gzip is a [`PayloadError`]; failing to read or write the
/// spool is ours.
fn gunzip(compressed: &Blob, spool: &Spool, limit: usize) -> Result<Blob, As4Error> {
    if compressed.is_empty() {
        return Err(PayloadError::Decompression("empty payload".into()).into());
    }
    let mut decoder = flate2::bufread::GzDecoder::new(Recorded::new(compressed.reader().map_err(storage)?));
    let mut out = spool.writer(limit as u64);
    let mut buf = vec![0u8; IO_BUFFER];
    loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(match decoder.get_ref().error() {
                    Some(ours) => LocalError::Storage(ours.to_owned()).into(),
                    None => PayloadError::Decompression(e.to_string()).into(),
                })
            }
        };
        if let Err(e) = out.write_all(&buf[..n]) {
            return Err(if TooLarge::is(&e) { PayloadError::TooLarge { limit }.into() } else { storage(e).into() });
        }
    }
    let mut rest = decoder.into_inner();
    if !rest.fill_buf().map_err(storage)?.is_empty() {
        return Err(PayloadError::Decompression("data after the gzip member".into()).into());
    }
    Ok(out.finish().map_err(storage)?)
}

/// Builds a signed, encrypted user message carrying `xhe` from our access
/// point (`sender_key`, `sender_certificate`) to the one holding
/// `receiver_certificate`: the certificate SMP publishes for the endpoint,
/// checked against the access point CA and its CRL (C3.2.1 §2.10.a, b),
/// which is why it must be a [`TrustedCertificate`]. Order: compress, sign,
/// encrypt (see [`super::wss`]). Each step streams from one blob into the
/// next in `spool`; the request's body refers to the encrypted blob.
#[allow(clippy::too_many_arguments)]
pub fn build_user_message(
    params: &UserMessageParams<'_>,
    xhe: &Blob,
    spool: &Spool,
    sender_key: &PrivateKey,
    sender_certificate: &Certificate,
    receiver_certificate: &TrustedCertificate,
    now: OffsetDateTime,
) -> Result<As4Request, As4Error> {
    let receiver_certificate = receiver_certificate.certificate();
    if !sender_key.matches(sender_certificate) {
        return Err(LocalError::Key("the signing key does not belong to the sender certificate".into()).into());
    }
    let header = UserMessageHeader {
        message_id: params.message_id.clone().unwrap_or_else(new_message_id),
        timestamp: now,
        from_party: common_name(sender_certificate, "sender")?,
        to_party: common_name(receiver_certificate, "receiver")?,
        service: SERVICE.to_owned(),
        service_type: Some(SERVICE_TYPE.to_owned()),
        action: params.action.value().to_owned(),
        conversation_id: params.conversation_id.to_owned(),
        original_sender: params.original_sender.to_owned(),
        final_recipient: params.final_recipient.to_owned(),
        payload_content_id: PAYLOAD_CONTENT_ID.to_owned(),
        payload_mime_type: PAYLOAD_MIME_TYPE.to_owned(),
    };
    let compressed = gzip(xhe, spool)?;

    let ids = Ids::fresh();
    let mut messaging = String::new();
    ebms::write_user_message(&mut messaging, &ids.messaging, &header);
    let mut security = String::new();
    wss::write_timestamp(&mut security, &ids.timestamp, now);
    wss::write_token(&mut security, &ids.token, sender_certificate);
    let sealing =
        wss::prepare_encryption(&mut security, &ids, PAYLOAD_CONTENT_ID, COMPRESSION_TYPE, receiver_certificate)?;
    // Parsing our own markup also refuses values XML cannot carry.
    let mut doc = parse_str(&soap::envelope(&messaging, &security, &ids.body))
        .map_err(|e| LocalError::Build(format!("header values: {e}")))?;

    let signature = sign_envelope(&mut doc, &ids, Some((PAYLOAD_CONTENT_ID, &compressed)), sender_key)?;
    let references = signature_references(&doc, signature).map_err(|e| LocalError::Build(e.to_string()))?;
    let envelope = serialize(&doc, NodeId::DOCUMENT);
    drop(doc);
    let ciphertext = sealing.encrypt_blob(&compressed, spool)?;
    drop(compressed);
    let packed = mime::pack(
        &envelope,
        &[OutboundPart {
            content_id: PAYLOAD_CONTENT_ID,
            content_type: "application/octet-stream",
            content: &ciphertext,
        }],
    )?;
    Ok(As4Request {
        content_type: packed.content_type,
        body: packed.body,
        message_id: header.message_id.clone(),
        sent: SentMessage { message_id: header.message_id, receiver_party: header.to_party, references },
    })
}

fn parse_envelope(bytes: &[u8], limits: &As4Limits) -> Result<(Document, Envelope), As4Error> {
    let xml_limits = XmlLimits::default().with_max_document_bytes(limits.max_envelope_bytes);
    let doc = parse(bytes, &xml_limits).map_err(HeaderError::Xml)?;
    let envelope = soap::recognise(&doc)?;
    Ok((doc, envelope))
}

/// Reads a received user message completely, under `limits`, without any
/// cryptography: MIME, SOAP, the ebMS header against DIGG's P-mode, the
/// security header's structure and algorithms. `body` is read in chunks;
/// the payload stays where it is (a view of `body`) until
/// [`verify_and_open`].
pub fn parse_inbound(content_type: &str, body: Blob, limits: &As4Limits) -> Result<ParsedAs4, As4Error> {
    let unpacked = mime::unpack(content_type, body, limits)?;
    let (doc, envelope) = parse_envelope(&unpacked.envelope, limits)?;
    let header = match ebms::read_messaging(&doc, envelope.messaging)? {
        Messaging::User(h) => h,
        Messaging::Signal(_) => return Err(structure("a signal where a user message is expected")),
    };
    if header.payload_content_id != PAYLOAD_CONTENT_ID {
        return Err(HeaderError::PModeMismatch(format!("the payload part is cid:{PAYLOAD_CONTENT_ID}")).into());
    }
    if !soap::body_is_empty(&doc, envelope.body) {
        return Err(HeaderError::PModeMismatch("the payload travels as an attachment; the Body is empty".into()).into());
    }
    let security = wss::recognise(&doc, envelope.security)?;
    let encryption = security.encryption.clone().ok_or_else(|| policy("the payload is not encrypted"))?;
    if encryption.content_id != header.payload_content_id {
        return Err(policy("the encrypted attachment is not the payload"));
    }
    let mut attachments = unpacked.attachments;
    if attachments.len() != 1 || attachments[0].content_id != header.payload_content_id {
        return Err(PackagingError::Attachment(format!(
            "exactly one attachment, cid:{}, is expected",
            header.payload_content_id
        ))
        .into());
    }
    let ciphertext = attachments.remove(0).content;
    Ok(ParsedAs4 { doc, envelope, security, encryption, header, ciphertext })
}

/// True when `node` is covered by a verified reference.
fn is_signed(verified: &VerifiedSignature<'_>, node: NodeId) -> bool {
    verified.references().iter().any(|(_, n)| *n == node)
}

/// The parts every signature of the profile must cover.
fn require_coverage(
    verified: &VerifiedSignature<'_>,
    envelope: &Envelope,
    security: &SecurityHeader,
) -> Result<(), As4Error> {
    for (node, what) in
        [(envelope.messaging, "eb:Messaging"), (envelope.body, "the SOAP Body"), (security.timestamp, "wsu:Timestamp")]
    {
        if !is_signed(verified, node) {
            return Err(policy(format!("{what} is not signed")));
        }
    }
    Ok(())
}

/// The signer's party id: its certificate's common name.
fn signer_party(verified: &VerifiedSignature<'_>) -> String {
    verified.signer().certificate().common_name().unwrap_or_default()
}

/// Verifies a parsed user message and opens its payload, in this order:
/// the signature over `SignedInfo` and the sender's certificate under
/// `sender_trust` (the access point CA, C3.2.1 §2.10.c); then, as the
/// verifier asks for the attachment, decryption with `our_key`; every
/// reference digest; that the signature covers Messaging, Body, Timestamp
/// and the payload; the timestamp; that the From party is the signer and
/// the To party is us; and last the bounded decompression. Decryption,
/// digest and decompression stream, through blobs of `spool`.
pub fn verify_and_open(
    parsed: ParsedAs4,
    sender_trust: &TrustPolicy,
    our_key: &PrivateKey,
    our_certificate: &Certificate,
    now: OffsetDateTime,
    limits: &As4Limits,
    spool: &Spool,
) -> Result<VerifiedUserMessage, As4Error> {
    let ParsedAs4 { doc, envelope, security, encryption, header, ciphertext } = parsed;
    let mut decryptor = Decryptor::new(&encryption, our_key, ciphertext, spool);
    let verified = match verify_wss_signature(&doc, security.signature, &mut decryptor, sender_trust, unix(now)) {
        Ok(v) => v,
        Err(e) => return Err(decryptor.take_failure().unwrap_or_else(|| SecurityError::Signature(e).into())),
    };
    require_coverage(&verified, &envelope, &security)?;
    let payload = format!("cid:{}", header.payload_content_id);
    if !verified.signed_attachments().contains(&payload) {
        return Err(policy("the payload is not signed"));
    }
    wss::check_timestamp(&doc, security.timestamp, now, limits.clock_skew)?;
    let signer = signer_party(&verified);
    if signer != header.from_party {
        return Err(SecurityError::PartyMismatch { claimed: header.from_party, signer }.into());
    }
    if our_certificate.common_name().as_deref() != Some(header.to_party.as_str()) {
        return Err(HeaderError::PModeMismatch(format!("the message is for '{}', not for us", header.to_party)).into());
    }
    let sender = verified.signer().clone();
    let references = signature_references(&doc, security.signature)?;
    drop(verified);
    let compressed = decryptor.into_plaintext().ok_or_else(|| policy("the payload was not decrypted"))?;
    let xhe = gunzip(&compressed, spool, limits.max_payload_bytes)?;
    Ok(VerifiedUserMessage { header, sender, references, xhe })
}

/// C3.2.1 §2.5: is the addressed participant served here for this document
/// type? `serves(final_recipient, action)` is the access point's answer.
/// The service must be DIGG's and the action one of DIGG's; a refusal is
/// the EBMS:0004 `NOT_SERVICED` error through [`super::peer_error`]. Works
/// on a parsed (claimed) header, so a message for someone else is refused
/// before it is decrypted.
pub fn check_serviced(header: &UserMessageHeader, serves: impl Fn(&str, Action) -> bool) -> Result<Action, As4Error> {
    if !ebms::is_digg_service(header) {
        return Err(ServiceError::UnknownService {
            service: header.service.clone(),
            service_type: header.service_type.clone().unwrap_or_default(),
        }
        .into());
    }
    let action = ebms::action(header).ok_or_else(|| ServiceError::UnknownAction(header.action.clone()))?;
    if !serves(&header.final_recipient, action) {
        return Err(ServiceError::Participant {
            final_recipient: header.final_recipient.clone(),
            action: header.action.clone(),
        }
        .into());
    }
    Ok(action)
}

/// Builds and signs a signal whose `eb:Messaging` `write` produces.
fn build_signal(
    write: impl FnOnce(&mut String, &str, &str),
    our_key: &PrivateKey,
    our_certificate: &Certificate,
    now: OffsetDateTime,
) -> Result<As4Response, As4Error> {
    if !our_key.matches(our_certificate) {
        return Err(LocalError::Key("the signing key does not belong to our certificate".into()).into());
    }
    let ids = Ids::fresh();
    let message_id = new_message_id();
    let mut messaging = String::new();
    write(&mut messaging, &ids.messaging, &message_id);
    let mut security = String::new();
    wss::write_timestamp(&mut security, &ids.timestamp, now);
    wss::write_token(&mut security, &ids.token, our_certificate);
    let mut doc = parse_str(&soap::envelope(&messaging, &security, &ids.body))
        .map_err(|e| LocalError::Build(format!("signal values: {e}")))?;
    sign_envelope(&mut doc, &ids, None, our_key)?;
    let content_type = mime::ENVELOPE_CONTENT_TYPE.to_owned();
    Ok(As4Response { content_type, body: serialize(&doc, NodeId::DOCUMENT), message_id })
}

/// The signed receipt for a verified user message, with non-repudiation
/// information: the references of its signature (AS4 §5.1.8; P-mode
/// `nonRepudiation="true"`, `replyPattern="response"`).
pub fn build_receipt(
    message: &VerifiedUserMessage,
    our_key: &PrivateKey,
    our_certificate: &Certificate,
    now: OffsetDateTime,
) -> Result<As4Response, As4Error> {
    build_signal(
        |out, messaging_id, message_id| {
            ebms::write_receipt(out, messaging_id, message_id, now, message.message_id(), &message.references)
        },
        our_key,
        our_certificate,
        now,
    )
}

/// A signed error signal. `ref_to` is the refused message's id when it
/// could be read; `error` comes from [`super::peer_error`].
pub fn build_error(
    ref_to: Option<&str>,
    error: &EbmsError,
    our_key: &PrivateKey,
    our_certificate: &Certificate,
    now: OffsetDateTime,
) -> Result<As4Response, As4Error> {
    build_signal(
        |out, messaging_id, message_id| ebms::write_error(out, messaging_id, message_id, now, ref_to, error),
        our_key,
        our_certificate,
        now,
    )
}

/// Reads and verifies the synchronous answer to our user message: a signal
/// signed by the receiving access point (trusted under `trust`, and whose
/// common name is the party we sent to) that refers to our MessageId. A
/// receipt must list every reference we signed with the same digest; a
/// verified error signal is returned as [`ReceiptError::PeerErrors`].
pub fn parse_and_verify_receipt(
    content_type: &str,
    body: Vec<u8>,
    sent: &SentMessage,
    trust: &TrustPolicy,
    now: OffsetDateTime,
    limits: &As4Limits,
) -> Result<VerifiedReceipt, As4Error> {
    let unpacked = mime::unpack(content_type, Blob::from(body), limits)?;
    if !unpacked.attachments.is_empty() {
        return Err(PackagingError::Attachment("a signal carries no attachments".into()).into());
    }
    let (doc, envelope) = parse_envelope(&unpacked.envelope, limits)?;
    let signal = match ebms::read_messaging(&doc, envelope.messaging)? {
        Messaging::Signal(s) => s,
        Messaging::User(_) => return Err(structure("a user message where a signal is expected")),
    };
    // An error may come with a SOAP Fault in the Body (ebMS 3.0 §6.6).
    let body_children = soap::element_children(&doc, envelope.body, "Body")?;
    if !matches!(body_children.as_slice(), [] | [_])
        || body_children.iter().any(|&c| soap::expect_element(&doc, c, SOAP12_NS, "Fault").is_err())
    {
        return Err(structure("a signal's Body is empty or one Fault"));
    }
    let security = wss::recognise(&doc, envelope.security)?;
    if security.encryption.is_some() {
        return Err(policy("signals are not encrypted"));
    }
    let verified = verify_wss_signature(&doc, security.signature, &mut Attachments::new(), trust, unix(now))
        .map_err(SecurityError::Signature)?;
    require_coverage(&verified, &envelope, &security)?;
    wss::check_timestamp(&doc, security.timestamp, now, limits.clock_skew)?;
    let signer = signer_party(&verified);
    if signer != sent.receiver_party {
        return Err(ReceiptError::WrongSigner { expected: sent.receiver_party.clone(), signer }.into());
    }
    let refers_to_us = signal.ref_to_message_id.as_deref() == Some(sent.message_id.as_str());
    match signal.content {
        SignalContent::Errors(errors) => {
            if signal.ref_to_message_id.is_some() && !refers_to_us {
                return Err(wrong_reference(sent, signal.ref_to_message_id));
            }
            Err(ReceiptError::PeerErrors(errors).into())
        }
        SignalContent::Receipt(listed) => {
            if !refers_to_us {
                return Err(wrong_reference(sent, signal.ref_to_message_id));
            }
            for ours in &sent.references {
                let matched = listed.iter().any(|r| {
                    r.uri == ours.uri && r.digest_method == ours.digest_method && r.digest_value == ours.digest_value
                });
                if !matched {
                    return Err(ReceiptError::NrrMismatch(format!("no matching digest for '{}'", ours.uri)).into());
                }
            }
            Ok(VerifiedReceipt {
                message_id: signal.message_id,
                ref_to_message_id: sent.message_id.clone(),
                timestamp: signal.timestamp,
                signer: verified.signer().clone(),
            })
        }
    }
}

fn wrong_reference(sent: &SentMessage, found: Option<String>) -> As4Error {
    ReceiptError::WrongReference { expected: sent.message_id.clone(), found: found.unwrap_or_default() }.into()
}

/// The errors a signal claims, verified or not: for logs when a peer's
/// answer cannot be verified. Never a basis for a decision.
pub fn unverified_errors(content_type: &str, body: Vec<u8>, limits: &As4Limits) -> Vec<ReceivedError> {
    let read = || -> Option<Vec<ReceivedError>> {
        let unpacked = mime::unpack(content_type, Blob::from(body), limits).ok()?;
        let (doc, envelope) = parse_envelope(&unpacked.envelope, limits).ok()?;
        match ebms::read_messaging(&doc, envelope.messaging).ok()? {
            Messaging::Signal(s) => match s.content {
                SignalContent::Errors(e) => Some(e),
                SignalContent::Receipt(_) => None,
            },
            Messaging::User(_) => None,
        }
    };
    read().unwrap_or_default()
}
