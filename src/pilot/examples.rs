//! Fictional but realistic example documents, for tests, demos and the
//! committed files in `examples/pilot/`.
//!
//! Parties: Region Stockholm BUP (232100-0016), Solna stad social services
//! (212000-0183) and a fictional independent school, Exempelskolan AB
//! (556677-8899). The children have made-up personnummer with valid check
//! digits, born 2012 and 2014, so they are minors through 2026.

use time::macros::{date, datetime};
use uuid::Uuid;

use super::common::{Attachment, Common, Party, Urgency};
use super::concern::{
    Child, Concern, ConcernAcknowledgement, ConcernFeedback, ConcernReport, Guardian, Investigation, Reporter,
};
use super::ids::{HsaId, Icd10Code, MunicipalityCode, OrgId, OrgNumber};
use super::referral::{
    Consent, ConsentGivenBy, Patient, Priority, Profession, Referral, ReferralGuardian, ReferralReason, Referrer,
};
use super::reply::{ReferralRef, ReferralReply, ReplyType, Responder};
use super::{DocumentKind, PilotDocument};
use crate::audit::PersonId;

pub const REGION_STOCKHOLM: &str = "2321000016";
pub const SOLNA_STAD: &str = "2120000183";
pub const EXEMPELSKOLAN: &str = "5566778899";
/// The child in the concern report (fictional).
pub const CHILD_PERSONNUMMER: &str = "20120314-2383";
/// The patient in the referral (fictional).
pub const PATIENT_PERSONNUMMER: &str = "20140612-9872";

const CONCERN_CONVERSATION: Uuid = Uuid::from_u128(0x52e96e26_06f4_4516_acac_dd89806cdb31);
const CONCERN_REPORT_ID: Uuid = Uuid::from_u128(0xe120a2df_4fe4_4106_a229_182fcb5b0a55);
const REFERRAL_CONVERSATION: Uuid = Uuid::from_u128(0xde94031e_081e_4eb2_b27f_d47d2cd72efb);
const REFERRAL_DOCUMENT_ID: Uuid = Uuid::from_u128(0x22e326fc_4dad_4cff_8d8e_a7593a432b83);
const REFERRAL_ID: Uuid = Uuid::from_u128(0xe849a816_4ca9_4fd5_aac2_a4b4808224e6);

/// The example document of each kind. The replies answer the examples
/// they belong with (same conversation, ids and patient).
pub fn example(kind: DocumentKind) -> PilotDocument {
    match kind {
        DocumentKind::ConcernReport => PilotDocument::ConcernReport(concern_report()),
        DocumentKind::ConcernAcknowledgement => PilotDocument::ConcernAcknowledgement(ConcernAcknowledgement {
            common: Common {
                document_id: Uuid::from_u128(0xa1830318_9991_481f_bfb5_2650f3a9f5f8),
                created: datetime!(2026-11-20 09:41:10 UTC),
                conversation_id: CONCERN_CONVERSATION,
                sender: social_services(),
                recipient: bup("bup.orosanmalan"),
            },
            in_reply_to: CONCERN_REPORT_ID,
            received_at: datetime!(2026-11-20 09:40:00 UTC),
            receiving_unit: "Solna stad, Socialtjänsten, Barn och unga mottagning".to_owned(),
            case_number: Some("SN 2026/1432".to_owned()),
        }),
        DocumentKind::ConcernFeedback => PilotDocument::ConcernFeedback(ConcernFeedback {
            common: Common {
                document_id: Uuid::from_u128(0x80e517bb_d5c3_49d9_8111_b03e6b3b939d),
                created: datetime!(2026-11-27 14:05:00 UTC),
                conversation_id: CONCERN_CONVERSATION,
                sender: social_services(),
                recipient: bup("bup.orosanmalan"),
            },
            in_reply_to: CONCERN_REPORT_ID,
            investigation: Investigation::Opened,
            decision_date: date!(2026 - 11 - 27),
        }),
        DocumentKind::Referral => PilotDocument::Referral(referral()),
        DocumentKind::ReferralReply => PilotDocument::ReferralReply(referral_reply()),
    }
}

fn org(digits: &str) -> OrgNumber {
    OrgNumber::parse_digits(digits).expect("example organisation numbers are valid")
}

fn hsa(id: &str) -> HsaId {
    HsaId::parse(id).expect("example HSA-ids are valid")
}

fn person(id: &str) -> PersonId {
    PersonId::parse(id).expect("example personnummer are valid")
}

fn party(id: &str, digits: &str, functional_address: &str) -> Party {
    Party {
        organisation: OrgId::parse(id).expect("example organisation ids are valid"),
        organisation_number: org(digits),
        functional_address: functional_address.to_owned(),
    }
}

fn bup(functional_address: &str) -> Party {
    party("0203:bup.regionstockholm.se", REGION_STOCKHOLM, functional_address)
}

fn social_services() -> Party {
    party("0203:socialtjanst.solna.se", SOLNA_STAD, "socialtjanst.mottagning")
}

fn school() -> Party {
    party("0203:elevhalsa.exempelskolan.se", EXEMPELSKOLAN, "elevhalsa")
}

fn concern_report() -> ConcernReport {
    ConcernReport {
        common: Common {
            document_id: CONCERN_REPORT_ID,
            created: datetime!(2026-11-20 09:15:00 UTC),
            conversation_id: CONCERN_CONVERSATION,
            sender: bup("bup.orosanmalan"),
            recipient: social_services(),
        },
        urgency: Urgency::Acute,
        immediate_danger: false,
        phone_call_at: Some(datetime!(2026-11-20 09:05:00 UTC)),
        child_whereabouts: Some(
            "På BUP Solna mottagning med sin mormor / At BUP Solna with her grandmother".to_owned(),
        ),
        child: Child {
            person_id: Some(person(CHILD_PERSONNUMMER)),
            name: "Elsa Exempelsson".to_owned(),
            birth_date: None,
            municipality_code: MunicipalityCode::parse("0184").expect("Solna's code"),
            address: Some("Exempelvägen 1, 171 00 Solna".to_owned()),
            school: Some("Exempelskolan, årskurs 8".to_owned()),
            siblings: Some("En bror, 9 år".to_owned()),
        },
        guardians: vec![
            Guardian {
                name: "Anna Exempelsson".to_owned(),
                phone: "+46 70 123 45 67".to_owned(),
                informed: true,
                not_informed_reason: None,
            },
            Guardian {
                name: "Johan Exempelsson".to_owned(),
                phone: "070-765 43 21".to_owned(),
                informed: false,
                not_informed_reason: Some("Kunde inte nås per telefon / Could not be reached by phone".to_owned()),
            },
        ],
        reporter: Reporter {
            name: "Karin Läkare".to_owned(),
            role: "Specialistläkare".to_owned(),
            unit: "BUP Solna".to_owned(),
            hsa_id: hsa("SE2321000016-BUP1A"),
            phone: "08-123 456 00".to_owned(),
        },
        concern: Concern {
            description: "Elsa berättar vid besök i dag att hon inte vågar gå hem.\n\n\
                          Elsa said at today's visit that she does not dare to go home."
                .to_owned(),
            since: Some(date!(2026 - 10 - 01)),
            child_informed: Some(true),
            interpreter_language: None,
        },
        violence_suspected: Some(false),
        feedback_requested: true,
        attachments: vec![Attachment {
            file_name: "journalanteckning.pdf".to_owned(),
            description: Some("Journalanteckning från besöket".to_owned()),
        }],
    }
}

fn referral() -> Referral {
    Referral {
        common: Common {
            document_id: REFERRAL_DOCUMENT_ID,
            created: datetime!(2026-11-18 13:30:00 UTC),
            conversation_id: REFERRAL_CONVERSATION,
            sender: school(),
            recipient: bup("bup.envaginn"),
        },
        referral_id: REFERRAL_ID,
        version: 1,
        reason: ReferralReason::New,
        priority: Priority::Routine,
        patient: Patient { person_id: person(PATIENT_PERSONNUMMER), name: "Leo Testsson".to_owned(), birth_date: None },
        guardians: vec![ReferralGuardian { name: "Maria Testsson".to_owned(), phone: "+46 73 555 12 34".to_owned() }],
        consent: Consent { given_by: ConsentGivenBy::Both, date: date!(2026 - 11 - 17), covers_reply: true },
        referrer: Referrer {
            name: "Sara Skolsköterska".to_owned(),
            profession: Profession::Nurse,
            unit: "Exempelskolan, elevhälsan".to_owned(),
            phone: "08-555 100 20".to_owned(),
            hsa_id: Some(hsa("SE5566778899-EH01")),
        },
        care_responsibility_remains_with_sender: true,
        question: "Bedömning av koncentrationssvårigheter och nedstämdhet.".to_owned(),
        history: "Leo har sedan höstterminen haft svårt att fokusera och har hög frånvaro.".to_owned(),
        measures_taken: Some("Anpassad studiegång och samtal med kurator sedan september.".to_owned()),
        diagnosis_codes: vec![Icd10Code::parse("F90.0").expect("shape"), Icd10Code::parse("F32").expect("shape")],
        attachments: Vec::new(),
    }
}

fn referral_reply() -> ReferralReply {
    ReferralReply {
        common: Common {
            document_id: Uuid::from_u128(0x8c15a12c_ae0e_4fbc_8034_78e7b732a5e0),
            created: datetime!(2026-11-24 10:00:00.250 UTC),
            conversation_id: REFERRAL_CONVERSATION,
            sender: bup("bup.envaginn"),
            recipient: school(),
        },
        in_reply_to: ReferralRef { referral_id: REFERRAL_ID, version: 1 },
        reply_type: ReplyType::Accepted,
        forwarded_to: None,
        assessment: Some("Remissen accepteras för neuropsykiatrisk utredning.".to_owned()),
        planned_action: Some("Bedömningssamtal med psykolog.".to_owned()),
        appointment_at: Some(datetime!(2026-12-08 08:30:00 UTC)),
        patient_person_id: person(PATIENT_PERSONNUMMER),
        responder: Responder {
            name: "Per Psykolog".to_owned(),
            title: "Leg. psykolog".to_owned(),
            hsa_id: hsa("SE2321000016-BUP2B"),
            unit: "BUP En väg in".to_owned(),
        },
        replied_at: datetime!(2026-11-24 09:55:00 UTC),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pilot::common::under_18;

    /// The example numbers are checked by the parsers, not trusted from memory.
    #[test]
    fn example_numbers_are_valid_and_the_children_minors_through_2026() {
        for digits in [REGION_STOCKHOLM, SOLNA_STAD, EXEMPELSKOLAN] {
            assert!(OrgNumber::parse_digits(digits).is_ok(), "{digits}");
        }
        for pnr in [CHILD_PERSONNUMMER, PATIENT_PERSONNUMMER] {
            let birth = person(pnr).birth_date().expect("a personnummer holds a birth date");
            assert!(under_18(birth, date!(2026 - 12 - 31)));
        }
        for kind in DocumentKind::ALL {
            assert_eq!(example(kind).kind(), kind);
        }
    }
}
