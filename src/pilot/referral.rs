//! Referral (remiss) from student health services to BUP.

use time::Date;
use uuid::Uuid;

use super::common::{
    read_attachments, read_hsa, under_18, write_attachments, Attachment, Common, MAX_LIST_ENTRIES, MAX_NAME_CHARS,
};
use super::form::{choice, Obj, Out, OutObj, OPT, REQ};
use super::ids::{HsaId, Icd10Code};
use super::issue::{IssueRule, Issues};
use crate::audit::PersonId;

/// Longest question, history and measures text.
pub const MAX_CLINICAL_TEXT_CHARS: usize = 8192;

choice! {
    ReferralReason { New = "NEW", Changed = "CHANGED", Withdrawn = "WITHDRAWN" }
}

choice! {
    Priority { Routine = "ROUTINE", Urgent = "URGENT" }
}

choice! {
    ConsentGivenBy { Guardian = "GUARDIAN", Child = "CHILD", Both = "BOTH" }
}

choice! {
    Profession { Nurse = "NURSE", Doctor = "DOCTOR", Psychologist = "PSYCHOLOGIST", Counsellor = "COUNSELLOR" }
}

impl Profession {
    /// Licensed health professions (legitimerade) must give their HSA-id.
    pub fn is_licensed(self) -> bool {
        !matches!(self, Profession::Counsellor)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referral {
    pub common: Common,
    /// Stays the same over the versions of one referral.
    pub referral_id: Uuid,
    /// 1 or more; a changed or withdrawn referral has a higher version.
    pub version: u32,
    pub reason: ReferralReason,
    pub priority: Priority,
    pub patient: Patient,
    /// Required when the patient is under 18 (or the age is unknown).
    pub guardians: Vec<ReferralGuardian>,
    pub consent: Consent,
    pub referrer: Referrer,
    pub care_responsibility_remains_with_sender: bool,
    pub question: String,
    pub history: String,
    pub measures_taken: Option<String>,
    pub diagnosis_codes: Vec<Icd10Code>,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    pub person_id: PersonId,
    pub name: String,
    /// For reserve numbers, which carry no birth date.
    pub birth_date: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralGuardian {
    pub name: String,
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub given_by: ConsentGivenBy,
    pub date: Date,
    /// Must be true: BUP always replies, and the reply needs consent too.
    pub covers_reply: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    pub name: String,
    pub profession: Profession,
    pub unit: String,
    pub phone: String,
    /// Required for licensed professions.
    pub hsa_id: Option<HsaId>,
}

impl Referral {
    pub(crate) fn read(root: &mut Obj<'_>, issues: &mut Issues) -> Option<Self> {
        let common = Common::read(root, issues);
        let referral_id = root.uuid("referralId", REQ, issues);
        let version = root.u32("version", REQ, issues);
        let reason = root.choice::<ReferralReason>("reason", REQ, issues);
        let priority = root.choice::<Priority>("priority", REQ, issues);
        let patient = root.object("patient", REQ, issues, Patient::read);
        let guardians = root.list("guardians", "guardian", OPT, MAX_LIST_ENTRIES, issues, |field, issues| {
            let mut obj = field.object(issues)?;
            let name = obj.text("name", REQ, MAX_NAME_CHARS, issues);
            let phone = obj.phone("phone", REQ, issues);
            obj.finish(issues);
            Some(ReferralGuardian { name: name?, phone: phone? })
        });
        let consent = root.object("consent", REQ, issues, Consent::read);
        let referrer = root.object("referrer", REQ, issues, Referrer::read);
        let care_stays = root.bool("careResponsibilityRemainsWithSender", REQ, issues);
        let question = root.text("question", REQ, MAX_CLINICAL_TEXT_CHARS, issues);
        let history = root.text("history", REQ, MAX_CLINICAL_TEXT_CHARS, issues);
        let measures_taken = root.text("measuresTaken", OPT, MAX_CLINICAL_TEXT_CHARS, issues);
        let diagnosis_codes = root.list("diagnosisCodes", "code", OPT, MAX_LIST_ENTRIES, issues, |field, issues| {
            let text = field.text(issues)?;
            match Icd10Code::parse(&text) {
                Ok(code) => Some(code),
                Err(e) => {
                    issues.error(&field.pointer, IssueRule::Invalid, format_args!("ICD-10-SE code {e}"));
                    None
                }
            }
        });
        let attachments = read_attachments(root, issues);

        if version == Some(0) {
            issues.error(&root.pointer_of("version"), IssueRule::Invalid, "must be 1 or more");
        }
        // Unknown age counts as a minor: pupils are, and guardians are then the safe demand.
        let created = common.as_ref().map(|c| c.created.date());
        let minor = match (patient.as_ref().and_then(Patient::birth), created) {
            (Some(birth), Some(created)) => under_18(birth, created),
            _ => true,
        };
        let guardians_given = guardians.as_ref().map_or(root.has("guardians"), |g| !g.is_empty());
        if minor && patient.is_some() && !guardians_given {
            issues.error(
                &root.pointer_of("guardians"),
                IssueRule::Conditional,
                "are required when the patient is under 18",
            );
        }
        if let (Some(consent), Some(created)) = (&consent, created) {
            if consent.date > created {
                issues.error("/consent/date", IssueRule::Conditional, "must not be after the referral was created");
            }
        }
        Some(Self {
            common: common?,
            referral_id: referral_id?,
            version: version.filter(|v| *v >= 1)?,
            reason: reason?,
            priority: priority?,
            patient: patient?,
            guardians: guardians.unwrap_or_default(),
            consent: consent?,
            referrer: referrer?,
            care_responsibility_remains_with_sender: care_stays?,
            question: question?,
            history: history?,
            measures_taken,
            diagnosis_codes: diagnosis_codes.unwrap_or_default(),
            attachments: attachments.unwrap_or_default(),
        })
    }

    pub(crate) fn write(&self) -> OutObj {
        let mut out = OutObj::default();
        self.common.write(&mut out);
        out.text("referralId", self.referral_id.hyphenated().to_string());
        out.int("version", self.version);
        out.text("reason", self.reason.as_str());
        out.text("priority", self.priority.as_str());
        out.object("patient", self.patient.write());
        let guardians = self
            .guardians
            .iter()
            .map(|g| {
                let mut o = OutObj::default();
                o.text("name", &g.name);
                o.text("phone", &g.phone);
                Out::Obj(o)
            })
            .collect();
        out.list("guardians", "guardian", guardians);
        out.object("consent", self.consent.write());
        out.object("referrer", self.referrer.write());
        out.bool("careResponsibilityRemainsWithSender", self.care_responsibility_remains_with_sender);
        out.text("question", &self.question);
        out.text("history", &self.history);
        out.opt_text("measuresTaken", self.measures_taken.as_deref());
        out.list(
            "diagnosisCodes",
            "code",
            self.diagnosis_codes.iter().map(|c| Out::Text(c.as_str().to_owned())).collect(),
        );
        write_attachments(&mut out, &self.attachments);
        out
    }
}

impl Patient {
    /// The birth date from the person id, else the one given.
    pub fn birth(&self) -> Option<Date> {
        self.person_id.birth_date().or(self.birth_date)
    }

    fn read(obj: &mut Obj<'_>, issues: &mut Issues) -> Option<Self> {
        let person_id = obj.person("personId", REQ, issues);
        let name = obj.text("name", REQ, MAX_NAME_CHARS, issues);
        let birth_date = obj.date("birthDate", OPT, issues);
        if let (Some(a), Some(b)) = (person_id.as_ref().and_then(PersonId::birth_date), birth_date) {
            if a != b {
                issues.error(
                    &obj.pointer_of("birthDate"),
                    IssueRule::Conditional,
                    "does not match the person id's birth date",
                );
            }
        }
        Some(Self { person_id: person_id?, name: name?, birth_date })
    }

    fn write(&self) -> OutObj {
        let mut out = OutObj::default();
        out.person("personId", &self.person_id);
        out.text("name", &self.name);
        out.opt_date("birthDate", self.birth_date);
        out
    }
}

impl Consent {
    fn read(obj: &mut Obj<'_>, issues: &mut Issues) -> Option<Self> {
        let given_by = obj.choice::<ConsentGivenBy>("givenBy", REQ, issues);
        let date = obj.date("date", REQ, issues);
        let covers_reply = obj.bool("coversReply", REQ, issues);
        if covers_reply == Some(false) {
            issues.error(
                &obj.pointer_of("coversReply"),
                IssueRule::Conditional,
                "the consent must cover the reply: BUP always replies to a referral",
            );
        }
        Some(Self { given_by: given_by?, date: date?, covers_reply: covers_reply.filter(|c| *c)? })
    }

    fn write(&self) -> OutObj {
        let mut out = OutObj::default();
        out.text("givenBy", self.given_by.as_str());
        out.date("date", self.date);
        out.bool("coversReply", self.covers_reply);
        out
    }
}

impl Referrer {
    fn read(obj: &mut Obj<'_>, issues: &mut Issues) -> Option<Self> {
        let name = obj.text("name", REQ, MAX_NAME_CHARS, issues);
        let profession = obj.choice::<Profession>("profession", REQ, issues);
        let unit = obj.text("unit", REQ, MAX_NAME_CHARS, issues);
        let phone = obj.phone("phone", REQ, issues);
        let hsa_id = read_hsa(obj, OPT, issues);
        if profession.is_some_and(Profession::is_licensed) && !obj.has("hsaId") {
            issues.error(
                &obj.pointer_of("hsaId"),
                IssueRule::Conditional,
                "is required for licensed staff (nurse, doctor, psychologist)",
            );
        }
        Some(Self { name: name?, profession: profession?, unit: unit?, phone: phone?, hsa_id })
    }

    fn write(&self) -> OutObj {
        let mut out = OutObj::default();
        out.text("name", &self.name);
        out.text("profession", self.profession.as_str());
        out.text("unit", &self.unit);
        out.text("phone", &self.phone);
        out.opt_text("hsaId", self.hsa_id.as_ref().map(HsaId::as_str));
        out
    }
}
