//! The XHE envelope and the message receipt in DIGG's profiles: DIGG's own
//! examples, one crafted document per rule and per schema case, and round
//! trips through build/parse.

mod support;

use std::path::Path;

use brygga::limits::XmlLimits;
use brygga::sdk::receipt::{
    validate_receipt, validate_receipt_at, Receipt, ReceiptLine, StatusReasonCode, APPLICATION_RESPONSE_NS,
};
use brygga::sdk::xhe::{
    build_xhe, parse_xhe, peek_addressing, validate_cross_fields, validate_payload_root, validate_sdk_scope,
    validate_xhe, BusinessScope, CrossFieldView, DocumentKind, PayloadBody, PayloadInfo, TransportModel, XheHeader,
    DOCUMENT_ID_MESSAGE_V3_BASE, DOCUMENT_ID_MESSAGE_V3_SIGENC, DOCUMENT_ID_RECEIPT_SIGENC, FEDERATION_ID_SDK,
    FEDERATION_ID_TEST,
};
use brygga::sdk::{DetailCode, Problem, ReasonCode, ResponseCode, Validation};
use brygga::xml::{parse, parse_str, serialize, Document, NodeId};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn doc(xml: &str) -> Document {
    parse_str(xml).unwrap_or_else(|e| panic!("test XML does not parse: {e}\n{xml}"))
}

fn show(v: &Validation) -> String {
    v.problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
}

fn assert_clean(v: &Validation, what: &str) {
    assert!(v.is_accepted(), "{what}: expected no problems, got:\n{}", show(v));
}

/// Asserts a problem with these codes whose text contains `text`.
fn assert_has(v: &Validation, reason: ReasonCode, detail: DetailCode, text: &str) -> Problem {
    v.problems
        .iter()
        .find(|p| p.reason == reason && p.detail == detail && p.text.contains(text))
        .cloned()
        .unwrap_or_else(|| {
            panic!("expected {} {} containing {text:?}, got:\n{}", reason.as_str(), detail.as_str(), show(v))
        })
}

fn assert_rule(v: &Validation, rule: &str) -> Problem {
    assert_has(v, ReasonCode::Bv, DetailCode::Invariant, &format!("{rule}:"))
}

fn assert_sv(v: &Validation, text: &str) -> Problem {
    assert_has(v, ReasonCode::Sv, DetailCode::Structure, text)
}

fn assert_no_rule(v: &Validation, rule: &str) {
    assert!(
        !v.problems.iter().any(|p| p.text.contains(&format!("{rule}:"))),
        "did not expect {rule}, got:\n{}",
        show(v)
    );
}

/// `base` with `from` (which must occur exactly once) replaced by `to`.
fn mutate(base: &str, from: &str, to: &str) -> String {
    assert_eq!(base.matches(from).count(), 1, "mutation anchor must occur once: {from:?}");
    base.replacen(from, to, 1)
}

fn reference_file(rel: &str) -> Option<Vec<u8>> {
    let dir = support::sdk_reference()?;
    let path = dir.join(rel);
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
}

fn parse_bytes(bytes: &[u8]) -> Document {
    parse(bytes, &XmlLimits::default()).expect("DIGG file parses")
}

/// The signed XHE inside DIGG's AS4 submit example (base64 in `<value>`).
fn signed_example() -> Option<Document> {
    let raw = reference_file("message-v3/example-as4-submit-signed-xhe.xml")?;
    let text = String::from_utf8(raw).expect("utf-8");
    let start = text.find("<value>").expect("<value>") + "<value>".len();
    let end = start + text[start..].find('<').expect("end of <value>");
    let bytes = brygga::xmlsec::base64_decode(&text[start..end]).expect("base64");
    Some(parse_bytes(&bytes))
}

/// Text of the element reached from `from` by local names.
fn text_at(doc: &Document, from: NodeId, steps: &[&str]) -> String {
    let mut cur = from;
    for step in steps {
        cur = doc
            .child_elements(cur)
            .find(|&c| doc.element(c).is_some_and(|e| e.local == *step))
            .unwrap_or_else(|| panic!("no {step}"));
    }
    doc.text_content(cur).trim().to_owned()
}

// ---------------------------------------------------------------------------
// A valid envelope to mutate
// ---------------------------------------------------------------------------

const DOC_ID_SIGENC: &str =
    "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc";

fn valid_xhe() -> String {
    format!(
        r#"<x:XHE xmlns:x="http://docs.oasis-open.org/bdxr/ns/XHE/1/ExchangeHeaderEnvelope" xmlns="http://docs.oasis-open.org/bdxr/ns/XHE/1/BasicComponents" xmlns:xha="http://docs.oasis-open.org/bdxr/ns/XHE/1/AggregateComponents">
  <XHEVersionID>1.0</XHEVersionID>
  <CustomizationID>urn:fdc:digg.se:edelivery:xhe:1</CustomizationID>
  <xha:Header>
    <ID>7bc5576a-3f87-4cf5-a0c5-277da06fcacb</ID>
    <CreationDateTime>2022-10-13T18:10:39.844Z</CreationDateTime>
    <xha:BusinessScope>
      <xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>DOCUMENTID</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>{DOC_ID_SIGENC}</BusinessScopeCriterionValue></xha:BusinessScopeCriterion>
      <xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>DOCUMENTID_SCHEME</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>busdox-docid-qns</BusinessScopeCriterionValue></xha:BusinessScopeCriterion>
      <xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>PROCESSID</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>bdx:noprocess</BusinessScopeCriterionValue></xha:BusinessScopeCriterion>
      <xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>PROCESSID_SCHEME</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>urn:fdc:digg.se:edelivery:process</BusinessScopeCriterionValue></xha:BusinessScopeCriterion>
      <xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>FEDERATIONID</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>urn:fdc:digg.se:edelivery:federation:sdk</BusinessScopeCriterionValue></xha:BusinessScopeCriterion>
    </xha:BusinessScope>
    <xha:FromParty><xha:PartyIdentification><ID schemeID="iso6523-actorid-upis">0203:sender.se</ID></xha:PartyIdentification></xha:FromParty>
    <xha:ToParty><xha:PartyIdentification><ID schemeID="iso6523-actorid-upis">0203:recipient.se</ID></xha:PartyIdentification></xha:ToParty>
  </xha:Header>
  <xha:Payloads>
    <xha:Payload>
      <DocumentTypeCode>Q{{urn:riv:infrastructure:messaging:MessageWithAttachments:3}}messagePayload</DocumentTypeCode>
      <ContentTypeCode>application/xml</ContentTypeCode>
      <HandlingServiceID>fa.recipient</HandlingServiceID>
      <InstanceEncryptionIndicator>false</InstanceEncryptionIndicator>
      <xha:PayloadContent><m:messagePayload xmlns:m="urn:riv:infrastructure:messaging:MessageWithAttachments:3"><m:empty/></m:messagePayload></xha:PayloadContent>
    </xha:Payload>
  </xha:Payloads>
</x:XHE>"#
    )
}

fn check(xml: &str) -> Validation {
    validate_xhe(&doc(xml))
}

const PLAIN_PAYLOAD: &str = r#"<m:messagePayload xmlns:m="urn:riv:infrastructure:messaging:MessageWithAttachments:3"><m:empty/></m:messagePayload>"#;
const ENCRYPTED_PAYLOAD: &str = r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>"#;

#[test]
fn crafted_base_envelope_is_valid() {
    let v = check(&valid_xhe());
    assert_clean(&v, "base envelope");
    let parsed = parse_xhe(&doc(&valid_xhe())).expect("parses");
    // The fixture's payload is in clear, so SDK's layer flags exactly that.
    let scope = validate_sdk_scope(&parsed.header, &parsed.payload, FEDERATION_ID_SDK);
    assert_has(&scope, ReasonCode::Sig, DetailCode::Security, "not encrypted");
    assert_eq!(scope.problems.len(), 1, "{}", show(&scope));
}

// ---------------------------------------------------------------------------
// DIGG's envelope examples
// ---------------------------------------------------------------------------

#[test]
fn digg_example_xhe_base_validates_and_its_sdk_values_are_reported() {
    let Some(bytes) = reference_file("xhe/example-xhe-base.xml") else { return };
    let d = parse_bytes(&bytes);
    assert_clean(&validate_xhe(&d), "example-xhe-base.xml");
    let parsed = parse_xhe(&d).expect("parses");
    assert_eq!(parsed.header.business_scope.document_id, DOCUMENT_ID_MESSAGE_V3_BASE);
    assert_eq!(parsed.header.business_scope.federation_id, FEDERATION_ID_TEST);
    assert_eq!(parsed.payload.handling_service_id.as_deref(), Some("ABC"));
    let PayloadBody::Xml(root) = parsed.body else { panic!("XML payload expected") };

    // DIGG's example carries an SDK Meddelande v2 `Message` under the v3
    // DOCUMENTID: consistent with its own DocumentTypeCode (so the generic
    // profile accepts it) but not with SDK's document type.
    let scope = validate_sdk_scope(&parsed.header, &parsed.payload, FEDERATION_ID_TEST);
    let p = assert_has(
        &scope,
        ReasonCode::Bv,
        DetailCode::Invariant,
        "DocumentTypeCode must be Q{urn:riv:infrastructure:messaging:MessageWithAttachments:3}messagePayload",
    );
    assert_eq!(p.path, "/x:XHE/xha:Payloads/xha:Payload/xhb:DocumentTypeCode");
    assert_eq!(scope.problems.len(), 1, "{}", show(&scope));
    // It is a test-federation example.
    let prod = validate_sdk_scope(&parsed.header, &parsed.payload, FEDERATION_ID_SDK);
    assert_has(&prod, ReasonCode::Bv, DetailCode::Invariant, "FEDERATIONID must be");

    // Its payload disagrees with its envelope on every cross-checked field.
    let header = ["messageHeader"];
    let view = CrossFieldView {
        message_id: text_at(&d, root, &[&header[..], &["messageId"]].concat()),
        sender_org_id: text_at(&d, root, &[&header[..], &["sender", "senderID", "extension"]].concat()),
        recipient_org_id: text_at(&d, root, &[&header[..], &["recipient", "recipientID", "extension"]].concat()),
        recipient_functional_address: text_at(
            &d,
            root,
            &[&header[..], &["recipient", "attention", "subOrganization", "organizationId", "extension"]].concat(),
        ),
    };
    let cross = validate_cross_fields(&parsed.header, &parsed.payload, &view);
    assert_has(&cross, ReasonCode::Bv, DetailCode::Invariant, "messageId is not identical to ID in XHE envelope");
    assert_has(&cross, ReasonCode::Bv, DetailCode::Invariant, "Wrong or unknown sender-id");
    assert_has(&cross, ReasonCode::Bv, DetailCode::Security, "recipientId is not identical to value in XHE envelope");
    assert_has(&cross, ReasonCode::Bv, DetailCode::NotFound, "Wrong or unknown xha:HandlingServiceID");
}

#[test]
fn digg_example_xhe_nonxml_validates() {
    let Some(bytes) = reference_file("xhe/example-xhe-nonxml-base.xml") else { return };
    let d = parse_bytes(&bytes);
    assert_clean(&validate_xhe(&d), "example-xhe-nonxml-base.xml");
    let parsed = parse_xhe(&d).expect("parses");
    assert_eq!(parsed.body, PayloadBody::Base64Text);
    assert_eq!(parsed.payload.content_type_code, "application/EDIFACT");
    // Not an SDK document type: the SDK layer says so, the profile does not.
    let scope = validate_sdk_scope(&parsed.header, &parsed.payload, FEDERATION_ID_TEST);
    assert_has(&scope, ReasonCode::Bv, DetailCode::Invariant, "DOCUMENTID must be a document type of SDK");
    assert_has(&scope, ReasonCode::Bv, DetailCode::Invariant, "PROCESSID must be bdx:noprocess");
}

#[test]
fn digg_signed_example_validates_and_cross_checks() {
    let Some(d) = signed_example() else { return };
    assert_clean(&validate_xhe(&d), "signed example envelope");
    let parsed = parse_xhe(&d).expect("parses");
    assert_eq!(parsed.header.business_scope.document_id, DOCUMENT_ID_MESSAGE_V3_SIGENC);
    assert_eq!(parsed.header.business_scope.federation_id, FEDERATION_ID_SDK);
    assert_eq!(parsed.signatures.len(), 1);
    assert_eq!(parsed.signature, parsed.signatures.first().copied());
    let PayloadBody::Xml(root) = parsed.body else { panic!("the example's payload is in clear") };

    // DIGG's signed example declares tm-base-ext-sigenc but its payload is
    // not encrypted: B1.3.3 §5.3 row 14 rejects that with SIG security.
    let scope = validate_sdk_scope(&parsed.header, &parsed.payload, FEDERATION_ID_SDK);
    let p = assert_has(&scope, ReasonCode::Sig, DetailCode::Security, "not encrypted");
    assert_eq!(p.path, "/x:XHE/xha:Payloads/xha:Payload/xhb:InstanceEncryptionIndicator");
    assert_eq!(scope.problems.len(), 1, "{}", show(&scope));

    // Otherwise envelope and message agree.
    let view = CrossFieldView::from_message(&d, root).expect("fields present");
    assert_eq!(view.message_id, parsed.header.id);
    assert_clean(&validate_cross_fields(&parsed.header, &parsed.payload, &view), "signed example cross-fields");
    assert_clean(&validate_payload_root(&parsed.payload, &d, root), "signed example payload root");
    let a = peek_addressing(&d);
    assert_eq!(a.from_party.as_deref(), Some("0203:testb.testbed.inera.se"));
    assert_eq!(a.to_party.as_deref(), Some("0203:testa.testbed.inera.se"));
}

// ---------------------------------------------------------------------------
// DIGG's rules R1–R14, one crafted envelope each
// ---------------------------------------------------------------------------

const CUSTOMIZATION: &str = "<CustomizationID>urn:fdc:digg.se:edelivery:xhe:1</CustomizationID>";
const HANDLING: &str = "<HandlingServiceID>fa.recipient</HandlingServiceID>";
const INDICATOR_FALSE: &str = "<InstanceEncryptionIndicator>false</InstanceEncryptionIndicator>";
const FROM_ID: &str = r#"<ID schemeID="iso6523-actorid-upis">0203:sender.se</ID>"#;
const TO_ID: &str = r#"<ID schemeID="iso6523-actorid-upis">0203:recipient.se</ID>"#;

fn criterion(code: &str, value: &str) -> String {
    format!("<xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>{code}</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>{value}</BusinessScopeCriterionValue></xha:BusinessScopeCriterion>")
}

#[test]
fn r1_unlisted_elements_and_attributes() {
    // XSD-valid, not in DIGG's syntax mapping (listed in R1's schematron).
    let v = check(&mutate(&valid_xhe(), CUSTOMIZATION, &format!("{CUSTOMIZATION}<ProfileID>p</ProfileID>")));
    let p = assert_rule(&v, "R1-XHE");
    assert_eq!(p.path, "/x:XHE/xhb:ProfileID");
    assert!(!v.problems.iter().any(|p| p.reason == ReasonCode::Sv), "{}", show(&v));

    let v = check(&mutate(&valid_xhe(), "<DocumentTypeCode>", "<Description>d</Description><DocumentTypeCode>"));
    assert_eq!(assert_rule(&v, "R1-XHE").path, "/x:XHE/xha:Payloads/xha:Payload/xhb:Description");

    let ext = r#"<ext:XHEExtensions xmlns:ext="http://docs.oasis-open.org/bdxr/ns/XHE/1/ExtensionComponents"><ext:X>1</ext:X></ext:XHEExtensions><XHEVersionID>"#;
    let v = check(&mutate(&valid_xhe(), "<XHEVersionID>", ext));
    assert_eq!(assert_rule(&v, "R1-XHE").path, "/x:XHE/ext:XHEExtensions");

    // Not in R1's schematron list, but not in the syntax mapping either.
    let v = check(&mutate(&valid_xhe(), "<CreationDateTime>", "<UUID>u</UUID><CreationDateTime>"));
    assert_eq!(assert_rule(&v, "R1-XHE").path, "/x:XHE/xha:Header/xhb:UUID");

    // An attribute the XSD type has but the profile does not use.
    let v = check(&mutate(
        &valid_xhe(),
        FROM_ID,
        r#"<ID schemeID="iso6523-actorid-upis" schemeName="n">0203:sender.se</ID>"#,
    ));
    let p = assert_rule(&v, "R1-XHE");
    assert_eq!(p.path, "/x:XHE/xha:Header/xha:FromParty/xha:PartyIdentification/xhb:ID/@schemeName");
    let v = check(&mutate(&valid_xhe(), "<ID>7bc5576a", r#"<ID schemeID="x">7bc5576a"#));
    assert_eq!(assert_rule(&v, "R1-XHE").path, "/x:XHE/xha:Header/xhb:ID/@schemeID");
}

#[test]
fn r2_empty_elements_and_attributes() {
    let v = check(&mutate(&valid_xhe(), HANDLING, "<HandlingServiceID> \n</HandlingServiceID>"));
    assert_eq!(assert_rule(&v, "R2-XHE").path, "/x:XHE/xha:Payloads/xha:Payload/xhb:HandlingServiceID");

    let v = check(&mutate(&valid_xhe(), HANDLING, "<HandlingServiceID/>"));
    assert_rule(&v, "R2-XHE");

    let v = check(&mutate(&valid_xhe(), FROM_ID, r#"<ID schemeID=" ">0203:sender.se</ID>"#));
    let p = assert_rule(&v, "R2-XHE");
    assert!(p.path.ends_with("/@schemeID"), "{}", p.path);

    // An empty PayloadContent is itself empty.
    let v = check(&mutate(&valid_xhe(), PLAIN_PAYLOAD, ""));
    assert_eq!(assert_rule(&v, "R2-XHE").path, "/x:XHE/xha:Payloads/xha:Payload/xha:PayloadContent");

    // Exempt: inside PayloadContent (the base envelope has <m:empty/>), and
    // XML-DSig elements such as an empty Transform or Reference URI="".
    let signature = r#"</xha:Payloads><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms></ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature>"#;
    let v = check(&mutate(&valid_xhe(), "</xha:Payloads>", signature));
    assert_clean(&v, "signature elements and payload content are exempt from R2");
}

#[test]
fn r3_customization_id() {
    let v = check(&mutate(
        &valid_xhe(),
        CUSTOMIZATION,
        "<CustomizationID>urn:fdc:digg.se:edelivery:xhe:2</CustomizationID>",
    ));
    assert_eq!(assert_rule(&v, "R3-XHE").path, "/x:XHE/xhb:CustomizationID");
    assert_eq!(v.problems.len(), 1, "{}", show(&v));
}

#[test]
fn r4_to_r8_business_scope_criteria() {
    let base = valid_xhe();
    let cases = [
        ("DOCUMENTID", DOC_ID_SIGENC, "R4-XHE"),
        ("DOCUMENTID_SCHEME", "busdox-docid-qns", "R5-XHE"),
        ("PROCESSID", "bdx:noprocess", "R6-XHE"),
        ("PROCESSID_SCHEME", "urn:fdc:digg.se:edelivery:process", "R7-XHE"),
        ("FEDERATIONID", "urn:fdc:digg.se:edelivery:federation:sdk", "R8-XHE"),
    ];
    for (code, value, rule) in cases {
        let v = check(&mutate(&base, &criterion(code, value), ""));
        assert_rule(&v, rule);
        // Four criteria instead of five is also a cardinality problem.
        assert_rule(&v, "R14-XHE");
        // A misspelt code is both a missing criterion and a code-list error.
        let v = check(&mutate(&base, &criterion(code, value), &criterion(&format!("{code}X"), value)));
        assert_rule(&v, rule);
        assert_has(&v, ReasonCode::Bv, DetailCode::Invariant, "must be DOCUMENTID, DOCUMENTID_SCHEME");
    }
}

#[test]
fn r9_xhe_version() {
    let v = check(&mutate(&valid_xhe(), "<XHEVersionID>1.0</XHEVersionID>", "<XHEVersionID>2.0</XHEVersionID>"));
    assert_eq!(assert_rule(&v, "R9-XHE").path, "/x:XHE/xhb:XHEVersionID");
}

#[test]
fn r10_from_party_scheme() {
    let v = check(&mutate(&valid_xhe(), FROM_ID, r#"<ID schemeID="other">0203:sender.se</ID>"#));
    assert_eq!(assert_rule(&v, "R10-XHE").path, "/x:XHE/xha:Header/xha:FromParty/xha:PartyIdentification/xhb:ID");
    assert_no_rule(&v, "R11-XHE");
    let v = check(&mutate(&valid_xhe(), FROM_ID, "<ID>0203:sender.se</ID>"));
    assert_rule(&v, "R10-XHE");
}

#[test]
fn r11_to_party_scheme_as_the_rule_text_says() {
    // R11's schematron context repeats R10's (FromParty); the rule text, and
    // this implementation, check ToParty.
    let v = check(&mutate(&valid_xhe(), TO_ID, "<ID>0203:recipient.se</ID>"));
    assert_eq!(assert_rule(&v, "R11-XHE").path, "/x:XHE/xha:Header/xha:ToParty/xha:PartyIdentification/xhb:ID");
    assert_no_rule(&v, "R10-XHE");
}

#[test]
fn r12_encrypted_indicator_needs_encrypted_data() {
    let v = check(&mutate(
        &valid_xhe(),
        INDICATOR_FALSE,
        "<InstanceEncryptionIndicator>true</InstanceEncryptionIndicator>",
    ));
    assert_eq!(assert_rule(&v, "R12-XHE").path, "/x:XHE/xha:Payloads/xha:Payload/xha:PayloadContent");
    // "1" is true in xsd:boolean.
    let v =
        check(&mutate(&valid_xhe(), INDICATOR_FALSE, "<InstanceEncryptionIndicator>1</InstanceEncryptionIndicator>"));
    assert_rule(&v, "R12-XHE");
    // Consistent: EncryptedData with true.
    let enc = mutate(&valid_xhe(), PLAIN_PAYLOAD, ENCRYPTED_PAYLOAD);
    let v = check(&mutate(&enc, INDICATOR_FALSE, "<InstanceEncryptionIndicator>true</InstanceEncryptionIndicator>"));
    assert_clean(&v, "encrypted payload with indicator true");
}

#[test]
fn r13_plain_indicator_forbids_encrypted_data() {
    let v = check(&mutate(&valid_xhe(), PLAIN_PAYLOAD, ENCRYPTED_PAYLOAD));
    assert_eq!(assert_rule(&v, "R13-XHE").path, "/x:XHE/xha:Payloads/xha:Payload/xha:PayloadContent");
    assert_no_rule(&v, "R12-XHE");
}

#[test]
fn r14_cardinalities_of_the_syntax_mapping() {
    let base = valid_xhe();
    // Optional in the XSD, mandatory in the mapping.
    let v = check(&mutate(&base, CUSTOMIZATION, ""));
    assert_eq!(assert_rule(&v, "R14-XHE").path, "/x:XHE/xhb:CustomizationID");
    assert!(!v.problems.iter().any(|p| p.reason == ReasonCode::Sv), "{}", show(&v));

    let from = format!("<xha:FromParty><xha:PartyIdentification>{FROM_ID}</xha:PartyIdentification></xha:FromParty>");
    let v = check(&mutate(&base, &from, ""));
    assert_eq!(assert_rule(&v, "R14-XHE").path, "/x:XHE/xha:Header/xha:FromParty");

    let v = check(&mutate(&base, "<DocumentTypeCode>Q{urn:riv:infrastructure:messaging:MessageWithAttachments:3}messagePayload</DocumentTypeCode>", ""));
    assert_eq!(assert_rule(&v, "R14-XHE").path, "/x:XHE/xha:Payloads/xha:Payload/xhb:DocumentTypeCode");

    let v = check(&mutate(&base, "<ContentTypeCode>application/xml</ContentTypeCode>", ""));
    assert_rule(&v, "R14-XHE");

    let v = check(&mutate(&base, &format!("<xha:PayloadContent>{PLAIN_PAYLOAD}</xha:PayloadContent>"), ""));
    assert_eq!(assert_rule(&v, "R14-XHE").path, "/x:XHE/xha:Payloads/xha:Payload/xha:PayloadContent");

    // Repeatable in the XSD, once in the mapping.
    let to = format!("<xha:ToParty><xha:PartyIdentification>{TO_ID}</xha:PartyIdentification></xha:ToParty>");
    let v = check(&mutate(&base, &to, &format!("{to}{to}")));
    assert_eq!(assert_rule(&v, "R14-XHE").path, "/x:XHE/xha:Header/xha:ToParty[2]");

    let v = check(&mutate(
        &base,
        &format!("<xha:PartyIdentification>{FROM_ID}"),
        &format!("<xha:PartyIdentification>{FROM_ID}</xha:PartyIdentification><xha:PartyIdentification>{FROM_ID}"),
    ));
    assert_eq!(assert_rule(&v, "R14-XHE").path, "/x:XHE/xha:Header/xha:FromParty/xha:PartyIdentification[2]");

    let payload_start = "<xha:Payloads>\n    <xha:Payload>";
    let i = base.find(payload_start).expect("payload");
    let j = base.find("</xha:Payloads>").expect("payloads end");
    let payload = &base[i + "<xha:Payloads>".len()..j];
    let v = check(&base.replacen(payload, &format!("{payload}{payload}"), 1));
    assert_eq!(assert_rule(&v, "R14-XHE").path, "/x:XHE/xha:Payloads/xha:Payload[2]");

    // Each criterion type once, five in all.
    let fed = criterion("FEDERATIONID", "urn:fdc:digg.se:edelivery:federation:sdk");
    let v = check(&mutate(&base, &fed, &format!("{fed}{fed}")));
    assert_has(&v, ReasonCode::Bv, DetailCode::Invariant, "R14-XHE: xha:BusinessScopeCriterion must occur exactly 5");
    assert_has(
        &v,
        ReasonCode::Bv,
        DetailCode::Invariant,
        "R14-XHE: BusinessScopeCriterionTypeCode FEDERATIONID must appear exactly once",
    );

    // Missing Payloads altogether.
    let k = base.find("<xha:Payloads>").expect("payloads");
    let end = base.find("</xha:Payloads>").expect("end") + "</xha:Payloads>".len();
    let v = check(&format!("{}{}", &base[..k], &base[end..]));
    assert_eq!(assert_rule(&v, "R14-XHE").path, "/x:XHE/xha:Payloads");
}

// ---------------------------------------------------------------------------
// Schema (SV structure) cases
// ---------------------------------------------------------------------------

#[test]
fn sv_wrong_document_element() {
    let v = check(r#"<XHE xmlns="urn:other"><a/></XHE>"#);
    assert_eq!(assert_sv(&v, "document element must be XHE").path, "/Q{urn:other}XHE");
    assert_eq!(v.problems.len(), 1);
}

#[test]
fn sv_unknown_element() {
    let v = check(&mutate(&valid_xhe(), "<CreationDateTime>", "<Foo>1</Foo><CreationDateTime>"));
    assert_eq!(assert_sv(&v, "element xhb:Foo is not allowed in xha:Header").path, "/x:XHE/xha:Header/xhb:Foo");
    let v = check(&mutate(&valid_xhe(), "<xha:Payloads>", r#"<other xmlns="urn:x">1</other><xha:Payloads>"#));
    assert_sv(&v, "element Q{urn:x}other is not allowed in x:XHE");
}

#[test]
fn sv_element_out_of_order() {
    let v = check(&mutate(
        &valid_xhe(),
        "<ID>7bc5576a-3f87-4cf5-a0c5-277da06fcacb</ID>\n    <CreationDateTime>2022-10-13T18:10:39.844Z</CreationDateTime>",
        "<CreationDateTime>2022-10-13T18:10:39.844Z</CreationDateTime>\n    <ID>7bc5576a-3f87-4cf5-a0c5-277da06fcacb</ID>",
    ));
    let p = assert_sv(&v, "out of order");
    assert_eq!(p.path, "/x:XHE/xha:Header/xhb:ID");
    // Content of a misplaced element is still checked.
    let v = check(&mutate(
        &valid_xhe(),
        "<XHEVersionID>1.0</XHEVersionID>\n  <CustomizationID>urn:fdc:digg.se:edelivery:xhe:1</CustomizationID>",
        "<CustomizationID>urn:fdc:digg.se:edelivery:xhe:1</CustomizationID><XHEVersionID>2.0</XHEVersionID>",
    ));
    assert_sv(&v, "out of order");
    assert_rule(&v, "R9-XHE");
}

#[test]
fn sv_xsd_cardinalities() {
    // Required by the XSD itself.
    let v = check(&mutate(&valid_xhe(), "<XHEVersionID>1.0</XHEVersionID>", ""));
    assert_eq!(assert_sv(&v, "x:XHE must contain xhb:XHEVersionID").path, "/x:XHE/xhb:XHEVersionID");
    assert_no_rule(&v, "R14-XHE");
    let v = check(&mutate(&valid_xhe(), INDICATOR_FALSE, ""));
    assert_sv(&v, "xha:Payload must contain xhb:InstanceEncryptionIndicator");
    let v = check(&mutate(&valid_xhe(), "<CreationDateTime>2022-10-13T18:10:39.844Z</CreationDateTime>", ""));
    assert_sv(&v, "xha:Header must contain xhb:CreationDateTime");
    // At most once in the XSD.
    let v = check(&mutate(
        &valid_xhe(),
        "<XHEVersionID>1.0</XHEVersionID>",
        "<XHEVersionID>1.0</XHEVersionID><XHEVersionID>1.0</XHEVersionID>",
    ));
    assert_eq!(assert_sv(&v, "may occur at most 1").path, "/x:XHE/xhb:XHEVersionID[2]");
    let v = check(&mutate(&valid_xhe(), HANDLING, &format!("{HANDLING}{HANDLING}")));
    assert_sv(&v, "xhb:HandlingServiceID may occur at most 1");
}

#[test]
fn sv_unknown_attribute() {
    let v = check(&mutate(&valid_xhe(), FROM_ID, r#"<ID schemeID="iso6523-actorid-upis" foo="1">0203:sender.se</ID>"#));
    assert_eq!(
        assert_sv(&v, "attribute foo is not allowed on xhb:ID").path,
        "/x:XHE/xha:Header/xha:FromParty/xha:PartyIdentification/xhb:ID/@foo"
    );
    let v = check(&mutate(&valid_xhe(), "<xha:Header>", r#"<xha:Header id="h">"#));
    assert_sv(&v, "attribute id is not allowed on xha:Header");
    // xsi:schemaLocation is a schema hint, accepted (DIGG's example has one).
    let v = check(&mutate(
        &valid_xhe(),
        "<x:XHE ",
        r#"<x:XHE xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="a b" "#,
    ));
    assert_clean(&v, "xsi:schemaLocation");
}

#[test]
fn sv_text_and_elements_in_the_wrong_place() {
    let v = check(&mutate(&valid_xhe(), "<xha:Header>", "<xha:Header>stray"));
    assert_sv(&v, "xha:Header must not contain text");
    let v = check(&mutate(&valid_xhe(), HANDLING, "<HandlingServiceID>fa<ID>x</ID></HandlingServiceID>"));
    assert_sv(&v, "xhb:HandlingServiceID must not contain elements");
}

#[test]
fn sv_datatypes() {
    let v = check(&mutate(&valid_xhe(), "2022-10-13T18:10:39.844Z", "13 Oct 2022"));
    assert_eq!(
        assert_sv(&v, "CreationDateTime is not a valid xsd:dateTime").path,
        "/x:XHE/xha:Header/xhb:CreationDateTime"
    );
    let v =
        check(&mutate(&valid_xhe(), INDICATOR_FALSE, "<InstanceEncryptionIndicator>no</InstanceEncryptionIndicator>"));
    assert_sv(&v, "InstanceEncryptionIndicator is not a valid xsd:boolean");
}

// ---------------------------------------------------------------------------
// The syntax mapping's instructions (BV invariant)
// ---------------------------------------------------------------------------

#[test]
fn mapping_instructions() {
    let v = check(&mutate(&valid_xhe(), "2022-10-13T18:10:39.844Z", "2022-10-13T18:10:39.844"));
    assert_has(&v, ReasonCode::Bv, DetailCode::Invariant, "CreationDateTime must include a time zone");
    let v = check(&mutate(&valid_xhe(), "2022-10-13T18:10:39.844Z", "2022-10-13T18:10:39+01:00"));
    assert_clean(&v, "offset zone");

    let v = check(&mutate(&valid_xhe(), "<ID>7bc5576a-3f87-4cf5-a0c5-277da06fcacb</ID>", "<ID>not-a-uuid</ID>"));
    assert_has(&v, ReasonCode::Bv, DetailCode::Invariant, "Header ID must be a UUID");

    let v = check(&mutate(&valid_xhe(), "MessageWithAttachments:3}messagePayload", "MessageWithAttachments:2}Message"));
    let p = assert_has(&v, ReasonCode::Bv, DetailCode::Invariant, "DocumentTypeCode must be the payload root");
    assert_eq!(p.path, "/x:XHE/xha:Payloads/xha:Payload/xhb:DocumentTypeCode");

    let v = check(&mutate(
        &valid_xhe(),
        "<ContentTypeCode>application/xml</ContentTypeCode>",
        "<ContentTypeCode>text/xml</ContentTypeCode>",
    ));
    assert_has(&v, ReasonCode::Bv, DetailCode::Invariant, "ContentTypeCode must be application/xml");

    let v = check(&mutate(&valid_xhe(), PLAIN_PAYLOAD, &format!("{PLAIN_PAYLOAD}{PLAIN_PAYLOAD}")));
    assert_has(&v, ReasonCode::Bv, DetailCode::Invariant, "PayloadContent must hold one payload");

    let text = mutate(
        &valid_xhe(),
        "<ContentTypeCode>application/xml</ContentTypeCode>",
        "<ContentTypeCode>application/pdf</ContentTypeCode>",
    );
    let v = check(&mutate(&text, PLAIN_PAYLOAD, "JVBERi0x\n  LjQK"));
    assert_clean(&v, "base64 text payload");
    let v = check(&mutate(&text, PLAIN_PAYLOAD, "not base64!"));
    assert_has(&v, ReasonCode::Bv, DetailCode::Invariant, "must be base64 encoded");
}

// ---------------------------------------------------------------------------
// Build, parse, SDK scope and cross-field checks
// ---------------------------------------------------------------------------

fn header() -> XheHeader {
    XheHeader {
        id: "7bc5576a-3f87-4cf5-a0c5-277da06fcacb".into(),
        creation_date_time: brygga::sdk::xhe::format_timestamp(time::macros::datetime!(2022-10-13 18:10:39.844 UTC)),
        business_scope: BusinessScope::sdk_message(FEDERATION_ID_SDK),
        from_party: "0203:sender.se".into(),
        to_party: "0203:recipient.se".into(),
    }
}

fn reparse(d: &Document) -> Document {
    doc(std::str::from_utf8(&serialize(d, NodeId::DOCUMENT)).expect("utf-8"))
}

#[test]
fn build_parse_round_trip_xml_payload() {
    let payload = PayloadInfo::new(DocumentKind::MessageV3, Some("fa.recipient".into()), false);
    let (mut d, content) = build_xhe(&header(), &payload);
    let p = doc(PLAIN_PAYLOAD);
    let proot = p.document_element().expect("root");
    d.graft(content, 0, &p, proot);
    let d = reparse(&d);
    let parsed = parse_xhe(&d).unwrap_or_else(|v| panic!("built envelope invalid:\n{}", show(&v)));
    assert_eq!(parsed.header, header());
    assert_eq!(parsed.payload, payload);
    assert_eq!(parsed.signature, None);
    let PayloadBody::Xml(root) = parsed.body else { panic!("XML payload") };
    assert!(d.element(root).is_some_and(|e| e.local == "messagePayload"));
    // Same bytes as the crafted fixture's values.
    assert_eq!(parse_xhe(&doc(&valid_xhe())).expect("fixture").header, header());
}

#[test]
fn build_parse_round_trip_encrypted_and_text() {
    let payload = PayloadInfo::new(DocumentKind::MessageV3, Some("fa.recipient".into()), true);
    let (mut d, content) = build_xhe(&header(), &payload);
    let enc = doc(ENCRYPTED_PAYLOAD);
    d.adopt(content, 0, enc);
    let d = reparse(&d);
    let parsed = parse_xhe(&d).unwrap_or_else(|v| panic!("{}", show(&v)));
    assert!(matches!(parsed.body, PayloadBody::Encrypted(_)));
    assert_clean(&validate_sdk_scope(&parsed.header, &parsed.payload, FEDERATION_ID_SDK), "encrypted SDK message");

    let mut payload = PayloadInfo::new(DocumentKind::MessageV3, None, false);
    payload.content_type_code = "application/pdf".into();
    let (mut d, content) = build_xhe(&header(), &payload);
    d.append(content, brygga::xml::NodeKind::Text("JVBERi0xLjQK".into()));
    let parsed = parse_xhe(&reparse(&d)).unwrap_or_else(|v| panic!("{}", show(&v)));
    assert_eq!(parsed.body, PayloadBody::Base64Text);
    assert_eq!(parsed.payload.handling_service_id, None);
}

#[test]
fn build_with_bad_values_is_caught_by_validation() {
    let mut h = header();
    h.from_party = "  ".into();
    h.creation_date_time = "2022-10-13T18:10:39".into();
    let (mut d, content) = build_xhe(&h, &PayloadInfo::new(DocumentKind::MessageV3, None, false));
    let p = doc(PLAIN_PAYLOAD);
    d.graft(content, 0, &p, p.document_element().expect("root"));
    let err = parse_xhe(&d).expect_err("invalid values");
    assert_rule(&err, "R2-XHE");
    assert_has(&err, ReasonCode::Bv, DetailCode::Invariant, "time zone");
    // What can still be read, for logging an envelope that was refused.
    assert_eq!(peek_addressing(&d).id.as_deref(), Some("7bc5576a-3f87-4cf5-a0c5-277da06fcacb"));
    assert_eq!(peek_addressing(&d).from_party, None);
}

#[test]
fn sdk_scope_values() {
    let base_payload = PayloadInfo::new(DocumentKind::MessageV3, Some("fa".into()), true);
    assert_clean(&validate_sdk_scope(&header(), &base_payload, FEDERATION_ID_SDK), "SDK message");

    let mut test_fed = header();
    test_fed.business_scope =
        BusinessScope::new(DocumentKind::MessageV3, TransportModel::ExtSigEnc).with_federation(FEDERATION_ID_TEST);
    assert_clean(&validate_sdk_scope(&test_fed, &base_payload, FEDERATION_ID_TEST), "test federation");
    assert_has(
        &validate_sdk_scope(&test_fed, &base_payload, FEDERATION_ID_SDK),
        ReasonCode::Bv,
        DetailCode::Invariant,
        "FEDERATIONID",
    );

    let mut h = header();
    h.business_scope.process_id = "urn:other".into();
    h.business_scope.document_id_scheme = "other".into();
    let v = validate_sdk_scope(&h, &base_payload, FEDERATION_ID_SDK);
    assert_has(&v, ReasonCode::Bv, DetailCode::Invariant, "PROCESSID must be bdx:noprocess");
    assert_has(&v, ReasonCode::Bv, DetailCode::Invariant, "DOCUMENTID_SCHEME must be busdox-docid-qns");

    // Unencrypted under tm-base-ext-sigenc: SIG security. Under tm-base: fine.
    let plain = PayloadInfo::new(DocumentKind::MessageV3, Some("fa".into()), false);
    assert_has(
        &validate_sdk_scope(&header(), &plain, FEDERATION_ID_SDK),
        ReasonCode::Sig,
        DetailCode::Security,
        "not encrypted",
    );
    let mut base_model = header();
    base_model.business_scope = BusinessScope::new(DocumentKind::MessageV3, TransportModel::Base);
    assert_clean(&validate_sdk_scope(&base_model, &plain, FEDERATION_ID_SDK), "tm-base in clear");

    // Receipts are signed, never encrypted.
    let mut r = header();
    r.business_scope = BusinessScope::sdk_receipt(FEDERATION_ID_SDK);
    assert_eq!(r.business_scope.document_id, DOCUMENT_ID_RECEIPT_SIGENC);
    let receipt_payload = PayloadInfo::new(DocumentKind::Receipt, Some("fa".into()), false);
    assert_clean(&validate_sdk_scope(&r, &receipt_payload, FEDERATION_ID_SDK), "receipt envelope");
    // A receipt DOCUMENTID with a message DocumentTypeCode.
    assert_has(
        &validate_sdk_scope(&r, &plain, FEDERATION_ID_SDK),
        ReasonCode::Bv,
        DetailCode::Invariant,
        "DocumentTypeCode must be",
    );
}

fn view() -> CrossFieldView {
    CrossFieldView {
        message_id: "7BC5576A-3F87-4CF5-A0C5-277DA06FCACB".into(),
        sender_org_id: "0203:Sender.se".into(),
        recipient_org_id: "0203:recipient.se".into(),
        recipient_functional_address: "fa.recipient".into(),
    }
}

#[test]
fn cross_fields_codes() {
    let payload = PayloadInfo::new(DocumentKind::MessageV3, Some("fa.recipient".into()), true);
    assert_clean(&validate_cross_fields(&header(), &payload, &view()), "matching fields (case-insensitive ids)");

    let v = validate_cross_fields(
        &header(),
        &payload,
        &CrossFieldView { message_id: "8bc5576a-3f87-4cf5-a0c5-277da06fcacb".into(), ..view() },
    );
    assert_eq!(
        assert_has(&v, ReasonCode::Bv, DetailCode::Invariant, "messageId is not identical").path,
        "/x:XHE/xha:Header/xhb:ID"
    );
    assert_eq!(v.problems.len(), 1);

    let v =
        validate_cross_fields(&header(), &payload, &CrossFieldView { sender_org_id: "0203:other.se".into(), ..view() });
    assert_has(&v, ReasonCode::Bv, DetailCode::Invariant, "Wrong or unknown sender-id");

    let v = validate_cross_fields(
        &header(),
        &payload,
        &CrossFieldView { recipient_org_id: "0203:other.se".into(), ..view() },
    );
    assert_has(&v, ReasonCode::Bv, DetailCode::Security, "recipientId is not identical to value in XHE envelope");

    let v = validate_cross_fields(
        &header(),
        &payload,
        &CrossFieldView { recipient_functional_address: "FA.recipient".into(), ..view() },
    );
    assert_has(&v, ReasonCode::Bv, DetailCode::NotFound, "Wrong or unknown xha:HandlingServiceID");
    let none = PayloadInfo::new(DocumentKind::MessageV3, None, true);
    assert_has(
        &validate_cross_fields(&header(), &none, &view()),
        ReasonCode::Bv,
        DetailCode::NotFound,
        "HandlingServiceID",
    );
}

#[test]
fn cross_field_view_from_message_reports_missing_fields() {
    let m = doc(
        r#"<m:messagePayload xmlns:m="urn:riv:infrastructure:messaging:MessageWithAttachments:3"><m:message><m:messageHeader><m:messageId>id</m:messageId></m:messageHeader></m:message></m:messagePayload>"#,
    );
    let err = CrossFieldView::from_message(&m, m.document_element().expect("root")).expect_err("fields missing");
    assert_eq!(err.problems.len(), 3, "{}", show(&err));
    assert_sv(&err, "sender/senderID/extension");
}

// ---------------------------------------------------------------------------
// Receipts
// ---------------------------------------------------------------------------

const RECEIPT_EXAMPLES: [&str; 5] = [
    "Kvittens_AP-Accepterat.xml",
    "Kvittens_RE-AnnatFel.xml",
    "Kvittens_RE-SCHFel.xml",
    "Kvittens_RE-SIG.xml",
    "Kvittens_RE-XSDFel.xml",
];

#[test]
fn digg_receipt_examples_parse_and_validate() {
    let Some(dir) = support::sdk_reference() else { return };
    for name in RECEIPT_EXAMPLES {
        let bytes = std::fs::read(Path::new(&dir).join("receipt/examples").join(name)).expect("read example");
        let d = parse_bytes(&bytes);
        assert_clean(&validate_receipt(&d), name);
        let r = Receipt::parse(&d).unwrap_or_else(|v| panic!("{name}:\n{}", show(&v)));
        assert_eq!(r.id, "KVT-1");
        assert_eq!(r.document_reference, "ID-FROM-XHE-12354689");
        assert_eq!(r.sender_endpoint, "0203:myndighetA.org");
        assert_eq!(r.receiver_endpoint, "0203:myndighetB.org");
        assert_eq!(r.issue_time.to_xsd(), "12:00:00Z");
        match name {
            "Kvittens_AP-Accepterat.xml" => {
                assert_eq!(r.response, ResponseCode::Accepted);
                assert!(r.lines.is_empty());
            }
            "Kvittens_RE-AnnatFel.xml" => {
                assert_eq!(r.response, ResponseCode::Rejected);
                assert_eq!(r.lines.len(), 2);
                assert_eq!(r.lines[0].line_id, "/Nyttolast/Typkod");
                assert_eq!(r.lines[0].reason, ReasonCode::Bv);
                // DIGG's examples use rule ids, not B1.3.3's detail codes.
                assert_eq!(r.lines[0].status_reason_code, Some(StatusReasonCode::Other("RegelID-123".into())));
            }
            "Kvittens_RE-SIG.xml" => {
                assert_eq!(r.lines.len(), 1);
                assert_eq!(r.lines[0].line_id, "NA");
                assert_eq!(r.lines[0].reason, ReasonCode::Sig);
                assert_eq!(r.lines[0].status_reason_code, None);
                assert_eq!(r.lines[0].status_reason, "Signatur ej korrekt");
            }
            "Kvittens_RE-XSDFel.xml" => assert_eq!(r.lines[0].reason, ReasonCode::Sv),
            _ => assert_eq!(r.lines.len(), 2),
        }
        // Written back, it is still a valid receipt with the same content.
        let again = Receipt::parse(&doc(std::str::from_utf8(&r.to_xml()).expect("utf-8"))).expect("rewritten");
        assert_eq!(again, r, "{name}");
    }
}

fn issued() -> time::OffsetDateTime {
    time::macros::datetime!(2024-03-01 09:30:00.25 +01:00)
}

fn rejection() -> Validation {
    let mut v = Validation::default();
    v.push(Problem::sv_structure("/x:XHE/xha:Header/xhb:Foo", "element xhb:Foo is not allowed in xha:Header"));
    v.push(Problem::bv(
        DetailCode::Security,
        "/x:XHE/xha:Header/xha:ToParty/xha:PartyIdentification/xhb:ID",
        "recipientId is not identical to value in XHE envelope",
    ));
    v.push(Problem::sig_security("Sender signature not validated"));
    v
}

fn built(v: &Validation) -> Receipt {
    Receipt::from_validation(
        "r-1".into(),
        issued(),
        "0203:recipient.se".into(),
        "0203:sender.se".into(),
        "7bc5576a-3f87-4cf5-a0c5-277da06fcacb".into(),
        v,
    )
}

#[test]
fn built_accepted_receipt_validates_and_round_trips() {
    let r = built(&Validation::default());
    assert_eq!(r.response, ResponseCode::Accepted);
    let xml = String::from_utf8(r.to_xml()).expect("utf-8");
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    assert!(
        xml.contains("<cbc:IssueDate>2024-03-01</cbc:IssueDate><cbc:IssueTime>09:30:00.25+01:00</cbc:IssueTime>"),
        "{xml}"
    );
    let d = doc(&xml);
    assert_clean(&validate_receipt(&d), "built ACCEPTED");
    let back = Receipt::parse(&d).expect("parses");
    assert_eq!(back, r);
    assert_eq!(back.issued_at(), issued());
}

#[test]
fn built_rejected_receipt_validates_and_round_trips() {
    let v = rejection();
    let r = built(&v);
    assert_eq!(r.response, ResponseCode::Rejected);
    assert_eq!(r.lines.len(), 3);
    assert_eq!(r.lines[2].line_id, "NA");
    let d = doc(std::str::from_utf8(&r.to_xml()).expect("utf-8"));
    assert_clean(&validate_receipt(&d), "built REJECTED");
    let back = Receipt::parse(&d).expect("parses");
    assert_eq!(back, r);
    let problems: Vec<Problem> = back.lines.iter().filter_map(ReceiptLine::to_problem).collect();
    assert_eq!(problems, v.problems);
}

#[test]
fn receipt_inside_an_envelope_validates_in_place() {
    let r = built(&rejection());
    let mut h = header();
    h.business_scope = BusinessScope::sdk_receipt(FEDERATION_ID_SDK);
    let (mut d, content) = build_xhe(&h, &PayloadInfo::new(DocumentKind::Receipt, Some("fa.recipient".into()), false));
    d.adopt(content, 0, r.to_document());
    let d = reparse(&d);
    let parsed = parse_xhe(&d).unwrap_or_else(|v| panic!("{}", show(&v)));
    let PayloadBody::Xml(root2) = parsed.body else { panic!("XML") };
    assert!(d.element(root2).is_some_and(|e| e.is(APPLICATION_RESPONSE_NS, "ApplicationResponse")));
    assert_clean(&validate_receipt_at(&d, root2), "receipt in XHE");
    assert_eq!(Receipt::parse_at(&d, root2).expect("parses"), r);
}

#[test]
fn r7_accepted_with_lines_and_r8_rejected_without_are_refused() {
    let mut accepted_with_lines = built(&rejection());
    accepted_with_lines.response = ResponseCode::Accepted;
    let d = accepted_with_lines.to_document();
    let v = validate_receipt(&d);
    assert_eq!(
        assert_rule(&v, "R7-APP").path,
        "/app:ApplicationResponse/cac:DocumentResponse/cac:Response/cbc:ResponseCode"
    );
    assert!(Receipt::parse(&d).is_err());

    let mut rejected_without = built(&Validation::default());
    rejected_without.response = ResponseCode::Rejected;
    let d = rejected_without.to_document();
    let v = validate_receipt(&d);
    assert_rule(&v, "R8-APP");
    assert!(Receipt::parse(&d).is_err());
}

fn valid_receipt() -> String {
    String::from_utf8(built(&rejection()).to_xml()).expect("utf-8")
}

fn check_receipt(xml: &str) -> Validation {
    validate_receipt(&doc(xml))
}

const R_CUSTOMIZATION: &str =
    "<cbc:CustomizationID>urn:fdc:digg.se:edelivery:messagetype:response:1</cbc:CustomizationID>";
const R_PROFILE: &str = "<cbc:ProfileID>bdx:noprocess</cbc:ProfileID>";
const R_ISSUE_TIME: &str = "<cbc:IssueTime>09:30:00.25+01:00</cbc:IssueTime>";
const R_SENDER: &str = r#"<cbc:EndpointID schemeID="iso6523-actorid-upis">0203:recipient.se</cbc:EndpointID>"#;
const R_DOC_REF: &str =
    "<cac:DocumentReference><cbc:ID>7bc5576a-3f87-4cf5-a0c5-277da06fcacb</cbc:ID></cac:DocumentReference>";
const R_SIG_STATUS: &str = "<cbc:StatusReason>Sender signature not validated</cbc:StatusReason>";

#[test]
fn receipt_rules_r1_to_r6_and_r9() {
    let base = valid_receipt();
    assert_clean(&check_receipt(&base), "base receipt");

    // R1: an element UBL has but the mapping does not list, and an attribute.
    let v = check_receipt(&mutate(&base, "<cbc:IssueDate>", "<cbc:UUID>u</cbc:UUID><cbc:IssueDate>"));
    assert_eq!(assert_rule(&v, "R1-APP").path, "/app:ApplicationResponse/cbc:UUID");
    let v = check_receipt(&mutate(&base, "<cbc:ID>r-1</cbc:ID>", r#"<cbc:ID schemeID="x">r-1</cbc:ID>"#));
    assert_eq!(assert_rule(&v, "R1-APP").path, "/app:ApplicationResponse/cbc:ID/@schemeID");
    let v = check_receipt(&mutate(&base, "<cac:Response><cbc:ResponseCode>REJECTED</cbc:ResponseCode>", "<cac:Response><cbc:ResponseCode>REJECTED</cbc:ResponseCode><cac:Status><cbc:StatusReason>x</cbc:StatusReason></cac:Status>"));
    assert_eq!(assert_rule(&v, "R1-APP").path, "/app:ApplicationResponse/cac:DocumentResponse/cac:Response/cac:Status");

    // R2: empty element and empty attribute.
    let v = check_receipt(&mutate(&base, R_SIG_STATUS, "<cbc:StatusReason>  </cbc:StatusReason>"));
    assert_eq!(
        assert_rule(&v, "R2-APP").path,
        "/app:ApplicationResponse/cac:DocumentResponse/cac:LineResponse[3]/cac:Response/cac:Status/cbc:StatusReason"
    );
    let v =
        check_receipt(&mutate(&base, R_SENDER, r#"<cbc:EndpointID schemeID="">0203:recipient.se</cbc:EndpointID>"#));
    assert_rule(&v, "R2-APP");

    // R3, R4: fixed values.
    let v = check_receipt(&mutate(&base, R_CUSTOMIZATION, "<cbc:CustomizationID>urn:x</cbc:CustomizationID>"));
    assert_eq!(assert_rule(&v, "R3-APP").path, "/app:ApplicationResponse/cbc:CustomizationID");
    let v = check_receipt(&mutate(&base, R_PROFILE, "<cbc:ProfileID>urn:x</cbc:ProfileID>"));
    assert_rule(&v, "R4-APP");

    // R5, R6: code lists.
    let v = check_receipt(&mutate(
        &base,
        "<cbc:ResponseCode>REJECTED</cbc:ResponseCode>",
        "<cbc:ResponseCode>MAYBE</cbc:ResponseCode>",
    ));
    assert_rule(&v, "R5-APP");
    let v = check_receipt(&mutate(
        &base,
        "<cbc:ResponseCode>SIG</cbc:ResponseCode>",
        "<cbc:ResponseCode>XSD</cbc:ResponseCode>",
    ));
    assert_rule(&v, "R6-APP");

    // R9: cardinalities stricter than UBL's, and schemeID required.
    let v = check_receipt(&mutate(&base, R_CUSTOMIZATION, ""));
    assert_eq!(assert_rule(&v, "R9-APP").path, "/app:ApplicationResponse/cbc:CustomizationID");
    assert_no_rule(&v, "R3-APP");
    let v = check_receipt(&mutate(&base, R_ISSUE_TIME, ""));
    assert_rule(&v, "R9-APP");
    let v = check_receipt(&mutate(&base, R_DOC_REF, &format!("{R_DOC_REF}{R_DOC_REF}")));
    assert_eq!(
        assert_rule(&v, "R9-APP").path,
        "/app:ApplicationResponse/cac:DocumentResponse/cac:DocumentReference[2]"
    );
    let v = check_receipt(&mutate(&base, R_SIG_STATUS, ""));
    assert_rule(&v, "R9-APP");
    let v = check_receipt(&mutate(&base, R_SENDER, "<cbc:EndpointID>0203:recipient.se</cbc:EndpointID>"));
    assert_has(
        &v,
        ReasonCode::Bv,
        DetailCode::Invariant,
        "R9-APP: SenderParty/EndpointID must have the attribute schemeID",
    );
    let v = check_receipt(
        &mutate(&base, "<cac:SenderParty>", "<cac:SenderParty><cbc:WebsiteURI>w</cbc:WebsiteURI>")
            .replacen(R_SENDER, "", 1),
    );
    assert_rule(&v, "R1-APP");
    assert_rule(&v, "R9-APP");
}

#[test]
fn receipt_schema_cases_and_mapping_instructions() {
    let base = valid_receipt();
    let v = check_receipt(&mutate(&base, R_PROFILE, "").replacen(
        R_CUSTOMIZATION,
        &format!("{R_PROFILE}{R_CUSTOMIZATION}"),
        1,
    ));
    assert_sv(&v, "out of order");
    let v = check_receipt(&mutate(&base, "<cbc:IssueDate>", "<cbc:Foo>1</cbc:Foo><cbc:IssueDate>"));
    assert_eq!(assert_sv(&v, "element cbc:Foo is not allowed").path, "/app:ApplicationResponse/cbc:Foo");
    let v = check_receipt(&mutate(&base, "<cbc:ID>r-1</cbc:ID>", ""));
    assert_sv(&v, "app:ApplicationResponse must contain cbc:ID");
    let v = check_receipt(&mutate(&base, "2024-03-01", "2024-02-30"));
    assert_sv(&v, "IssueDate is not a valid xsd:date");
    let v = check_receipt(&mutate(&base, R_ISSUE_TIME, "<cbc:IssueTime>9.30</cbc:IssueTime>"));
    assert_sv(&v, "IssueTime is not a valid xsd:time");
    let v = check_receipt(&mutate(&base, R_SIG_STATUS, r#"<cbc:StatusReason foo="x">t</cbc:StatusReason>"#));
    assert_sv(&v, "attribute foo is not allowed on cbc:StatusReason");
    let v = check_receipt(r#"<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>"#);
    assert_sv(&v, "document element must be UBL's ApplicationResponse");

    let v = check_receipt(&mutate(&base, R_ISSUE_TIME, "<cbc:IssueTime>09:30:00</cbc:IssueTime>"));
    assert_has(&v, ReasonCode::Bv, DetailCode::Invariant, "IssueTime must include a time zone");
    let v =
        check_receipt(&mutate(&base, R_SENDER, r#"<cbc:EndpointID schemeID="GLN">0203:recipient.se</cbc:EndpointID>"#));
    assert_eq!(
        assert_has(&v, ReasonCode::Bv, DetailCode::Invariant, "EndpointID/@schemeID must be iso6523-actorid-upis").path,
        "/app:ApplicationResponse/cac:SenderParty/cbc:EndpointID/@schemeID"
    );
}
