//! DIGG's validation of SDK Meddelande v3, on the document tree.
//!
//! Two phases, in the order a receiver runs schema and schematron:
//!
//! 1. **Structure** (the XSD, reason `SV`, detail `structure`): element order
//!    and cardinality of every complex type, unknown elements, the `##other`
//!    extension points, simple-type lexical forms, `maxLength 256` on the
//!    party labels, text-only simple content, no undeclared attributes.
//! 2. **Business rules** (reason `BV`), only when the structure is sound
//!    because the schematron assumes a schema-valid document: every rule of
//!    `MessageConstraints.sch.xml`, and the rules of B1.3.3 that can be
//!    checked on the message alone (organisation ids, documents with content,
//!    supported attachment types).
//!
//! The size limit (`BV too-long`) applies to bytes and is checked first by
//! [`validate_message_bytes`].
//!
//! Where the schematron and the content specification (B1.3.3) give
//! different codes, B1.3.3 wins; each such case has a comment.
//!
//! Problem texts never contain the offending value: a label may carry a
//! person's name and B1.3.3 forbids returning it, and any other field (an id,
//! a timestamp) can hold personal data when a sender gets it wrong. Texts
//! name the element and the rule; the path says where.

use std::borrow::Cow;

use base64::Engine as _;

use super::codes::{DetailCode, Problem, Validation};
use super::message::{FUNCTIONAL_ADDRESS_ROOT, LABEL_MAX_CHARS, NS, ORG_ID_PREFIX, ORG_ID_ROOT};
use crate::limits::{XmlLimits, SDK_MESSAGE_MAX_BYTES};
use crate::xml::{self, Document, Element, NodeId, NodeKind, TextRef, XmlError};

const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
const XS_NS: &str = "http://www.w3.org/2001/XMLSchema";

// ---------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------

/// Validates the SDK message at `element` with the default attachment
/// policy ([`SupportedContentTypes::default`]).
///
/// `element` may be the `messagePayload` element, the document node, or an
/// element whose only element child is `messagePayload` (an XHE
/// `PayloadContent`).
pub fn validate_message(doc: &Document, element: NodeId) -> Validation {
    validate_message_with(doc, element, &SupportedContentTypes::default())
}

/// [`validate_message`] with the node's own list of accepted attachment types.
pub fn validate_message_with(doc: &Document, element: NodeId, types: &SupportedContentTypes) -> Validation {
    check(doc, element, Some(types))
}

/// Checks the size of a serialised message, parses it and validates it, with
/// the default attachment policy.
pub fn validate_message_bytes(bytes: &[u8], limits: &XmlLimits) -> Validation {
    validate_message_bytes_with(bytes, limits, &SupportedContentTypes::default())
}

/// [`validate_message_bytes`] with the node's own attachment policy.
pub fn validate_message_bytes_with(bytes: &[u8], limits: &XmlLimits, types: &SupportedContentTypes) -> Validation {
    if let Some(p) = check_message_size(bytes.len()) {
        return single(p);
    }
    match xml::parse(bytes, limits) {
        Ok(doc) => validate_message_with(&doc, NodeId::DOCUMENT, types),
        Err(e) => single(xml_error_problem(&e)),
    }
}

/// B1.3.3: a whole message, attachments included, is at most 30 MB.
/// `len` is the size of the serialised message as received or to be sent.
pub fn check_message_size(len: usize) -> Option<Problem> {
    (len > SDK_MESSAGE_MAX_BYTES).then(|| Problem::bv(DetailCode::TooLong, "NA", TOO_LARGE_TEXT))
}

/// B1.3.3's text for an oversized message, spelling included.
pub const TOO_LARGE_TEXT: &str = "Message size to large.";

/// What a receiver answers for a message the XML reader refused.
/// A size cap is the operator's size limit (`BV too-long`); anything else
/// means the bytes are not a well-formed document (`SV structure`).
pub fn xml_error_problem(e: &XmlError) -> Problem {
    match e {
        XmlError::TooLarge { .. } => Problem::bv(DetailCode::TooLong, "NA", TOO_LARGE_TEXT),
        // quick-xml's reasons can quote fragments of the input; give the offset only.
        XmlError::Malformed { offset, .. } => {
            Problem::sv_structure("NA", format!("Message is not well-formed XML (at byte {offset})"))
        }
        other => Problem::sv_structure("NA", format!("Message is not well-formed XML: {other}")),
    }
}

/// Finds the `messagePayload` element from `node`: the element itself, the
/// document node's element, or the only element child of a container such as
/// XHE's `PayloadContent`.
pub fn find_payload(doc: &Document, node: NodeId) -> Result<NodeId, Problem> {
    let candidate = if node == NodeId::DOCUMENT {
        doc.document_element()
    } else if doc.element(node).is_some_and(|e| e.is(NS, "messagePayload")) {
        Some(node)
    } else {
        let mut children = doc.child_elements(node);
        match (children.next(), children.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    };
    match candidate {
        Some(id) if doc.element(id).is_some_and(|e| e.is(NS, "messagePayload")) => Ok(id),
        _ => Err(Problem::sv_structure(
            "/messagePayload",
            format!("Expected one element messagePayload in namespace {NS}"),
        )),
    }
}

/// All rules; `types: None` skips the attachment-type policy (a sender does
/// not know every recipient's list, so the builder checks without it).
pub(crate) fn check(doc: &Document, element: NodeId, types: Option<&SupportedContentTypes>) -> Validation {
    let payload = match find_payload(doc, element) {
        Ok(p) => p,
        Err(p) => return single(p),
    };
    let structure = check_structure(doc, payload);
    if !structure.is_accepted() {
        return structure;
    }
    check_business_rules(doc, payload, types)
}

fn single(p: Problem) -> Validation {
    Validation { problems: vec![p] }
}

// ---------------------------------------------------------------------------
// Attachment policy
// ---------------------------------------------------------------------------

/// The attachment media types a node accepts. PDF is always among them:
/// B1.3.3 requires every participant to support it, so it cannot be removed.
/// Matching compares the media type's essence (`type/subtype`, parameters
/// dropped) without regard to case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportedContentTypes {
    essences: Vec<String>,
}

impl SupportedContentTypes {
    pub const PDF: &'static str = "application/pdf";

    /// Only what B1.3.3 makes mandatory.
    pub fn pdf_only() -> Self {
        Self { essences: vec![Self::PDF.to_owned()] }
    }

    /// Adds `media_type` (parameters are ignored).
    pub fn with(mut self, media_type: &str) -> Self {
        let e = essence(media_type);
        if !e.is_empty() && !self.essences.contains(&e) {
            self.essences.push(e);
        }
        self
    }

    /// True when a `contentType` value names an accepted type.
    pub fn supports(&self, content_type: &str) -> bool {
        let e = essence(content_type);
        self.essences.contains(&e)
    }

    /// Accepted essences, PDF first.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.essences.iter().map(String::as_str)
    }
}

/// PDF, plain text, XML, JPEG and PNG.
impl Default for SupportedContentTypes {
    fn default() -> Self {
        ["text/plain", "application/xml", "image/jpeg", "image/png"].into_iter().fold(Self::pdf_only(), Self::with)
    }
}

/// PDF plus every type in the list.
impl<S: AsRef<str>> FromIterator<S> for SupportedContentTypes {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        iter.into_iter().fold(Self::pdf_only(), |t, s| t.with(s.as_ref()))
    }
}

fn essence(media_type: &str) -> String {
    let bare = media_type.split(';').next().unwrap_or("");
    bare.trim_matches(|c: char| c.is_ascii_whitespace()).to_ascii_lowercase()
}

// ---------------------------------------------------------------------------
// Phase 1: the XSD
// ---------------------------------------------------------------------------

/// Built-in and anonymous simple types used by the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Simple {
    String,
    /// Anonymous `xs:string` restriction with `maxLength 256`.
    Label,
    DateTime,
    Boolean,
}

#[derive(Clone, Copy)]
enum Content {
    Simple(Simple),
    Complex(&'static Complex),
}

/// One `xs:element` of a sequence.
struct Particle {
    name: &'static str,
    min: u32,
    /// `None` is `unbounded`.
    max: Option<u32>,
    content: Content,
}

/// A complex type: a sequence of particles, and whether the sequence ends in
/// `<xs:any namespace="##other" processContents="lax" maxOccurs="unbounded"/>`.
struct Complex {
    name: &'static str,
    particles: &'static [Particle],
    open: bool,
}

const fn one(name: &'static str, content: Content) -> Particle {
    Particle { name, min: 1, max: Some(1), content }
}
const fn opt(name: &'static str, content: Content) -> Particle {
    Particle { name, min: 0, max: Some(1), content }
}
const fn many(name: &'static str, min: u32, content: Content) -> Particle {
    Particle { name, min, max: None, content }
}

const STRING: Content = Content::Simple(Simple::String);
const LABEL: Content = Content::Simple(Simple::Label);

// The schema, type by type, as in infrastructure_messaging_MessageWithAttachments_3.0.xsd.
static II_TYPE: Complex =
    Complex { name: "IIType", particles: &[one("root", STRING), one("extension", STRING)], open: false };
const II: Content = Content::Complex(&II_TYPE);

static REFERENCE_TYPE: Complex =
    Complex { name: "ReferenceType", particles: &[one("referenceId", II), opt("label", LABEL)], open: true };

static SUB_ORGANIZATION_TYPE: Complex =
    Complex { name: "subOrganizationType", particles: &[one("organizationId", II), opt("label", LABEL)], open: true };

static ATTENTION_PERSON_TYPE: Complex =
    Complex { name: "AttentionPersonType", particles: &[opt("personId", II), opt("label", LABEL)], open: true };

static ATTENTION_DATA_TYPE: Complex = Complex {
    name: "AttentionDataType",
    particles: &[
        many("person", 0, Content::Complex(&ATTENTION_PERSON_TYPE)),
        one("subOrganization", Content::Complex(&SUB_ORGANIZATION_TYPE)),
        many("reference", 0, Content::Complex(&REFERENCE_TYPE)),
    ],
    open: true,
};
const ATTENTION: Content = Content::Complex(&ATTENTION_DATA_TYPE);

static RECIPIENT_TYPE: Complex = Complex {
    name: "RecipientType",
    particles: &[one("recipientID", II), opt("label", LABEL), one("attention", ATTENTION)],
    open: true,
};

static SENDER_TYPE: Complex = Complex {
    name: "SenderType",
    particles: &[one("senderID", II), opt("label", LABEL), opt("attention", ATTENTION)],
    open: true,
};

static MESSAGE_HEADER_TYPE: Complex = Complex {
    name: "MessageHeaderType",
    particles: &[
        one("creationDateTime", Content::Simple(Simple::DateTime)),
        one("messageId", STRING),
        // The XSD says 1..1, but B1.3.3 answers a missing conversationId with
        // BV invariant (schematron `conversationIdMustExist`), so the
        // structure phase lets absence through for that rule to report.
        opt("conversationId", STRING),
        opt("refToMessageId", STRING),
        // xs:string without maxLength; the 256 limit is a business rule.
        opt("label", STRING),
        one("confidentiality", Content::Simple(Simple::Boolean)),
        opt("generatingSystem", II),
        one("recipient", Content::Complex(&RECIPIENT_TYPE)),
        one("sender", Content::Complex(&SENDER_TYPE)),
    ],
    open: true,
};

static CONTENT_AS_BASE64: Complex = Complex {
    name: "ContentAsBase64",
    particles: &[one("fileName", STRING), one("contentType", STRING), one("content", STRING)],
    open: true,
};

static CONTENT_AS_TEXT: Complex =
    Complex { name: "contentAsText", particles: &[one("characterSequence", STRING)], open: true };

static DIGITAL_DOCUMENT_TYPE: Complex = Complex {
    name: "DigitalDocumentType",
    particles: &[
        one("documentID", STRING),
        opt("documentName", STRING),
        opt("index", STRING),
        many("ContentFiles", 0, Content::Complex(&CONTENT_AS_BASE64)),
        many("ContentText", 0, Content::Complex(&CONTENT_AS_TEXT)),
    ],
    open: true,
};

static MESSAGE_BODY_TYPE: Complex = Complex {
    name: "MessageBodyType",
    particles: &[many("documents", 1, Content::Complex(&DIGITAL_DOCUMENT_TYPE))],
    open: true,
};

static MESSAGE_TYPE: Complex = Complex {
    name: "MessageType",
    particles: &[
        one("messageHeader", Content::Complex(&MESSAGE_HEADER_TYPE)),
        one("messageBody", Content::Complex(&MESSAGE_BODY_TYPE)),
    ],
    open: true,
};

static MESSAGE_PAYLOAD_TYPE: Complex =
    Complex { name: "MessagePayloadType", particles: &[one("message", Content::Complex(&MESSAGE_TYPE))], open: false };

struct Structure<'d> {
    doc: &'d Document,
    payload: NodeId,
    out: Validation,
}

fn check_structure(doc: &Document, payload: NodeId) -> Validation {
    let mut s = Structure { doc, payload, out: Validation::default() };
    // The schema's depth is fixed (eight levels), so recursion is bounded by
    // the table, not by the input: extension content is never descended into.
    s.element(payload, Content::Complex(&MESSAGE_PAYLOAD_TYPE));
    s.out
}

impl Structure<'_> {
    fn problem(&mut self, at: NodeId, text: String) {
        let path = xpath(self.doc, self.payload, at);
        self.out.push(Problem::sv_structure(path, text));
    }

    fn element(&mut self, id: NodeId, content: Content) {
        let Some(e) = self.doc.element(id) else { return };
        self.attributes(id, e, content);
        match content {
            Content::Simple(simple) => self.simple(id, e, simple),
            Content::Complex(complex) => self.complex(id, e, complex),
        }
    }

    /// The schema declares no attributes. `xsi:schemaLocation` and
    /// `xsi:noNamespaceSchemaLocation` are always allowed; `xsi:nil` only as
    /// false (nothing is nillable); `xsi:type` only naming the declared type.
    fn attributes(&mut self, id: NodeId, e: &Element, content: Content) {
        for a in &e.attributes {
            let ok = match (a.ns.as_deref(), a.local.as_str()) {
                (Some(XSI_NS), "schemaLocation" | "noNamespaceSchemaLocation") => true,
                // Nothing in the schema is nillable.
                (Some(XSI_NS), "nil") => matches!(a.value.trim_matches(is_xml_ws_char), "false" | "0"),
                (Some(XSI_NS), "type") => self.xsi_type_is_declared(id, &a.value, content),
                _ => false,
            };
            if !ok {
                self.problem(id, format!("Attribute {} is not allowed on element {}", a.qname(), e.local));
            }
        }
    }

    fn xsi_type_is_declared(&self, id: NodeId, value: &str, content: Content) -> bool {
        let value = value.trim_matches(is_xml_ws_char);
        let (prefix, local) = match value.split_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, value),
        };
        let ns = self.doc.lookup_namespace(id, prefix);
        match content {
            Content::Complex(c) => ns == Some(NS) && local == c.name,
            Content::Simple(Simple::String) => ns == Some(XS_NS) && local == "string",
            Content::Simple(Simple::DateTime) => ns == Some(XS_NS) && local == "dateTime",
            Content::Simple(Simple::Boolean) => ns == Some(XS_NS) && local == "boolean",
            // Anonymous type: no name can denote it.
            Content::Simple(Simple::Label) => false,
        }
    }

    fn simple(&mut self, id: NodeId, e: &Element, simple: Simple) {
        if self.doc.child_elements(id).next().is_some() {
            self.problem(id, format!("Element {} must contain text only, not elements", e.local));
            return;
        }
        match simple {
            // Any text is an xs:string: nothing to read (an attachment's
            // `content` may be 100 MB of base64, left on disk).
            Simple::String => {}
            Simple::Label => {
                let len = direct_text_chars(self.doc, id);
                if len > LABEL_MAX_CHARS {
                    self.problem(
                        id,
                        format!("In {}, string length {len} exceeds maxLength {LABEL_MAX_CHARS}", e.local),
                    );
                }
            }
            Simple::DateTime => {
                let value = direct_text(self.doc, id);
                if parse_xs_datetime(value.trim_matches(is_xml_ws_char)).is_none() {
                    self.problem(id, format!("Value of {} is not a valid xs:dateTime", e.local));
                }
            }
            Simple::Boolean => {
                let value = direct_text(self.doc, id);
                if !matches!(value.trim_matches(is_xml_ws_char), "true" | "false" | "1" | "0") {
                    self.problem(id, format!("Value of {} is not a valid xs:boolean (true, false, 1 or 0)", e.local));
                }
            }
        }
    }

    fn complex(&mut self, id: NodeId, e: &Element, ty: &'static Complex) {
        let has_text = self.doc.children(id).iter().any(|&c| match self.doc.kind(c) {
            NodeKind::Text(t) => !t.chars().all(is_xml_ws_char),
            _ => false,
        });
        if has_text {
            self.problem(id, format!("Element {} ({}) must not contain text", e.local, ty.name));
        }

        // The sequence, matched greedily: the schema's particles all have
        // distinct names, so the first particle at or after the cursor with
        // the child's name is the only one it can match (UPA).
        let mut at = 0usize; // current particle
        let mut count = 0u32; // occurrences of the current particle so far
        let mut in_extension = false; // past the trailing xs:any
        let mut broken = false; // one sequence error per element is enough
        let children: Vec<NodeId> = self.doc.child_elements(id).collect();
        let doc = self.doc;
        // A required element that is "missing" but comes later is out of order.
        let comes_later =
            |k: usize, name: &str| children[k + 1..].iter().any(|&s| doc.element(s).is_some_and(|x| x.is(NS, name)));
        for (k, &child) in children.iter().enumerate() {
            let Some(c) = self.doc.element(child) else { continue };
            let own = c.namespace() == Some(NS);
            if broken {
                // Still check the inside of recognisable children.
                if own {
                    if let Some(p) = ty.particles.iter().find(|p| p.name == c.local) {
                        self.element(child, p.content);
                    }
                }
                continue;
            }
            if !own {
                if c.namespace().is_none() {
                    self.problem(child, format!("Element {} has no namespace; expected {NS}", c.local));
                    broken = true;
                } else if !ty.open {
                    self.problem(child, format!("Extension element {} is not allowed in {}", c.qname(), ty.name));
                    broken = true;
                } else if !in_extension {
                    // The wildcard follows every particle: all required ones must be done.
                    if let Some(missing) = first_missing(ty, at, count, ty.particles.len()) {
                        if comes_later(k, missing) {
                            self.problem(
                                child,
                                format!("Extension element {} must come after {missing} in {}", c.qname(), e.local),
                            );
                        } else {
                            self.problem(
                                id,
                                format!("Required element {missing} is missing in {} before {}", e.local, c.qname()),
                            );
                        }
                        broken = true;
                    }
                    in_extension = true;
                }
                // processContents="lax" with no schema for that namespace: not validated.
                continue;
            }
            if in_extension {
                self.problem(child, format!("Element {} must come before extension elements in {}", c.local, e.local));
                broken = true;
                continue;
            }
            match ty.particles[at..].iter().position(|p| p.name == c.local) {
                Some(0) => {
                    count += 1;
                    if ty.particles[at].max.is_some_and(|m| count > m) {
                        self.problem(
                            child,
                            format!("Element {} occurs more often than allowed in {}", c.local, e.local),
                        );
                        broken = true;
                    }
                }
                Some(offset) => {
                    let next = at + offset;
                    if let Some(missing) = first_missing(ty, at, count, next) {
                        if comes_later(k, missing) {
                            self.problem(
                                child,
                                format!(
                                    "Element {} is out of order in {}: {missing} must come before it",
                                    c.local, e.local
                                ),
                            );
                        } else {
                            self.problem(
                                id,
                                format!("Required element {missing} is missing in {} before {}", e.local, c.local),
                            );
                        }
                        broken = true;
                    }
                    at = next;
                    count = 1;
                }
                None => {
                    if ty.particles[..at].iter().any(|p| p.name == c.local) {
                        let expected = ty.particles[at].name;
                        self.problem(
                            child,
                            format!(
                                "Element {} is out of order in {}: it must come before {expected}",
                                c.local, e.local
                            ),
                        );
                    } else {
                        self.problem(child, format!("Element {} is not allowed in {}", c.local, ty.name));
                    }
                    broken = true;
                    continue;
                }
            }
            self.element(child, ty.particles[at].content);
        }
        if !broken && !in_extension {
            if let Some(missing) = first_missing(ty, at, count, ty.particles.len()) {
                self.problem(id, format!("Required element {missing} is missing in {}", e.local));
            }
        }
    }
}

/// The first particle in `at..end` whose minimum is not met, given `count`
/// occurrences of particle `at`.
fn first_missing(ty: &Complex, at: usize, count: u32, end: usize) -> Option<&'static str> {
    let particles = ty.particles.get(at..end)?;
    particles.iter().enumerate().find_map(|(i, p)| {
        let seen = if i == 0 { count } else { 0 };
        (seen < p.min).then_some(p.name)
    })
}

// ---------------------------------------------------------------------------
// Phase 2: schematron and B1.3.3
// ---------------------------------------------------------------------------

/// What a rule checks on its context element.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// `count(tns:conversationId) eq 1` on messageHeader.
    ConversationIdOnce,
    /// String value equals a constant.
    Equals(&'static str),
    /// The schematron's timestamp pattern.
    Timestamp,
    /// The schematron's UUID pattern.
    Uuid,
    /// messageHeader/label length.
    SubjectLength,
    /// RFC 4648 base64.
    Base64,
    /// B1.3.3: `0203:` + a domain name; `who` names the party in the text.
    OrgId { who: &'static str },
    /// B1.3.3: a document carries at least one text or file.
    HasContent,
    /// B1.3.3: the attachment type is supported by this node.
    ContentType,
    /// B1.3.3 §5.3 row 3: no malicious content (BV forbidden).
    NoActiveContent,
}

/// A rule: the element names of its context, innermost last, all in the
/// message namespace (a schematron context like `tns:recipientID/tns:root`).
/// The comment above each entry of [`RULES`] names its schematron pattern.
struct Rule {
    context: &'static [&'static str],
    check: Check,
}

/// Every rule of `MessageConstraints.sch.xml` in file order, then B1.3.3's.
/// `verifyNonEmptyElements` applies to every element and is in
/// [`check_business_rules`] itself.
static RULES: &[Rule] = &[
    // conversationIdMustExist
    Rule { context: &["messageHeader"], check: Check::ConversationIdOnce },
    // recipientIdvalue
    Rule { context: &["recipientID", "root"], check: Check::Equals(ORG_ID_ROOT) },
    // senderIdvalue
    Rule { context: &["senderID", "root"], check: Check::Equals(ORG_ID_ROOT) },
    // creationDateTime (pattern.Timestamp)
    Rule { context: &["creationDateTime"], check: Check::Timestamp },
    // MessageId (pattern.UUID)
    Rule { context: &["messageId"], check: Check::Uuid },
    // conversationId (pattern.UUID)
    Rule { context: &["conversationId"], check: Check::Uuid },
    // refToMessageId (pattern.UUID)
    Rule { context: &["refToMessageId"], check: Check::Uuid },
    // subjectlabel (pattern.stringMaxLength, 256)
    Rule { context: &["messageHeader", "label"], check: Check::SubjectLength },
    // contentFiles (pattern.basesixtyfour)
    Rule { context: &["ContentFiles", "content"], check: Check::Base64 },
    // subOrgRoot (pattern.addressbookRoot)
    Rule { context: &["subOrganization", "organizationId", "root"], check: Check::Equals(FUNCTIONAL_ADDRESS_ROOT) },
    // B1.3.3 4.3.2.2: senderId "SKA valideras programmatiskt".
    Rule { context: &["senderID", "extension"], check: Check::OrgId { who: "sender" } },
    // B1.3.3 4.3.2.1: the same for recipientId.
    Rule { context: &["recipientID", "extension"], check: Check::OrgId { who: "recipient" } },
    // B1.3.3 4.3.3.1: documents "SKA innehålla minst ett textmeddelande och
    // eller en bifogad fil. Regel kontrolleras vid schematronvalidering", but
    // DIGG's schematron has no such rule; we apply it as B1.3.3 says.
    Rule { context: &["messageBody", "documents"], check: Check::HasContent },
    // B1.3.3 4.3.3.3: types the receiver does not support are rejected.
    Rule { context: &["ContentFiles", "contentType"], check: Check::ContentType },
    // B1.3.3 §5.3 row 3: executables and active PDF content are refused.
    Rule { context: &["ContentFiles", "content"], check: Check::NoActiveContent },
];

fn check_business_rules(doc: &Document, payload: NodeId, types: Option<&SupportedContentTypes>) -> Validation {
    let mut out = Validation::default();
    for id in doc.descendants(payload) {
        let Some(e) = doc.element(id) else { continue };
        // verifyNonEmptyElements: context `tns:messagePayload//*`, so every
        // element below the payload, extension elements included.
        if id != payload && !has_non_ws_text(doc, id) {
            out.push(Problem::bv(
                DetailCode::Invariant,
                xpath(doc, payload, id),
                format!(
                    "Element {} is included but empty. All elements included in the message must have valid values.",
                    e.qname()
                ),
            ));
        }
        for rule in RULES.iter().filter(|r| matches_context(doc, id, r.context)) {
            if let Some((detail, text)) = apply(doc, id, rule, types) {
                out.push(Problem::bv(detail, xpath(doc, payload, id), text));
            }
        }
    }
    out
}

/// Runs one rule; `Some` when it fails.
fn apply(
    doc: &Document,
    id: NodeId,
    rule: &Rule,
    types: Option<&SupportedContentTypes>,
) -> Option<(DetailCode, String)> {
    let invariant = |text: String| Some((DetailCode::Invariant, text));
    let at = rule.context.join("/");
    match rule.check {
        Check::ConversationIdOnce => {
            let n = doc.children_named(id, NS, "conversationId").count();
            if n == 1 {
                return None;
            }
            invariant(format!(
                "In {at}, conversationId must be set. If this is a new message, use the same UUID as messageId to start new conversation"
            ))
        }
        Check::Equals(expected) => {
            if string_value(doc, id) == expected {
                return None;
            }
            invariant(format!("In {at}, value should be set to '{expected}'"))
        }
        Check::Timestamp => {
            if matches_timestamp_pattern(&string_value(doc, id)) {
                return None;
            }
            invariant(format!("In {at}, Timestamp should match pattern \"YYYY-MM-DD'T'hh:mm:ss.s'Z'\""))
        }
        Check::Uuid => {
            if is_uuid_text(&string_value(doc, id)) {
                return None;
            }
            invariant(format!("In {at}, value is not a valid UUID"))
        }
        Check::SubjectLength => {
            let len = string_value(doc, id).chars().count();
            if len <= LABEL_MAX_CHARS {
                return None;
            }
            // The schematron reports this as invariant; B1.3.3 4.3.2 gives
            // "Orsakskod: BV, Detaljkod: structure" for the subject label.
            // B1.3.3 decides receipt codes, so structure it is.
            Some((DetailCode::Structure, format!("In {at}, string length {len} exceeded maxlength {LABEL_MAX_CHARS}")))
        }
        Check::Base64 => {
            // The schematron only checks the first character (its regex
            // engine lacks what a full check needs); B1.3.3 requires RFC 4648
            // base64, and content that cannot be decoded cannot be delivered.
            if is_base64(text_parts(doc, id)) {
                return None;
            }
            invariant(format!("In {at}, value must be a valid base64 encoded string (RFC 4648)"))
        }
        Check::OrgId { who } => {
            if is_org_id(&string_value(doc, id)) {
                return None;
            }
            // B1.3.3's text for the sender; the same form for the recipient.
            invariant(format!("Wrong or unknown {who}-id"))
        }
        Check::HasContent => {
            let has = doc.children_named(id, NS, "ContentText").next().is_some()
                || doc.children_named(id, NS, "ContentFiles").next().is_some();
            if has {
                return None;
            }
            invariant(format!("In {at}, a document must contain at least one ContentText or ContentFiles"))
        }
        Check::NoActiveContent => {
            let finding = super::content_scan::scan_base64(text_parts(doc, id))?;
            Some((DetailCode::Forbidden, format!("In {at}, {}", finding.describe())))
        }
        Check::ContentType => {
            let types = types?;
            if types.supports(&string_value(doc, id)) {
                return None;
            }
            let list: Vec<&str> = types.iter().collect();
            Some((
                DetailCode::NotSupported,
                format!("In contentType, the value is not allowed. Supported types: {}", list.join(", ")),
            ))
        }
    }
}

/// True when `id` is the last step of `context` and its ancestors are the
/// steps before, every one in the message namespace.
fn matches_context(doc: &Document, id: NodeId, context: &[&str]) -> bool {
    let mut cur = Some(id);
    for step in context.iter().rev() {
        match cur.and_then(|n| doc.element(n).map(|e| (n, e))) {
            Some((n, e)) if e.is(NS, step) => cur = doc.parent(n),
            _ => return false,
        }
    }
    true
}

// ---------------------------------------------------------------------------
// Values and lexical forms
// ---------------------------------------------------------------------------

/// XML's whitespace (S production); also XPath's for `normalize-space`.
pub(crate) fn is_xml_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_xml_ws_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// XPath `string(.)`: all text below `id`. Borrowed when there is one text
/// node, which is the usual case and matters for 40 MB of base64.
pub(crate) fn string_value(doc: &Document, id: NodeId) -> Cow<'_, str> {
    let mut out: Cow<'_, str> = Cow::Borrowed("");
    for n in doc.descendants(id) {
        if let Some(t) = TextRef::of(doc.kind(n)) {
            append_text(&mut out, t);
        }
    }
    out
}

/// Appends a text piece, borrowing when it is the first. Large text is read
/// whole: a simple-typed value is never large unless a sender made it so,
/// and then it must still be judged by its real value.
fn append_text<'d>(out: &mut Cow<'d, str>, t: TextRef<'d>) {
    match t {
        TextRef::Inline(t) if out.is_empty() => *out = Cow::Borrowed(t),
        TextRef::Inline(t) => out.to_mut().push_str(t),
        TextRef::Large(t) => out.to_mut().push_str(&t.to_string_lossy().unwrap_or_else(|_| "\u{FFFD}".into())),
    }
}

/// Text directly inside a simple-typed element.
fn direct_text(doc: &Document, id: NodeId) -> Cow<'_, str> {
    let mut out: Cow<'_, str> = Cow::Borrowed("");
    for t in text_parts(doc, id) {
        append_text(&mut out, t);
    }
    out
}

/// Characters of the text directly inside `id`, counted without reading
/// large text into memory (its value is ASCII: one byte, one character).
fn direct_text_chars(doc: &Document, id: NodeId) -> usize {
    text_parts(doc, id)
        .map(|t| match t {
            TextRef::Inline(t) => t.chars().count(),
            TextRef::Large(t) => {
                let counted = t.reader().and_then(|mut r| std::io::copy(&mut r, &mut std::io::sink()));
                usize::try_from(counted.unwrap_or_else(|_| t.raw_len())).unwrap_or(usize::MAX)
            }
        })
        .sum()
}

/// The text nodes directly inside `id`, in order.
pub(crate) fn text_parts(doc: &Document, id: NodeId) -> impl Iterator<Item = TextRef<'_>> + '_ {
    doc.children(id).iter().filter_map(|&c| TextRef::of(doc.kind(c)))
}

/// `normalize-space(.)` is not empty.
fn has_non_ws_text(doc: &Document, id: NodeId) -> bool {
    doc.descendants(id).any(|n| match doc.kind(n) {
        NodeKind::Text(t) => t.bytes().any(|b| !is_xml_ws(b)),
        NodeKind::LargeText(t) => {
            let mut any = false;
            let read = t.reader().and_then(|mut r| read_blocks(&mut r, |block| {
                any |= block.iter().any(|&b| !is_xml_ws(b));
                !any
            }));
            any || read.is_err()
        }
        _ => false,
    })
}

/// XPath of `id` below the payload, e.g.
/// `/messagePayload/message/messageBody/documents[2]/ContentFiles/content`.
/// Message elements by local name, extension elements by qualified name;
/// a position only where same-named siblings exist.
pub fn xpath(doc: &Document, payload: NodeId, id: NodeId) -> String {
    let mut steps: Vec<String> = Vec::new();
    let mut cur = Some(id);
    while let Some(n) = cur {
        let Some(e) = doc.element(n) else { break };
        let mut step = if e.namespace() == Some(NS) { e.local.clone() } else { e.qname() };
        if let Some(parent) = doc.parent(n) {
            let same = |&s: &NodeId| doc.element(s).is_some_and(|x| x.local == e.local && x.ns == e.ns);
            let siblings: Vec<NodeId> = doc.child_elements(parent).filter(same).collect();
            if siblings.len() > 1 {
                let pos = siblings.iter().position(|&s| s == n).map_or(0, |p| p + 1);
                step.push_str(&format!("[{pos}]"));
            }
        }
        steps.push(step);
        if n == payload {
            break;
        }
        cur = doc.parent(n);
    }
    steps.reverse();
    format!("/{}", steps.join("/"))
}

/// The schematron's UUID pattern:
/// `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`.
pub fn is_uuid_text(s: &str) -> bool {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let mut parts = s.split('-');
    GROUPS.iter().all(|&n| parts.next().is_some_and(|p| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit())))
        && parts.next().is_none()
}

/// The schematron's timestamp pattern, as XPath regex semantics read it:
/// `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}.[0-9]{1,3}Z$`.
/// The unescaped `.` matches any character but a line end; the structure
/// phase has already required a real xs:dateTime, so in practice it is `.`.
pub fn matches_timestamp_pattern(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    let digits = |range: std::ops::Range<usize>| chars.get(range).is_some_and(|r| r.iter().all(char::is_ascii_digit));
    let is = |i: usize, c: char| chars.get(i) == Some(&c);
    let fixed = digits(0..4)
        && is(4, '-')
        && digits(5..7)
        && is(7, '-')
        && digits(8..10)
        && is(10, 'T')
        && digits(11..13)
        && is(13, ':')
        && digits(14..16)
        && is(16, ':')
        && digits(17..19)
        && chars.get(19).is_some_and(|&c| c != '\n' && c != '\r');
    if !fixed || chars.last() != Some(&'Z') {
        return false;
    }
    let fraction = chars.get(20..chars.len() - 1).unwrap_or(&[]);
    (1..=3).contains(&fraction.len()) && fraction.iter().all(char::is_ascii_digit)
}

/// B1.3.3: an organisation id is `0203:` followed by the organisation's
/// domain name (`0203:habo.se`). The domain is checked as an RFC 1123 host
/// name with at least two labels and a top-level label starting with a
/// letter. (B1.3.3's example `0203:http://inera.se` is not a domain name and
/// is refused; DIGG's other examples and the README use bare domains.)
pub fn is_org_id(s: &str) -> bool {
    let Some(domain) = s.strip_prefix(ORG_ID_PREFIX) else { return false };
    if domain.is_empty() || domain.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    labels.len() >= 2
        && labels.iter().all(label_ok)
        && labels.last().is_some_and(|tld| tld.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()))
}

/// Base64 text is fed to the decoder in whitespace-free chunks of this many
/// characters (a multiple of four), so neither checking nor decoding needs a
/// copy of the whole text.
const BASE64_CHUNK: usize = 64 * 1024;

/// Feeds the base64 text spread over `parts` to `chunk`, skipping XML
/// whitespace (xs:base64Binary and MIME line breaks allow it). Every chunk
/// but the last has [`BASE64_CHUNK`] characters. Returns false as soon as
/// `chunk` does, or when data follows padding.
pub(crate) fn for_each_base64_chunk<'a, T: Into<TextRef<'a>>>(
    parts: impl IntoIterator<Item = T>,
    mut chunk: impl FnMut(&[u8]) -> bool,
) -> bool {
    let mut buf: Vec<u8> = Vec::with_capacity(BASE64_CHUNK);
    let mut padded = false;
    let mut feed = |block: &[u8]| -> bool {
        for mut segment in block.split(|&b| is_xml_ws(b)) {
            while !segment.is_empty() {
                if padded {
                    return false;
                }
                let take = (BASE64_CHUNK - buf.len()).min(segment.len());
                buf.extend_from_slice(&segment[..take]);
                segment = &segment[take..];
                if buf.len() == BASE64_CHUNK {
                    if !chunk(&buf) {
                        return false;
                    }
                    padded = buf.last() == Some(&b'=');
                    buf.clear();
                }
            }
        }
        true
    };
    for part in parts {
        let fed = match part.into() {
            TextRef::Inline(t) => feed(t.as_bytes()),
            // A read error fails the check: content that cannot be read
            // cannot be accepted.
            TextRef::Large(t) => {
                let mut ok = true;
                let read = t.reader().and_then(|mut r| read_blocks(&mut r, |block| {
                    ok = feed(block);
                    ok
                }));
                ok && read.is_ok()
            }
        };
        if !fed {
            return false;
        }
    }
    buf.is_empty() || chunk(&buf)
}

/// Reads `reader` in blocks until it ends or `f` returns false.
fn read_blocks(reader: &mut impl std::io::Read, mut f: impl FnMut(&[u8]) -> bool) -> std::io::Result<()> {
    let mut block = vec![0u8; BASE64_CHUNK];
    loop {
        let n = reader.read(&mut block)?;
        if n == 0 || !f(&block[..n]) {
            return Ok(());
        }
    }
}

/// Canonical RFC 4648 base64 (padding required, no stray bits), whitespace
/// allowed between characters. Decodes into a small scratch buffer only.
pub fn is_base64<'a, T: Into<TextRef<'a>>>(parts: impl IntoIterator<Item = T>) -> bool {
    let mut scratch = vec![0u8; BASE64_CHUNK / 4 * 3];
    let engine = base64::engine::general_purpose::STANDARD;
    for_each_base64_chunk(parts, |c| engine.decode_slice(c, &mut scratch).is_ok())
}

/// An xs:dateTime split into its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct XsDateTime {
    pub year: i64,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub nanosecond: u32,
    /// Minutes east of UTC; `None` when the value has no time zone.
    pub offset_minutes: Option<i32>,
}

/// The xs:dateTime lexical space of XML Schema 1.0:
/// `-?YYYY-MM-DDThh:mm:ss(.s+)?(Z|(+|-)hh:mm)?`, with real calendar days,
/// `24:00:00` only as midnight ending the day, and no year 0000.
pub(crate) fn parse_xs_datetime(s: &str) -> Option<XsDateTime> {
    let b = s.as_bytes();
    let mut i = 0usize;
    let negative = b.first() == Some(&b'-');
    if negative {
        i = 1;
    }
    let year_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let year_len = i - year_start;
    if !(4..=12).contains(&year_len) || (year_len > 4 && b[year_start] == b'0') {
        return None;
    }
    let year: i64 = s.get(year_start..i)?.parse().ok()?;
    if year == 0 {
        return None;
    }
    let year = if negative { -year } else { year };

    let two = |i: usize| -> Option<u8> {
        let d = b.get(i..i + 2)?;
        d.iter().all(u8::is_ascii_digit).then(|| (d[0] - b'0') * 10 + (d[1] - b'0'))
    };
    let expect = |i: usize, c: u8| b.get(i) == Some(&c);

    if !expect(i, b'-') {
        return None;
    }
    let month = two(i + 1)?;
    if !expect(i + 3, b'-') {
        return None;
    }
    let day = two(i + 4)?;
    if !expect(i + 6, b'T') {
        return None;
    }
    let hour = two(i + 7)?;
    if !expect(i + 9, b':') {
        return None;
    }
    let minute = two(i + 10)?;
    if !expect(i + 12, b':') {
        return None;
    }
    let second = two(i + 13)?;
    i += 15;

    let mut nanosecond = 0u32;
    let mut fraction_zero = true;
    if expect(i, b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            let d = u32::from(b[i] - b'0');
            let place = i - start;
            if place < 9 {
                nanosecond += d * 10u32.pow(8 - place as u32);
            }
            fraction_zero &= d == 0;
            i += 1;
        }
        if i == start {
            return None;
        }
    }

    let offset_minutes = match b.get(i) {
        None => None,
        Some(b'Z') => {
            i += 1;
            Some(0)
        }
        Some(&sign @ (b'+' | b'-')) => {
            let hh = two(i + 1)?;
            if !expect(i + 3, b':') {
                return None;
            }
            let mm = two(i + 4)?;
            if hh > 14 || mm > 59 || (hh == 14 && mm != 0) {
                return None;
            }
            i += 6;
            let m = i32::from(hh) * 60 + i32::from(mm);
            Some(if sign == b'-' { -m } else { m })
        }
        Some(_) => return None,
    };
    if i != b.len() {
        return None;
    }

    let end_of_day = hour == 24 && minute == 0 && second == 0 && fraction_zero;
    let valid = (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && (hour <= 23 || end_of_day)
        && minute <= 59
        && second <= 59;
    valid.then_some(XsDateTime { year, month, day, hour, minute, second, nanosecond, offset_minutes })
}

fn days_in_month(year: i64, month: u8) -> u8 {
    // XSD 1.0 has no year 0: year -1 is astronomical year 0, a leap year.
    let y = if year < 0 { year + 1 } else { year };
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xs_datetime_lexical_space() {
        for ok in [
            "2019-08-22T07:27:15.433Z",
            "2019-08-22T07:27:15Z",
            "2019-08-22T07:27:15",
            "2019-08-22T07:27:15.1+14:00",
            "2019-08-22T07:27:15-05:30",
            "2020-02-29T00:00:00Z",
            "2019-12-31T24:00:00.000Z",
            "-0044-03-15T12:00:00Z",
            "12019-01-01T00:00:00Z",
        ] {
            assert!(parse_xs_datetime(ok).is_some(), "{ok}");
        }
        for bad in [
            "3 Sept. 2019",
            "2019-08-22",
            "2019-8-22T07:27:15Z",
            "2019-02-29T00:00:00Z",
            "2019-04-31T00:00:00Z",
            "2019-13-01T00:00:00Z",
            "2019-08-22T24:00:01Z",
            "2019-08-22T24:00:00.5Z",
            "2019-08-22T07:60:15Z",
            "2019-08-22T07:27:60Z",
            "2019-08-22T07:27:15.Z",
            "2019-08-22T07:27:15+15:00",
            "2019-08-22T07:27:15+14:30",
            "2019-08-22T07:27:15z",
            "0000-01-01T00:00:00Z",
            "02019-01-01T00:00:00Z",
            "2019-08-22T07:27:15Z ",
        ] {
            assert!(parse_xs_datetime(bad).is_none(), "{bad}");
        }
        let t = parse_xs_datetime("2019-08-22T07:27:15.433-01:00").unwrap();
        assert_eq!((t.nanosecond, t.offset_minutes), (433_000_000, Some(-60)));
    }

    #[test]
    fn timestamp_pattern_is_the_schematrons() {
        assert!(matches_timestamp_pattern("2019-08-22T07:27:15.433Z"));
        assert!(matches_timestamp_pattern("2019-08-22T07:27:15.1Z"));
        assert!(!matches_timestamp_pattern("2019-08-22T07:27:15Z"));
        assert!(!matches_timestamp_pattern("2019-08-22T07:27:15.1234Z"));
        assert!(!matches_timestamp_pattern("2019-09-03T12:04:13.123"));
        assert!(!matches_timestamp_pattern("2019-09-03T12:04:13.123+00:00"));
        // The pattern's unescaped dot.
        assert!(matches_timestamp_pattern("2019-08-22T07:27:15,433Z"));
        assert!(!matches_timestamp_pattern("2019-08-22T07:27:15\n433Z"));
    }

    #[test]
    fn uuid_pattern() {
        assert!(is_uuid_text("3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9"));
        assert!(is_uuid_text("3A94B4ED-A6D7-41E2-945D-B3FA91E8A6E9"));
        assert!(!is_uuid_text("3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e"));
        assert!(!is_uuid_text("3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9-"));
        assert!(!is_uuid_text("{3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9}"));
        assert!(!is_uuid_text("3a94b4eda6d741e2945db3fa91e8a6e9"));
        assert!(!is_uuid_text(" 3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9"));
    }

    #[test]
    fn org_ids() {
        assert!(is_org_id("0203:habo.se"));
        assert!(is_org_id("0203:test.recipient.inera.se"));
        assert!(is_org_id("0203:xn--hbo-qla.se"));
        for bad in [
            "habo.se",
            "0203:",
            "0203:se",
            "0203:http://inera.se",
            "0203:-a.se",
            "0203:a..se",
            "0203:a.se.",
            "0204:habo.se",
            "0203:10.0.0.1",
            " 0203:habo.se",
        ] {
            assert!(!is_org_id(bad), "{bad}");
        }
    }

    #[test]
    fn base64_checks_whole_text_across_chunks() {
        assert!(is_base64(["QUJD"]));
        assert!(is_base64(["QU\nJD", "RA=="]));
        assert!(is_base64([""]));
        assert!(!is_base64(["QUJ"]));
        assert!(is_base64(["QUI="]));
        assert!(!is_base64(["QUJ="])); // stray bits
        assert!(!is_base64(["QQ==QQ=="]));
        assert!(!is_base64(["!!!!"]));
        let long = "QUJD".repeat(BASE64_CHUNK / 4 * 3);
        assert!(is_base64([long.as_str(), "RA=="]));
        // Padding ending one chunk, more data in the next.
        let mut padded = "QUJD".repeat(BASE64_CHUNK / 4 - 1);
        padded.push_str("QQ==");
        assert!(is_base64([padded.as_str(), " \n"]));
        assert!(!is_base64([padded.as_str(), "QUJD"]));
    }

    #[test]
    fn content_type_policy_always_has_pdf() {
        let t = SupportedContentTypes::pdf_only();
        assert!(t.supports("application/pdf"));
        assert!(t.supports("Application/PDF; name=a.pdf"));
        assert!(!t.supports("image/png"));
        let d = SupportedContentTypes::default();
        assert!(d.supports("image/png") && d.supports("text/plain;charset=utf-8") && !d.supports("image/gif"));
        let c: SupportedContentTypes = ["image/gif"].into_iter().collect();
        assert!(c.supports("application/pdf") && c.supports("image/gif") && !c.supports("PNG"));
    }

    /// Text the reader leaves on disk (large base64 runs) is judged as in
    /// memory: a label too long is counted without being read whole.
    #[test]
    fn large_text_on_disk_is_judged_as_in_memory() {
        use crate::sdk::message::{ContentFile, OrgAddress, SdkMessage};
        use crate::spool::{Blob, Spool};
        let message = SdkMessage::builder(
            time::OffsetDateTime::now_utc(),
            OrgAddress::new("0203:a.se", "a.in"),
            OrgAddress::new("0203:b.se", "b.in"),
        )
        .label("LABELMARK")
        .attachment(ContentFile::new("a.pdf", "application/pdf", vec![b'%'; 64 * 1024]))
        .build()
        .unwrap();
        let xml = String::from_utf8(message.to_xml()).unwrap();
        let spool = Spool::temporary().with_memory_threshold(0);
        let limits = XmlLimits::default();
        for label in ["LABELMARK".to_owned(), "A".repeat(8 * 1024)] {
            let xml = xml.replacen("LABELMARK", &label, 1);
            let on_disk = crate::xml::parse_blob(&Blob::from(xml.as_bytes()), &limits, &spool).unwrap();
            let is_large = |n: &NodeId| matches!(TextRef::of(on_disk.kind(*n)), Some(TextRef::Large(_)));
            let large = on_disk.descendants(NodeId::DOCUMENT).filter(is_large).count();
            assert_eq!(large, if label.len() > 4096 { 2 } else { 1 }, "the content (and a long label) stay on disk");
            let in_memory = xml::parse(xml.as_bytes(), &limits).unwrap();
            let (a, b) = (validate_message(&on_disk, NodeId::DOCUMENT), validate_message(&in_memory, NodeId::DOCUMENT));
            assert_eq!(a, b);
            assert_eq!(a.is_accepted(), label.len() <= LABEL_MAX_CHARS, "{a:?}");
        }
    }
}
