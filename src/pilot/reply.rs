//! Referral reply (remissvar) from BUP to student health services.

use time::OffsetDateTime;
use uuid::Uuid;

use super::common::{read_hsa, Common, MAX_NAME_CHARS};
use super::form::{choice, Obj, OutObj, OPT, REQ};
use super::ids::HsaId;
use super::issue::{FieldIssue, IssueRule, Issues};
use super::referral::{Referral, MAX_CLINICAL_TEXT_CHARS};
use crate::audit::PersonId;

/// Longest assessment.
pub const MAX_ASSESSMENT_CHARS: usize = 65_000;

choice! {
    ReplyType {
        Received = "RECEIVED",
        Accepted = "ACCEPTED",
        Rejected = "REJECTED",
        Forwarded = "FORWARDED",
        ComplementRequested = "COMPLEMENT_REQUESTED",
        Final = "FINAL",
    }
}

/// The referral version a reply answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferralRef {
    pub referral_id: Uuid,
    pub version: u32,
}

/// The reply's own id is its document id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralReply {
    pub common: Common,
    pub in_reply_to: ReferralRef,
    pub reply_type: ReplyType,
    /// Required for FORWARDED.
    pub forwarded_to: Option<String>,
    /// Required for REJECTED (the reason) and FINAL.
    pub assessment: Option<String>,
    pub planned_action: Option<String>,
    pub appointment_at: Option<OffsetDateTime>,
    /// Equals the referral's patient.
    pub patient_person_id: PersonId,
    pub responder: Responder,
    pub replied_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Responder {
    pub name: String,
    pub title: String,
    pub hsa_id: HsaId,
    pub unit: String,
}

impl ReferralReply {
    pub(crate) fn read(root: &mut Obj<'_>, issues: &mut Issues) -> Option<Self> {
        let common = Common::read(root, issues);
        let in_reply_to = root.object("inReplyTo", REQ, issues, |obj, issues| {
            let referral_id = obj.uuid("referralId", REQ, issues);
            let version = obj.u32("version", REQ, issues);
            if version == Some(0) {
                issues.error(&obj.pointer_of("version"), IssueRule::Invalid, "must be 1 or more");
            }
            Some(ReferralRef { referral_id: referral_id?, version: version.filter(|v| *v >= 1)? })
        });
        let reply_type = root.choice::<ReplyType>("replyType", REQ, issues);
        let forwarded_to = root.text("forwardedTo", OPT, MAX_NAME_CHARS, issues);
        let assessment = root.text("assessment", OPT, MAX_ASSESSMENT_CHARS, issues);
        let planned_action = root.text("plannedAction", OPT, MAX_CLINICAL_TEXT_CHARS, issues);
        let appointment_at = root.datetime("appointmentAt", OPT, issues);
        let patient = root.object("patient", REQ, issues, |obj, issues| obj.person("personId", REQ, issues));
        let responder = root.object("responder", REQ, issues, Responder::read);
        let replied_at = root.datetime("repliedAt", REQ, issues);

        if reply_type == Some(ReplyType::Forwarded) && !root.has("forwardedTo") {
            issues.error(&root.pointer_of("forwardedTo"), IssueRule::Conditional, "is required for a FORWARDED reply");
        }
        if matches!(reply_type, Some(ReplyType::Rejected | ReplyType::Final)) && !root.has("assessment") {
            issues.error(
                &root.pointer_of("assessment"),
                IssueRule::Conditional,
                "is required for a REJECTED or FINAL reply",
            );
        }
        Some(Self {
            common: common?,
            in_reply_to: in_reply_to?,
            reply_type: reply_type?,
            forwarded_to,
            assessment,
            planned_action,
            appointment_at,
            patient_person_id: patient?,
            responder: responder?,
            replied_at: replied_at?,
        })
    }

    pub(crate) fn write(&self) -> OutObj {
        let mut out = OutObj::default();
        self.common.write(&mut out);
        let mut target = OutObj::default();
        target.text("referralId", self.in_reply_to.referral_id.hyphenated().to_string());
        target.int("version", self.in_reply_to.version);
        out.object("inReplyTo", target);
        out.text("replyType", self.reply_type.as_str());
        out.opt_text("forwardedTo", self.forwarded_to.as_deref());
        out.opt_text("assessment", self.assessment.as_deref());
        out.opt_text("plannedAction", self.planned_action.as_deref());
        out.opt_datetime("appointmentAt", self.appointment_at.as_ref());
        let mut patient = OutObj::default();
        patient.person("personId", &self.patient_person_id);
        out.object("patient", patient);
        out.object("responder", self.responder.write());
        out.datetime("repliedAt", &self.replied_at);
        out
    }
}

impl Responder {
    fn read(obj: &mut Obj<'_>, issues: &mut Issues) -> Option<Self> {
        let name = obj.text("name", REQ, MAX_NAME_CHARS, issues);
        let title = obj.text("title", REQ, MAX_NAME_CHARS, issues);
        let hsa_id = read_hsa(obj, REQ, issues);
        let unit = obj.text("unit", REQ, MAX_NAME_CHARS, issues);
        Some(Self { name: name?, title: title?, hsa_id: hsa_id?, unit: unit? })
    }

    fn write(&self) -> OutObj {
        let mut out = OutObj::default();
        out.text("name", &self.name);
        out.text("title", &self.title);
        out.text("hsaId", self.hsa_id.as_str());
        out.text("unit", &self.unit);
        out
    }
}

/// The rules that need the referral the reply answers (the node calls this
/// with the referral it sent on that conversation): same referral id and
/// version, same patient, replied at not before the referral was created.
pub fn check_reply_against_referral(reply: &ReferralReply, referral: &Referral) -> Vec<FieldIssue> {
    let mut issues = Issues::default();
    if reply.in_reply_to.referral_id != referral.referral_id {
        issues.error(
            "/inReplyTo/referralId",
            IssueRule::Mismatch,
            "is not the id of the referral on this conversation",
        );
    }
    if reply.in_reply_to.version != referral.version {
        issues.error(
            "/inReplyTo/version",
            IssueRule::Mismatch,
            "is not the version of the referral on this conversation",
        );
    }
    if reply.common.conversation_id != referral.common.conversation_id {
        issues.error("/conversationId", IssueRule::Mismatch, "is not the referral's conversation id");
    }
    if reply.patient_person_id != referral.patient.person_id {
        issues.error("/patient/personId", IssueRule::Mismatch, "is not the referral's patient");
    }
    if reply.replied_at < referral.common.created {
        issues.error("/repliedAt", IssueRule::Mismatch, "is before the referral was created");
    }
    issues.list
}
