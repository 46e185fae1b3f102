//! Sealing and opening SDK messages: the secure envelope.
//!
//! Sealing = validate the outgoing message, wrap it in an XHE (ID =
//! messageId, FromParty/ToParty = sender/recipient organisation,
//! HandlingServiceID = recipient functional address), encrypt the payload for
//! the recipient's certificate, then sign the whole envelope (C3.2.2 §3.2).
//!
//! Opening runs the other way and in this order only: verify the envelope
//! signature and the signer's trust, then decrypt (never before: CBC is
//! malleable), then validate envelope, message and the fields that must agree
//! between them. The outcome says whether DIGG's receipt specification
//! wants a receipt sent, and with what.

use rustls_pki_types::UnixTime;
use time::OffsetDateTime;

use super::codes::{DetailCode, Problem, Validation};
use super::message_rules::{validate_message_with, SupportedContentTypes};
use super::message::MessageHeader;
use super::receipt::Receipt;
use super::xhe::{self, BusinessScope, CrossFieldView, ParsedXhe, PayloadInfo, XheHeader};
use super::xml_attachments::{xml_attachments, XmlAttachment};
use crate::limits::{XmlLimits, SDK_MESSAGE_MAX_BYTES, XML_ATTACHMENT_MAX_BYTES};
use crate::pki::{Certificate, PrivateKey, TrustPolicy, TrustedCertificate};
use crate::spool::{Blob, Spool};
use crate::xml::{self, C14nMethod, Canonicalizer, Document, NodeId};
use crate::xmlsec::decrypt::{decrypt_encrypted_data, replace_with_plaintext, EncryptedType};
use crate::xmlsec::encrypt::{encrypt_element, EncryptionOptions};
use crate::xmlsec::{self, SigningOptions};

/// Why sealing failed. Sealing is local: these are our caller's problems.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("message is not well-formed XML: {0}")]
    NotXml(#[from] xml::XmlError),
    #[error("message breaks SDK's rules:\n{}", lines(.0))]
    InvalidMessage(Validation),
    #[error("encryption failed: {0}")]
    Encrypt(String),
    #[error("signing failed: {0}")]
    Sign(#[from] xmlsec::SignError),
    #[error("writing the envelope: {0}")]
    Io(String),
}

fn lines(v: &Validation) -> String {
    v.problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// How to seal.
#[derive(Debug, Clone)]
pub struct SealOptions {
    /// `None` sends the payload in clear (only for tests and interop checks:
    /// a receiving SDK node rejects it with SIG security).
    pub encryption: Option<EncryptionOptions>,
    pub signing: SigningOptions,
    pub federation_id: String,
    pub content_policy: SupportedContentTypes,
    /// Largest SDK message sealed (B1.3.3: 30 MB).
    pub max_message_bytes: usize,
    /// Where large messages and envelopes are written while sealing.
    pub spool: Spool,
}

impl Default for SealOptions {
    fn default() -> Self {
        Self {
            encryption: Some(EncryptionOptions::default()),
            signing: SigningOptions::default(),
            federation_id: xhe::FEDERATION_ID_SDK.to_owned(),
            content_policy: SupportedContentTypes::default(),
            max_message_bytes: SDK_MESSAGE_MAX_BYTES,
            spool: Spool::temporary(),
        }
    }
}

/// Seals the SDK message `message_xml` from the holder of `sign_key` to the
/// holder of `recipient`. `now` becomes the envelope's CreationDateTime.
/// In memory; the node seals through [`PreparedMessage`].
pub fn seal(
    message_xml: &[u8],
    sign_key: &PrivateKey,
    sign_cert: &Certificate,
    recipient: &Certificate,
    options: &SealOptions,
    now: OffsetDateTime,
) -> Result<Vec<u8>, SealError> {
    let sealed = PreparedMessage::read(&Blob::from(message_xml), options)?.seal(sign_key, sign_cert, recipient, options, now)?;
    sealed.to_vec(u64::MAX).map_err(|e| SealError::Io(e.to_string()))
}

/// An SDK message read and validated for sending, before the recipient's
/// certificate is known. Large attachments stay on disk.
pub struct PreparedMessage {
    doc: Document,
    view: CrossFieldView,
    header: MessageHeader,
}

impl std::fmt::Debug for PreparedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedMessage").field("message_id", &self.view.message_id).finish_non_exhaustive()
    }
}

impl PreparedMessage {
    /// Reads and validates `message_xml` (size, well-formedness, SDK's rules).
    pub fn read(message_xml: &Blob, options: &SealOptions) -> Result<PreparedMessage, SealError> {
        if message_xml.len() > options.max_message_bytes as u64 {
            let problem = Problem::bv(DetailCode::TooLong, "NA", super::message_rules::TOO_LARGE_TEXT);
            return Err(SealError::InvalidMessage(Validation { problems: vec![problem] }));
        }
        let limits = XmlLimits::default().with_max_document_bytes(options.max_message_bytes);
        let doc = xml::parse_blob(message_xml, &limits, &options.spool)?;
        let root = doc.document_element().ok_or(xml::XmlError::NoRootElement)?;
        let validation = validate_message_with(&doc, root, &options.content_policy);
        if !validation.is_accepted() {
            return Err(SealError::InvalidMessage(validation));
        }
        let view = CrossFieldView::from_message(&doc, root).map_err(SealError::InvalidMessage)?;
        let header = MessageHeader::read(&doc, root).map_err(|p| SealError::InvalidMessage(Validation { problems: vec![p] }))?;
        Ok(PreparedMessage { doc, view, header })
    }

    /// The message's header.
    pub fn header(&self) -> &MessageHeader {
        &self.header
    }

    /// Builds the envelope, encrypts the message for `recipient`, signs, and
    /// writes the result to the spool.
    pub fn seal(
        self,
        sign_key: &PrivateKey,
        sign_cert: &Certificate,
        recipient: &Certificate,
        options: &SealOptions,
        now: OffsetDateTime,
    ) -> Result<Blob, SealError> {
        let PreparedMessage { doc: message_doc, view, header: _ } = self;
        let header = XheHeader {
            id: view.message_id.clone(),
            creation_date_time: xhe::format_timestamp(now),
            business_scope: BusinessScope::sdk_message(&options.federation_id),
            from_party: view.sender_org_id.clone(),
            to_party: view.recipient_org_id.clone(),
        };
        let payload = PayloadInfo {
            document_type_code: xhe::DOCUMENT_TYPE_SDK_MESSAGE.to_owned(),
            content_type_code: "application/xml".to_owned(),
            handling_service_id: Some(view.recipient_functional_address.clone()),
            instance_encryption_indicator: options.encryption.is_some(),
        };
        let (mut doc, payload_content) = xhe::build_xhe(&header, &payload);
        let message_node = doc.adopt(payload_content, 0, message_doc)[0];
        if let Some(encryption) = &options.encryption {
            encrypt_element(&mut doc, message_node, recipient, encryption, &options.spool)
                .map_err(|e| SealError::Encrypt(e.to_string()))?;
        }
        xmlsec::sign_enveloped(&mut doc, sign_key, sign_cert, &options.signing)?;
        let mut out = options.spool.writer(u64::MAX);
        xml::serialize_to(&doc, NodeId::DOCUMENT, &mut out).map_err(|e| SealError::Io(e.to_string()))?;
        out.finish().map_err(|e| SealError::Io(e.to_string()))
    }
}

/// What the receiver knows about an envelope it could read far enough to
/// address a receipt.
#[derive(Debug, Clone)]
pub struct EnvelopeFacts {
    pub header: XheHeader,
    pub payload: PayloadInfo,
    /// The encryption certificate named in `EncryptedKey`, as a hint for
    /// which of our certificates to sign the receipt with. Unverified: use it
    /// only after checking it holds our own key ([`PrivateKey::matches`]).
    pub named_recipient_certificate: Option<Certificate>,
}

/// Whether DIGG's receipt specification (C3.2.4 §2.1.2) wants a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptDecision {
    /// Send a receipt (ACCEPTED or REJECTED).
    Send,
    /// No receipt: XML not well-formed, envelope unreadable, or payload that
    /// cannot be decrypted. Log and escalate to operators instead.
    Withhold,
}

/// A rejected envelope: the problems, and what DIGG says to do about them.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub validation: Validation,
    pub facts: Option<EnvelopeFacts>,
    pub receipt: ReceiptDecision,
}

/// An envelope that verified, decrypted and validated.
#[derive(Debug)]
pub struct OpenedMessage {
    pub facts: EnvelopeFacts,
    /// The inner SDK message, as canonical-safe XML bytes (in a spool file
    /// when large).
    pub message_xml: Blob,
    /// The message's header, read from what was verified and validated.
    pub message_header: MessageHeader,
    /// Its XML attachments, decoded up to
    /// [`OpenOptions::max_xml_attachment_bytes`] (read from the tree
    /// `open` had, so nobody parses the message again for them).
    pub xml_attachments: Vec<XmlAttachment>,
    pub signer: TrustedCertificate,
}

/// What the receiver already holds, for duplicate detection (B1.3.3 §5.3
/// row 6). The node's inbox implements it; the command line has none.
pub trait ReceivedMessages {
    /// How many stored messages carry this messageId.
    fn count(&self, message_id: &str) -> usize;
}

/// How to open.
pub struct OpenOptions<'a> {
    /// Earlier messages, when the caller keeps them.
    pub received: Option<&'a dyn ReceivedMessages>,
    pub decrypt_key: &'a PrivateKey,
    /// Whose envelope signatures are accepted (the sender's published
    /// signing certificate, or the organisation CAs).
    pub sender_trust: &'a TrustPolicy,
    pub at: UnixTime,
    pub limits: XmlLimits,
    /// DIGG requires encrypted payloads (B1.3.3 §5.3 #14); off only for tests.
    pub require_encryption: bool,
    pub content_policy: SupportedContentTypes,
    /// The federation this node serves (FEDERATIONID).
    pub federation_id: String,
    /// Largest SDK message accepted (B1.3.3: 30 MB, which a federation may
    /// adjust).
    pub max_message_bytes: usize,
    /// Where large envelopes and payloads are kept while they are opened.
    pub spool: Spool,
    /// XML attachments up to this size are handed over decoded.
    pub max_xml_attachment_bytes: usize,
}

impl<'a> OpenOptions<'a> {
    pub fn new(decrypt_key: &'a PrivateKey, sender_trust: &'a TrustPolicy, at: UnixTime) -> Self {
        Self {
            received: None,
            decrypt_key,
            sender_trust,
            at,
            limits: XmlLimits::default(),
            require_encryption: true,
            content_policy: SupportedContentTypes::default(),
            federation_id: xhe::FEDERATION_ID_SDK.to_owned(),
            max_message_bytes: SDK_MESSAGE_MAX_BYTES,
            spool: Spool::temporary(),
            max_xml_attachment_bytes: XML_ATTACHMENT_MAX_BYTES,
        }
    }
}

fn reject(problem: Problem, facts: Option<EnvelopeFacts>, receipt: ReceiptDecision) -> Rejection {
    Rejection { validation: Validation { problems: vec![problem] }, facts, receipt }
}

/// Opens a sealed envelope. `bytes` is consumed so its memory (or spool
/// file) is released as soon as the tree is built; large base64 (the
/// encrypted payload, attachments) stays on disk throughout.
pub fn open(bytes: impl Into<Blob>, options: &OpenOptions<'_>) -> Result<OpenedMessage, Rejection> {
    let bytes: Blob = bytes.into();
    if bytes.len() > options.limits.max_document_bytes as u64 {
        return Err(reject(
            Problem::bv(DetailCode::TooLong, "NA", "Message size to large."),
            None,
            ReceiptDecision::Withhold,
        ));
    }
    let parsed = xml::parse_blob(&bytes, &options.limits, &options.spool);
    drop(bytes);
    let doc = parsed.map_err(|e| {
        reject(Problem::sv_structure("NA", format!("envelope is not well-formed XML: {e}")), None, ReceiptDecision::Withhold)
    })?;

    // Addressing facts are read before verification only to be able to
    // address a receipt; nothing else is taken from unverified content.
    let unverified = xhe::parse_xhe(&doc).map_err(|validation| Rejection {
        validation,
        facts: None,
        receipt: ReceiptDecision::Withhold,
    })?;
    let named_recipient_certificate =
        encrypted_payload(&doc, &unverified).and_then(|n| xmlsec::decrypt::recipient_certificate(&doc, n));
    let facts = EnvelopeFacts {
        header: unverified.header.clone(),
        payload: unverified.payload.clone(),
        named_recipient_certificate,
    };

    let verified = xmlsec::verify_enveloped(doc, options.sender_trust, options.at).map_err(|e| {
        let problem = Problem::sig_security(format!("Sender signature not validated: {e}"));
        reject(problem, Some(facts.clone()), ReceiptDecision::Send)
    })?;
    let (mut doc, signer, _proof) = verified.into_parts();

    // parse_xhe reports validate_xhe's problems itself when it fails.
    let envelope = xhe::parse_xhe(&doc).map_err(|validation| Rejection {
        validation,
        facts: Some(facts.clone()),
        receipt: ReceiptDecision::Send,
    })?;
    let mut validation = xhe::validate_xhe(&doc);
    let facts = EnvelopeFacts { header: envelope.header.clone(), payload: envelope.payload.clone(), ..facts };
    validation.extend(xhe::validate_sdk_scope(&facts.header, &facts.payload, &options.federation_id));

    // The message is put back into the envelope tree in place of the
    // EncryptedData: it is parsed in the namespace context it was encrypted
    // in (XML-Enc §4.3; xmlsec1 omits inherited declarations), validated
    // there, and serialised once at the end, so a 30 MB payload never exists
    // in more than two forms at a time.
    let message_node = match encrypted_payload(&doc, &envelope) {
        Some(encrypted_data) => {
            let cannot_decrypt = || {
                reject(
                    Problem::sig_security("payload cannot be decrypted"),
                    Some(facts.clone()),
                    ReceiptDecision::Withhold,
                )
            };
            let decrypted = decrypt_encrypted_data(&mut doc, encrypted_data, options.decrypt_key, &options.spool)
                .map_err(|_| cannot_decrypt())?;
            if decrypted.plaintext.len() > options.max_message_bytes as u64 {
                validation.push(Problem::bv(DetailCode::TooLong, "NA", "Message size to large."));
                return Err(Rejection { validation, facts: Some(facts), receipt: ReceiptDecision::Send });
            }
            if decrypted.kind != EncryptedType::Element {
                validation.push(Problem::sv_structure(
                    "/XHE/Payloads/Payload/PayloadContent",
                    "an SDK message payload must be encrypted as an XML element",
                ));
                return Err(Rejection { validation, facts: Some(facts), receipt: ReceiptDecision::Send });
            }
            let limits = options.limits.with_max_document_bytes(options.max_message_bytes);
            replace_with_plaintext(&mut doc, encrypted_data, decrypted, &limits, &options.spool)
                .map_err(|_| cannot_decrypt())?
        }
        None => {
            let already_said = validation.problems.iter().any(|p| p.reason == super::ReasonCode::Sig);
            if options.require_encryption && !already_said {
                validation.push(Problem::sig_security("Payload is not encrypted"));
            }
            match doc.child_elements(envelope.payload_content).next() {
                Some(node) => node,
                None => {
                    validation.push(Problem::sv_structure("/XHE/Payloads/Payload/PayloadContent", "PayloadContent is empty"));
                    return Err(Rejection { validation, facts: Some(facts), receipt: ReceiptDecision::Send });
                }
            }
        }
    };

    validation.extend(xhe::validate_payload_root(&facts.payload, &doc, message_node));
    validation.extend(validate_message_with(&doc, message_node, &options.content_policy));
    match CrossFieldView::from_message(&doc, message_node) {
        Ok(view) => validation.extend(xhe::validate_cross_fields(&facts.header, &facts.payload, &view)),
        Err(v) => validation.extend(v),
    }
    if let Some(received) = options.received {
        match received.count(&facts.header.id) {
            0 => {}
            1 => validation.push(Problem::bv(DetailCode::Duplicate, "NA", "messageId has already been received")),
            _ => validation.push(Problem::bv(DetailCode::MultipleMatches, "NA", "messageId matches several received messages")),
        }
    }
    if !validation.is_accepted() {
        return Err(Rejection { validation, facts: Some(facts), receipt: ReceiptDecision::Send });
    }
    let message_header = MessageHeader::read(&doc, message_node).map_err(|problem| Rejection {
        validation: Validation { problems: vec![problem] },
        facts: Some(facts.clone()),
        receipt: ReceiptDecision::Send,
    })?;
    let xml_attachments = xml_attachments(&doc, message_node, options.max_xml_attachment_bytes);
    // Exclusive canonical form: a standalone document carrying only the
    // namespace declarations the message uses, not the envelope's.
    let standalone = C14nMethod { exclusive: true, with_comments: true, inclusive_prefixes: Vec::new() };
    let mut writer = options.spool.writer(options.max_message_bytes as u64);
    let written = Canonicalizer::new(&doc, &standalone).write_to(message_node, &mut writer);
    drop(doc);
    let message_xml = written.and_then(|()| writer.finish());
    let message_xml = match message_xml {
        Ok(blob) => blob,
        Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
            let problem = Problem::bv(DetailCode::TooLong, "NA", "Message size to large.");
            return Err(reject(problem, Some(facts), ReceiptDecision::Send));
        }
        Err(e) => {
            // Our own disk failed: not the sender's fault, so no receipt
            // may say otherwise; the message is not stored and the sender
            // tries again.
            let problem = Problem::sig_security(format!("message could not be kept: {e}"));
            return Err(reject(problem, Some(facts), ReceiptDecision::Withhold));
        }
    };
    Ok(OpenedMessage { facts, message_xml, message_header, xml_attachments, signer })
}

/// The `EncryptedData` inside `PayloadContent`, if the payload is encrypted.
fn encrypted_payload(doc: &Document, envelope: &ParsedXhe) -> Option<NodeId> {
    doc.child_elements(envelope.payload_content)
        .find(|&n| doc.element(n).is_some_and(|e| e.is(xmlsec::encrypt::XENC_NS, "EncryptedData")))
}

impl Rejection {
    /// The receipt for this rejection, when DIGG wants one sent.
    pub fn receipt(&self, receipt_id: String, issued_at: OffsetDateTime) -> Option<Receipt> {
        let facts = self.facts.as_ref()?;
        (self.receipt == ReceiptDecision::Send).then(|| receipt_for(facts, receipt_id, issued_at, &self.validation))
    }
}

/// The receipt answering `facts` with `validation`'s outcome: sent by the
/// envelope's recipient to its sender, referring to the XHE ID.
pub fn receipt_for(facts: &EnvelopeFacts, receipt_id: String, issued_at: OffsetDateTime, validation: &Validation) -> Receipt {
    Receipt::from_validation(
        receipt_id,
        issued_at,
        facts.header.to_party.clone(),
        facts.header.from_party.clone(),
        facts.header.id.clone(),
        validation,
    )
}

/// Wraps a receipt in its own XHE (signed, never encrypted: B1.3.3 §2) and
/// signs it. HandlingServiceID repeats the answered message's, as B1.3.3 §3.2
/// asks.
pub fn seal_receipt(
    receipt: &Receipt,
    answered: &EnvelopeFacts,
    sign_key: &PrivateKey,
    sign_cert: &Certificate,
    signing: &SigningOptions,
    now: OffsetDateTime,
) -> Result<Vec<u8>, SealError> {
    let header = XheHeader {
        id: receipt.id.clone(),
        creation_date_time: xhe::format_timestamp(now),
        business_scope: BusinessScope::sdk_receipt(&answered.header.business_scope.federation_id),
        from_party: answered.header.to_party.clone(),
        to_party: answered.header.from_party.clone(),
    };
    let payload = PayloadInfo {
        document_type_code: xhe::DOCUMENT_TYPE_RECEIPT.to_owned(),
        content_type_code: "application/xml".to_owned(),
        handling_service_id: answered.payload.handling_service_id.clone(),
        instance_encryption_indicator: false,
    };
    let (mut doc, payload_content) = xhe::build_xhe(&header, &payload);
    doc.adopt(payload_content, 0, receipt.to_document());
    xmlsec::sign_enveloped(&mut doc, sign_key, sign_cert, signing)?;
    Ok(xml::serialize(&doc, NodeId::DOCUMENT))
}

/// A receipt that arrived for one of our messages, verified and parsed.
#[derive(Debug)]
pub struct OpenedReceipt {
    pub facts: EnvelopeFacts,
    pub receipt: Receipt,
    pub signer: TrustedCertificate,
}

/// Opens a receipt envelope: verify the signature against the receiving
/// organisation's published signing certificate, then validate envelope and
/// ApplicationResponse. Receipts are never answered with receipts, so a
/// failure here is only reported to our operators.
pub fn open_receipt(bytes: Vec<u8>, sender_trust: &TrustPolicy, at: UnixTime, limits: &XmlLimits) -> Result<OpenedReceipt, Validation> {
    let doc = xml::parse(&bytes, limits)
        .map_err(|e| Validation { problems: vec![Problem::sv_structure("NA", format!("receipt is not well-formed XML: {e}"))] })?;
    drop(bytes);
    let verified = xmlsec::verify_enveloped(doc, sender_trust, at).map_err(|e| Validation {
        problems: vec![Problem::sig_security(format!("receipt signature not validated: {e}"))],
    })?;
    let (doc, signer, _proof) = verified.into_parts();
    let mut validation = xhe::validate_xhe(&doc);
    let envelope = xhe::parse_xhe(&doc)?;
    let facts = EnvelopeFacts {
        header: envelope.header.clone(),
        payload: envelope.payload.clone(),
        named_recipient_certificate: None,
    };
    let Some(root) = doc.child_elements(envelope.payload_content).next() else {
        validation.push(Problem::sv_structure("/XHE/Payloads/Payload/PayloadContent", "receipt envelope is empty"));
        return Err(validation);
    };
    validation.extend(super::receipt::validate_receipt_at(&doc, root));
    if !validation.is_accepted() {
        return Err(validation);
    }
    let receipt = Receipt::parse_at(&doc, root)?;
    Ok(OpenedReceipt { facts, receipt, signer })
}
