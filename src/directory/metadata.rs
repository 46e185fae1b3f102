//! Service metadata in DIGG's profile of OASIS SMP 1.0, and its XML.
//!
//! The XML is SMP 1.0's `SignedServiceMetadata` (namespace
//! `http://docs.oasis-open.org/bdxr/ns/SMP/2016/05`): a `ServiceMetadata`
//! followed by an enveloped `ds:Signature` over the whole document. DIGG's
//! CertPub (C3.4.4 REST binding §2) adds the organisation's certificates as
//! `ServiceInformation/Extension` elements, one certificate each:
//!
//! ```text
//! Extension
//!   ExtensionID                 urn:fdc:digg.se:edelivery:xml-extension:smp-certpub:1.0
//!   smc:Certificate
//!     smb:TypeCode              urn:fdc:digg.se:edelivery:certpub:{signing,encryption}-cert
//!     smb:ContentBinaryObject   @mimeCode="application/base64", the certificate
//! ```
//!
//! Parsing verifies first and reads afterwards, from the verified tree only.
//! Of what SMP allows, DIGG's profile uses one process (`bdx:noprocess`) and
//! one transport (`digg-transport-as4-v1_0`); [`verify_service_metadata`]
//! selects exactly that endpoint and refuses ambiguity.

use std::fmt;
use std::hash::{Hash, Hasher};

use rustls_pki_types::UnixTime;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{smp_xml_limits, DirectoryError, CERTPUB_MAX_CERTIFICATES, IDENTIFIER_MAX_BYTES, SMP_MAX_SIBLINGS};
use crate::pki::{Certificate, PrivateKey, TrustPolicy};
use crate::sdk::xhe;
use crate::xml::{self, Document, Element, NodeId, NodeKind, NsDecl};
use crate::xmlsec::algorithm::DSIG_NS;
use crate::xmlsec::{self, SignError, SigningOptions};

/// OASIS SMP 1.0 (`bdx-smp-201605.xsd`), the default namespace.
pub const SMP_NS: &str = "http://docs.oasis-open.org/bdxr/ns/SMP/2016/05";
/// `smc`: SMP 2 aggregate components, for CertPub's `Certificate`.
pub const SMC_NS: &str = "http://docs.oasis-open.org/bdxr/ns/SMP/2/AggregateComponents";
/// `smb`: SMP 2 basic components, for `TypeCode` and `ContentBinaryObject`.
pub const SMB_NS: &str = "http://docs.oasis-open.org/bdxr/ns/SMP/2/BasicComponents";

/// `ParticipantIdentifier/@scheme` (C3.4.4 REST binding §2.2).
pub const PARTICIPANT_SCHEME: &str = xhe::PARTY_ID_SCHEME;
/// `DocumentIdentifier/@scheme` (C3.2.1 §2.3, C3.2.7).
pub const DOCUMENT_SCHEME: &str = xhe::DOCUMENT_ID_SCHEME;
/// `ProcessIdentifier/@scheme` and value used by SDK (test environment
/// declaration, C3.2.7).
pub const PROCESS_SCHEME: &str = xhe::PROCESS_ID_SCHEME;
pub const PROCESS_NO_PROCESS: &str = xhe::PROCESS_ID;
/// `Endpoint/@transportProfile` of DIGG's AS4 profile (C3.2.1 §2.3 [e],
/// C3.2.6 §1.2).
pub const TRANSPORT_PROFILE_AS4: &str = "digg-transport-as4-v1_0";
/// `Extension/ExtensionID` of certificate publication (C3.2.6 §1.4).
pub const CERTPUB_EXTENSION_ID: &str = "urn:fdc:digg.se:edelivery:xml-extension:smp-certpub:1.0";
/// `smb:TypeCode` values (C3.2.6 §1.5).
pub const CERTPUB_SIGNING_CERT: &str = "urn:fdc:digg.se:edelivery:certpub:signing-cert";
pub const CERTPUB_ENCRYPTION_CERT: &str = "urn:fdc:digg.se:edelivery:certpub:encryption-cert";
/// `smb:ContentBinaryObject/@mimeCode`, a fixed value.
pub const CERTPUB_MIME_CODE: &str = "application/base64";

/// Longest text read from one element (a certificate in base64 is the
/// longest thing SMP metadata carries).
const TEXT_MAX_BYTES: usize = 64 * 1024;

// ---------------------------------------------------------------------------
// Identifiers
// ---------------------------------------------------------------------------

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("identifier is empty")]
    Empty,
    #[error("identifier is longer than {IDENTIFIER_MAX_BYTES} bytes")]
    TooLong,
    #[error("identifier may hold only printable ASCII without spaces: {0:?}")]
    BadCharacter(String),
    #[error("participant identifier must be ICD:value with a four-digit ICD (SDK: 0203:<domain>): {0:?}")]
    NotIso6523(String),
    #[error("identifier scheme must be {expected}, not {found:?}")]
    WrongScheme { expected: &'static str, found: String },
    #[error("qualified identifier must be scheme::value: {0:?}")]
    NotQualified(String),
}

/// Identifiers travel in URLs, DNS names and AS4 headers; printable ASCII
/// without spaces keeps each of those unambiguous.
fn check_identifier(value: &str) -> Result<(), IdentifierError> {
    if value.is_empty() {
        return Err(IdentifierError::Empty);
    }
    if value.len() > IDENTIFIER_MAX_BYTES {
        return Err(IdentifierError::TooLong);
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(IdentifierError::BadCharacter(value.chars().take(64).collect()));
    }
    Ok(())
}

fn split_qualified<'a>(qualified: &'a str, scheme: &'static str) -> Result<&'a str, IdentifierError> {
    let (found, value) = qualified
        .split_once("::")
        .ok_or_else(|| IdentifierError::NotQualified(qualified.chars().take(64).collect()))?;
    // Schemes are compared without case, as SMP implementations do.
    if !found.eq_ignore_ascii_case(scheme) {
        return Err(IdentifierError::WrongScheme { expected: scheme, found: found.to_owned() });
    }
    Ok(value)
}

/// An organisation in SDK: scheme `iso6523-actorid-upis`, value
/// `0203:<domain>`. Compared and hashed without regard to ASCII case
/// (identifiers in this scheme are case-insensitive); displayed as given.
#[derive(Debug, Clone)]
pub struct ParticipantId {
    value: String,
}

impl ParticipantId {
    pub fn new(value: &str) -> Result<Self, IdentifierError> {
        check_identifier(value)?;
        let (icd, rest) = value.split_once(':').ok_or_else(|| IdentifierError::NotIso6523(value.to_owned()))?;
        if icd.len() != 4 || !icd.bytes().all(|b| b.is_ascii_digit()) || rest.is_empty() {
            return Err(IdentifierError::NotIso6523(value.to_owned()));
        }
        Ok(Self { value: value.to_owned() })
    }

    /// Parses `iso6523-actorid-upis::0203:habo.se`.
    pub fn from_qualified(qualified: &str) -> Result<Self, IdentifierError> {
        Self::new(split_qualified(qualified, PARTICIPANT_SCHEME)?)
    }

    pub fn scheme(&self) -> &'static str {
        PARTICIPANT_SCHEME
    }

    /// The value as given, e.g. `0203:habo.se`.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The value in lower case, the form SML hashes and caches key on.
    pub fn normalized(&self) -> String {
        self.value.to_ascii_lowercase()
    }

    /// `scheme::value`, as in SMP URLs.
    pub fn qualified(&self) -> String {
        format!("{PARTICIPANT_SCHEME}::{}", self.value)
    }
}

impl PartialEq for ParticipantId {
    fn eq(&self, other: &Self) -> bool {
        self.value.eq_ignore_ascii_case(&other.value)
    }
}

impl Eq for ParticipantId {}

impl Hash for ParticipantId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.value.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
        state.write_u8(0xff);
    }
}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// A message type: scheme `busdox-docid-qns`, value such as
/// `urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc`.
/// Compared exactly (document identifiers are case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocumentTypeId {
    value: String,
}

impl DocumentTypeId {
    pub fn new(value: &str) -> Result<Self, IdentifierError> {
        check_identifier(value)?;
        Ok(Self { value: value.to_owned() })
    }

    /// Parses `busdox-docid-qns::urn:...`.
    pub fn from_qualified(qualified: &str) -> Result<Self, IdentifierError> {
        Self::new(split_qualified(qualified, DOCUMENT_SCHEME)?)
    }

    /// SDK Meddelande v3, Transportmodell Utökad Bas (signed and encrypted).
    pub fn sdk_message_v3() -> Self {
        Self { value: xhe::DOCUMENT_ID_MESSAGE_V3_SIGENC.to_owned() }
    }

    /// The message receipt, Transportmodell Utökad Bas.
    pub fn sdk_receipt() -> Self {
        Self { value: xhe::DOCUMENT_ID_RECEIPT_SIGENC.to_owned() }
    }

    pub fn scheme(&self) -> &'static str {
        DOCUMENT_SCHEME
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    /// `scheme::value`, as in SMP URLs.
    pub fn qualified(&self) -> String {
        format!("{DOCUMENT_SCHEME}::{}", self.value)
    }

    /// True for Transportmodell Utökad Bas, where the payload is encrypted
    /// for the recipient and signed by the sender with CertPub certificates.
    pub fn is_sigenc(&self) -> bool {
        self.value.ends_with("::tm-base-ext-sigenc")
    }
}

impl fmt::Display for DocumentTypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// `ProcessIdentifier` with its scheme; SDK uses one process.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProcessId {
    pub scheme: String,
    pub value: String,
}

impl ProcessId {
    /// `bdx:noprocess` in scheme `urn:fdc:digg.se:edelivery:process`.
    pub fn sdk() -> Self {
        Self { scheme: PROCESS_SCHEME.to_owned(), value: PROCESS_NO_PROCESS.to_owned() }
    }
}

impl Default for ProcessId {
    fn default() -> Self {
        Self::sdk()
    }
}

// ---------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------

/// The access point that receives for the participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `EndpointURI`: where AS4 messages are pushed (https).
    pub url: String,
    /// `@transportProfile`; [`TRANSPORT_PROFILE_AS4`] in SDK.
    pub transport_profile: String,
    /// `Certificate`: the receiving access point's certificate, for AS4
    /// encryption and for checking its receipts (C3.2.1 §2.3 [g]).
    pub access_point_certificate: Certificate,
    /// `ServiceActivationDate`: not to be used before.
    pub service_activation: Option<OffsetDateTime>,
    /// `ServiceExpirationDate`: not to be used after.
    pub service_expiration: Option<OffsetDateTime>,
    /// `ServiceDescription` (required by the SMP schema, free text).
    pub description: String,
    /// `TechnicalContactUrl` (required by the SMP schema).
    pub technical_contact_url: String,
}

impl Endpoint {
    /// An AS4 endpoint in DIGG's profile, active without limits.
    pub fn as4(url: &str, access_point_certificate: Certificate) -> Self {
        Self {
            url: url.to_owned(),
            transport_profile: TRANSPORT_PROFILE_AS4.to_owned(),
            access_point_certificate,
            service_activation: None,
            service_expiration: None,
            description: String::new(),
            technical_contact_url: String::new(),
        }
    }

    /// Within the activation period at `now` (bounds inclusive).
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.service_activation.is_none_or(|from| now >= from) && self.service_expiration.is_none_or(|to| now <= to)
    }
}

/// The organisation's certificates published through CertPub.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertPub {
    /// Certificates the organisation signs envelopes with.
    pub signing: Vec<Certificate>,
    /// Certificates to encrypt payloads for the organisation with.
    pub encryption: Vec<Certificate>,
}

fn valid_at(certificate: &Certificate, now: OffsetDateTime) -> bool {
    let (not_before, not_after) = certificate.validity();
    let now = now.unix_timestamp();
    not_before <= now && now <= not_after
}

impl CertPub {
    /// The encryption certificate to use at `now`: of those valid then, the
    /// most recently issued (during a rollover both are published).
    pub fn encryption_certificate(&self, now: OffsetDateTime) -> Option<&Certificate> {
        self.encryption.iter().filter(|c| valid_at(c, now)).max_by_key(|c| c.validity().0)
    }

    /// True when `certificate` is one of the published signing certificates
    /// and valid at `now`: what a receiver requires of an XHE signer.
    pub fn is_signing_certificate(&self, certificate: &Certificate, now: OffsetDateTime) -> bool {
        self.signing.iter().any(|c| c.der() == certificate.der()) && valid_at(certificate, now)
    }
}

/// What the SMP says about one participant and one document type, reduced
/// to what SDK uses: one process, one AS4 endpoint, the certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceMetadata {
    pub participant: ParticipantId,
    pub document_type: DocumentTypeId,
    pub process: ProcessId,
    pub endpoint: Endpoint,
    pub certpub: CertPub,
}

// ---------------------------------------------------------------------------
// Building and signing
// ---------------------------------------------------------------------------

fn format_datetime(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC).format(&Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

impl ServiceMetadata {
    /// The unsigned `SignedServiceMetadata` document: `ServiceMetadata` only,
    /// the signature still to be appended.
    pub fn to_document(&self) -> Document {
        let mut root = Element::new_declared(None, "SignedServiceMetadata", SMP_NS);
        root.namespaces.push(NsDecl { prefix: Some("smc".to_owned()), uri: SMC_NS.to_owned() });
        root.namespaces.push(NsDecl { prefix: Some("smb".to_owned()), uri: SMB_NS.to_owned() });
        let (mut doc, root) = Document::with_root(root);
        let smp = |local: &str| Element::new_inherited(None, local, SMP_NS);
        let with_scheme = |local: &str, scheme: &str| {
            let mut e = smp(local);
            e.set_attribute("scheme", scheme);
            e
        };

        let sm = doc.append(root, NodeKind::Element(smp("ServiceMetadata")));
        let si = doc.append(sm, NodeKind::Element(smp("ServiceInformation")));
        doc.append_text_element(si, with_scheme("ParticipantIdentifier", PARTICIPANT_SCHEME), self.participant.value());
        doc.append_text_element(si, with_scheme("DocumentIdentifier", DOCUMENT_SCHEME), self.document_type.value());
        let list = doc.append(si, NodeKind::Element(smp("ProcessList")));
        let process = doc.append(list, NodeKind::Element(smp("Process")));
        doc.append_text_element(process, with_scheme("ProcessIdentifier", &self.process.scheme), &self.process.value);
        let endpoints = doc.append(process, NodeKind::Element(smp("ServiceEndpointList")));
        let mut endpoint = smp("Endpoint");
        endpoint.set_attribute("transportProfile", &self.endpoint.transport_profile);
        let e = doc.append(endpoints, NodeKind::Element(endpoint));
        doc.append_text_element(e, smp("EndpointURI"), &self.endpoint.url);
        doc.append_text_element(e, smp("RequireBusinessLevelSignature"), "false");
        if let Some(t) = self.endpoint.service_activation {
            doc.append_text_element(e, smp("ServiceActivationDate"), &format_datetime(t));
        }
        if let Some(t) = self.endpoint.service_expiration {
            doc.append_text_element(e, smp("ServiceExpirationDate"), &format_datetime(t));
        }
        doc.append_text_element(e, smp("Certificate"), &self.endpoint.access_point_certificate.to_base64());
        doc.append_text_element(e, smp("ServiceDescription"), &self.endpoint.description);
        doc.append_text_element(e, smp("TechnicalContactUrl"), &self.endpoint.technical_contact_url);

        let published = self
            .certpub
            .signing
            .iter()
            .map(|c| (CERTPUB_SIGNING_CERT, c))
            .chain(self.certpub.encryption.iter().map(|c| (CERTPUB_ENCRYPTION_CERT, c)));
        for (type_code, certificate) in published {
            let ext = doc.append(si, NodeKind::Element(smp("Extension")));
            doc.append_text_element(ext, smp("ExtensionID"), CERTPUB_EXTENSION_ID);
            let cert = doc.append(ext, NodeKind::Element(Element::new_inherited(Some("smc"), "Certificate", SMC_NS)));
            doc.append_text_element(cert, Element::new_inherited(Some("smb"), "TypeCode", SMB_NS), type_code);
            let mut content = Element::new_inherited(Some("smb"), "ContentBinaryObject", SMB_NS);
            content.set_attribute("mimeCode", CERTPUB_MIME_CODE);
            doc.append_text_element(cert, content, &certificate.to_base64());
        }
        doc
    }
}

/// The metadata as signed SMP XML: SMP 1.0's enveloped signature as the last
/// child of `SignedServiceMetadata`, over the whole document (inclusive
/// C14N, RSA-SHA256, SHA-256), the SMP certificate in `KeyInfo`.
pub fn sign_service_metadata(
    metadata: &ServiceMetadata,
    key: &PrivateKey,
    certificate: &Certificate,
) -> Result<Vec<u8>, SignError> {
    let mut doc = metadata.to_document();
    xmlsec::sign_enveloped(&mut doc, key, certificate, &SigningOptions::default())?;
    let mut out = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".to_vec();
    out.extend(xml::serialize(&doc, NodeId::DOCUMENT));
    Ok(out)
}

// ---------------------------------------------------------------------------
// Parsing and verifying
// ---------------------------------------------------------------------------

fn malformed(what: impl Into<String>) -> DirectoryError {
    DirectoryError::Malformed(what.into())
}

fn unix_time(now: OffsetDateTime) -> UnixTime {
    let secs = u64::try_from(now.unix_timestamp()).unwrap_or(0);
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))
}

/// Parses SMP response bytes, verifies the enveloped signature against
/// `smp_certificate` (pinned) at `now`, and only then reads the metadata
/// from the verified tree, selecting SDK's process and AS4 endpoint.
///
/// Whether the metadata is about the participant and document type that
/// were asked for is the caller's check (see [`super::SmpClient::lookup`]).
pub fn verify_service_metadata(
    bytes: &[u8],
    smp_certificate: &Certificate,
    now: OffsetDateTime,
) -> Result<ServiceMetadata, DirectoryError> {
    let doc = xml::parse(bytes, &smp_xml_limits()).map_err(|e| malformed(format!("not well-formed XML: {e}")))?;
    let verified = xmlsec::verify_enveloped(doc, &TrustPolicy::Pinned(smp_certificate.clone()), unix_time(now))
        .map_err(DirectoryError::BadSignature)?;
    read_signed_service_metadata(verified.document())
}

/// Element children of one element, consumed in schema order.
struct Children<'d> {
    doc: &'d Document,
    items: Vec<NodeId>,
    pos: usize,
    parent: &'static str,
}

impl<'d> Children<'d> {
    /// Refuses text between elements: SMP's types are element-only.
    fn of(doc: &'d Document, id: NodeId, parent: &'static str) -> Result<Self, DirectoryError> {
        let mut items = Vec::new();
        for &c in doc.children(id) {
            match doc.kind(c) {
                NodeKind::Element(_) => items.push(c),
                NodeKind::Text(t) if t.trim().is_empty() => {}
                NodeKind::Comment(_) | NodeKind::Pi(_) => {}
                _ => return Err(malformed(format!("text inside {parent}"))),
            }
        }
        Ok(Self { doc, items, pos: 0, parent })
    }

    fn peek_is(&self, ns: &str, local: &str) -> bool {
        self.items.get(self.pos).and_then(|&n| self.doc.element(n)).is_some_and(|e| e.is(ns, local))
    }

    fn optional(&mut self, ns: &str, local: &str) -> Option<NodeId> {
        if self.peek_is(ns, local) {
            self.pos += 1;
            Some(self.items[self.pos - 1])
        } else {
            None
        }
    }

    fn required(&mut self, ns: &str, local: &str) -> Result<NodeId, DirectoryError> {
        self.optional(ns, local).ok_or_else(|| match self.next_name() {
            Some(found) => malformed(format!("{} needs {local} where {found} is", self.parent)),
            None => malformed(format!("{} needs {local}", self.parent)),
        })
    }

    fn many(&mut self, ns: &str, local: &str) -> Result<Vec<NodeId>, DirectoryError> {
        let mut out = Vec::new();
        while let Some(n) = self.optional(ns, local) {
            if out.len() == SMP_MAX_SIBLINGS {
                return Err(malformed(format!("more than {SMP_MAX_SIBLINGS} {local} in {}", self.parent)));
            }
            out.push(n);
        }
        Ok(out)
    }

    /// The next element whatever its name (the `xs:any` of an extension).
    fn any(&mut self) -> Option<NodeId> {
        let n = self.items.get(self.pos).copied()?;
        self.pos += 1;
        Some(n)
    }

    fn next_name(&self) -> Option<String> {
        self.items.get(self.pos).and_then(|&n| self.doc.element(n)).map(Element::qname)
    }

    fn end(self) -> Result<(), DirectoryError> {
        match self.next_name() {
            None => Ok(()),
            Some(found) => Err(malformed(format!("unexpected {found} in {}", self.parent))),
        }
    }
}

fn element(doc: &Document, id: NodeId) -> &Element {
    doc.element(id).expect("Children yields elements")
}

/// Simple content, trimmed of XML whitespace, bounded.
fn text(doc: &Document, id: NodeId, what: &str) -> Result<String, DirectoryError> {
    let t = doc.simple_text(id).ok_or_else(|| malformed(format!("{what} has child elements")))?;
    if t.len() > TEXT_MAX_BYTES {
        return Err(malformed(format!("{what} is longer than {TEXT_MAX_BYTES} bytes")));
    }
    Ok(t.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n')).to_owned())
}

fn scheme_attribute<'d>(doc: &'d Document, id: NodeId, what: &str) -> Result<&'d str, DirectoryError> {
    element(doc, id).attribute("scheme").ok_or_else(|| malformed(format!("{what} has no scheme")))
}

/// `xs:dateTime`; one without a zone is taken as UTC.
fn parse_datetime(text: &str, what: &str) -> Result<OffsetDateTime, DirectoryError> {
    OffsetDateTime::parse(text, &Rfc3339).or_else(|_| OffsetDateTime::parse(&format!("{text}Z"), &Rfc3339)).map_err(
        |_| malformed(format!("{what} is not an xs:dateTime: {:?}", text.chars().take(40).collect::<String>())),
    )
}

fn read_signed_service_metadata(doc: &Document) -> Result<ServiceMetadata, DirectoryError> {
    let root = doc.document_element().ok_or_else(|| malformed("no document element"))?;
    let root_element = element(doc, root);
    if !root_element.is(SMP_NS, "SignedServiceMetadata") {
        return Err(malformed(format!(
            "document element is {}, not SMP 1.0 SignedServiceMetadata",
            root_element.qname()
        )));
    }
    let mut top = Children::of(doc, root, "SignedServiceMetadata")?;
    let sm = top.required(SMP_NS, "ServiceMetadata")?;
    top.required(DSIG_NS, "Signature")?;
    top.end()?;

    let mut sm_children = Children::of(doc, sm, "ServiceMetadata")?;
    if sm_children.peek_is(SMP_NS, "Redirect") {
        return Err(malformed("Redirect is not used in DIGG's SMP (C3.4.3 §2.11)"));
    }
    let si = sm_children.required(SMP_NS, "ServiceInformation")?;
    sm_children.end()?;

    let mut si_children = Children::of(doc, si, "ServiceInformation")?;
    let participant_node = si_children.required(SMP_NS, "ParticipantIdentifier")?;
    let document_node = si_children.required(SMP_NS, "DocumentIdentifier")?;
    let process_list = si_children.required(SMP_NS, "ProcessList")?;
    let extensions = si_children.many(SMP_NS, "Extension")?;
    si_children.end()?;

    let participant_scheme = scheme_attribute(doc, participant_node, "ParticipantIdentifier")?;
    if !participant_scheme.eq_ignore_ascii_case(PARTICIPANT_SCHEME) {
        return Err(malformed(format!(
            "ParticipantIdentifier scheme is {participant_scheme:?}, not {PARTICIPANT_SCHEME}"
        )));
    }
    let participant = ParticipantId::new(&text(doc, participant_node, "ParticipantIdentifier")?)
        .map_err(|e| malformed(format!("ParticipantIdentifier: {e}")))?;
    let document_scheme = scheme_attribute(doc, document_node, "DocumentIdentifier")?;
    if document_scheme != DOCUMENT_SCHEME {
        return Err(malformed(format!("DocumentIdentifier scheme is {document_scheme:?}, not {DOCUMENT_SCHEME}")));
    }
    let document_type = DocumentTypeId::new(&text(doc, document_node, "DocumentIdentifier")?)
        .map_err(|e| malformed(format!("DocumentIdentifier: {e}")))?;

    let (process, endpoint_node) = select_endpoint(doc, process_list)?;
    let endpoint = read_endpoint(doc, endpoint_node)?;
    let certpub = read_certpub(doc, &extensions)?;
    Ok(ServiceMetadata { participant, document_type, process, endpoint, certpub })
}

/// SDK's process, and in it the one AS4 endpoint.
fn select_endpoint(doc: &Document, process_list: NodeId) -> Result<(ProcessId, NodeId), DirectoryError> {
    let wanted = ProcessId::sdk();
    let mut list = Children::of(doc, process_list, "ProcessList")?;
    let processes = list.many(SMP_NS, "Process")?;
    list.end()?;
    if processes.is_empty() {
        return Err(malformed("ProcessList has no Process"));
    }
    let mut selected = None;
    for process in processes {
        let mut children = Children::of(doc, process, "Process")?;
        let id_node = children.required(SMP_NS, "ProcessIdentifier")?;
        let endpoint_list = children.required(SMP_NS, "ServiceEndpointList")?;
        children.many(SMP_NS, "Extension")?;
        children.end()?;
        let id = ProcessId {
            scheme: scheme_attribute(doc, id_node, "ProcessIdentifier")?.to_owned(),
            value: text(doc, id_node, "ProcessIdentifier")?,
        };
        if id != wanted {
            continue;
        }
        if selected.replace(endpoint_list).is_some() {
            return Err(malformed(format!("process {} is listed twice", wanted.value)));
        }
    }
    let endpoint_list = selected.ok_or_else(|| {
        DirectoryError::NoUsableEndpoint(format!("no process {} in scheme {}", wanted.value, wanted.scheme))
    })?;

    let mut list = Children::of(doc, endpoint_list, "ServiceEndpointList")?;
    let endpoints = list.many(SMP_NS, "Endpoint")?;
    list.end()?;
    let mut as4 =
        endpoints.into_iter().filter(|&e| element(doc, e).attribute("transportProfile") == Some(TRANSPORT_PROFILE_AS4));
    let endpoint = as4.next().ok_or_else(|| {
        DirectoryError::NoUsableEndpoint(format!("no endpoint with transport profile {TRANSPORT_PROFILE_AS4}"))
    })?;
    if as4.next().is_some() {
        return Err(malformed(format!("more than one {TRANSPORT_PROFILE_AS4} endpoint")));
    }
    Ok((wanted, endpoint))
}

fn read_endpoint(doc: &Document, id: NodeId) -> Result<Endpoint, DirectoryError> {
    let transport_profile = element(doc, id).attribute("transportProfile").unwrap_or_default().to_owned();
    let mut c = Children::of(doc, id, "Endpoint")?;
    let uri = c.required(SMP_NS, "EndpointURI")?;
    c.optional(SMP_NS, "RequireBusinessLevelSignature");
    c.optional(SMP_NS, "MinimumAuthenticationLevel");
    let activation = c.optional(SMP_NS, "ServiceActivationDate");
    let expiration = c.optional(SMP_NS, "ServiceExpirationDate");
    let certificate = c.required(SMP_NS, "Certificate")?;
    // Required by the schema but informational; a publisher that leaves
    // them out must not stop every sender.
    let description = c.optional(SMP_NS, "ServiceDescription");
    let contact = c.optional(SMP_NS, "TechnicalContactUrl");
    c.optional(SMP_NS, "TechnicalInformationUrl");
    c.many(SMP_NS, "Extension")?;
    c.end()?;

    let url = text(doc, uri, "EndpointURI")?;
    let parsed = reqwest::Url::parse(&url).map_err(|e| malformed(format!("EndpointURI {url:?}: {e}")))?;
    // C3.2.1 §2.4: access points talk TLS; a plain-HTTP endpoint is refused.
    if parsed.scheme() != "https" {
        return Err(malformed(format!("EndpointURI {url:?} is not https")));
    }
    let access_point_certificate = Certificate::from_base64(&text(doc, certificate, "Endpoint/Certificate")?)
        .map_err(|e| malformed(format!("Endpoint/Certificate: {e}")))?;
    let service_activation = match activation {
        Some(n) => Some(parse_datetime(&text(doc, n, "ServiceActivationDate")?, "ServiceActivationDate")?),
        None => None,
    };
    let service_expiration = match expiration {
        Some(n) => Some(parse_datetime(&text(doc, n, "ServiceExpirationDate")?, "ServiceExpirationDate")?),
        None => None,
    };
    let optional_text = |n: Option<NodeId>, what: &str| n.map(|n| text(doc, n, what)).transpose();
    Ok(Endpoint {
        url,
        transport_profile,
        access_point_certificate,
        service_activation,
        service_expiration,
        description: optional_text(description, "ServiceDescription")?.unwrap_or_default(),
        technical_contact_url: optional_text(contact, "TechnicalContactUrl")?.unwrap_or_default(),
    })
}

/// The optional elements an `ExtensionType` may carry before its content.
const EXTENSION_FIELDS: [&str; 8] = [
    "ExtensionName",
    "ExtensionAgencyID",
    "ExtensionAgencyName",
    "ExtensionAgencyURI",
    "ExtensionVersionID",
    "ExtensionURI",
    "ExtensionReasonCode",
    "ExtensionReason",
];

/// CertPub extensions; extensions with other IDs are someone else's and
/// skipped unread.
fn read_certpub(doc: &Document, extensions: &[NodeId]) -> Result<CertPub, DirectoryError> {
    let mut certpub = CertPub::default();
    for &ext in extensions {
        let mut c = Children::of(doc, ext, "Extension")?;
        let Some(id) = c.optional(SMP_NS, "ExtensionID") else { continue };
        if text(doc, id, "ExtensionID")? != CERTPUB_EXTENSION_ID {
            continue;
        }
        for field in EXTENSION_FIELDS {
            c.optional(SMP_NS, field);
        }
        let certificate = c.any().ok_or_else(|| malformed("CertPub extension without smc:Certificate"))?;
        c.end()?;
        if !element(doc, certificate).is(SMC_NS, "Certificate") {
            return Err(malformed(format!(
                "CertPub extension holds {}, not smc:Certificate",
                element(doc, certificate).qname()
            )));
        }
        let mut cc = Children::of(doc, certificate, "smc:Certificate")?;
        let type_code = cc.required(SMB_NS, "TypeCode")?;
        let content = cc.required(SMB_NS, "ContentBinaryObject")?;
        cc.end()?;
        let list = match text(doc, type_code, "smb:TypeCode")?.as_str() {
            CERTPUB_SIGNING_CERT => &mut certpub.signing,
            CERTPUB_ENCRYPTION_CERT => &mut certpub.encryption,
            // A future certificate type: not ours to use.
            _ => continue,
        };
        if list.len() == CERTPUB_MAX_CERTIFICATES {
            return Err(malformed(format!("more than {CERTPUB_MAX_CERTIFICATES} certificates of one type")));
        }
        list.push(decode_certpub_certificate(&text(doc, content, "smb:ContentBinaryObject")?)?);
    }
    Ok(certpub)
}

/// DIGG describes the content as "the certificate in PEM format (base64
/// encoded)". Written here as base64 of the DER (a PEM body); read as that,
/// as a PEM text, or as base64 of a PEM text, so each reading of the
/// sentence interoperates.
fn decode_certpub_certificate(content: &str) -> Result<Certificate, DirectoryError> {
    let from_pem = |pem: &[u8]| -> Result<Certificate, DirectoryError> {
        let mut certs = Certificate::all_from_pem(pem).map_err(|e| malformed(format!("CertPub certificate: {e}")))?;
        if certs.len() != 1 {
            return Err(malformed("CertPub certificate holds more than one certificate"));
        }
        Ok(certs.remove(0))
    };
    if content.starts_with("-----BEGIN") {
        return from_pem(content.as_bytes());
    }
    let bytes = xmlsec::base64_decode(content).map_err(|_| malformed("CertPub certificate is not base64"))?;
    if bytes.starts_with(b"-----BEGIN") {
        return from_pem(&bytes);
    }
    Certificate::from_der(bytes).map_err(|e| malformed(format!("CertPub certificate: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::dev::DevCa;

    #[test]
    fn participant_ids_compare_without_case() {
        let a = ParticipantId::new("0203:Habo.se").unwrap();
        let b = ParticipantId::from_qualified("ISO6523-ACTORID-UPIS::0203:habo.SE").unwrap();
        assert_eq!(a, b);
        let hash = |p: &ParticipantId| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            p.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&a), hash(&b));
        assert_eq!(a.to_string(), "0203:Habo.se");
        assert_eq!(a.normalized(), "0203:habo.se");
        assert_eq!(a.qualified(), "iso6523-actorid-upis::0203:Habo.se");
    }

    #[test]
    fn identifiers_are_bounded_and_checked() {
        assert_eq!(ParticipantId::new(""), Err(IdentifierError::Empty));
        assert!(matches!(ParticipantId::new("habo.se"), Err(IdentifierError::NotIso6523(_))));
        assert!(matches!(ParticipantId::new("203:habo.se"), Err(IdentifierError::NotIso6523(_))));
        assert!(matches!(ParticipantId::new("0203:"), Err(IdentifierError::NotIso6523(_))));
        assert!(matches!(ParticipantId::new("0203:ha bo.se"), Err(IdentifierError::BadCharacter(_))));
        assert!(matches!(ParticipantId::new("0203:håbo.se"), Err(IdentifierError::BadCharacter(_))));
        assert_eq!(ParticipantId::new(&format!("0203:{}", "a".repeat(600))), Err(IdentifierError::TooLong));
        assert!(matches!(
            ParticipantId::from_qualified("busdox-docid-qns::0203:habo.se"),
            Err(IdentifierError::WrongScheme { .. })
        ));
        assert!(matches!(DocumentTypeId::from_qualified("urn:x"), Err(IdentifierError::NotQualified(_))));
        let doc = DocumentTypeId::from_qualified(&DocumentTypeId::sdk_receipt().qualified()).unwrap();
        assert_eq!(doc, DocumentTypeId::sdk_receipt());
        assert!(doc.is_sigenc());
        // Document identifiers are case-sensitive.
        assert_ne!(DocumentTypeId::new("urn:A").unwrap(), DocumentTypeId::new("urn:a").unwrap());
    }

    fn sample(ca: &DevCa) -> (ServiceMetadata, crate::pki::dev::DevIdentity) {
        let smp = ca.issue("DIGG", "SMP", "smp.example.se").unwrap();
        let ap = ca.issue("Habo", "AP0040-SDK-TEST", "ap.habo.se").unwrap();
        let sign = ca.issue("Habo", "Habo sign", "habo.se").unwrap();
        let enc = ca.issue("Habo", "Habo enc", "habo.se").unwrap();
        let mut endpoint = Endpoint::as4("https://ap.habo.se/as4", ap.certificate);
        endpoint.service_activation = Some(time::macros::datetime!(2020-01-01 0:00 UTC));
        endpoint.description = "Habo AP".into();
        let meta = ServiceMetadata {
            participant: ParticipantId::new("0203:habo.se").unwrap(),
            document_type: DocumentTypeId::sdk_message_v3(),
            process: ProcessId::sdk(),
            endpoint,
            certpub: CertPub { signing: vec![sign.certificate], encryption: vec![enc.certificate] },
        };
        (meta, smp)
    }

    #[test]
    fn signed_metadata_round_trips() {
        let ca = DevCa::new("Test", "Test CA").unwrap();
        let (meta, smp) = sample(&ca);
        let bytes = sign_service_metadata(&meta, &smp.key, &smp.certificate).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("<Endpoint transportProfile=\"digg-transport-as4-v1_0\">"));
        assert!(text.contains("<ExtensionID>urn:fdc:digg.se:edelivery:xml-extension:smp-certpub:1.0</ExtensionID>"));
        assert!(text.contains("<smb:ContentBinaryObject mimeCode=\"application/base64\">"));
        // The signature is the last child of SignedServiceMetadata.
        assert!(text.trim_end().ends_with("</ds:Signature></SignedServiceMetadata>"));
        let now = OffsetDateTime::now_utc();
        assert_eq!(verify_service_metadata(&bytes, &smp.certificate, now).unwrap(), meta);
    }

    #[test]
    fn certpub_content_in_pem_form_is_read() {
        let ca = DevCa::new("Test", "Test CA").unwrap();
        let cert = ca.identity.certificate.clone();
        assert_eq!(decode_certpub_certificate(&cert.to_base64()).unwrap(), cert);
        assert_eq!(decode_certpub_certificate(&cert.to_pem()).unwrap(), cert);
        assert_eq!(decode_certpub_certificate(&xmlsec::base64_encode(cert.to_pem().as_bytes())).unwrap(), cert);
        assert!(decode_certpub_certificate("not base64!").is_err());
    }

    #[test]
    fn endpoint_activity_period() {
        let ca = DevCa::new("Test", "Test CA").unwrap();
        let mut e = Endpoint::as4("https://ap/", ca.identity.certificate.clone());
        let t = time::macros::datetime!(2026-06-01 0:00 UTC);
        assert!(e.is_active(t));
        e.service_activation = Some(t + time::Duration::days(1));
        assert!(!e.is_active(t));
        e.service_activation = None;
        e.service_expiration = Some(t - time::Duration::seconds(1));
        assert!(!e.is_active(t));
    }

    #[test]
    fn datetimes_without_zone_are_utc() {
        assert_eq!(
            parse_datetime("2026-01-02T03:04:05", "x").unwrap(),
            time::macros::datetime!(2026-01-02 3:04:05 UTC)
        );
        assert_eq!(
            parse_datetime("2026-01-02T03:04:05+01:00", "x").unwrap(),
            time::macros::datetime!(2026-01-02 2:04:05 UTC)
        );
        assert!(parse_datetime("2026-01-02", "x").is_err());
    }
}
