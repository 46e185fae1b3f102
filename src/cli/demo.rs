//! `brygga demo`: the two Stockholm pilots, end to end through the secure
//! envelope, with fresh keys and no setup.
//!
//! Three organisations get certificates from a throw-away federation CA.
//! Each message is built, sealed (encrypted for the recipient, signed by the
//! sender), opened by the recipient (verified against the sender's signing
//! certificate, decrypted, validated), answered with a signed receipt, and
//! the receipt is verified back at the sender. Transport between nodes (AS4,
//! SMP, outbox) is not part of this demo yet: envelopes are handed over in
//! memory.

use rustls_pki_types::UnixTime;
use time::OffsetDateTime;

use super::{CmdResult, Failure};
use crate::limits::XmlLimits;
use crate::pki::dev::{DevCa, DevIdentity};
use crate::pki::TrustPolicy;
use crate::sdk::envelope::{self, OpenOptions, ReceiptDecision, SealOptions};
use crate::sdk::message::{ContentFile, OrgAddress, SdkMessage};
use crate::sdk::message_rules::SupportedContentTypes;
use crate::sdk::ResponseCode;
use crate::xmlsec::SigningOptions;

struct Organisation {
    name: &'static str,
    org_id: &'static str,
    functional_address: &'static str,
    signing: DevIdentity,
    encryption: DevIdentity,
    /// What this organisation's case systems can take as attachments.
    accepts: SupportedContentTypes,
}

impl Organisation {
    fn new(ca: &DevCa, name: &'static str, org_id: &'static str, functional_address: &'static str, accepts: SupportedContentTypes) -> Result<Self, Failure> {
        let domain = org_id.trim_start_matches("0203:");
        let issue = |purpose: &str| {
            ca.issue(name, &format!("{domain} {purpose}"), domain).map_err(|e| Failure::usage(e.to_string()))
        };
        Ok(Self { name, org_id, functional_address, signing: issue("signing")?, encryption: issue("encryption")?, accepts })
    }

    fn address(&self) -> OrgAddress {
        OrgAddress::new(self.org_id, self.functional_address).with_label(self.name)
    }
}

fn demo_failure(e: impl std::fmt::Display) -> Failure {
    Failure::usage(format!("demo: {e}"))
}

pub(super) fn run() -> CmdResult {
    println!("Brygga demo: the Stockholm SDK pilots through the secure envelope\n");
    let ca = DevCa::new("SDK demo federation", "Demo organisation CA").map_err(demo_failure)?;
    let bup = Organisation::new(&ca, "Region Stockholm BUP", "0203:bup.regionstockholm.se", "bup.envagin", SupportedContentTypes::default())?;
    let social = Organisation::new(
        &ca,
        "Stockholms stad socialtjänst",
        "0203:socialtjanst.stockholm.se",
        "soc.mottagning.barn",
        SupportedContentTypes::pdf_only().with("application/xml"),
    )?;
    let school = Organisation::new(&ca, "Stockholms stad elevhälsa", "0203:elevhalsa.stockholm.se", "elevhalsa.remiss", SupportedContentTypes::default())?;
    for o in [&bup, &social, &school] {
        println!("  {:<30} {:<32} functional address {}", o.name, o.org_id, o.functional_address);
    }
    println!("  keys: RSA-2048 signing and encryption certificates per organisation, one demo CA\n");

    let now = OffsetDateTime::now_utc();
    let mut accepted = 0;
    let mut rejected = 0;

    // 1. Concern report, BUP to social services.
    let concern = SdkMessage::builder(now, bup.address(), social.address())
        .label("Orosanmälan (AKUT)")
        .text("# Orosanmälan\n\n**Brådskande:** barnet bedöms vara i akut fara. Ring BUP jour för överlämning.\n\nStrukturerad anmälan bifogad.")
        .attachment(ContentFile::new("orosanmalan.xml", "application/xml", b"<concernReport urgency=\"ACUTE\"/>".to_vec()))
        .build()
        .map_err(|v| demo_failure(format!("{:?}", v.problems)))?;
    let outcome = exchange("1. Concern report (orosanmälan)", &concern, &bup, &social, Tamper::No)?;
    tally(outcome, &mut accepted, &mut rejected);

    // 2. Referral, student health to BUP, and BUP's first reply on the same conversation.
    let referral = SdkMessage::builder(now, school.address(), bup.address())
        .label("Remiss till BUP")
        .text("# Remiss\n\nFrågeställning: utredning av koncentrationssvårigheter. Samtycke från vårdnadshavare finns.")
        .attachment(ContentFile::new("remiss.pdf", "application/pdf", demo_pdf()))
        .build()
        .map_err(|v| demo_failure(format!("{:?}", v.problems)))?;
    tally(exchange("2. Referral (remiss)", &referral, &school, &bup, Tamper::No)?, &mut accepted, &mut rejected);
    let reply = SdkMessage::builder(now, bup.address(), school.address())
        .in_reply_to(&referral)
        .label("Remissvar: mottagen")
        .text("Remissen är mottagen och bedöms inom två veckor.")
        .build()
        .map_err(|v| demo_failure(format!("{:?}", v.problems)))?;
    tally(exchange("3. Referral reply (remissvar, RECEIVED)", &reply, &bup, &school, Tamper::No)?, &mut accepted, &mut rejected);

    // 4. Rejections: an attachment type social services does not take, and
    // an envelope altered on the way.
    let wrong_type = SdkMessage::builder(now, bup.address(), social.address())
        .label("Komplettering")
        .text("Kompletterande underlag bifogas.")
        .attachment(ContentFile::new("underlag.png", "image/png", vec![0x89, b'P', b'N', b'G', 13, 10, 26, 10]))
        .build()
        .map_err(|v| demo_failure(format!("{:?}", v.problems)))?;
    tally(exchange("4. Attachment type not supported by the receiver", &wrong_type, &bup, &social, Tamper::No)?, &mut accepted, &mut rejected);
    tally(exchange("5. Envelope altered in transit", &concern, &bup, &social, Tamper::Yes)?, &mut accepted, &mut rejected);

    println!("Summary: {accepted} accepted, {rejected} rejected, every receipt signed and verified by its sender.");
    if accepted == 3 && rejected == 2 {
        Ok(())
    } else {
        Err(demo_failure("unexpected outcome"))
    }
}

fn tally(outcome: ResponseCode, accepted: &mut u32, rejected: &mut u32) {
    match outcome {
        ResponseCode::Accepted => *accepted += 1,
        ResponseCode::Rejected => *rejected += 1,
    }
}

#[derive(PartialEq)]
enum Tamper {
    No,
    Yes,
}

/// Seal at `from`, open at `to`, send the receipt back, verify it at `from`.
fn exchange(title: &str, message: &SdkMessage, from: &Organisation, to: &Organisation, tamper: Tamper) -> Result<ResponseCode, Failure> {
    println!("{title}");
    println!("   from {} ({}) to {} ({})", from.name, from.functional_address, to.name, to.functional_address);
    println!("   message {}  conversation {}", message.message_id(), message.conversation_id());
    let now = OffsetDateTime::now_utc();
    let mut sealed = envelope::seal(&message.to_xml(), &from.signing.key, &from.signing.certificate, &to.encryption.certificate, &SealOptions::default(), now)
        .map_err(demo_failure)?;
    println!("   sealed: {} bytes, payload AES-256-CBC for the recipient's key, envelope signed RSA-SHA256", sealed.len());
    if tamper == Tamper::Yes {
        let at = sealed.len() / 2;
        sealed[at] = if sealed[at] == b'A' { b'B' } else { b'A' };
        println!("   (one byte of the envelope changed in transit)");
    }

    // At the recipient: trust exactly the sender's published signing certificate.
    let sender_trust = TrustPolicy::Pinned(from.signing.certificate.clone());
    let mut options = OpenOptions::new(&to.encryption.key, &sender_trust, UnixTime::now());
    options.content_policy = to.accepts.clone();
    let (facts, validation) = match envelope::open(sealed, &options) {
        Ok(opened) => {
            println!("   opened by {}: signature verified, decrypted, valid; delivered to {}", to.name, to.functional_address);
            (opened.facts, Default::default())
        }
        Err(rejection) => {
            for p in &rejection.validation.problems {
                println!("   {p}");
            }
            if rejection.receipt == ReceiptDecision::Withhold {
                println!("   no receipt (DIGG's receipt specification): logged for operators");
                return Ok(ResponseCode::Rejected);
            }
            (rejection.facts.clone().expect("a receipt needs facts"), rejection.validation)
        }
    };
    let receipt = envelope::receipt_for(&facts, uuid::Uuid::new_v4().to_string(), now, &validation);
    let sealed_receipt = envelope::seal_receipt(&receipt, &facts, &to.signing.key, &to.signing.certificate, &SigningOptions::default(), now)
        .map_err(demo_failure)?;

    // Back at the sender: the receipt must be signed by the recipient.
    let recipient_trust = TrustPolicy::Pinned(to.signing.certificate.clone());
    let opened = envelope::open_receipt(sealed_receipt, &recipient_trust, UnixTime::now(), &XmlLimits::default())
        .map_err(|v| demo_failure(format!("receipt refused: {:?}", v.problems)))?;
    let r = &opened.receipt;
    let refers = if r.document_reference == message.message_id() { "refers to this message" } else { "REFERS TO ANOTHER MESSAGE" };
    println!("   receipt {} from {}: {} (signature verified, {refers})", r.id, r.sender_endpoint, r.response.as_str());
    for line in &r.lines {
        let detail = line.detail().map(|d| d.as_str()).unwrap_or("-");
        println!("      {} {}: {}", line.reason.as_str(), detail, line.status_reason);
    }
    println!();
    Ok(r.response)
}

/// A minimal, valid one-page PDF.
fn demo_pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj 3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n".to_vec()
}
