//! SDK Meddelande v3 (`urn:riv:infrastructure:messaging:MessageWithAttachments:3`,
//! root `messagePayload/message`) as Rust types.
//!
//! A [`SdkMessage`] comes from [`SdkMessage::parse`], which only succeeds for
//! a message that passes every structural and business rule of
//! [`message_rules`](super::message_rules) except the receiver's attachment
//! policy, or from [`SdkMessage::builder`], which runs the same rules on what
//! it would write. Fields are public so callers can read them freely; a
//! message changed by hand should be checked again
//! ([`message_rules::validate_message`](super::message_rules::validate_message)
//! on [`SdkMessage::to_document`]).
//!
//! Extension elements (the schema's `xs:any ##other`) are validated but not
//! kept in the model.

use std::fmt;

use base64::Engine as _;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};
use uuid::Uuid;

use super::codes::{Problem, Validation};
use super::message_rules::{self, for_each_base64_chunk, parse_xs_datetime, text_parts, xpath};
use crate::limits::XmlLimits;
use crate::xml::{self, serialize, Document, Element, NodeId, NodeKind};

/// The message's namespace.
pub const NS: &str = "urn:riv:infrastructure:messaging:MessageWithAttachments:3";
/// The prefix [`SdkMessage::to_xml`] writes, as in DIGG's examples.
pub const PREFIX: &str = "ns2";
/// `senderID/root` and `recipientID/root`.
pub const ORG_ID_ROOT: &str = "iso6523-actorid-upis";
/// What every organisation id starts with (ISO 6523 ICD 0203, Swedish domains).
pub const ORG_ID_PREFIX: &str = "0203:";
/// `subOrganization/organizationId/root`: the id is a functional address.
pub const FUNCTIONAL_ADDRESS_ROOT: &str = "urn:riv:infrastructure:messaging:functionalAddress";
/// Longest label (subject, party, person, sub-organisation, reference).
pub const LABEL_MAX_CHARS: usize = 256;

// ---------------------------------------------------------------------------
// Value types
// ---------------------------------------------------------------------------

/// A UUID as written in the message (`messageId`, `conversationId`,
/// `refToMessageId`). Keeps the text so comparisons with the XHE and AS4
/// copies are exact; only text matching DIGG's UUID pattern is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageUuid {
    text: String,
    value: Uuid,
}

impl MessageUuid {
    /// A new random (version 4) id.
    pub fn new_v4() -> Self {
        Uuid::new_v4().into()
    }

    /// Accepts exactly DIGG's pattern: 8-4-4-4-12 hex digits, either case.
    pub fn parse(text: &str) -> Option<Self> {
        if !message_rules::is_uuid_text(text) {
            return None;
        }
        let value = Uuid::try_parse(text).ok()?;
        Some(Self { text: text.to_owned(), value })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn uuid(&self) -> Uuid {
        self.value
    }
}

/// Lower-case hyphenated form.
impl From<Uuid> for MessageUuid {
    fn from(value: Uuid) -> Self {
        Self { text: value.as_hyphenated().to_string(), value }
    }
}

impl fmt::Display for MessageUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq<str> for MessageUuid {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for MessageUuid {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

/// `creationDateTime`: the text as written and the instant it denotes.
/// Only DIGG's form is accepted: UTC, `YYYY-MM-DDThh:mm:ss.s{1,3}Z`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreationDateTime {
    literal: String,
    instant: OffsetDateTime,
}

impl CreationDateTime {
    /// `t` in UTC, truncated to milliseconds, written
    /// `YYYY-MM-DDThh:mm:ss.sssZ`. `None` for years outside 1..=9999, which
    /// DIGG's four-digit pattern cannot express.
    pub fn from_datetime(t: OffsetDateTime) -> Option<Self> {
        let t = t.checked_to_offset(UtcOffset::UTC)?;
        if !(1..=9999).contains(&t.year()) {
            return None;
        }
        // In UTC, the envelope's timestamp form ends in "Z", as SDK wants here.
        Self::parse(&super::xhe::format_timestamp(t))
    }

    /// Accepts text that is both a valid xs:dateTime and matches DIGG's
    /// timestamp pattern.
    pub fn parse(literal: &str) -> Option<Self> {
        if !message_rules::matches_timestamp_pattern(literal) {
            return None;
        }
        let x = parse_xs_datetime(literal)?;
        let year = i32::try_from(x.year).ok()?;
        let date = Date::from_calendar_date(year, Month::try_from(x.month).ok()?, x.day).ok()?;
        // xs:dateTime allows 24:00:00 for the midnight that ends a day.
        let (date, hour) = if x.hour == 24 { (date.next_day()?, 0) } else { (date, x.hour) };
        let time = Time::from_hms_nano(hour, x.minute, x.second, x.nanosecond).ok()?;
        let instant = PrimitiveDateTime::new(date, time).assume_utc();
        Some(Self { literal: literal.to_owned(), instant })
    }

    pub fn as_str(&self) -> &str {
        &self.literal
    }

    pub fn instant(&self) -> OffsetDateTime {
        self.instant
    }
}

/// HL7-style instance identifier (`IIType`): a code system and an id in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ii {
    pub root: String,
    pub extension: String,
}

impl Ii {
    pub fn new(root: impl Into<String>, extension: impl Into<String>) -> Self {
        Self { root: root.into(), extension: extension.into() }
    }

    /// An organisation id (`iso6523-actorid-upis`, `0203:domain`).
    pub fn organization(org_id: impl Into<String>) -> Self {
        Self::new(ORG_ID_ROOT, org_id)
    }

    /// A functional address (mailbox inside an organisation).
    pub fn functional_address(id: impl Into<String>) -> Self {
        Self::new(FUNCTIONAL_ADDRESS_ROOT, id)
    }
}

// ---------------------------------------------------------------------------
// The message
// ---------------------------------------------------------------------------

/// One SDK message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkMessage {
    pub header: MessageHeader,
    /// At least one.
    pub documents: Vec<DigitalDocument>,
}

/// `messageHeader`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHeader {
    pub creation_date_time: CreationDateTime,
    pub message_id: MessageUuid,
    pub conversation_id: MessageUuid,
    pub ref_to_message_id: Option<MessageUuid>,
    /// The subject. May hold personal data; never put it in a receipt.
    pub label: Option<String>,
    pub confidentiality: bool,
    pub generating_system: Option<Ii>,
    pub recipient: Recipient,
    pub sender: Sender,
}

/// A sending or receiving organisation. `A` is the attention block:
/// mandatory for the recipient (the functional address is the address),
/// optional for the sender, as the schema has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party<A> {
    /// `recipientID` / `senderID`: the organisation id.
    pub id: Ii,
    /// The organisation's name.
    pub label: Option<String>,
    pub attention: A,
}

pub type Recipient = Party<Attention>;
pub type Sender = Party<Option<Attention>>;

/// `attention`: the functional address and any referenced persons and cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attention {
    pub persons: Vec<Person>,
    pub sub_organization: SubOrganization,
    pub references: Vec<Reference>,
}

impl Attention {
    /// Just a functional address.
    pub fn functional_address(id: impl Into<String>) -> Self {
        Self {
            persons: Vec::new(),
            sub_organization: SubOrganization { id: Ii::functional_address(id), label: None },
            references: Vec::new(),
        }
    }
}

/// `subOrganization`: the functional address (`id.extension`) and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubOrganization {
    pub id: Ii,
    pub label: Option<String>,
}

/// A referenced person. Both fields are personal data, so `Debug` hides them.
#[derive(Clone, PartialEq, Eq)]
pub struct Person {
    pub id: Option<Ii>,
    pub label: Option<String>,
}

impl fmt::Debug for Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Person")
            .field("id", &self.id.as_ref().map(|_| "<redacted>"))
            .field("label", &self.label.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A reference (case number, record id, sometimes a personal identity number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub id: Ii,
    pub label: Option<String>,
}

/// `documents`: a text message and/or attachments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitalDocument {
    pub document_id: String,
    pub document_name: Option<String>,
    /// Presentation order, "1" first.
    pub index: Option<String>,
    pub content_files: Vec<ContentFile>,
    /// Markdown (RFC 7763) texts.
    pub content_texts: Vec<String>,
}

impl DigitalDocument {
    /// A document with an id and nothing else yet.
    pub fn new(document_id: impl Into<String>) -> Self {
        Self {
            document_id: document_id.into(),
            document_name: None,
            index: None,
            content_files: Vec::new(),
            content_texts: Vec::new(),
        }
    }
}

/// `ContentFiles`: one attachment, decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct ContentFile {
    pub file_name: String,
    /// MIME type as given by the sender.
    pub content_type: String,
    pub content: Vec<u8>,
}

impl ContentFile {
    pub fn new(file_name: impl Into<String>, content_type: impl Into<String>, content: Vec<u8>) -> Self {
        Self { file_name: file_name.into(), content_type: content_type.into(), content }
    }
}

/// Shows the size, not megabytes of bytes.
impl fmt::Debug for ContentFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContentFile")
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .field("content", &format_args!("<{} bytes>", self.content.len()))
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Accessors
// ---------------------------------------------------------------------------

impl SdkMessage {
    pub fn message_id(&self) -> &str {
        self.header.message_id()
    }

    pub fn conversation_id(&self) -> &str {
        self.header.conversation_id()
    }

    pub fn ref_to_message_id(&self) -> Option<&str> {
        self.header.ref_to_message_id()
    }

    /// `senderID/extension`, e.g. `0203:habo.se`.
    pub fn sender_org_id(&self) -> &str {
        self.header.sender_org_id()
    }

    /// `recipientID/extension`.
    pub fn recipient_org_id(&self) -> &str {
        self.header.recipient_org_id()
    }

    /// The recipient's `subOrganization/organizationId/extension`; XHE's
    /// `HandlingServiceID` must equal it.
    pub fn recipient_functional_address(&self) -> &str {
        self.header.recipient_functional_address()
    }

    /// The sender's functional address, when the sender gave one.
    pub fn sender_functional_address(&self) -> Option<&str> {
        self.header.sender_functional_address()
    }
}

impl MessageHeader {
    pub fn message_id(&self) -> &str {
        self.message_id.as_str()
    }

    pub fn conversation_id(&self) -> &str {
        self.conversation_id.as_str()
    }

    pub fn ref_to_message_id(&self) -> Option<&str> {
        self.ref_to_message_id.as_ref().map(MessageUuid::as_str)
    }

    /// `senderID/extension`, e.g. `0203:habo.se`.
    pub fn sender_org_id(&self) -> &str {
        &self.sender.id.extension
    }

    /// `recipientID/extension`.
    pub fn recipient_org_id(&self) -> &str {
        &self.recipient.id.extension
    }

    /// The recipient's `subOrganization/organizationId/extension`.
    pub fn recipient_functional_address(&self) -> &str {
        &self.recipient.attention.sub_organization.id.extension
    }

    /// The sender's functional address, when the sender gave one.
    pub fn sender_functional_address(&self) -> Option<&str> {
        self.sender.attention.as_ref().map(|a| a.sub_organization.id.extension.as_str())
    }
}

// ---------------------------------------------------------------------------
// Builder
// ---------------------------------------------------------------------------

/// One end of a new message: organisation id, functional address, names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAddress {
    /// `0203:` + domain.
    pub org_id: String,
    pub functional_address: String,
    /// The organisation's name.
    pub label: Option<String>,
    /// The functional address's name.
    pub functional_address_label: Option<String>,
}

impl OrgAddress {
    pub fn new(org_id: impl Into<String>, functional_address: impl Into<String>) -> Self {
        Self {
            org_id: org_id.into(),
            functional_address: functional_address.into(),
            label: None,
            functional_address_label: None,
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_functional_address_label(mut self, label: impl Into<String>) -> Self {
        self.functional_address_label = Some(label.into());
        self
    }

    fn attention(self) -> (Ii, Option<String>, Attention) {
        let mut attention = Attention::functional_address(self.functional_address);
        attention.sub_organization.label = self.functional_address_label;
        (Ii::organization(self.org_id), self.label, attention)
    }
}

/// Builds an outgoing message. Defaults: a new v4 message id, a new
/// conversation (conversation id = message id), no reply reference, no
/// subject, confidentiality `true` (marking too much is the safe mistake
/// for a network that carries sensitive data).
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    created: OffsetDateTime,
    sender: OrgAddress,
    recipient: OrgAddress,
    message_id: MessageUuid,
    conversation_id: Option<MessageUuid>,
    ref_to_message_id: Option<MessageUuid>,
    label: Option<String>,
    confidentiality: bool,
    generating_system: Option<Ii>,
    sender_persons: Vec<Person>,
    recipient_persons: Vec<Person>,
    sender_references: Vec<Reference>,
    recipient_references: Vec<Reference>,
    main: Option<DigitalDocument>,
    documents: Vec<DigitalDocument>,
}

/// `documentID` of the document [`MessageBuilder::text`] and
/// [`MessageBuilder::attachment`] fill, as in DIGG's example.
pub const DEFAULT_DOCUMENT_ID: &str = "SDK-Meddelande";

impl SdkMessage {
    /// A new message created at `created` (the caller reads the clock).
    pub fn builder(created: OffsetDateTime, sender: OrgAddress, recipient: OrgAddress) -> MessageBuilder {
        MessageBuilder {
            created,
            sender,
            recipient,
            message_id: MessageUuid::new_v4(),
            conversation_id: None,
            ref_to_message_id: None,
            label: None,
            confidentiality: true,
            generating_system: None,
            sender_persons: Vec::new(),
            recipient_persons: Vec::new(),
            sender_references: Vec::new(),
            recipient_references: Vec::new(),
            main: None,
            documents: Vec::new(),
        }
    }
}

impl MessageBuilder {
    pub fn message_id(mut self, id: impl Into<MessageUuid>) -> Self {
        self.message_id = id.into();
        self
    }

    /// Continues an existing conversation.
    pub fn conversation_id(mut self, id: impl Into<MessageUuid>) -> Self {
        self.conversation_id = Some(id.into());
        self
    }

    pub fn ref_to_message_id(mut self, id: impl Into<MessageUuid>) -> Self {
        self.ref_to_message_id = Some(id.into());
        self
    }

    /// A reply: same conversation, referring to `original`.
    pub fn in_reply_to(self, original: &SdkMessage) -> Self {
        self.conversation_id(original.header.conversation_id.clone())
            .ref_to_message_id(original.header.message_id.clone())
    }

    /// The subject.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn confidentiality(mut self, confidential: bool) -> Self {
        self.confidentiality = confidential;
        self
    }

    pub fn generating_system(mut self, id: Ii) -> Self {
        self.generating_system = Some(id);
        self
    }

    pub fn sender_person(mut self, person: Person) -> Self {
        self.sender_persons.push(person);
        self
    }

    pub fn recipient_person(mut self, person: Person) -> Self {
        self.recipient_persons.push(person);
        self
    }

    pub fn sender_reference(mut self, reference: Reference) -> Self {
        self.sender_references.push(reference);
        self
    }

    pub fn recipient_reference(mut self, reference: Reference) -> Self {
        self.recipient_references.push(reference);
        self
    }

    /// Adds a Markdown text to the main document.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.main_document().content_texts.push(text.into());
        self
    }

    /// Adds an attachment to the main document.
    pub fn attachment(mut self, file: ContentFile) -> Self {
        self.main_document().content_files.push(file);
        self
    }

    /// Adds a document of the caller's making after the main one.
    pub fn document(mut self, document: DigitalDocument) -> Self {
        self.documents.push(document);
        self
    }

    fn main_document(&mut self) -> &mut DigitalDocument {
        self.main.get_or_insert_with(|| {
            let mut d = DigitalDocument::new(DEFAULT_DOCUMENT_ID);
            d.index = Some("1".to_owned());
            d
        })
    }

    /// The message, if it passes every rule a receiver applies except its
    /// attachment policy (which a sender cannot know) and the size limit
    /// (which applies to the bytes: run
    /// [`message_rules::validate_message_bytes`] on [`SdkMessage::to_xml`]).
    pub fn build(self) -> Result<SdkMessage, Validation> {
        let Some(creation_date_time) = CreationDateTime::from_datetime(self.created) else {
            return Err(Validation {
                problems: vec![Problem::bv(
                    super::DetailCode::Invariant,
                    "/messagePayload/message/messageHeader/creationDateTime",
                    "creationDateTime must be a UTC time in the years 0001 to 9999",
                )],
            });
        };
        let (recipient_id, recipient_label, mut recipient_attention) = self.recipient.attention();
        recipient_attention.persons = self.recipient_persons;
        recipient_attention.references = self.recipient_references;
        let (sender_id, sender_label, mut sender_attention) = self.sender.attention();
        sender_attention.persons = self.sender_persons;
        sender_attention.references = self.sender_references;
        let conversation_id = self.conversation_id.unwrap_or_else(|| self.message_id.clone());
        let message = SdkMessage {
            header: MessageHeader {
                creation_date_time,
                message_id: self.message_id,
                conversation_id,
                ref_to_message_id: self.ref_to_message_id,
                label: self.label,
                confidentiality: self.confidentiality,
                generating_system: self.generating_system,
                recipient: Party { id: recipient_id, label: recipient_label, attention: recipient_attention },
                sender: Party { id: sender_id, label: sender_label, attention: Some(sender_attention) },
            },
            documents: self.main.into_iter().chain(self.documents).collect(),
        };
        // Check what will be written, with the receiver's own rules.
        let (doc, root) = message.to_document();
        let validation = message_rules::check(&doc, root, None);
        if validation.is_accepted() {
            Ok(message)
        } else {
            Err(validation)
        }
    }
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

struct Writer {
    doc: Document,
}

impl Writer {
    fn element(&mut self, parent: NodeId, local: &str) -> NodeId {
        self.doc.append(parent, NodeKind::Element(Element::new_inherited(Some(PREFIX), local, NS)))
    }

    /// Takes the text by value so a large base64 string is moved, not copied.
    fn text(&mut self, parent: NodeId, local: &str, text: String) {
        let id = self.element(parent, local);
        self.doc.append(id, NodeKind::Text(text));
    }

    fn opt_text(&mut self, parent: NodeId, local: &str, text: &Option<String>) {
        if let Some(t) = text {
            self.text(parent, local, t.clone());
        }
    }

    fn ii(&mut self, parent: NodeId, local: &str, ii: &Ii) {
        let id = self.element(parent, local);
        self.text(id, "root", ii.root.clone());
        self.text(id, "extension", ii.extension.clone());
    }

    fn attention(&mut self, parent: NodeId, a: &Attention) {
        let id = self.element(parent, "attention");
        for p in &a.persons {
            let person = self.element(id, "person");
            if let Some(pid) = &p.id {
                self.ii(person, "personId", pid);
            }
            self.opt_text(person, "label", &p.label);
        }
        let sub = self.element(id, "subOrganization");
        self.ii(sub, "organizationId", &a.sub_organization.id);
        self.opt_text(sub, "label", &a.sub_organization.label);
        for r in &a.references {
            let reference = self.element(id, "reference");
            self.ii(reference, "referenceId", &r.id);
            self.opt_text(reference, "label", &r.label);
        }
    }
}

impl SdkMessage {
    /// The message as a tree, `ns2:messagePayload` at its root; the root's
    /// id is returned with it. For embedding in an XHE `PayloadContent`.
    pub fn to_document(&self) -> (Document, NodeId) {
        let (doc, root) = Document::with_root(Element::new_declared(Some(PREFIX), "messagePayload", NS));
        let mut w = Writer { doc };
        let message = w.element(root, "message");

        let h = &self.header;
        let header = w.element(message, "messageHeader");
        w.text(header, "creationDateTime", h.creation_date_time.as_str().to_owned());
        w.text(header, "messageId", h.message_id.as_str().to_owned());
        w.text(header, "conversationId", h.conversation_id.as_str().to_owned());
        if let Some(r) = &h.ref_to_message_id {
            w.text(header, "refToMessageId", r.as_str().to_owned());
        }
        w.opt_text(header, "label", &h.label);
        w.text(header, "confidentiality", h.confidentiality.to_string());
        if let Some(g) = &h.generating_system {
            w.ii(header, "generatingSystem", g);
        }
        let recipient = w.element(header, "recipient");
        w.ii(recipient, "recipientID", &h.recipient.id);
        w.opt_text(recipient, "label", &h.recipient.label);
        w.attention(recipient, &h.recipient.attention);
        let sender = w.element(header, "sender");
        w.ii(sender, "senderID", &h.sender.id);
        w.opt_text(sender, "label", &h.sender.label);
        if let Some(a) = &h.sender.attention {
            w.attention(sender, a);
        }

        let body = w.element(message, "messageBody");
        let engine = base64::engine::general_purpose::STANDARD;
        for d in &self.documents {
            let document = w.element(body, "documents");
            w.text(document, "documentID", d.document_id.clone());
            w.opt_text(document, "documentName", &d.document_name);
            w.opt_text(document, "index", &d.index);
            for f in &d.content_files {
                let file = w.element(document, "ContentFiles");
                w.text(file, "fileName", f.file_name.clone());
                w.text(file, "contentType", f.content_type.clone());
                w.text(file, "content", engine.encode(&f.content));
            }
            for t in &d.content_texts {
                let text = w.element(document, "ContentText");
                w.text(text, "characterSequence", t.clone());
            }
        }
        (w.doc, root)
    }

    /// The message as XML (UTF-8, no XML declaration: UTF-8 is XML's
    /// default, and leaving it out spares copying a 40 MB buffer).
    pub fn to_xml(&self) -> Vec<u8> {
        let (doc, _) = self.to_document();
        serialize(&doc, NodeId::DOCUMENT)
    }
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

impl SdkMessage {
    /// Reads the message at `element` (the `messagePayload` element, the
    /// document node, or a container like XHE's `PayloadContent`). Fails with
    /// every problem the receiver's rules find, attachment policy aside
    /// (check that with [`message_rules::validate_message_with`]).
    pub fn parse(doc: &Document, element: NodeId) -> Result<SdkMessage, Validation> {
        let payload = message_rules::find_payload(doc, element).map_err(single)?;
        let validation = message_rules::check(doc, payload, None);
        if !validation.is_accepted() {
            return Err(validation);
        }
        Reader { doc, payload }.payload().map_err(single)
    }

    /// Size check, XML parsing and [`SdkMessage::parse`] in one.
    pub fn from_xml(bytes: &[u8], limits: &XmlLimits) -> Result<SdkMessage, Validation> {
        if let Some(p) = message_rules::check_message_size(bytes.len()) {
            return Err(single(p));
        }
        let doc = xml::parse(bytes, limits).map_err(|e| single(message_rules::xml_error_problem(&e)))?;
        Self::parse(&doc, NodeId::DOCUMENT)
    }
}

impl MessageHeader {
    /// Reads only the `messageHeader` of the message at `element` (found as
    /// [`SdkMessage::parse`] finds it), without checking SDK's rules and
    /// without decoding the documents: for a message that was validated
    /// already (say with [`message_rules::validate_message_with`]) when only
    /// its header is needed. Fails, never panics, on a tree the rules would
    /// refuse.
    pub fn read(doc: &Document, element: NodeId) -> Result<MessageHeader, Validation> {
        let payload = message_rules::find_payload(doc, element).map_err(single)?;
        let reader = Reader { doc, payload };
        let message = reader.child(payload, "message").map_err(single)?;
        reader.header(reader.child(message, "messageHeader").map_err(single)?).map_err(single)
    }
}

fn single(p: Problem) -> Validation {
    Validation { problems: vec![p] }
}

/// Reads a message the rules have accepted. Every accessor still returns a
/// `Result`: the reader must not panic whatever tree it is handed.
struct Reader<'d> {
    doc: &'d Document,
    payload: NodeId,
}

impl Reader<'_> {
    fn missing(&self, parent: NodeId, local: &str) -> Problem {
        Problem::sv_structure(xpath(self.doc, self.payload, parent), format!("Required element {local} is missing"))
    }

    fn child(&self, parent: NodeId, local: &str) -> Result<NodeId, Problem> {
        self.doc.child_named(parent, NS, local).ok_or_else(|| self.missing(parent, local))
    }

    fn text(&self, id: NodeId) -> String {
        message_rules::string_value(self.doc, id).into_owned()
    }

    fn child_text(&self, parent: NodeId, local: &str) -> Result<String, Problem> {
        Ok(self.text(self.child(parent, local)?))
    }

    fn opt_text(&self, parent: NodeId, local: &str) -> Option<String> {
        self.doc.child_named(parent, NS, local).map(|id| self.text(id))
    }

    fn ii(&self, id: NodeId) -> Result<Ii, Problem> {
        Ok(Ii { root: self.child_text(id, "root")?, extension: self.child_text(id, "extension")? })
    }

    fn child_ii(&self, parent: NodeId, local: &str) -> Result<Ii, Problem> {
        self.ii(self.child(parent, local)?)
    }

    fn uuid(&self, id: NodeId) -> Result<MessageUuid, Problem> {
        MessageUuid::parse(&message_rules::string_value(self.doc, id)).ok_or_else(|| {
            Problem::bv(super::DetailCode::Invariant, xpath(self.doc, self.payload, id), "value is not a valid UUID")
        })
    }

    fn payload(&self) -> Result<SdkMessage, Problem> {
        let message = self.child(self.payload, "message")?;
        let header = self.header(self.child(message, "messageHeader")?)?;
        let body = self.child(message, "messageBody")?;
        let documents =
            self.doc.children_named(body, NS, "documents").map(|d| self.document(d)).collect::<Result<Vec<_>, _>>()?;
        Ok(SdkMessage { header, documents })
    }

    fn header(&self, h: NodeId) -> Result<MessageHeader, Problem> {
        let created = self.child(h, "creationDateTime")?;
        let creation_date_time =
            CreationDateTime::parse(&message_rules::string_value(self.doc, created)).ok_or_else(|| {
                Problem::bv(super::DetailCode::Invariant, xpath(self.doc, self.payload, created), "invalid timestamp")
            })?;
        let confidentiality = self.child(h, "confidentiality")?;
        let confidentiality = matches!(
            message_rules::string_value(self.doc, confidentiality).trim_matches(|c: char| c.is_ascii_whitespace()),
            "true" | "1"
        );
        let recipient = self.child(h, "recipient")?;
        let sender = self.child(h, "sender")?;
        Ok(MessageHeader {
            creation_date_time,
            message_id: self.uuid(self.child(h, "messageId")?)?,
            conversation_id: self.uuid(self.child(h, "conversationId")?)?,
            ref_to_message_id: self.doc.child_named(h, NS, "refToMessageId").map(|r| self.uuid(r)).transpose()?,
            label: self.opt_text(h, "label"),
            confidentiality,
            generating_system: self.doc.child_named(h, NS, "generatingSystem").map(|g| self.ii(g)).transpose()?,
            recipient: Party {
                id: self.child_ii(recipient, "recipientID")?,
                label: self.opt_text(recipient, "label"),
                attention: self.attention(self.child(recipient, "attention")?)?,
            },
            sender: Party {
                id: self.child_ii(sender, "senderID")?,
                label: self.opt_text(sender, "label"),
                attention: self.doc.child_named(sender, NS, "attention").map(|a| self.attention(a)).transpose()?,
            },
        })
    }

    fn attention(&self, a: NodeId) -> Result<Attention, Problem> {
        let persons = self
            .doc
            .children_named(a, NS, "person")
            .map(|p| {
                Ok(Person {
                    id: self.doc.child_named(p, NS, "personId").map(|i| self.ii(i)).transpose()?,
                    label: self.opt_text(p, "label"),
                })
            })
            .collect::<Result<Vec<_>, Problem>>()?;
        let sub = self.child(a, "subOrganization")?;
        let references = self
            .doc
            .children_named(a, NS, "reference")
            .map(|r| Ok(Reference { id: self.child_ii(r, "referenceId")?, label: self.opt_text(r, "label") }))
            .collect::<Result<Vec<_>, Problem>>()?;
        Ok(Attention {
            persons,
            sub_organization: SubOrganization {
                id: self.child_ii(sub, "organizationId")?,
                label: self.opt_text(sub, "label"),
            },
            references,
        })
    }

    fn document(&self, d: NodeId) -> Result<DigitalDocument, Problem> {
        let content_files = self
            .doc
            .children_named(d, NS, "ContentFiles")
            .map(|f| {
                let content = self.child(f, "content")?;
                Ok(ContentFile {
                    file_name: self.child_text(f, "fileName")?,
                    content_type: self.child_text(f, "contentType")?,
                    content: self.base64(content)?,
                })
            })
            .collect::<Result<Vec<_>, Problem>>()?;
        let content_texts = self
            .doc
            .children_named(d, NS, "ContentText")
            .map(|t| self.child_text(t, "characterSequence"))
            .collect::<Result<Vec<_>, Problem>>()?;
        Ok(DigitalDocument {
            document_id: self.child_text(d, "documentID")?,
            document_name: self.opt_text(d, "documentName"),
            index: self.opt_text(d, "index"),
            content_files,
            content_texts,
        })
    }

    /// Decodes straight from the tree's text into one buffer sized up front:
    /// no whitespace-stripped copy of the text and no regrowing.
    fn base64(&self, content: NodeId) -> Result<Vec<u8>, Problem> {
        let text_len: usize = text_parts(self.doc, content).map(str::len).sum();
        let mut out = Vec::with_capacity(text_len / 4 * 3 + 3);
        let engine = base64::engine::general_purpose::STANDARD;
        let ok =
            for_each_base64_chunk(text_parts(self.doc, content), |chunk| engine.decode_vec(chunk, &mut out).is_ok());
        if ok {
            Ok(out)
        } else {
            Err(Problem::bv(
                super::DetailCode::Invariant,
                xpath(self.doc, self.payload, content),
                "In ContentFiles/content, value must be a valid base64 encoded string (RFC 4648)",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn sample() -> MessageBuilder {
        SdkMessage::builder(
            datetime!(2024-05-06 07:08:09.123456 +02:00),
            OrgAddress::new("0203:habo.se", "SE2321000016-sender"),
            OrgAddress::new("0203:arbetsformedlingen.se", "sub-funktion-org-id").with_label("Arbetsförmedlingen"),
        )
    }

    #[test]
    fn creation_time_is_utc_milliseconds() {
        let t = CreationDateTime::from_datetime(datetime!(2024-05-06 07:08:09.123456 +02:00)).unwrap();
        assert_eq!(t.as_str(), "2024-05-06T05:08:09.123Z");
        assert_eq!(t.instant(), datetime!(2024-05-06 05:08:09.123 UTC));
        assert!(CreationDateTime::from_datetime(datetime!(-0001-01-01 0:00 UTC)).is_none());
        assert_eq!(
            CreationDateTime::parse("2019-12-31T24:00:00.0Z").unwrap().instant(),
            datetime!(2020-01-01 0:00 UTC)
        );
        assert!(CreationDateTime::parse("2019-09-03T12:04:13.123").is_none());
    }

    #[test]
    fn builder_defaults_start_a_conversation() {
        let m = sample().text("Hej").build().unwrap();
        assert_eq!(m.message_id(), m.conversation_id());
        assert!(m.header.confidentiality);
        assert_eq!(m.header.message_id.uuid().get_version_num(), 4);
        assert_eq!(m.sender_org_id(), "0203:habo.se");
        assert_eq!(m.recipient_org_id(), "0203:arbetsformedlingen.se");
        assert_eq!(m.recipient_functional_address(), "sub-funktion-org-id");
        assert_eq!(m.sender_functional_address(), Some("SE2321000016-sender"));
        assert_eq!(m.ref_to_message_id(), None);

        let reply = sample().in_reply_to(&m).text("Svar").build().unwrap();
        assert_eq!(reply.conversation_id(), m.conversation_id());
        assert_eq!(reply.ref_to_message_id(), Some(m.message_id()));
        assert_ne!(reply.message_id(), m.message_id());
    }

    #[test]
    fn builder_refuses_what_a_receiver_would() {
        let no_content = sample().build().unwrap_err();
        assert!(no_content.problems.iter().all(|p| p.reason == super::super::ReasonCode::Sv));
        let bad_org = SdkMessage::builder(
            datetime!(2024-05-06 07:08:09 UTC),
            OrgAddress::new("habo.se", "x"),
            OrgAddress::new("0203:af.se", "y"),
        )
        .text("t")
        .build()
        .unwrap_err();
        assert_eq!(bad_org.problems.len(), 1);
        assert_eq!(bad_org.problems[0].text, "Wrong or unknown sender-id");
        assert_eq!(bad_org.problems[0].path, "/messagePayload/message/messageHeader/sender/senderID/extension");
    }

    #[test]
    fn header_alone_reads_as_the_whole_message_does() {
        let m = sample()
            .recipient_person(Person { id: Some(Ii::new("1.2.752.129.2.1.3.1", "191212121212")), label: None })
            .text("t")
            .attachment(ContentFile::new("a.pdf", "application/pdf", vec![7; 3000]))
            .build()
            .unwrap();
        let doc = xml::parse(&m.to_xml(), &XmlLimits::default()).unwrap();
        assert_eq!(MessageHeader::read(&doc, NodeId::DOCUMENT).unwrap(), m.header);
        // A tree without a message header is an error, not a panic.
        let other = xml::parse(b"<messagePayload xmlns=\"urn:x\"/>", &XmlLimits::default()).unwrap();
        assert!(MessageHeader::read(&other, NodeId::DOCUMENT).is_err());
    }

    #[test]
    fn round_trip_through_xml() {
        let m = sample()
            .label("Kallelse")
            .recipient_person(Person { id: Some(Ii::new("1.2.752.129.2.1.3.1", "191212121212")), label: None })
            .sender_reference(Reference { id: Ii::new("dnr", "2024-1"), label: Some("Diarienummer".into()) })
            .text("# Rubrik\r\n\ntext & <mer>")
            .attachment(ContentFile::new("a.pdf", "application/pdf", b"%PDF-1.7\n".to_vec()))
            .build()
            .unwrap();
        let xml = m.to_xml();
        let back = SdkMessage::from_xml(&xml, &XmlLimits::default()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn person_debug_is_redacted() {
        let p = Person { id: Some(Ii::new("1.2.752.129.2.1.3.1", "191212121212")), label: Some("Tolvan".into()) };
        let s = format!("{p:?}");
        assert!(!s.contains("191212121212") && !s.contains("Tolvan"));
    }
}
