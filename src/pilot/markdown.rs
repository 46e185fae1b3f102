//! The readable rendering (RFC 7763 Markdown) that travels as the SDK
//! message's `ContentText`, so a clinician can read the document in any SDK
//! client. Labels are Swedish / English; urgency comes first.

use std::fmt::Write as _;

use time::{Date, OffsetDateTime};

use super::common::{Attachment, Common, Urgency};
use super::concern::{ConcernAcknowledgement, ConcernFeedback, ConcernReport};
use super::form::{format_date, format_datetime};
use super::referral::{Priority, Referral};
use super::reply::ReferralReply;
use super::PilotDocument;
use crate::audit::person::{PersonId, OID_PERSONNUMMER, OID_SAMORDNINGSNUMMER};

pub(super) fn render(document: &PilotDocument) -> String {
    let mut md = Md::default();
    match document {
        PilotDocument::ConcernReport(d) => concern_report(&mut md, d),
        PilotDocument::ConcernAcknowledgement(d) => acknowledgement(&mut md, d),
        PilotDocument::ConcernFeedback(d) => feedback(&mut md, d),
        PilotDocument::Referral(d) => referral(&mut md, d),
        PilotDocument::ReferralReply(d) => reply(&mut md, d),
    }
    common(&mut md, document.common());
    md.0
}

#[derive(Default)]
struct Md(String);

impl Md {
    fn title(&mut self, text: &str) {
        let _ = writeln!(self.0, "# {text}\n");
    }

    fn section(&mut self, text: &str) {
        let _ = writeln!(self.0, "\n## {text}\n");
    }

    fn line(&mut self, text: &str) {
        let _ = writeln!(self.0, "{text}\n");
    }

    fn field(&mut self, label: &str, value: &str) {
        let _ = writeln!(self.0, "- **{label}:** {}", escape_inline(value));
    }

    fn opt(&mut self, label: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.field(label, v);
        }
    }

    /// A long free text as its own paragraphs under a bold label.
    fn text(&mut self, label: &str, value: &str) {
        if !self.0.ends_with("\n\n") {
            self.0.push('\n');
        }
        let _ = writeln!(self.0, "**{label}:**\n");
        for paragraph in value.split("\n\n") {
            let lines: Vec<String> = paragraph.lines().map(escape_line).collect();
            // Two trailing spaces keep the writer's line breaks.
            let _ = writeln!(self.0, "{}\n", lines.join("  \n"));
        }
    }
}

/// Backslash-escapes what Markdown would otherwise read as markup, so a
/// value shows as written (and cannot add links, emphasis or HTML).
fn escape_inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.trim_end().chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// [`escape_inline`] for a line of its own, where a leading `#`, `+`, `-`,
/// `=` or `1.` would start a heading or a list.
fn escape_line(line: &str) -> String {
    let escaped = escape_inline(line);
    if escaped.starts_with(['#', '+', '-', '=']) {
        return format!("\\{escaped}");
    }
    let digits = escaped.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && matches!(escaped.as_bytes().get(digits), Some(b'.' | b')')) {
        return format!("{}\\{}", &escaped[..digits], &escaped[digits..]);
    }
    escaped
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "ja / yes"
    } else {
        "nej / no"
    }
}

fn when(value: &OffsetDateTime) -> String {
    format_datetime(value)
}

fn day(value: Date) -> String {
    format_date(value)
}

/// Personnummer as YYYYMMDD-NNNC; other identifiers as OID:value.
fn person(id: &PersonId) -> String {
    let v = id.value();
    match id.oid() {
        OID_PERSONNUMMER | OID_SAMORDNINGSNUMMER if v.len() == 12 => format!("{}-{}", &v[..8], &v[8..]),
        oid => format!("{oid}:{v}"),
    }
}

fn attachments(md: &mut Md, list: &[Attachment]) {
    if list.is_empty() {
        return;
    }
    md.section("Bilagor / Attachments");
    for a in list {
        match &a.description {
            Some(d) => md.field(&escape_inline(&a.file_name), d),
            None => {
                let _ = writeln!(md.0, "- {}", escape_inline(&a.file_name));
            }
        }
    }
}

fn concern_report(md: &mut Md, d: &ConcernReport) {
    if d.urgency == Urgency::Acute {
        md.line("**AKUT / ACUTE**");
    }
    md.title("Orosanmälan / Concern report");
    md.field("Brådska / Urgency", if d.urgency == Urgency::Acute { "AKUT / ACUTE" } else { "RUTIN / ROUTINE" });
    md.field("Omedelbar fara / Immediate danger", yes_no(d.immediate_danger));
    md.opt(
        "Telefonsamtal till socialtjänsten / Phone call to social services",
        d.phone_call_at.as_ref().map(when).as_deref(),
    );
    md.opt("Var barnet är nu / Where the child is now", d.child_whereabouts.as_deref());
    md.opt("Misstanke om våld / Violence suspected", d.violence_suspected.map(yes_no));

    md.section("Barnet / Child");
    md.field("Namn / Name", &d.child.name);
    md.opt("Person-id / Person id", d.child.person_id.as_ref().map(person).as_deref());
    md.opt("Födelsedatum / Birth date", d.child.birth_date.map(day).as_deref());
    md.field("Kommunkod / Municipality code", d.child.municipality_code.as_str());
    md.opt("Adress / Address", d.child.address.as_deref());
    md.opt("Skola / School", d.child.school.as_deref());
    md.opt("Syskon / Siblings", d.child.siblings.as_deref());

    md.section("Vårdnadshavare / Guardians");
    for (i, g) in d.guardians.iter().enumerate() {
        let _ = writeln!(md.0, "{}. **{}**, tel. {}", i + 1, escape_inline(&g.name), escape_inline(&g.phone));
        let _ = writeln!(md.0, "   - Informerad / Informed: {}", yes_no(g.informed));
        if let Some(reason) = &g.not_informed_reason {
            let _ = writeln!(md.0, "   - Skäl / Reason: {}", escape_inline(reason));
        }
    }

    md.section("Oro / Concern");
    md.text("Beskrivning / Description", &d.concern.description);
    md.opt("Oro sedan / Concern since", d.concern.since.map(day).as_deref());
    md.opt("Barnet informerat / Child informed", d.concern.child_informed.map(yes_no));
    md.opt("Tolk, språk / Interpreter language", d.concern.interpreter_language.as_deref());
    md.field("Återkoppling önskas / Feedback requested", yes_no(d.feedback_requested));

    md.section("Anmälare / Reporter");
    md.field("Namn / Name", &d.reporter.name);
    md.field("Roll / Role", &d.reporter.role);
    md.field("Enhet / Unit", &d.reporter.unit);
    md.field("HSA-id", d.reporter.hsa_id.as_str());
    md.field("Telefon / Phone", &d.reporter.phone);
    attachments(md, &d.attachments);
}

fn acknowledgement(md: &mut Md, d: &ConcernAcknowledgement) {
    md.title("Orosanmälan mottagen / Concern report received");
    md.field("Mottagen / Received", &when(&d.received_at));
    md.field("Mottagande enhet / Receiving unit", &d.receiving_unit);
    md.opt("Ärendenummer / Case number", d.case_number.as_deref());
    md.field("Svar på dokument / In reply to document", &d.in_reply_to.hyphenated().to_string());
}

fn feedback(md: &mut Md, d: &ConcernFeedback) {
    use super::concern::Investigation;
    md.title("Återkoppling på orosanmälan / Feedback on concern report");
    let outcome = match d.investigation {
        Investigation::Opened => "Utredning inledd / Investigation opened",
        Investigation::NotOpened => "Utredning inleds inte / No investigation opened",
        Investigation::Ongoing => "Utredning pågår redan / Investigation already ongoing",
    };
    md.field("Utredning / Investigation", outcome);
    md.field("Beslutsdatum / Decision date", &day(d.decision_date));
    md.field("Svar på dokument / In reply to document", &d.in_reply_to.hyphenated().to_string());
}

fn referral(md: &mut Md, d: &Referral) {
    if d.priority == Priority::Urgent {
        md.line("**BRÅDSKANDE / URGENT**");
    }
    md.title("Remiss / Referral");
    md.field("Prioritet / Priority", d.priority.as_str());
    md.field("Remiss-id / Referral id", &d.referral_id.hyphenated().to_string());
    md.field("Version", &d.version.to_string());
    md.field("Anledning / Reason", d.reason.as_str());

    md.section("Patient");
    md.field("Namn / Name", &d.patient.name);
    md.field("Person-id / Person id", &person(&d.patient.person_id));
    md.opt("Födelsedatum / Birth date", d.patient.birth_date.map(day).as_deref());
    if !d.guardians.is_empty() {
        md.section("Vårdnadshavare / Guardians");
        for g in &d.guardians {
            let _ = writeln!(md.0, "- **{}**, tel. {}", escape_inline(&g.name), escape_inline(&g.phone));
        }
    }

    md.section("Samtycke / Consent");
    md.field("Lämnat av / Given by", d.consent.given_by.as_str());
    md.field("Datum / Date", &day(d.consent.date));
    md.field("Omfattar svaret / Covers the reply", yes_no(d.consent.covers_reply));

    md.section("Frågeställning / Question");
    md.text("Frågeställning / Question", &d.question);
    md.text("Anamnes / History", &d.history);
    if let Some(measures) = &d.measures_taken {
        md.text("Skolans insatser / Measures taken by the school", measures);
    }
    if !d.diagnosis_codes.is_empty() {
        let codes: Vec<&str> = d.diagnosis_codes.iter().map(|c| c.as_str()).collect();
        md.field("Diagnoskoder / Diagnosis codes (ICD-10-SE)", &codes.join(", "));
    }
    md.field(
        "Vårdansvaret kvar hos remittenten / Care responsibility remains with sender",
        yes_no(d.care_responsibility_remains_with_sender),
    );

    md.section("Remittent / Referrer");
    md.field("Namn / Name", &d.referrer.name);
    md.field("Yrke / Profession", d.referrer.profession.as_str());
    md.field("Enhet / Unit", &d.referrer.unit);
    md.field("Telefon / Phone", &d.referrer.phone);
    md.opt("HSA-id", d.referrer.hsa_id.as_ref().map(|h| h.as_str()));
    attachments(md, &d.attachments);
}

fn reply(md: &mut Md, d: &ReferralReply) {
    md.title("Remissvar / Referral reply");
    md.field("Svarstyp / Reply type", d.reply_type.as_str());
    md.field("Remiss-id / Referral id", &d.in_reply_to.referral_id.hyphenated().to_string());
    md.field("Remissversion / Referral version", &d.in_reply_to.version.to_string());
    md.field("Patient (person-id / person id)", &person(&d.patient_person_id));
    md.opt("Vidarebefordrad till / Forwarded to", d.forwarded_to.as_deref());
    if let Some(assessment) = &d.assessment {
        md.text("Bedömning / Assessment", assessment);
    }
    if let Some(action) = &d.planned_action {
        md.text("Planerad åtgärd / Planned action", action);
    }
    md.opt("Besökstid / Appointment", d.appointment_at.as_ref().map(when).as_deref());
    md.field("Besvarad / Replied at", &when(&d.replied_at));

    md.section("Besvarad av / Responder");
    md.field("Namn / Name", &d.responder.name);
    md.field("Titel / Title", &d.responder.title);
    md.field("HSA-id", d.responder.hsa_id.as_str());
    md.field("Enhet / Unit", &d.responder.unit);
}

fn common(md: &mut Md, c: &Common) {
    md.section("Dokument / Document");
    md.field("Dokument-id / Document id", &c.document_id.hyphenated().to_string());
    md.field("Skapad / Created (UTC)", &when(&c.created));
    md.field("Konversation / Conversation", &c.conversation_id.hyphenated().to_string());
    md.field("Avsändare / Sender", &format!("{}, {} ({})", c.sender.organisation, c.sender.organisation_number, c.sender.functional_address));
    md.field("Mottagare / Recipient", &format!("{}, {} ({})", c.recipient.organisation, c.recipient.organisation_number, c.recipient.functional_address));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cannot_add_markup() {
        assert_eq!(escape_inline("# [x](http://e) *b*"), "# \\[x\\](http://e) \\*b\\*");
        assert_eq!(escape_line("# rubrik"), "\\# rubrik");
        assert_eq!(escape_line("12. punkt"), "12\\. punkt");
        assert_eq!(escape_line("+46 70"), "\\+46 70");
        assert_eq!(escape_inline("a\nb"), "a b");
    }
}
