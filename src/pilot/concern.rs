//! Concern report (orosanmälan) from BUP to social services, and the two
//! replies on its conversation: acknowledgement and feedback.

use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::common::{
    read_attachments, read_hsa, under_18, write_attachments, Attachment, Common, Urgency, MAX_CODE_CHARS,
    MAX_LIST_ENTRIES, MAX_NAME_CHARS, MAX_SHORT_TEXT_CHARS,
};
use super::form::{choice, Obj, Out, OutObj, OPT, REQ};
use super::ids::{HsaId, MunicipalityCode};
use super::issue::{IssueRule, Issues};
use crate::audit::PersonId;

/// Longest concern description.
pub const MAX_DESCRIPTION_CHARS: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcernReport {
    pub common: Common,
    pub urgency: Urgency,
    pub immediate_danger: bool,
    /// When BUP phoned social services; required for ACUTE.
    pub phone_call_at: Option<OffsetDateTime>,
    /// Where the child is now; required for ACUTE.
    pub child_whereabouts: Option<String>,
    pub child: Child,
    pub guardians: Vec<Guardian>,
    pub reporter: Reporter,
    pub concern: Concern,
    pub violence_suspected: Option<bool>,
    pub feedback_requested: bool,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    /// Either this or `birth_date` (with the name).
    pub person_id: Option<PersonId>,
    pub name: String,
    pub birth_date: Option<Date>,
    pub municipality_code: MunicipalityCode,
    pub address: Option<String>,
    pub school: Option<String>,
    pub siblings: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guardian {
    pub name: String,
    pub phone: String,
    pub informed: bool,
    /// Required when `informed` is false.
    pub not_informed_reason: Option<String>,
}

/// The reporter: never anonymous.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reporter {
    pub name: String,
    pub role: String,
    pub unit: String,
    pub hsa_id: HsaId,
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concern {
    pub description: String,
    pub since: Option<Date>,
    pub child_informed: Option<bool>,
    pub interpreter_language: Option<String>,
}

/// Social services confirm they received the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcernAcknowledgement {
    pub common: Common,
    /// The report's document id.
    pub in_reply_to: Uuid,
    pub received_at: OffsetDateTime,
    pub receiving_unit: String,
    pub case_number: Option<String>,
}

choice! {
    Investigation { Opened = "OPENED", NotOpened = "NOT_OPENED", Ongoing = "ONGOING" }
}

/// Social services tell the reporter whether an investigation was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcernFeedback {
    pub common: Common,
    /// The report's document id.
    pub in_reply_to: Uuid,
    pub investigation: Investigation,
    pub decision_date: Date,
}

impl ConcernReport {
    pub(crate) fn read(root: &mut Obj<'_>, issues: &mut Issues) -> Option<Self> {
        let common = Common::read(root, issues);
        let urgency = root.choice::<Urgency>("urgency", REQ, issues);
        let immediate_danger = root.bool("immediateDanger", REQ, issues);
        let phone_call_at = root.datetime("phoneCallAt", OPT, issues);
        let child_whereabouts = root.text("childWhereabouts", OPT, MAX_SHORT_TEXT_CHARS, issues);
        let created = common.as_ref().map(|c| c.created.date());
        let child = root.object("child", REQ, issues, |obj, issues| Child::read(obj, created, issues));
        let guardians = root.list("guardians", "guardian", REQ, MAX_LIST_ENTRIES, issues, |field, issues| {
            let mut obj = field.object(issues)?;
            let guardian = Guardian::read(&mut obj, issues);
            obj.finish(issues);
            guardian
        });
        let reporter = root.object("reporter", REQ, issues, Reporter::read);
        let concern = root.object("concern", REQ, issues, Concern::read);
        let violence_suspected = root.bool("violenceSuspected", OPT, issues);
        let feedback_requested = root.bool("feedbackRequested", REQ, issues);
        let attachments = read_attachments(root, issues);

        if urgency == Some(Urgency::Acute) {
            if phone_call_at.is_none() && !root.has("phoneCallAt") {
                issues.error(
                    &root.pointer_of("phoneCallAt"),
                    IssueRule::Conditional,
                    "is required for an ACUTE report",
                );
            }
            if child_whereabouts.is_none() && !root.has("childWhereabouts") {
                issues.error(
                    &root.pointer_of("childWhereabouts"),
                    IssueRule::Conditional,
                    "is required for an ACUTE report",
                );
            }
        }
        let any_informed = guardians.as_ref().is_some_and(|g| g.iter().any(|g| g.informed));
        if violence_suspected == Some(true) && any_informed {
            issues.warn(
                &root.pointer_of("violenceSuspected"),
                IssueRule::Conditional,
                "violence is suspected and guardians were informed: check that informing them does not put the child at risk",
            );
        }
        Some(Self {
            common: common?,
            urgency: urgency?,
            immediate_danger: immediate_danger?,
            phone_call_at,
            child_whereabouts,
            child: child?,
            guardians: guardians?,
            reporter: reporter?,
            concern: concern?,
            violence_suspected,
            feedback_requested: feedback_requested?,
            attachments: attachments.unwrap_or_default(),
        })
    }

    pub(crate) fn write(&self) -> OutObj {
        let mut out = OutObj::default();
        self.common.write(&mut out);
        out.text("urgency", self.urgency.as_str());
        out.bool("immediateDanger", self.immediate_danger);
        out.opt_datetime("phoneCallAt", self.phone_call_at.as_ref());
        out.opt_text("childWhereabouts", self.child_whereabouts.as_deref());
        out.object("child", self.child.write());
        out.list("guardians", "guardian", self.guardians.iter().map(|g| Out::Obj(g.write())).collect());
        out.object("reporter", self.reporter.write());
        out.object("concern", self.concern.write());
        out.opt_bool("violenceSuspected", self.violence_suspected);
        out.bool("feedbackRequested", self.feedback_requested);
        write_attachments(&mut out, &self.attachments);
        out
    }
}

impl Child {
    /// `created`: the report's creation date, for the under-18 rule.
    fn read(obj: &mut Obj<'_>, created: Option<Date>, issues: &mut Issues) -> Option<Self> {
        let person_id = obj.person("personId", OPT, issues);
        let name = obj.text("name", REQ, MAX_NAME_CHARS, issues);
        let birth_date = obj.date("birthDate", OPT, issues);
        let municipality_code =
            obj.id("municipalityCode", REQ, "municipality code (4 digits)", MunicipalityCode::parse, issues);
        let address = obj.text("address", OPT, MAX_SHORT_TEXT_CHARS, issues);
        let school = obj.text("school", OPT, MAX_NAME_CHARS, issues);
        let siblings = obj.text("siblings", OPT, MAX_SHORT_TEXT_CHARS, issues);

        let person_given = obj.has("personId");
        let birth_given = obj.has("birthDate");
        if !person_given && !birth_given {
            issues.error(
                &obj.pointer_of("birthDate"),
                IssueRule::Conditional,
                "is required when the child has no person id",
            );
        }
        let from_person = person_id.as_ref().and_then(PersonId::birth_date);
        if let (Some(id), None) = (&person_id, from_person) {
            if !is_reserve(id) {
                issues.error(
                    &obj.pointer_of("personId"),
                    IssueRule::Invalid,
                    "person id does not hold a calendar date",
                );
            }
        }
        if let (Some(a), Some(b)) = (from_person, birth_date) {
            if a != b {
                issues.error(
                    &obj.pointer_of("birthDate"),
                    IssueRule::Conditional,
                    "does not match the person id's birth date",
                );
            }
        }
        let (birth, pointer) = match (from_person, birth_date) {
            (Some(b), _) => (Some(b), obj.pointer_of("personId")),
            (None, b) => (b, obj.pointer_of("birthDate")),
        };
        if let (Some(birth), Some(created)) = (birth, created) {
            if birth > created || !under_18(birth, created) {
                issues.error(&pointer, IssueRule::Conditional, "the child must be under 18 when the report is created");
            }
        }
        Some(Self {
            person_id,
            name: name?,
            birth_date,
            municipality_code: municipality_code?,
            address,
            school,
            siblings,
        })
    }

    fn write(&self) -> OutObj {
        let mut out = OutObj::default();
        if let Some(id) = &self.person_id {
            out.person("personId", id);
        }
        out.text("name", &self.name);
        out.opt_date("birthDate", self.birth_date);
        out.text("municipalityCode", self.municipality_code.as_str());
        out.opt_text("address", self.address.as_deref());
        out.opt_text("school", self.school.as_deref());
        out.opt_text("siblings", self.siblings.as_deref());
        out
    }
}

/// Reserve numbers carry no birth date; only personnummer and
/// samordningsnummer must.
fn is_reserve(id: &PersonId) -> bool {
    id.oid() != crate::audit::person::OID_PERSONNUMMER && id.oid() != crate::audit::person::OID_SAMORDNINGSNUMMER
}

impl Guardian {
    fn read(obj: &mut Obj<'_>, issues: &mut Issues) -> Option<Self> {
        let name = obj.text("name", REQ, MAX_NAME_CHARS, issues);
        let phone = obj.phone("phone", REQ, issues);
        let informed = obj.bool("informed", REQ, issues);
        let not_informed_reason = obj.text("notInformedReason", OPT, MAX_SHORT_TEXT_CHARS, issues);
        if informed == Some(false) && !obj.has("notInformedReason") {
            issues.error(
                &obj.pointer_of("notInformedReason"),
                IssueRule::Conditional,
                "is required when the guardian was not informed",
            );
        }
        Some(Self { name: name?, phone: phone?, informed: informed?, not_informed_reason })
    }

    fn write(&self) -> OutObj {
        let mut out = OutObj::default();
        out.text("name", &self.name);
        out.text("phone", &self.phone);
        out.bool("informed", self.informed);
        out.opt_text("notInformedReason", self.not_informed_reason.as_deref());
        out
    }
}

impl Reporter {
    fn read(obj: &mut Obj<'_>, issues: &mut Issues) -> Option<Self> {
        let name = obj.text("name", REQ, MAX_NAME_CHARS, issues);
        let role = obj.text("role", REQ, MAX_NAME_CHARS, issues);
        let unit = obj.text("unit", REQ, MAX_NAME_CHARS, issues);
        let hsa_id = read_hsa(obj, REQ, issues);
        let phone = obj.phone("phone", REQ, issues);
        Some(Self { name: name?, role: role?, unit: unit?, hsa_id: hsa_id?, phone: phone? })
    }

    fn write(&self) -> OutObj {
        let mut out = OutObj::default();
        out.text("name", &self.name);
        out.text("role", &self.role);
        out.text("unit", &self.unit);
        out.text("hsaId", self.hsa_id.as_str());
        out.text("phone", &self.phone);
        out
    }
}

impl Concern {
    fn read(obj: &mut Obj<'_>, issues: &mut Issues) -> Option<Self> {
        let description = obj.text("description", REQ, MAX_DESCRIPTION_CHARS, issues);
        let since = obj.date("since", OPT, issues);
        let child_informed = obj.bool("childInformed", OPT, issues);
        let interpreter_language = obj.text("interpreterLanguage", OPT, MAX_NAME_CHARS, issues);
        Some(Self { description: description?, since, child_informed, interpreter_language })
    }

    fn write(&self) -> OutObj {
        let mut out = OutObj::default();
        out.text("description", &self.description);
        out.opt_date("since", self.since);
        out.opt_bool("childInformed", self.child_informed);
        out.opt_text("interpreterLanguage", self.interpreter_language.as_deref());
        out
    }
}

impl ConcernAcknowledgement {
    pub(crate) fn read(root: &mut Obj<'_>, issues: &mut Issues) -> Option<Self> {
        let common = Common::read(root, issues);
        let in_reply_to = root.uuid("inReplyTo", REQ, issues);
        let received_at = root.datetime("receivedAt", REQ, issues);
        let receiving_unit = root.text("receivingUnit", REQ, MAX_NAME_CHARS, issues);
        let case_number = root.text("caseNumber", OPT, MAX_CODE_CHARS, issues);
        Some(Self {
            common: common?,
            in_reply_to: in_reply_to?,
            received_at: received_at?,
            receiving_unit: receiving_unit?,
            case_number,
        })
    }

    pub(crate) fn write(&self) -> OutObj {
        let mut out = OutObj::default();
        self.common.write(&mut out);
        out.text("inReplyTo", self.in_reply_to.hyphenated().to_string());
        out.datetime("receivedAt", &self.received_at);
        out.text("receivingUnit", &self.receiving_unit);
        out.opt_text("caseNumber", self.case_number.as_deref());
        out
    }
}

impl ConcernFeedback {
    pub(crate) fn read(root: &mut Obj<'_>, issues: &mut Issues) -> Option<Self> {
        let common = Common::read(root, issues);
        let in_reply_to = root.uuid("inReplyTo", REQ, issues);
        let investigation = root.choice::<Investigation>("investigation", REQ, issues);
        let decision_date = root.date("decisionDate", REQ, issues);
        Some(Self {
            common: common?,
            in_reply_to: in_reply_to?,
            investigation: investigation?,
            decision_date: decision_date?,
        })
    }

    pub(crate) fn write(&self) -> OutObj {
        let mut out = OutObj::default();
        self.common.write(&mut out);
        out.text("inReplyTo", self.in_reply_to.hyphenated().to_string());
        out.text("investigation", self.investigation.as_str());
        out.date("decisionDate", self.decision_date);
        out
    }
}
