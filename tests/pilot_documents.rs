//! The pilot documents: schemas, examples, round trips and field issues.

use std::path::{Path, PathBuf};
use std::process::Command;

use brygga::pilot::{example, DocumentKind, PilotDocument};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn example_file(kind: DocumentKind) -> PathBuf {
    repo(&format!("examples/pilot/{}.xml", kind.as_str()))
}

/// `BRYGGA_WRITE_PILOT_EXAMPLES=1 cargo test --test pilot_documents` rewrites the committed examples.
#[test]
fn committed_examples_are_the_rust_examples() {
    let write = std::env::var_os("BRYGGA_WRITE_PILOT_EXAMPLES").is_some();
    for kind in DocumentKind::ALL {
        let xml = example(kind).to_xml();
        let path = example_file(kind);
        if write {
            std::fs::write(&path, &xml).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(String::from_utf8_lossy(&committed), String::from_utf8_lossy(&xml), "{}", path.display());
        let json_path = path.with_extension("json");
        let json = serde_json::to_string_pretty(&example(kind).to_json()).unwrap() + "\n";
        if write {
            std::fs::write(&json_path, &json).unwrap();
        }
        assert_eq!(std::fs::read_to_string(&json_path).unwrap(), json, "{}", json_path.display());
        let md_path = path.with_extension("md");
        let md = example(kind).to_markdown();
        if write {
            std::fs::write(&md_path, &md).unwrap();
        }
        assert_eq!(std::fs::read_to_string(&md_path).unwrap(), md, "{}", md_path.display());
    }
}

use brygga::pilot::{check_reply_against_referral, FieldIssue, IssueRule, ReplyTarget, Severity};
use serde_json::{json, Value};

const CHILD_PNR: &str = "20120314-2383";
const CHILD_PNR_DIGITS: &str = "201203142383";

/// Runs xmllint on `xml` against the kind's schema. Skips (returns false)
/// when xmllint is missing, unless CI is set.
fn xmllint_validates(kind: DocumentKind, xml: &[u8], name: &str) -> bool {
    if Command::new("xmllint").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "xmllint is required in CI");
        eprintln!("xmllint not installed: schema validation skipped");
        return false;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.xml"));
    std::fs::write(&file, xml).unwrap();
    let schema = repo(&format!("schemas/pilot/{}", kind.schema_file()));
    let out = Command::new("xmllint").arg("--noout").arg("--schema").arg(&schema).arg(&file).output().unwrap();
    assert!(
        out.status.success(),
        "{name} does not validate against {}:\n{}\n{}",
        schema.display(),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(xml)
    );
    true
}

fn json_of(kind: DocumentKind) -> Value {
    example(kind).to_json()
}

fn errors(kind: DocumentKind, value: &Value) -> Vec<FieldIssue> {
    match PilotDocument::from_json(kind, value) {
        Ok(_) => panic!("{} was accepted", kind.as_str()),
        Err(issues) => issues,
    }
}

fn xml_errors(xml: &str) -> Vec<FieldIssue> {
    match PilotDocument::from_xml(xml.as_bytes()) {
        Ok(_) => panic!("accepted:\n{xml}"),
        Err(issues) => issues,
    }
}

/// Asserts one issue at `pointer` with `rule`, and that no issue repeats a value.
fn assert_issue(issues: &[FieldIssue], pointer: &str, rule: IssueRule) {
    assert!(
        issues.iter().any(|i| i.pointer == pointer && i.rule == rule && i.text.contains(pointer)),
        "no {rule:?} at {pointer} in {issues:#?}"
    );
}

fn remove(value: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    value.pointer_mut(parent).unwrap().as_object_mut().unwrap().remove(key).expect("field to remove");
}

fn set(value: &mut Value, pointer: &str, new: Value) {
    *value.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}")) = new;
}

/// Variants beside the examples, each valid.
fn variants() -> Vec<(&'static str, DocumentKind, Value)> {
    let mut routine = json_of(DocumentKind::ConcernReport);
    set(&mut routine, "/urgency", json!("ROUTINE"));
    for p in ["/phoneCallAt", "/childWhereabouts", "/violenceSuspected", "/attachments", "/child/address"] {
        remove(&mut routine, p);
    }
    // A reserve number (no birth date in it) with the birth date given.
    set(&mut routine, "/child/personId", json!({"root": "1.2.752.97.3.1.3", "extension": "AB12-34"}));
    routine["child"]["birthDate"] = json!("2015-02-28");
    routine["concern"]["description"] = json!("Texts keep <markup> & \"quotes\"\r\nand ']]>' as written.");

    let mut by_name = json_of(DocumentKind::ConcernReport);
    remove(&mut by_name, "/child/personId");
    by_name["child"]["birthDate"] = json!("2013-06-01");

    let mut samordningsnummer = json_of(DocumentKind::ConcernReport);
    set(&mut samordningsnummer, "/child/personId", json!({"root": "1.2.752.129.2.1.3.3", "extension": "201304771239"}));
    samordningsnummer["child"]["birthDate"] = json!("2013-04-17");

    let mut counsellor = json_of(DocumentKind::Referral);
    set(&mut counsellor, "/referrer/profession", json!("COUNSELLOR"));
    remove(&mut counsellor, "/referrer/hsaId");
    remove(&mut counsellor, "/diagnosisCodes");
    set(&mut counsellor, "/reason", json!("CHANGED"));
    set(&mut counsellor, "/version", json!(2));
    // A plain personnummer string is accepted as the person id.
    set(&mut counsellor, "/patient/personId", json!("20140612-9872"));

    let mut adult = json_of(DocumentKind::Referral);
    set(&mut adult, "/patient/personId", json!("19121212-1212"));
    remove(&mut adult, "/guardians");

    let mut forwarded = json_of(DocumentKind::ReferralReply);
    set(&mut forwarded, "/replyType", json!("FORWARDED"));
    forwarded["forwardedTo"] = json!("BUP Norr, Sollentuna");
    remove(&mut forwarded, "/assessment");
    remove(&mut forwarded, "/appointmentAt");

    let mut rejected = json_of(DocumentKind::ReferralReply);
    set(&mut rejected, "/replyType", json!("REJECTED"));

    let mut ack = json_of(DocumentKind::ConcernAcknowledgement);
    remove(&mut ack, "/caseNumber");
    let mut feedback = json_of(DocumentKind::ConcernFeedback);
    set(&mut feedback, "/investigation", json!("NOT_OPENED"));

    vec![
        ("routine-reserve-number", DocumentKind::ConcernReport, routine),
        ("child-by-name-and-birth-date", DocumentKind::ConcernReport, by_name),
        ("samordningsnummer", DocumentKind::ConcernReport, samordningsnummer),
        ("counsellor-changed", DocumentKind::Referral, counsellor),
        ("adult-patient", DocumentKind::Referral, adult),
        ("forwarded", DocumentKind::ReferralReply, forwarded),
        ("rejected", DocumentKind::ReferralReply, rejected),
        ("ack-without-case-number", DocumentKind::ConcernAcknowledgement, ack),
        ("feedback-not-opened", DocumentKind::ConcernFeedback, feedback),
    ]
}

#[test]
fn committed_examples_validate_with_xmllint() {
    for kind in DocumentKind::ALL {
        let bytes = std::fs::read(example_file(kind)).unwrap();
        xmllint_validates(kind, &bytes, kind.as_str());
        let checked = PilotDocument::from_xml(&bytes).unwrap_or_else(|e| panic!("{}: {e:#?}", kind.as_str()));
        assert_eq!(checked.document, example(kind));
        assert_eq!(PilotDocument::is_pilot_xml(&bytes), Some(kind));
    }
}

/// The schemas themselves refuse what they can: unknown elements, wrong
/// enumerations, shapes and order, a consent that does not cover the reply.
#[test]
fn schemas_refuse_broken_documents() {
    if Command::new("xmllint").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "xmllint is required in CI");
        return;
    }
    let cases = [
        (DocumentKind::ConcernReport, "<urgency>ACUTE</urgency>", "<urgency>SOON</urgency>"),
        (DocumentKind::ConcernReport, "<municipalityCode>0184", "<municipalityCode>184"),
        (DocumentKind::ConcernReport, "<feedbackRequested>", "<secret>x</secret><feedbackRequested>"),
        (DocumentKind::ConcernReport, "<hsaId>SE2321000016-BUP1A", "<hsaId>SE2321000016_BUP1A"),
        (DocumentKind::ConcernAcknowledgement, "<created>2026-11-20T09:41:10Z", "<created>2026-11-20T10:41:10+01:00"),
        (DocumentKind::ConcernFeedback, "<investigation>OPENED", "<investigation>MAYBE"),
        (DocumentKind::Referral, "<coversReply>true", "<coversReply>false"),
        (DocumentKind::Referral, "<version>1</version>", "<version>0</version>"),
        (DocumentKind::Referral, "<code>F32</code>", "<code>depression</code>"),
        (DocumentKind::ReferralReply, "<replyType>ACCEPTED", "<replyType>MAYBE"),
        (DocumentKind::ReferralReply, "schemaVersion=\"1.0\"", "schemaVersion=\"1.1\""),
    ];
    for (kind, from, to) in cases {
        let xml = String::from_utf8(example(kind).to_xml()).unwrap();
        assert!(xml.contains(from), "{from}");
        let broken = xml.replacen(from, to, 1);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("broken.xml");
        std::fs::write(&file, &broken).unwrap();
        let schema = repo(&format!("schemas/pilot/{}", kind.schema_file()));
        let out = Command::new("xmllint").arg("--noout").arg("--schema").arg(&schema).arg(&file).output().unwrap();
        assert!(!out.status.success(), "the schema accepted {to}");
        assert!(PilotDocument::from_xml(broken.as_bytes()).is_err(), "Brygga accepted {to}");
    }
}

#[test]
fn variants_validate_and_round_trip() {
    for (name, kind, json) in variants() {
        let checked = PilotDocument::from_json(kind, &json).unwrap_or_else(|e| panic!("{name}: {e:#?}"));
        let xml = checked.document.to_xml();
        xmllint_validates(kind, &xml, name);
        let again = PilotDocument::from_xml(&xml).unwrap_or_else(|e| panic!("{name}: {e:#?}"));
        assert_eq!(again.document, checked.document, "{name}");
        let json_again = again.document.to_json();
        assert_eq!(PilotDocument::from_json(kind, &json_again).unwrap().document, checked.document, "{name}");
        assert_eq!(json_again, checked.document.to_json(), "{name}");
    }
}

#[test]
fn examples_round_trip_json_xml_json() {
    for kind in DocumentKind::ALL {
        let json = json_of(kind);
        let doc = PilotDocument::from_json(kind, &json).unwrap().document;
        assert_eq!(doc, example(kind));
        let from_xml = PilotDocument::from_xml(&doc.to_xml()).unwrap().document;
        assert_eq!(from_xml.to_json(), json);
        assert_eq!(doc.kind(), kind);
    }
}

#[test]
fn concern_report_issues() {
    let kind = DocumentKind::ConcernReport;
    let mut missing = json_of(kind);
    remove(&mut missing, "/reporter/hsaId");
    assert_issue(&errors(kind, &missing), "/reporter/hsaId", IssueRule::Missing);

    let mut acute = json_of(kind);
    remove(&mut acute, "/phoneCallAt");
    remove(&mut acute, "/childWhereabouts");
    let issues = errors(kind, &acute);
    assert_issue(&issues, "/phoneCallAt", IssueRule::Conditional);
    assert_issue(&issues, "/childWhereabouts", IssueRule::Conditional);

    let mut reason = json_of(kind);
    remove(&mut reason, "/guardians/1/notInformedReason");
    assert_issue(&errors(kind, &reason), "/guardians/1/notInformedReason", IssueRule::Conditional);

    let mut check = json_of(kind);
    set(&mut check, "/child/personId", json!("20120314-2384"));
    assert_issue(&errors(kind, &check), "/child/personId", IssueRule::CheckDigit);

    let mut adult = json_of(kind);
    set(&mut adult, "/child/personId", json!({"root": "1.2.752.129.2.1.3.1", "extension": "191212121212"}));
    assert_issue(&errors(kind, &adult), "/child/personId", IssueRule::Conditional);

    let mut anonymous = json_of(kind);
    remove(&mut anonymous, "/child/personId");
    assert_issue(&errors(kind, &anonymous), "/child/birthDate", IssueRule::Conditional);

    let mut long = json_of(kind);
    set(&mut long, "/concern/description", json!("x".repeat(20_001)));
    assert_issue(&errors(kind, &long), "/concern/description", IssueRule::TooLong);

    let mut municipality = json_of(kind);
    set(&mut municipality, "/child/municipalityCode", json!("184"));
    assert_issue(&errors(kind, &municipality), "/child/municipalityCode", IssueRule::Invalid);

    // The same rules in the XML form.
    let xml = String::from_utf8(example(kind).to_xml()).unwrap();
    let no_call = xml.replace("  <phoneCallAt>2026-11-20T09:05:00Z</phoneCallAt>\n", "");
    assert_issue(&xml_errors(&no_call), "/phoneCallAt", IssueRule::Conditional);
    let bad_org = xml.replace("<organisationNumber>2120000183<", "<organisationNumber>2120000184<");
    assert_issue(&xml_errors(&bad_org), "/recipient/organisationNumber", IssueRule::CheckDigit);
    let not_a_domain = xml.replace("0203:socialtjanst.solna.se", "0203:2120000183");
    assert_issue(&xml_errors(&not_a_domain), "/recipient/organisation", IssueRule::Invalid);
}

#[test]
fn violence_with_informed_guardians_is_a_warning() {
    let kind = DocumentKind::ConcernReport;
    let mut value = json_of(kind);
    set(&mut value, "/violenceSuspected", json!(true));
    let checked = PilotDocument::from_json(kind, &value).expect("a warning does not refuse");
    assert_eq!(checked.warnings.len(), 1);
    assert_eq!(checked.warnings[0].pointer, "/violenceSuspected");
    assert_eq!(checked.warnings[0].severity, Severity::Warning);
    assert!(PilotDocument::from_json(kind, &json_of(kind)).unwrap().warnings.is_empty());
}

#[test]
fn acknowledgement_and_feedback_issues() {
    let kind = DocumentKind::ConcernAcknowledgement;
    let mut missing = json_of(kind);
    remove(&mut missing, "/receivingUnit");
    assert_issue(&errors(kind, &missing), "/receivingUnit", IssueRule::Missing);
    let mut bad_org = json_of(kind);
    set(&mut bad_org, "/sender/organisationNumber", json!("2120000180"));
    assert_issue(&errors(kind, &bad_org), "/sender/organisationNumber", IssueRule::CheckDigit);
    let mut bad_id = json_of(kind);
    set(&mut bad_id, "/inReplyTo", json!("not-a-uuid"));
    assert_issue(&errors(kind, &bad_id), "/inReplyTo", IssueRule::Invalid);

    let kind = DocumentKind::ConcernFeedback;
    let mut missing = json_of(kind);
    remove(&mut missing, "/decisionDate");
    assert_issue(&errors(kind, &missing), "/decisionDate", IssueRule::Missing);
    let mut bad = json_of(kind);
    set(&mut bad, "/investigation", json!("MAYBE"));
    assert_issue(&errors(kind, &bad), "/investigation", IssueRule::Invalid);
    let mut bad_org = json_of(kind);
    set(&mut bad_org, "/recipient/organisationNumber", json!("232100-0017"));
    assert_issue(&errors(kind, &bad_org), "/recipient/organisationNumber", IssueRule::CheckDigit);
    let mut local_time = json_of(kind);
    set(&mut local_time, "/created", json!("2026-11-27T15:05:00+01:00"));
    assert_issue(&errors(kind, &local_time), "/created", IssueRule::Invalid);
}

#[test]
fn referral_issues() {
    let kind = DocumentKind::Referral;
    let mut missing = json_of(kind);
    remove(&mut missing, "/question");
    assert_issue(&errors(kind, &missing), "/question", IssueRule::Missing);

    let mut no_guardians = json_of(kind);
    remove(&mut no_guardians, "/guardians");
    assert_issue(&errors(kind, &no_guardians), "/guardians", IssueRule::Conditional);

    let mut consent = json_of(kind);
    set(&mut consent, "/consent/coversReply", json!(false));
    assert_issue(&errors(kind, &consent), "/consent/coversReply", IssueRule::Conditional);

    let mut hsa = json_of(kind);
    remove(&mut hsa, "/referrer/hsaId");
    assert_issue(&errors(kind, &hsa), "/referrer/hsaId", IssueRule::Conditional);

    let mut bad_hsa = json_of(kind);
    set(&mut bad_hsa, "/referrer/hsaId", json!("SE5566778898-EH01"));
    assert_issue(&errors(kind, &bad_hsa), "/referrer/hsaId", IssueRule::CheckDigit);

    let mut version = json_of(kind);
    set(&mut version, "/version", json!(0));
    assert_issue(&errors(kind, &version), "/version", IssueRule::Invalid);

    let mut code = json_of(kind);
    set(&mut code, "/diagnosisCodes/1", json!("depression"));
    assert_issue(&errors(kind, &code), "/diagnosisCodes/1", IssueRule::Invalid);

    let mut history = json_of(kind);
    set(&mut history, "/history", json!("h".repeat(8193)));
    assert_issue(&errors(kind, &history), "/history", IssueRule::TooLong);

    let xml = String::from_utf8(example(kind).to_xml()).unwrap();
    let bad_pnr = xml.replace("201406129872", "201406129873");
    assert_issue(&xml_errors(&bad_pnr), "/patient/personId", IssueRule::CheckDigit);
}

#[test]
fn referral_reply_issues() {
    let kind = DocumentKind::ReferralReply;
    let mut missing = json_of(kind);
    remove(&mut missing, "/responder/hsaId");
    assert_issue(&errors(kind, &missing), "/responder/hsaId", IssueRule::Missing);

    let mut forwarded = json_of(kind);
    set(&mut forwarded, "/replyType", json!("FORWARDED"));
    assert_issue(&errors(kind, &forwarded), "/forwardedTo", IssueRule::Conditional);

    let mut rejected = json_of(kind);
    set(&mut rejected, "/replyType", json!("REJECTED"));
    remove(&mut rejected, "/assessment");
    assert_issue(&errors(kind, &rejected), "/assessment", IssueRule::Conditional);

    let mut bad_hsa = json_of(kind);
    set(&mut bad_hsa, "/responder/hsaId", json!("SE2321000015-BUP2B"));
    assert_issue(&errors(kind, &bad_hsa), "/responder/hsaId", IssueRule::CheckDigit);

    let mut long = json_of(kind);
    set(&mut long, "/assessment", json!("a".repeat(65_001)));
    assert_issue(&errors(kind, &long), "/assessment", IssueRule::TooLong);
}

#[test]
fn the_schema_is_closed() {
    let kind = DocumentKind::Referral;
    let mut extra = json_of(kind);
    extra["patient"]["shoeSize"] = json!(38);
    assert_issue(&errors(kind, &extra), "/patient/shoeSize", IssueRule::NotAllowed);
    // A key that could carry data is not repeated in the pointer.
    let mut data_key = json_of(kind);
    data_key[CHILD_PNR] = json!(1);
    assert_issue(&errors(kind, &data_key), "/(unknown)", IssueRule::NotAllowed);

    let xml = String::from_utf8(example(kind).to_xml()).unwrap();
    let unknown = xml.replace("<question>", "<secret>x</secret>\n  <question>");
    assert_issue(&xml_errors(&unknown), "/secret", IssueRule::NotAllowed);
    let twice = xml.replace("<version>1</version>", "<version>1</version><version>2</version>");
    assert_issue(&xml_errors(&twice), "/version", IssueRule::NotAllowed);
    let attribute = xml.replace("<patient>", "<patient note=\"x\">");
    assert_issue(&xml_errors(&attribute), "/patient/@note", IssueRule::NotAllowed);
    let reordered = xml.replace(
        "  <reason>NEW</reason>\n  <priority>ROUTINE</priority>",
        "  <priority>ROUTINE</priority>\n  <reason>NEW</reason>",
    );
    assert_ne!(reordered, xml);
    assert_issue(&xml_errors(&reordered), "/reason", IssueRule::NotAllowed);
    let start = xml.find("<guardians>").unwrap();
    let end = xml.find("</guardians>").unwrap() + "</guardians>".len();
    let empty_list = format!("{}<guardians/>{}", &xml[..start], &xml[end..]);
    assert_issue(&xml_errors(&empty_list), "/guardians", IssueRule::Missing);
    let mut empty_json = json_of(kind);
    set(&mut empty_json, "/guardians", json!([]));
    assert_issue(&errors(kind, &empty_json), "/guardians", IssueRule::Conditional);
    let wrong_kind = errors(DocumentKind::ReferralReply, &json_of(kind));
    assert_issue(&wrong_kind, "/documentType", IssueRule::Invalid);
    let version = xml.replace("schemaVersion=\"1.0\"", "schemaVersion=\"2.0\"");
    assert_issue(&xml_errors(&version), "/schemaVersion", IssueRule::Invalid);
}

#[test]
fn xml_that_is_not_a_pilot_document_is_refused() {
    let xml = String::from_utf8(example(DocumentKind::Referral).to_xml()).unwrap();
    let doctype = xml.replacen("<Referral", "<!DOCTYPE Referral [<!ENTITY x \"y\">]>\n<Referral", 1);
    assert_eq!(PilotDocument::is_pilot_xml(doctype.as_bytes()), None);
    assert_issue(&xml_errors(&doctype), "", IssueRule::Invalid);
    let other_ns = xml.replace("urn:brygga:pilot:referral:1", "urn:brygga:pilot:referral:2");
    assert_eq!(PilotDocument::is_pilot_xml(other_ns.as_bytes()), None);
    assert_issue(&xml_errors(&other_ns), "", IssueRule::NotAllowed);
    assert_eq!(PilotDocument::is_pilot_xml(b"<Message xmlns=\"urn:riv:x\"/>"), None);
    assert_eq!(PilotDocument::is_pilot_xml(b"not xml"), None);
    let prefixed = "<?xml version=\"1.0\"?><!-- c --><p:Referral xmlns:p=\"urn:brygga:pilot:referral:1\"/>";
    assert_eq!(PilotDocument::is_pilot_xml(prefixed.as_bytes()), Some(DocumentKind::Referral));
}

/// Values put where they do not belong must never come back in an issue.
#[test]
fn issues_never_repeat_the_value() {
    let leaks = |issues: &[FieldIssue], secret: &str| {
        issues.iter().any(|i| i.text.contains(secret) || i.pointer.contains(secret))
    };
    let places = [
        (DocumentKind::ConcernReport, "/reporter/hsaId"),
        (DocumentKind::ConcernReport, "/child/municipalityCode"),
        (DocumentKind::ConcernReport, "/urgency"),
        (DocumentKind::ConcernReport, "/created"),
        (DocumentKind::ConcernReport, "/sender/organisation"),
        (DocumentKind::ConcernReport, "/guardians/0/informed"),
        (DocumentKind::Referral, "/diagnosisCodes/0"),
        (DocumentKind::Referral, "/version"),
        (DocumentKind::Referral, "/referralId"),
        (DocumentKind::ReferralReply, "/inReplyTo/version"),
        (DocumentKind::ReferralReply, "/patient"),
        (DocumentKind::ConcernFeedback, "/decisionDate"),
    ];
    for secret in [CHILD_PNR, CHILD_PNR_DIGITS, "Elsa Hemlig 20120314-2383 <tel 0701234567>"] {
        for (kind, pointer) in places {
            let mut value = json_of(kind);
            set(&mut value, pointer, json!(secret));
            let issues = errors(kind, &value);
            assert!(!issues.is_empty());
            assert!(!leaks(&issues, secret), "{pointer}: {issues:#?}");
            assert!(!leaks(&issues, "0701234567") && !leaks(&issues, "Hemlig"), "{pointer}: {issues:#?}");
        }
        // And in the XML form, also as an element name's text and an attribute.
        let xml = String::from_utf8(example(DocumentKind::ConcernReport).to_xml()).unwrap();
        let bad = xml
            .replace("SE2321000016-BUP1A", secret)
            .replace("<municipalityCode>0184", &format!("<municipalityCode>{}", secret.replace('<', "&lt;")));
        let issues = xml_errors(&bad);
        assert!(!leaks(&issues, secret) && !leaks(&issues, "Hemlig"), "{issues:#?}");
    }
    // A bad personnummer in its own field: the issue says what is wrong, not what was given.
    let mut value = json_of(DocumentKind::ConcernReport);
    set(&mut value, "/child/personId", json!("20120314-2384"));
    let issues = errors(DocumentKind::ConcernReport, &value);
    assert!(!leaks(&issues, "2012031423"), "{issues:#?}");
    // Not well-formed XML: the parser's message (which may quote the input) is not passed on.
    let issues = xml_errors(&format!("<Referral xmlns=\"urn:brygga:pilot:referral:1\"><{CHILD_PNR_DIGITS}/>"));
    assert!(!leaks(&issues, CHILD_PNR_DIGITS), "{issues:#?}");
}

#[test]
fn markdown_shows_the_fields_with_acute_first() {
    let md = example(DocumentKind::ConcernReport).to_markdown();
    assert!(md.starts_with("**AKUT / ACUTE**"), "{md}");
    for needle in [
        "Orosanmälan / Concern report",
        "Elsa Exempelsson",
        "20120314-2383",
        "0184",
        "Anna Exempelsson",
        "Kunde inte nås",
        "inte vågar gå hem",
        "SE2321000016-BUP1A",
        "2026-11-20T09:05:00Z",
        "journalanteckning.pdf",
        "0203:socialtjanst.solna.se, 212000-0183 (socialtjanst.mottagning)",
    ] {
        assert!(md.contains(needle), "{needle} missing from:\n{md}");
    }
    let referral = example(DocumentKind::Referral).to_markdown();
    for needle in ["# Remiss / Referral", "Leo Testsson", "20140612-9872", "F90.0, F32", "NURSE", "Maria Testsson"] {
        assert!(referral.contains(needle), "{needle} missing from:\n{referral}");
    }
    let reply = example(DocumentKind::ReferralReply).to_markdown();
    assert!(reply.contains("ACCEPTED") && reply.contains("Per Psykolog") && reply.contains("2026-12-08T08:30:00Z"));
    assert!(example(DocumentKind::ConcernAcknowledgement).to_markdown().contains("SN 2026/1432"));
    assert!(example(DocumentKind::ConcernFeedback).to_markdown().contains("Utredning inledd"));
}

#[test]
fn labels_name_no_person() {
    let labels: Vec<String> = DocumentKind::ALL.into_iter().map(|k| example(k).label()).collect();
    assert_eq!(labels[0], "Orosanmälan (AKUT)");
    assert_eq!(labels[3], "Remiss");
    assert_eq!(labels[4], "Remissvar: ACCEPTED");
    for label in &labels {
        assert!(!label.contains("2012") && !label.contains("Elsa") && !label.contains("Leo"), "{label}");
    }
}

#[test]
fn accessors() {
    let report = example(DocumentKind::ConcernReport);
    assert_eq!(report.person().map(|p| p.value()), Some(CHILD_PNR_DIGITS));
    assert_eq!(report.in_reply_to(), None);
    let ack = example(DocumentKind::ConcernAcknowledgement);
    assert_eq!(ack.in_reply_to(), Some(ReplyTarget::Document(report.common().document_id)));
    assert_eq!(ack.common().conversation_id, report.common().conversation_id);
    let PilotDocument::Referral(referral) = example(DocumentKind::Referral) else { unreachable!() };
    let reply = example(DocumentKind::ReferralReply);
    match reply.in_reply_to() {
        Some(ReplyTarget::Referral(r)) => {
            assert_eq!((r.referral_id, r.version), (referral.referral_id, referral.version))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(reply.person(), Some(&referral.patient.person_id));
}

#[test]
fn reply_checked_against_its_referral() {
    let PilotDocument::Referral(referral) = example(DocumentKind::Referral) else { unreachable!() };
    let PilotDocument::ReferralReply(reply) = example(DocumentKind::ReferralReply) else { unreachable!() };
    assert!(check_reply_against_referral(&reply, &referral).is_empty());

    let mut other_version = reply.clone();
    other_version.in_reply_to.version = 2;
    assert_issue(&check_reply_against_referral(&other_version, &referral), "/inReplyTo/version", IssueRule::Mismatch);

    let mut other_referral = reply.clone();
    other_referral.in_reply_to.referral_id = uuid::Uuid::nil();
    assert_issue(
        &check_reply_against_referral(&other_referral, &referral),
        "/inReplyTo/referralId",
        IssueRule::Mismatch,
    );

    let mut other_patient = reply.clone();
    other_patient.patient_person_id = brygga::audit::PersonId::parse(CHILD_PNR).unwrap();
    let issues = check_reply_against_referral(&other_patient, &referral);
    assert_issue(&issues, "/patient/personId", IssueRule::Mismatch);
    assert!(!issues.iter().any(|i| i.text.contains(CHILD_PNR_DIGITS) || i.text.contains("201406129872")));

    let mut early = reply.clone();
    early.replied_at = referral.common.created - time::Duration::minutes(1);
    assert_issue(&check_reply_against_referral(&early, &referral), "/repliedAt", IssueRule::Mismatch);
}
