//! The structured documents of the two SDK pilots: concern reports
//! (orosanmälan) with their acknowledgement and feedback, referrals (remiss)
//! and referral replies (remissvar). See `docs/pilots.md`.
//!
//! Each document has a JSON form (for the message API) and an XML form (the
//! `ContentFiles` attachment of an SDK Meddelande v3, schemas in
//! `schemas/pilot/`), with the same structure and names, read by one reader
//! and checked by one set of rules; and a Markdown rendering for the
//! message's `ContentText`, which any SDK client shows.
//!
//! Validation findings ([`FieldIssue`]) name the field and the rule and
//! never the value. This module does no I/O and never reads the clock: rules
//! about age use the document's own `created`.
//!
//! It does not check a reply against the conversation by itself: the node
//! calls [`check_reply_against_referral`] with the referral it sent.

pub mod common;
pub mod concern;
pub mod examples;
pub(crate) mod form;
pub mod ids;
pub mod issue;
mod markdown;
pub mod referral;
pub mod reply;
mod unchecked;

use serde_json::Value;
use uuid::Uuid;

pub use common::{Attachment, Common, Party, Urgency, SCHEMA_VERSION};
pub use concern::{ConcernAcknowledgement, ConcernFeedback, ConcernReport, Investigation};
pub use examples::example;
pub use issue::{FieldIssue, IssueRule, Severity};
pub use referral::Referral;
pub use reply::{check_reply_against_referral, ReferralRef, ReferralReply, ReplyType};
pub use unchecked::unchecked_xml;

use crate::audit::PersonId;
use form::{Obj, OutObj};
use issue::Issues;

pub const NS_CONCERN_REPORT: &str = "urn:brygga:pilot:concern-report:1";
pub const NS_REFERRAL: &str = "urn:brygga:pilot:referral:1";
pub const NS_REFERRAL_REPLY: &str = "urn:brygga:pilot:referral-reply:1";

/// The media type of the XML form, as an SDK content file.
pub const XML_MEDIA_TYPE: &str = "application/xml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    ConcernReport,
    ConcernAcknowledgement,
    ConcernFeedback,
    Referral,
    ReferralReply,
}

impl DocumentKind {
    /// Whether a document of this kind opens a conversation (the others
    /// reply on one).
    pub fn starts_conversation(self) -> bool {
        matches!(self, DocumentKind::ConcernReport | DocumentKind::Referral)
    }

    pub const ALL: [DocumentKind; 5] = [
        DocumentKind::ConcernReport,
        DocumentKind::ConcernAcknowledgement,
        DocumentKind::ConcernFeedback,
        DocumentKind::Referral,
        DocumentKind::ReferralReply,
    ];

    /// The name used in the JSON form's `documentType` and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::ConcernReport => "concern-report",
            DocumentKind::ConcernAcknowledgement => "concern-acknowledgement",
            DocumentKind::ConcernFeedback => "concern-feedback",
            DocumentKind::Referral => "referral",
            DocumentKind::ReferralReply => "referral-reply",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The XML namespace; a new schema version gets a new namespace.
    pub fn namespace(self) -> &'static str {
        match self {
            DocumentKind::ConcernReport | DocumentKind::ConcernAcknowledgement | DocumentKind::ConcernFeedback => {
                NS_CONCERN_REPORT
            }
            DocumentKind::Referral => NS_REFERRAL,
            DocumentKind::ReferralReply => NS_REFERRAL_REPLY,
        }
    }

    /// The XML root element's local name.
    pub fn root_name(self) -> &'static str {
        match self {
            DocumentKind::ConcernReport => "ConcernReport",
            DocumentKind::ConcernAcknowledgement => "ConcernReportAcknowledgement",
            DocumentKind::ConcernFeedback => "ConcernReportFeedback",
            DocumentKind::Referral => "Referral",
            DocumentKind::ReferralReply => "ReferralReply",
        }
    }

    /// The schema file under `schemas/pilot/`.
    pub fn schema_file(self) -> &'static str {
        match self.namespace() {
            NS_CONCERN_REPORT => "concern-report-1.xsd",
            NS_REFERRAL => "referral-1.xsd",
            _ => "referral-reply-1.xsd",
        }
    }

    fn from_root(ns: &str, local: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.namespace() == ns && k.root_name() == local)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PilotDocument {
    ConcernReport(ConcernReport),
    ConcernAcknowledgement(ConcernAcknowledgement),
    ConcernFeedback(ConcernFeedback),
    Referral(Referral),
    ReferralReply(ReferralReply),
}

/// A document that passed every rule, with the warnings it raised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub document: PilotDocument,
    pub warnings: Vec<FieldIssue>,
}

/// What a reply answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyTarget {
    /// Acknowledgement and feedback: the concern report's document id.
    Document(Uuid),
    /// Referral reply: the referral id and version.
    Referral(ReferralRef),
}

impl ReplyTarget {
    /// Whether `original` is the document this reply answers.
    pub fn matches(&self, original: &PilotDocument) -> bool {
        match (self, original) {
            (ReplyTarget::Document(id), PilotDocument::ConcernReport(report)) => report.common.document_id == *id,
            (ReplyTarget::Referral(r), PilotDocument::Referral(referral)) => {
                referral.referral_id == r.referral_id && referral.version == r.version
            }
            _ => false,
        }
    }
}

impl PilotDocument {
    /// Reads and checks the JSON form. `Err` holds the errors only; warnings
    /// ride in [`Checked`].
    pub fn from_json(kind: DocumentKind, value: &Value) -> Result<Checked, Vec<FieldIssue>> {
        let mut issues = Issues::default();
        let Some(mut root) = Obj::json_root(value, &mut issues) else {
            return Err(issues.list);
        };
        if let Some(given) = root.text("documentType", form::OPT, 64, &mut issues) {
            if given != kind.as_str() {
                issues.error("/documentType", IssueRule::Invalid, format_args!("must be {}", kind.as_str()));
            }
        }
        Self::read(kind, root, issues)
    }

    /// Reads and checks the XML form, with the crate's bounded parser; the
    /// kind comes from the root element's namespace and name.
    pub fn from_xml(bytes: &[u8]) -> Result<Checked, Vec<FieldIssue>> {
        let mut issues = Issues::default();
        let limits = crate::limits::XmlLimits::default().with_max_document_bytes(crate::limits::PILOT_XML_MAX_BYTES);
        // The parser's message may quote the document, so it is not passed on.
        let Ok(doc) = crate::xml::parse(bytes, &limits) else {
            issues.error("", IssueRule::Invalid, "is not well-formed XML within the size and depth limits");
            return Err(issues.list);
        };
        let root_id = doc.document_element();
        let kind = root_id
            .and_then(|id| doc.element(id))
            .and_then(|e| DocumentKind::from_root(e.namespace().unwrap_or(""), &e.local));
        let (Some(root_id), Some(kind)) = (root_id, kind) else {
            issues.error("", IssueRule::NotAllowed, "the root element is not a pilot document of a known version");
            return Err(issues.list);
        };
        let root = Obj::xml_root(&doc, root_id, kind.namespace(), &["schemaVersion"]);
        Self::read(kind, root, issues)
    }

    fn read(kind: DocumentKind, mut root: Obj<'_>, mut issues: Issues) -> Result<Checked, Vec<FieldIssue>> {
        common::read_schema_version(&mut root, &mut issues);
        let document = match kind {
            DocumentKind::ConcernReport => ConcernReport::read(&mut root, &mut issues).map(Self::ConcernReport),
            DocumentKind::ConcernAcknowledgement => {
                ConcernAcknowledgement::read(&mut root, &mut issues).map(Self::ConcernAcknowledgement)
            }
            DocumentKind::ConcernFeedback => ConcernFeedback::read(&mut root, &mut issues).map(Self::ConcernFeedback),
            DocumentKind::Referral => Referral::read(&mut root, &mut issues).map(Self::Referral),
            DocumentKind::ReferralReply => ReferralReply::read(&mut root, &mut issues).map(Self::ReferralReply),
        };
        root.finish(&mut issues);
        let warnings = issues.into_result()?;
        match document {
            Some(document) => Ok(Checked { document, warnings }),
            // Every path that yields no document records an error; this is a backstop.
            None => Err(vec![FieldIssue {
                pointer: String::new(),
                rule: IssueRule::Invalid,
                text: "/: the document could not be read".to_owned(),
                severity: Severity::Error,
            }]),
        }
    }

    /// The root element's namespace, when `bytes` look like a pilot document
    /// (without reading the whole document). `None` for anything else,
    /// including documents with a DOCTYPE.
    pub fn is_pilot_xml(bytes: &[u8]) -> Option<DocumentKind> {
        use quick_xml::events::Event;
        use quick_xml::name::ResolveResult;
        let mut reader = quick_xml::NsReader::from_reader(bytes);
        // The prolog is short; a long one is not ours.
        for _ in 0..64 {
            match reader.read_resolved_event() {
                Ok((ResolveResult::Bound(ns), Event::Start(e) | Event::Empty(e))) => {
                    let ns = std::str::from_utf8(ns.into_inner()).ok()?;
                    let local = std::str::from_utf8(e.local_name().into_inner()).ok()?;
                    return DocumentKind::from_root(ns, local);
                }
                Ok((_, Event::Start(_) | Event::Empty(_) | Event::DocType(_) | Event::Eof)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
        None
    }

    pub(crate) fn out(&self) -> OutObj {
        match self {
            Self::ConcernReport(d) => d.write(),
            Self::ConcernAcknowledgement(d) => d.write(),
            Self::ConcernFeedback(d) => d.write(),
            Self::Referral(d) => d.write(),
            Self::ReferralReply(d) => d.write(),
        }
    }

    /// What the document says in one word, for threads and lists: the
    /// urgency of a report, the outcome of feedback, the reply type.
    pub fn outcome(&self) -> Option<&'static str> {
        match self {
            Self::ConcernReport(d) => Some(d.urgency.as_str()),
            Self::ConcernFeedback(d) => Some(d.investigation.as_str()),
            Self::ReferralReply(d) => Some(d.reply_type.as_str()),
            Self::ConcernAcknowledgement(_) | Self::Referral(_) => None,
        }
    }

    /// The XML form; valid against the kind's schema.
    pub fn to_xml(&self) -> Vec<u8> {
        let kind = self.kind();
        self.out().to_xml(kind.root_name(), kind.namespace(), SCHEMA_VERSION)
    }

    /// The JSON form, with `documentType` and `schemaVersion` first in meaning.
    pub fn to_json(&self) -> Value {
        let mut map = serde_json::Map::new();
        map.insert("documentType".to_owned(), Value::from(self.kind().as_str()));
        map.insert("schemaVersion".to_owned(), Value::from(SCHEMA_VERSION));
        map.extend(self.out().to_json_map());
        Value::Object(map)
    }

    /// A readable rendering (RFC 7763 Markdown, Swedish with English) for
    /// the SDK message's `ContentText`.
    pub fn to_markdown(&self) -> String {
        markdown::render(self)
    }

    pub fn kind(&self) -> DocumentKind {
        match self {
            Self::ConcernReport(_) => DocumentKind::ConcernReport,
            Self::ConcernAcknowledgement(_) => DocumentKind::ConcernAcknowledgement,
            Self::ConcernFeedback(_) => DocumentKind::ConcernFeedback,
            Self::Referral(_) => DocumentKind::Referral,
            Self::ReferralReply(_) => DocumentKind::ReferralReply,
        }
    }

    pub fn common(&self) -> &Common {
        match self {
            Self::ConcernReport(d) => &d.common,
            Self::ConcernAcknowledgement(d) => &d.common,
            Self::ConcernFeedback(d) => &d.common,
            Self::Referral(d) => &d.common,
            Self::ReferralReply(d) => &d.common,
        }
    }

    /// The child or patient the document is about, when it names one.
    pub fn person(&self) -> Option<&PersonId> {
        match self {
            Self::ConcernReport(d) => d.child.person_id.as_ref(),
            Self::Referral(d) => Some(&d.patient.person_id),
            Self::ReferralReply(d) => Some(&d.patient_person_id),
            Self::ConcernAcknowledgement(_) | Self::ConcernFeedback(_) => None,
        }
    }

    pub fn in_reply_to(&self) -> Option<ReplyTarget> {
        match self {
            Self::ConcernAcknowledgement(d) => Some(ReplyTarget::Document(d.in_reply_to)),
            Self::ConcernFeedback(d) => Some(ReplyTarget::Document(d.in_reply_to)),
            Self::ReferralReply(d) => Some(ReplyTarget::Referral(d.in_reply_to)),
            Self::ConcernReport(_) | Self::Referral(_) => None,
        }
    }

    /// An SDK message subject: kind and urgency, never a name or person id.
    pub fn label(&self) -> String {
        match self {
            Self::ConcernReport(d) if d.urgency == Urgency::Acute => "Orosanmälan (AKUT)".to_owned(),
            Self::ConcernReport(_) => "Orosanmälan".to_owned(),
            Self::ConcernAcknowledgement(_) => "Orosanmälan: mottagningsbekräftelse".to_owned(),
            Self::ConcernFeedback(d) => format!("Orosanmälan: återkoppling {}", d.investigation.as_str()),
            Self::Referral(d) => {
                let urgent = if d.priority == referral::Priority::Urgent { " (BRÅDSKANDE)" } else { "" };
                let reason = match d.reason {
                    referral::ReferralReason::New => "",
                    referral::ReferralReason::Changed => ": ändrad",
                    referral::ReferralReason::Withdrawn => ": återtagen",
                };
                format!("Remiss{reason}{urgent}")
            }
            Self::ReferralReply(d) => format!("Remissvar: {}", d.reply_type.as_str()),
        }
    }
}
