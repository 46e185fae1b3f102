//! The part every pilot document starts with, and small shared pieces.

use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::form::{choice, Obj, OutObj, OPT, REQ};
use super::ids::{HsaId, OrgId, OrgNumber};
use super::issue::{IssueRule, Issues};

/// The only schema version of the version-1 namespaces.
pub const SCHEMA_VERSION: &str = "1.0";

/// Names, units, roles and titles.
pub const MAX_NAME_CHARS: usize = 200;
/// SDK functional addresses.
pub const MAX_FUNCTIONAL_ADDRESS_CHARS: usize = 256;
/// Short free texts (reasons, whereabouts, addresses).
pub const MAX_SHORT_TEXT_CHARS: usize = 2000;
/// Case numbers, file names.
pub const MAX_CODE_CHARS: usize = 64;
/// Most guardians, attachments and diagnosis codes in one document.
pub const MAX_LIST_ENTRIES: usize = 20;

/// An organisation (its SDK id and its organisation number) and its
/// functional address (the SDK mailbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub organisation: OrgId,
    pub organisation_number: OrgNumber,
    pub functional_address: String,
}

/// Document id, creation time, conversation and the two parties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    pub document_id: Uuid,
    /// UTC.
    pub created: OffsetDateTime,
    /// A reply reuses the conversation id of what it answers.
    pub conversation_id: Uuid,
    pub sender: Party,
    pub recipient: Party,
}

impl Common {
    pub(crate) fn read(root: &mut Obj<'_>, issues: &mut Issues) -> Option<Self> {
        let document_id = root.uuid("documentId", REQ, issues);
        let created = root.datetime("created", REQ, issues);
        let conversation_id = root.uuid("conversationId", REQ, issues);
        let sender = root.object("sender", REQ, issues, Party::read);
        let recipient = root.object("recipient", REQ, issues, Party::read);
        Some(Self {
            document_id: document_id?,
            created: created?,
            conversation_id: conversation_id?,
            sender: sender?,
            recipient: recipient?,
        })
    }

    pub(crate) fn write(&self, out: &mut OutObj) {
        out.text("documentId", self.document_id.hyphenated().to_string());
        out.datetime("created", &self.created);
        out.text("conversationId", self.conversation_id.hyphenated().to_string());
        out.object("sender", self.sender.write());
        out.object("recipient", self.recipient.write());
    }
}

impl Party {
    /// The organisation's SDK participant id (`0203:` and its domain).
    pub fn org_id(&self) -> &str {
        self.organisation.as_str()
    }

    fn read(obj: &mut Obj<'_>, issues: &mut Issues) -> Option<Self> {
        let organisation = obj.id("organisation", REQ, "organisation id (0203: and the organisation's domain)", OrgId::parse, issues);
        let organisation_number = obj.id("organisationNumber", REQ, "organisation number", OrgNumber::parse_digits, issues);
        let functional_address = obj.text("functionalAddress", REQ, MAX_FUNCTIONAL_ADDRESS_CHARS, issues);
        Some(Self { organisation: organisation?, organisation_number: organisation_number?, functional_address: functional_address? })
    }

    fn write(&self) -> OutObj {
        let mut out = OutObj::default();
        out.text("organisation", self.organisation.as_str());
        out.text("organisationNumber", self.organisation_number.digits());
        out.text("functionalAddress", &self.functional_address);
        out
    }
}

/// Reads the schema version: the root attribute in XML, an optional field
/// in JSON (absent means the current one).
pub(crate) fn read_schema_version(root: &mut Obj<'_>, issues: &mut Issues) {
    let pointer = root.pointer_of("schemaVersion");
    let version = if root.is_json() {
        root.text("schemaVersion", OPT, MAX_CODE_CHARS, issues)
    } else {
        root.xml_attribute("schemaVersion").map(str::to_owned)
    };
    match version.as_deref() {
        Some(SCHEMA_VERSION) => {}
        None if root.is_json() => {}
        None => issues.error(&pointer, IssueRule::Missing, "is required"),
        Some(_) => issues.error(&pointer, IssueRule::Invalid, format_args!("must be {SCHEMA_VERSION}")),
    }
}

/// True when someone born on `birth` is under 18 on `day`.
pub(crate) fn under_18(birth: Date, day: Date) -> bool {
    let eighteenth = birth.replace_year(birth.year() + 18).unwrap_or_else(|_| {
        // Born 29 February: of age on 1 March in a common year.
        Date::from_calendar_date(birth.year() + 18, time::Month::March, 1).unwrap_or(birth)
    });
    day < eighteenth
}

/// A reference to a PDF that travels as an SDK content file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file's name among the message's content files.
    pub file_name: String,
    pub description: Option<String>,
}

impl Attachment {
    pub(crate) fn read(obj: &mut Obj<'_>, issues: &mut Issues) -> Option<Self> {
        let file_name = obj.text("fileName", REQ, MAX_CODE_CHARS * 2, issues);
        let description = obj.text("description", OPT, MAX_NAME_CHARS, issues);
        if let Some(name) = &file_name {
            if !name.to_ascii_lowercase().ends_with(".pdf") {
                issues.error(&obj.pointer_of("fileName"), IssueRule::Invalid, "attachments must be PDF files (.pdf)");
            }
        }
        Some(Self { file_name: file_name?, description })
    }

    pub(crate) fn write(&self) -> OutObj {
        let mut out = OutObj::default();
        out.text("fileName", &self.file_name);
        out.opt_text("description", self.description.as_deref());
        out
    }
}

pub(crate) fn read_attachments(root: &mut Obj<'_>, issues: &mut Issues) -> Option<Vec<Attachment>> {
    root.list("attachments", "attachment", OPT, MAX_LIST_ENTRIES, issues, |field, issues| {
        let mut obj = field.object(issues)?;
        let attachment = Attachment::read(&mut obj, issues);
        obj.finish(issues);
        attachment
    })
}

pub(crate) fn write_attachments(out: &mut OutObj, attachments: &[Attachment]) {
    out.list("attachments", "attachment", attachments.iter().map(|a| super::form::Out::Obj(a.write())).collect());
}

pub(crate) fn read_hsa(obj: &mut Obj<'_>, need: super::form::Need, issues: &mut Issues) -> Option<HsaId> {
    obj.id("hsaId", need, "HSA-id", HsaId::parse, issues)
}

choice! {
    /// How soon the recipient must act on a concern report.
    Urgency { Routine = "ROUTINE", Acute = "ACUTE" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn age_of_majority() {
        assert!(under_18(date!(2010 - 01 - 01), date!(2027 - 12 - 31)));
        assert!(!under_18(date!(2010 - 01 - 01), date!(2028 - 01 - 01)));
        assert!(under_18(date!(2008 - 02 - 29), date!(2026 - 02 - 28)));
        assert!(!under_18(date!(2008 - 02 - 29), date!(2026 - 03 - 01)));
    }
}
