//! The XHE 1.0 envelope in DIGG's profile (C3.2.2 Kuverteringsprofil XHE):
//! the model, building an envelope, parsing one, and validating it against
//! the XHE schema as DIGG profiles it and DIGG's rules R1–R14.
//!
//! Signing, encryption and their checks live in `sdk::envelope`; this module
//! only knows where the payload and the signature sit.
//!
//! How problems are coded, mirroring DIGG's own pipeline (OASIS XHE XSD, then
//! DIGG's schematron):
//! - what the OASIS XSD itself rejects (unknown element or attribute, wrong
//!   order, a cardinality the XSD already requires, a bad `dateTime` or
//!   `boolean`) is `SV structure`;
//! - what the XSD allows but DIGG's profile does not is the matching DIGG
//!   rule, `BV invariant`: an element or attribute the syntax mapping does not
//!   list is R1-XHE, a cardinality stricter than the XSD's is R14-XHE;
//! - the other rules (R2–R13) and the syntax mapping's instructions (time
//!   zone, UUID, payload type) are `BV invariant` too.
//!
//! Texts name the rule and the element, never the offending value: values
//! may be personal data (B1.3.3) and the receipt travels back to the sender.

use time::OffsetDateTime;

use crate::sdk::codes::{DetailCode, Problem, ReasonCode, Validation};
use crate::xml::{Document, Element, NodeId, NodeKind, NsDecl};

use self::schema::Target as NodeTarget;
use self::schema::{
    Checker, Particle, Profile, RuleIds, CODE_ATTRS, IDENTIFIER_ATTRS, MANY, NO_ATTRS, ONE, TEXT_ATTRS, UNLISTED, USE_ONE,
};

// ---------------------------------------------------------------------------
// Namespaces and DIGG's values
// ---------------------------------------------------------------------------

/// Namespace of the document element `XHE`.
pub const XHE_NS: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/ExchangeHeaderEnvelope";
/// `xha`: aggregate components.
pub const XHA_NS: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/AggregateComponents";
/// `xhb`: basic components (the default namespace in DIGG's examples).
pub const XHB_NS: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/BasicComponents";
/// `ext`: XHE extensions, which DIGG's profile does not use (R1).
pub const XHE_EXT_NS: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/ExtensionComponents";
/// XML-DSig.
pub const DS_NS: &str = crate::xmlsec::algorithm::DSIG_NS;
/// XML Encryption.
pub const XENC_NS: &str = crate::xmlsec::cipher::XENC_NS;
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// `XHE/CustomizationID`: DIGG's profile of XHE (C3.2.2 §2.2, R3).
pub const CUSTOMIZATION_ID: &str = "urn:fdc:digg.se:edelivery:xhe:1";
/// `XHE/XHEVersionID` (R9).
pub const XHE_VERSION_ID: &str = "1.0";
/// Identifier scheme of `FromParty`/`ToParty` ids (R10, R11).
pub const PARTY_ID_SCHEME: &str = "iso6523-actorid-upis";

/// The five `BusinessScopeCriterionTypeCode` values (C3.2.6 §1.6), in the
/// order of the syntax mapping.
pub const CRITERION_DOCUMENT_ID: &str = "DOCUMENTID";
pub const CRITERION_DOCUMENT_ID_SCHEME: &str = "DOCUMENTID_SCHEME";
pub const CRITERION_PROCESS_ID: &str = "PROCESSID";
pub const CRITERION_PROCESS_ID_SCHEME: &str = "PROCESSID_SCHEME";
pub const CRITERION_FEDERATION_ID: &str = "FEDERATIONID";
const CRITERIA: [(&str, &str); 5] = [
    (CRITERION_DOCUMENT_ID, "R4-XHE"),
    (CRITERION_DOCUMENT_ID_SCHEME, "R5-XHE"),
    (CRITERION_PROCESS_ID, "R6-XHE"),
    (CRITERION_PROCESS_ID_SCHEME, "R7-XHE"),
    (CRITERION_FEDERATION_ID, "R8-XHE"),
];

/// SDK Meddelande v3, transport model Bas (C3.2.7 §1.3): no signature, no
/// encryption. DIGG's `example-xhe-base.xml` uses it.
pub const DOCUMENT_ID_MESSAGE_V3_BASE: &str =
    "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base";
/// SDK Meddelande v3, transport model Utökad Bas (signed and encrypted). The
/// one SDK uses: B1.3.3 §3.1's AS4 action, DIGG's P-mode and the signed
/// example all carry it.
pub const DOCUMENT_ID_MESSAGE_V3_SIGENC: &str =
    "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc";
/// Message receipt (UBL ApplicationResponse), transport model Bas (C3.2.7 §1.3).
pub const DOCUMENT_ID_RECEIPT_BASE: &str = "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::ApplicationResponse##fdc:digg.se:edelivery:messagetype:response:1::2.1::tm-base";
/// Message receipt, transport model Utökad Bas: the P-mode's `receiptAction`.
pub const DOCUMENT_ID_RECEIPT_SIGENC: &str = "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::ApplicationResponse##fdc:digg.se:edelivery:messagetype:response:1::2.1::tm-base-ext-sigenc";
/// `DOCUMENTID_SCHEME` for every SDK document type.
pub const DOCUMENT_ID_SCHEME: &str = "busdox-docid-qns";
/// `PROCESSID` (C3.2.7 §1.2).
pub const PROCESS_ID: &str = "bdx:noprocess";
/// `PROCESSID_SCHEME` (C3.2.7 §1.2).
pub const PROCESS_ID_SCHEME: &str = "urn:fdc:digg.se:edelivery:process";
/// `FEDERATIONID` of the SDK federation (production), the default.
pub const FEDERATION_ID_SDK: &str = "urn:fdc:digg.se:edelivery:federation:sdk";
/// `FEDERATIONID` of DIGG's open test environment.
pub const FEDERATION_ID_TEST: &str = "urn:fdc:digg.se:edelivery:federation:test";
/// `Payload/DocumentTypeCode` of SDK Meddelande v3: the payload root as an
/// XPath 3.0 EQName (C3.2.2 §2.2, B1.3.3 §3.2).
pub const DOCUMENT_TYPE_SDK_MESSAGE: &str =
    "Q{urn:riv:infrastructure:messaging:MessageWithAttachments:3}messagePayload";
/// `Payload/DocumentTypeCode` of the message receipt.
pub const DOCUMENT_TYPE_RECEIPT: &str =
    "Q{urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2}ApplicationResponse";
/// `Payload/ContentTypeCode` of XML payloads (C3.2.2 §2.2).
pub const CONTENT_TYPE_XML: &str = "application/xml";

/// The document types SDK exchanges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// SDK Meddelande v3.
    MessageV3,
    /// The message receipt (meddelandekvittens).
    Receipt,
}

/// DIGG's transport models (C3.2.6 §1.1), the suffix of a document id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportModel {
    /// `tm-base`: no end-to-end signature or encryption.
    Base,
    /// `tm-base-ext-sigenc`: signed envelope, encrypted payload.
    ExtSigEnc,
}

impl DocumentKind {
    /// The `DOCUMENTID` of this document type under `model`.
    pub fn document_id(self, model: TransportModel) -> &'static str {
        match (self, model) {
            (DocumentKind::MessageV3, TransportModel::Base) => DOCUMENT_ID_MESSAGE_V3_BASE,
            (DocumentKind::MessageV3, TransportModel::ExtSigEnc) => DOCUMENT_ID_MESSAGE_V3_SIGENC,
            (DocumentKind::Receipt, TransportModel::Base) => DOCUMENT_ID_RECEIPT_BASE,
            (DocumentKind::Receipt, TransportModel::ExtSigEnc) => DOCUMENT_ID_RECEIPT_SIGENC,
        }
    }

    /// The `DocumentTypeCode` of this document type.
    pub fn document_type_code(self) -> &'static str {
        match self {
            DocumentKind::MessageV3 => DOCUMENT_TYPE_SDK_MESSAGE,
            DocumentKind::Receipt => DOCUMENT_TYPE_RECEIPT,
        }
    }

    /// Which SDK document type and transport model a `DOCUMENTID` names.
    pub fn from_document_id(document_id: &str) -> Option<(DocumentKind, TransportModel)> {
        [DocumentKind::MessageV3, DocumentKind::Receipt]
            .into_iter()
            .flat_map(|k| [(k, TransportModel::Base), (k, TransportModel::ExtSigEnc)])
            .find(|&(k, m)| k.document_id(m) == document_id)
    }
}

// ---------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------

/// `Header/BusinessScope`: the five criteria, by type code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessScope {
    pub document_id: String,
    pub document_id_scheme: String,
    pub process_id: String,
    pub process_id_scheme: String,
    pub federation_id: String,
}

impl BusinessScope {
    /// SDK's scope for `kind` under `model`, in the production federation;
    /// use [`Self::with_federation`] for the test federation.
    pub fn new(kind: DocumentKind, model: TransportModel) -> Self {
        Self {
            document_id: kind.document_id(model).to_owned(),
            document_id_scheme: DOCUMENT_ID_SCHEME.to_owned(),
            process_id: PROCESS_ID.to_owned(),
            process_id_scheme: PROCESS_ID_SCHEME.to_owned(),
            federation_id: FEDERATION_ID_SDK.to_owned(),
        }
    }

    pub fn with_federation(mut self, federation_id: &str) -> Self {
        self.federation_id = federation_id.to_owned();
        self
    }

    /// An SDK message under `tm-base-ext-sigenc`, the model SDK uses, in
    /// `federation_id` (normally [`FEDERATION_ID_SDK`]).
    pub fn sdk_message(federation_id: &str) -> Self {
        Self::new(DocumentKind::MessageV3, TransportModel::ExtSigEnc).with_federation(federation_id)
    }

    /// A message receipt under `tm-base-ext-sigenc` (DIGG's P-mode
    /// `receiptAction`), in `federation_id`.
    pub fn sdk_receipt(federation_id: &str) -> Self {
        Self::new(DocumentKind::Receipt, TransportModel::ExtSigEnc).with_federation(federation_id)
    }
}

/// `XHE/Header`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XheHeader {
    /// `Header/ID`: a UUID, equal to the message's `messageId`.
    pub id: String,
    /// `Header/CreationDateTime`, an `xsd:dateTime` with a time zone
    /// (see [`format_timestamp`]).
    pub creation_date_time: String,
    pub business_scope: BusinessScope,
    /// `FromParty/PartyIdentification/ID`: the sender's organisation id.
    pub from_party: String,
    /// `ToParty/PartyIdentification/ID`: the recipient's organisation id.
    pub to_party: String,
}

/// `XHE/Payloads/Payload` without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadInfo {
    pub document_type_code: String,
    pub content_type_code: String,
    /// The recipient's functional address. B1.3.3 §3.2 also puts the
    /// acknowledged message's value on the receipt's envelope.
    pub handling_service_id: Option<String>,
    /// True iff `PayloadContent` holds `xenc:EncryptedData` (R12, R13).
    pub instance_encryption_indicator: bool,
}

impl PayloadInfo {
    /// An XML payload of SDK document type `kind`.
    pub fn new(kind: DocumentKind, handling_service_id: Option<String>, encrypted: bool) -> Self {
        Self {
            document_type_code: kind.document_type_code().to_owned(),
            content_type_code: CONTENT_TYPE_XML.to_owned(),
            handling_service_id,
            instance_encryption_indicator: encrypted,
        }
    }
}

/// What `PayloadContent` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadBody {
    /// A plaintext XML payload: its root element.
    Xml(NodeId),
    /// `xenc:EncryptedData`.
    Encrypted(NodeId),
    /// Text: a non-XML payload in base64 (C3.2.2 §2.2).
    Base64Text,
}

/// A valid envelope, with the places the crypto layer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedXhe {
    pub header: XheHeader,
    pub payload: PayloadInfo,
    /// The `xha:PayloadContent` element.
    pub payload_content: NodeId,
    pub body: PayloadBody,
    /// The first `ds:Signature` child of `XHE`, if any.
    pub signature: Option<NodeId>,
    /// Every `ds:Signature` child of `XHE`, in document order. The syntax
    /// mapping allows 0..n; SDK's envelope layer expects at most one.
    pub signatures: Vec<NodeId>,
}

/// The message fields an envelope must agree with (B1.3.3 §3.2, §4.3.2.x).
/// Plain strings so this module does not depend on the message types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossFieldView {
    /// `messageHeader/messageId`.
    pub message_id: String,
    /// `sender/senderID/extension`.
    pub sender_org_id: String,
    /// `recipient/recipientID/extension`.
    pub recipient_org_id: String,
    /// `recipient/attention/subOrganization/organizationId/extension`.
    pub recipient_functional_address: String,
}

/// Namespace of SDK Meddelande v3.
const MESSAGE_V3_NS: &str = "urn:riv:infrastructure:messaging:MessageWithAttachments:3";

impl CrossFieldView {
    /// Reads the fields from an SDK Meddelande v3 whose `messagePayload`
    /// element is `root`. Walks the tree by name only; the message's own
    /// validation is elsewhere. A missing field is `SV structure`.
    pub fn from_message(doc: &Document, root: NodeId) -> Result<CrossFieldView, Validation> {
        let mut missing = Validation::default();
        let mut field = |steps: &[&str]| -> String {
            let mut cur = Some(root).filter(|&r| is(doc, r, MESSAGE_V3_NS, "messagePayload"));
            for step in steps {
                cur = cur.and_then(|n| doc.child_named(n, MESSAGE_V3_NS, step));
            }
            let value = cur.map(|n| trim_xml(&doc.text_content(n)).to_owned()).unwrap_or_default();
            if value.is_empty() {
                let path = format!("/ns:messagePayload/ns:{}", steps.join("/ns:"));
                missing.push(Problem::sv_structure(path, format!("the message has no {}", steps.join("/"))));
            }
            value
        };
        let header = ["message", "messageHeader"];
        let view = CrossFieldView {
            message_id: field(&[&header[..], &["messageId"]].concat()),
            sender_org_id: field(&[&header[..], &["sender", "senderID", "extension"]].concat()),
            recipient_org_id: field(&[&header[..], &["recipient", "recipientID", "extension"]].concat()),
            recipient_functional_address: field(
                &[&header[..], &["recipient", "attention", "subOrganization", "organizationId", "extension"]].concat(),
            ),
        };
        if missing.is_accepted() {
            Ok(view)
        } else {
            Err(missing)
        }
    }
}

/// Whatever addressing an envelope has, read without validating it, for
/// logging and escalating an envelope [`parse_xhe`] refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XheAddressing {
    pub id: Option<String>,
    pub from_party: Option<String>,
    pub to_party: Option<String>,
}

// ---------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------

/// Formats `t` as an `xsd:dateTime` with milliseconds and a zone (`Z` for
/// UTC), as `CreationDateTime` wants it.
pub fn format_timestamp(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond(),
        lexical::format_offset(t.offset())
    )
}

/// Builds an envelope with an empty `PayloadContent`, returned beside the
/// document, for the caller to fill with a grafted XML payload, base64 text
/// or `xenc:EncryptedData`. Namespaces as in DIGG's examples: the root in
/// the XHE namespace as `x`, basic components as the default namespace,
/// aggregate components as `xha`. No whitespace is added.
///
/// The values are written as given; run [`validate_xhe`] on the filled
/// envelope to check them.
pub fn build_xhe(header: &XheHeader, payload: &PayloadInfo) -> (Document, NodeId) {
    let mut root = Element::new_declared(Some("x"), "XHE", XHE_NS);
    root.namespaces.push(NsDecl { prefix: None, uri: XHB_NS.to_owned() });
    root.namespaces.push(NsDecl { prefix: Some("xha".to_owned()), uri: XHA_NS.to_owned() });
    let (mut doc, root) = Document::with_root(root);
    let xhb = |local: &str| Element::new_inherited(None, local, XHB_NS);
    let xha = |local: &str| NodeKind::Element(Element::new_inherited(Some("xha"), local, XHA_NS));

    doc.append_text_element(root, xhb("XHEVersionID"), XHE_VERSION_ID);
    doc.append_text_element(root, xhb("CustomizationID"), CUSTOMIZATION_ID);

    let h = doc.append(root, xha("Header"));
    doc.append_text_element(h, xhb("ID"), &header.id);
    doc.append_text_element(h, xhb("CreationDateTime"), &header.creation_date_time);
    let scope = doc.append(h, xha("BusinessScope"));
    let bs = &header.business_scope;
    for (code, value) in [
        (CRITERION_DOCUMENT_ID, &bs.document_id),
        (CRITERION_DOCUMENT_ID_SCHEME, &bs.document_id_scheme),
        (CRITERION_PROCESS_ID, &bs.process_id),
        (CRITERION_PROCESS_ID_SCHEME, &bs.process_id_scheme),
        (CRITERION_FEDERATION_ID, &bs.federation_id),
    ] {
        let c = doc.append(scope, xha("BusinessScopeCriterion"));
        doc.append_text_element(c, xhb("BusinessScopeCriterionTypeCode"), code);
        doc.append_text_element(c, xhb("BusinessScopeCriterionValue"), value);
    }
    for (party, id) in [("FromParty", &header.from_party), ("ToParty", &header.to_party)] {
        let p = doc.append(h, xha(party));
        let pi = doc.append(p, xha("PartyIdentification"));
        let mut e = xhb("ID");
        e.set_attribute("schemeID", PARTY_ID_SCHEME);
        doc.append_text_element(pi, e, id);
    }

    let ps = doc.append(root, xha("Payloads"));
    let p = doc.append(ps, xha("Payload"));
    doc.append_text_element(p, xhb("DocumentTypeCode"), &payload.document_type_code);
    doc.append_text_element(p, xhb("ContentTypeCode"), &payload.content_type_code);
    if let Some(hs) = &payload.handling_service_id {
        doc.append_text_element(p, xhb("HandlingServiceID"), hs);
    }
    let indicator = if payload.instance_encryption_indicator { "true" } else { "false" };
    doc.append_text_element(p, xhb("InstanceEncryptionIndicator"), indicator);
    let content = doc.append(p, xha("PayloadContent"));
    (doc, content)
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/// Validates `doc` ([`validate_xhe`]) and reads it. Any problem refuses the
/// envelope: a [`ParsedXhe`] is always a profile-valid envelope.
pub fn parse_xhe(doc: &Document) -> Result<ParsedXhe, Validation> {
    let validation = validate_xhe(doc);
    if !validation.is_accepted() {
        return Err(validation);
    }
    read_valid(doc)
}

/// Reads a document [`validate_xhe`] accepted. The lookups cannot fail on
/// such a document; if they do, that is reported rather than panicking.
fn read_valid(doc: &Document) -> Result<ParsedXhe, Validation> {
    let root = doc.document_element().ok_or_else(|| internal("/", "no document element"))?;
    let header = need(doc, root, XHA_NS, "Header", "/x:XHE")?;
    let text = |parent: NodeId, ns: &str, local: &str, at: &str| -> Result<String, Validation> {
        need(doc, parent, ns, local, at).map(|n| trim_xml(&doc.text_content(n)).to_owned())
    };

    let scope = need(doc, header, XHA_NS, "BusinessScope", "/x:XHE/xha:Header")?;
    let criterion = |code: &str| -> Result<String, Validation> {
        doc.children_named(scope, XHA_NS, "BusinessScopeCriterion")
            .find(|&c| criterion_code(doc, c).as_deref() == Some(code))
            .and_then(|c| doc.child_named(c, XHB_NS, "BusinessScopeCriterionValue"))
            .map(|v| trim_xml(&doc.text_content(v)).to_owned())
            .ok_or_else(|| internal("/x:XHE/xha:Header/xha:BusinessScope", "criterion missing"))
    };
    let party = |local: &str| -> Result<String, Validation> {
        let p = need(doc, header, XHA_NS, local, "/x:XHE/xha:Header")?;
        let pi = need(doc, p, XHA_NS, "PartyIdentification", "/x:XHE/xha:Header")?;
        text(pi, XHB_NS, "ID", "/x:XHE/xha:Header")
    };
    let header_model = XheHeader {
        id: text(header, XHB_NS, "ID", "/x:XHE/xha:Header")?,
        creation_date_time: text(header, XHB_NS, "CreationDateTime", "/x:XHE/xha:Header")?,
        business_scope: BusinessScope {
            document_id: criterion(CRITERION_DOCUMENT_ID)?,
            document_id_scheme: criterion(CRITERION_DOCUMENT_ID_SCHEME)?,
            process_id: criterion(CRITERION_PROCESS_ID)?,
            process_id_scheme: criterion(CRITERION_PROCESS_ID_SCHEME)?,
            federation_id: criterion(CRITERION_FEDERATION_ID)?,
        },
        from_party: party("FromParty")?,
        to_party: party("ToParty")?,
    };

    let payloads = need(doc, root, XHA_NS, "Payloads", "/x:XHE")?;
    let payload = need(doc, payloads, XHA_NS, "Payload", "/x:XHE/xha:Payloads")?;
    let at = "/x:XHE/xha:Payloads/xha:Payload";
    let indicator = text(payload, XHB_NS, "InstanceEncryptionIndicator", at)?;
    let payload_model = PayloadInfo {
        document_type_code: text(payload, XHB_NS, "DocumentTypeCode", at)?,
        content_type_code: text(payload, XHB_NS, "ContentTypeCode", at)?,
        handling_service_id: doc
            .child_named(payload, XHB_NS, "HandlingServiceID")
            .map(|n| trim_xml(&doc.text_content(n)).to_owned()),
        instance_encryption_indicator: lexical::parse_boolean(&indicator)
            .ok_or_else(|| internal(at, "InstanceEncryptionIndicator unreadable"))?,
    };
    let content = need(doc, payload, XHA_NS, "PayloadContent", at)?;
    let body = match payload_shape(doc, content) {
        PayloadShape::One(e) if is_encrypted_data(doc, e) => PayloadBody::Encrypted(e),
        PayloadShape::One(e) => PayloadBody::Xml(e),
        PayloadShape::Text => PayloadBody::Base64Text,
        PayloadShape::Empty | PayloadShape::Mixed => return Err(internal(at, "PayloadContent unreadable")),
    };
    let signatures: Vec<NodeId> = doc.children_named(root, DS_NS, "Signature").collect();
    Ok(ParsedXhe {
        header: header_model,
        payload: payload_model,
        payload_content: content,
        body,
        signature: signatures.first().copied(),
        signatures,
    })
}

fn need(doc: &Document, parent: NodeId, ns: &str, local: &str, at: &str) -> Result<NodeId, Validation> {
    doc.child_named(parent, ns, local).ok_or_else(|| internal(at, &format!("{local} missing")))
}

fn internal(path: &str, what: &str) -> Validation {
    let mut v = Validation::default();
    v.push(Problem::sv_structure(path, format!("envelope could not be read after validation: {what}")));
    v
}

/// The addressing fields of an envelope, best effort, without validation.
pub fn peek_addressing(doc: &Document) -> XheAddressing {
    let Some(root) = doc.document_element().filter(|&r| is(doc, r, XHE_NS, "XHE")) else {
        return XheAddressing::default();
    };
    let header = doc.child_named(root, XHA_NS, "Header");
    let text = |n: Option<NodeId>| n.map(|n| trim_xml(&doc.text_content(n)).to_owned()).filter(|s| !s.is_empty());
    let party = |local: &str| {
        header
            .and_then(|h| doc.child_named(h, XHA_NS, local))
            .and_then(|p| doc.child_named(p, XHA_NS, "PartyIdentification"))
            .and_then(|pi| doc.child_named(pi, XHB_NS, "ID"))
    };
    XheAddressing {
        id: text(header.and_then(|h| doc.child_named(h, XHB_NS, "ID"))),
        from_party: text(party("FromParty")),
        to_party: text(party("ToParty")),
    }
}

// ---------------------------------------------------------------------------
// Validation: structure (XSD as DIGG profiles it)
// ---------------------------------------------------------------------------

/// Prefixes used in the XPaths of problems: those of C3.2.2 and DIGG's
/// schematron.
pub(crate) const XHE_PREFIXES: &[(&str, &str)] =
    &[(XHE_NS, "x"), (XHA_NS, "xha"), (XHB_NS, "xhb"), (XHE_EXT_NS, "ext"), (DS_NS, "ds"), (XENC_NS, "xenc")];

const XHE_RULES: RuleIds = RuleIds { unlisted: "R1-XHE", cardinality: "R14-XHE", empty: "R2-XHE" };

const fn xhb(local: &'static str, xsd_min: u32, xsd_max: Option<u32>, profile: Profile) -> Particle {
    Particle { ns: XHB_NS, local, xsd_min, xsd_max, profile }
}
const fn xha(local: &'static str, xsd_min: u32, xsd_max: Option<u32>, profile: Profile) -> Particle {
    Particle { ns: XHA_NS, local, xsd_min, xsd_max, profile }
}
const USE_OPT: Profile = Profile::Use { min: 0, max: Some(1) };

// Content models: the OASIS XSD's sequence and cardinalities, with the C3.2.2
// syntax mapping's cardinality or "not listed" beside each particle.
const XHE_MODEL: &[Particle] = &[
    Particle { ns: XHE_EXT_NS, local: "XHEExtensions", xsd_min: 0, xsd_max: ONE, profile: UNLISTED },
    xhb("XHEVersionID", 1, ONE, USE_ONE),
    xhb("CustomizationID", 0, ONE, USE_ONE),
    xhb("ProfileID", 0, ONE, UNLISTED),
    xhb("ProfileExecutionID", 0, ONE, UNLISTED),
    xha("Header", 1, ONE, USE_ONE),
    xha("Payloads", 0, ONE, USE_ONE),
    Particle { ns: DS_NS, local: "Signature", xsd_min: 0, xsd_max: MANY, profile: Profile::Use { min: 0, max: MANY } },
];
// Header/UUID is not in the syntax mapping, nor in the R1 schematron's list;
// R1's text ("only elements given in this specification") covers it.
const HEADER_MODEL: &[Particle] = &[
    xhb("ID", 1, ONE, USE_ONE),
    xhb("UUID", 0, ONE, UNLISTED),
    xhb("CreationDateTime", 1, ONE, USE_ONE),
    xha("BusinessScope", 0, ONE, USE_ONE),
    xha("FromParty", 0, ONE, USE_ONE),
    xha("ToParty", 1, MANY, USE_ONE),
];
const SCOPE_MODEL: &[Particle] = &[
    xha("BusinessScopeCriterion", 0, MANY, Profile::Use { min: 5, max: Some(5) }),
    xha("ExternalReference", 0, MANY, UNLISTED),
];
const CRITERION_MODEL: &[Particle] =
    &[xhb("BusinessScopeCriterionTypeCode", 1, ONE, USE_ONE), xhb("BusinessScopeCriterionValue", 1, ONE, USE_ONE)];
const PARTY_MODEL: &[Particle] = &[xha("PartyIdentification", 1, MANY, USE_ONE)];
const PARTY_ID_MODEL: &[Particle] = &[xhb("ID", 1, ONE, USE_ONE)];
const PAYLOADS_MODEL: &[Particle] = &[xha("Payload", 1, MANY, USE_ONE)];
// Payload/ID, ValidationVersionID and PayloadExternalReference are missing
// from the R1 schematron's list but not from R1's text.
const PAYLOAD_MODEL: &[Particle] = &[
    xhb("ID", 0, ONE, UNLISTED),
    xhb("Description", 0, MANY, UNLISTED),
    xhb("DocumentTypeCode", 0, ONE, USE_ONE),
    xhb("ContentTypeCode", 0, ONE, USE_ONE),
    xhb("CustomizationID", 0, ONE, UNLISTED),
    xhb("ProfileID", 0, ONE, UNLISTED),
    xhb("ProfileExecutionID", 0, ONE, UNLISTED),
    xhb("HandlingServiceID", 0, ONE, USE_OPT),
    xhb("ValidationTypeCode", 0, ONE, UNLISTED),
    xhb("ValidationVersionID", 0, ONE, UNLISTED),
    xhb("InstanceEncryptionIndicator", 1, ONE, USE_ONE),
    xhb("InstanceEncryptionMethod", 0, ONE, UNLISTED),
    xhb("InstanceHashValue", 0, ONE, UNLISTED),
    xha("InstanceDecryptionInformationExternalReference", 0, ONE, UNLISTED),
    xha("InstanceDecryptionKeyExternalReference", 0, ONE, UNLISTED),
    xha("RelevantExternalReference", 0, MANY, UNLISTED),
    xha("PayloadExternalReference", 0, ONE, UNLISTED),
    xha("PayloadContent", 0, ONE, USE_ONE),
];

/// Validates an envelope against the XHE 1.0 schema as DIGG's syntax mapping
/// profiles it and against DIGG's rules R1–R14, plus the syntax mapping's
/// instructions. The signature's content is left to the crypto layer and the
/// payload to its own validation.
pub fn validate_xhe(doc: &Document) -> Validation {
    let Some(root) = doc.document_element() else {
        let mut v = Validation::default();
        v.push(Problem::sv_structure("/", "document has no document element"));
        return v;
    };
    let mut c = Checker::new(doc, root, XHE_PREFIXES, XHE_RULES);
    if !is(doc, root, XHE_NS, "XHE") {
        c.sv(NodeTarget::Node(root), "document element must be XHE in the XHE 1.0 ExchangeHeaderEnvelope namespace");
        return c.finish();
    }
    check_structure(&mut c, root);
    check_rules(&mut c, root);
    c.empty_rule(root, |e| e.is(XHA_NS, "PayloadContent"), &[DS_NS, XENC_NS]);
    check_values(&mut c, root);
    c.finish()
}

fn check_structure(c: &mut Checker<'_>, root: NodeId) {
    c.attributes(root, NO_ATTRS, &[]);
    c.element_only(root);
    let m = c.sequence(root, XHE_MODEL);
    for &n in m.of("XHEVersionID").iter().chain(m.of("CustomizationID")) {
        c.simple(n, IDENTIFIER_ATTRS, &[]);
    }
    for &h in m.of("Header") {
        check_header(c, h);
    }
    for &ps in m.of("Payloads") {
        c.attributes(ps, NO_ATTRS, &[]);
        c.element_only(ps);
        let pm = c.sequence(ps, PAYLOADS_MODEL);
        for &p in pm.of("Payload") {
            check_payload(c, p);
        }
    }
    // ds:Signature's own structure is checked where it is verified.
}

fn check_header(c: &mut Checker<'_>, h: NodeId) {
    c.attributes(h, NO_ATTRS, &[]);
    c.element_only(h);
    let m = c.sequence(h, HEADER_MODEL);
    for &n in m.of("ID") {
        c.simple(n, IDENTIFIER_ATTRS, &[]);
    }
    for &n in m.of("CreationDateTime") {
        c.simple(n, NO_ATTRS, &[]);
    }
    for &s in m.of("BusinessScope") {
        c.attributes(s, NO_ATTRS, &[]);
        c.element_only(s);
        let sm = c.sequence(s, SCOPE_MODEL);
        for &bsc in sm.of("BusinessScopeCriterion") {
            c.attributes(bsc, NO_ATTRS, &[]);
            c.element_only(bsc);
            let cm = c.sequence(bsc, CRITERION_MODEL);
            for &n in cm.of("BusinessScopeCriterionTypeCode") {
                c.simple(n, CODE_ATTRS, &[]);
            }
            for &n in cm.of("BusinessScopeCriterionValue") {
                c.simple(n, TEXT_ATTRS, &[]);
            }
        }
    }
    for &party in m.of("FromParty").iter().chain(m.of("ToParty")) {
        c.attributes(party, NO_ATTRS, &[]);
        c.element_only(party);
        let pm = c.sequence(party, PARTY_MODEL);
        for &pi in pm.of("PartyIdentification") {
            c.attributes(pi, NO_ATTRS, &[]);
            c.element_only(pi);
            let im = c.sequence(pi, PARTY_ID_MODEL);
            for &id in im.of("ID") {
                // schemeID is the one attribute the syntax mapping uses.
                c.simple(id, IDENTIFIER_ATTRS, &["schemeID"]);
            }
        }
    }
}

fn check_payload(c: &mut Checker<'_>, p: NodeId) {
    c.attributes(p, NO_ATTRS, &[]);
    c.element_only(p);
    let m = c.sequence(p, PAYLOAD_MODEL);
    for &n in m.of("DocumentTypeCode").iter().chain(m.of("ContentTypeCode")) {
        c.simple(n, CODE_ATTRS, &[]);
    }
    for &n in m.of("HandlingServiceID") {
        c.simple(n, IDENTIFIER_ATTRS, &[]);
    }
    for &n in m.of("InstanceEncryptionIndicator") {
        c.simple(n, NO_ATTRS, &[]);
    }
    for &n in m.of("PayloadContent") {
        // PayloadContent is xsd:any: only its own attributes are checked.
        c.attributes(n, NO_ATTRS, &[]);
    }
}

// ---------------------------------------------------------------------------
// Validation: DIGG's rules R3–R14 (R1, R2 and R14's cardinalities are
// checked with the structure)
// ---------------------------------------------------------------------------

fn check_rules(c: &mut Checker<'_>, root: NodeId) {
    let doc = c.doc;
    for n in doc.children_named(root, XHB_NS, "CustomizationID") {
        if normalize_space(&doc.text_content(n)) != CUSTOMIZATION_ID {
            c.bv_invariant(NodeTarget::Node(n), format!("R3-XHE: CustomizationID must be {CUSTOMIZATION_ID}"));
        }
    }
    for n in doc.children_named(root, XHB_NS, "XHEVersionID") {
        if normalize_space(&doc.text_content(n)) != XHE_VERSION_ID {
            c.bv_invariant(NodeTarget::Node(n), "R9-XHE: XHEVersionID must be 1.0");
        }
    }

    let headers: Vec<NodeId> = doc.children_named(root, XHA_NS, "Header").collect();
    let criteria: Vec<NodeId> = headers
        .iter()
        .flat_map(|&h| doc.children_named(h, XHA_NS, "BusinessScope"))
        .flat_map(|s| doc.children_named(s, XHA_NS, "BusinessScopeCriterion"))
        .collect();
    let codes: Vec<(NodeId, Option<String>)> = criteria.iter().map(|&bsc| (bsc, criterion_code(doc, bsc))).collect();
    let scope_path = "/x:XHE/xha:Header/xha:BusinessScope";
    for (code, rule) in CRITERIA {
        let found: Vec<NodeId> = codes.iter().filter(|(_, c)| c.as_deref() == Some(code)).map(|&(n, _)| n).collect();
        if found.is_empty() {
            c.bv_invariant(
                NodeTarget::Path(format!("{scope_path}/xha:BusinessScopeCriterion")),
                format!("{rule}: a BusinessScopeCriterion with BusinessScopeCriterionTypeCode {code} is required"),
            );
        }
        // The syntax mapping: "one time for each type".
        for &dup in found.iter().skip(1) {
            c.bv_invariant(
                NodeTarget::Node(dup),
                format!("R14-XHE: BusinessScopeCriterionTypeCode {code} must appear exactly once"),
            );
        }
    }
    for (bsc, code) in &codes {
        if let Some(code) = code {
            if !CRITERIA.iter().any(|(known, _)| known == code) {
                let at = doc.child_named(*bsc, XHB_NS, "BusinessScopeCriterionTypeCode").unwrap_or(*bsc);
                c.bv_invariant(
                    NodeTarget::Node(at),
                    "BusinessScopeCriterionTypeCode must be DOCUMENTID, DOCUMENTID_SCHEME, PROCESSID, PROCESSID_SCHEME or FEDERATIONID (C3.2.6 §1.6)",
                );
            }
        }
    }

    // R10 checks FromParty. R11's schematron context is copy-pasted from R10
    // and checks FromParty again; its text (and C3.2.2 §2.5) says ToParty,
    // which is what is implemented here.
    for (party, rule) in [("FromParty", "R10-XHE"), ("ToParty", "R11-XHE")] {
        let ids: Vec<NodeId> = headers
            .iter()
            .flat_map(|&h| doc.children_named(h, XHA_NS, party))
            .flat_map(|p| doc.children_named(p, XHA_NS, "PartyIdentification"))
            .flat_map(|pi| doc.children_named(pi, XHB_NS, "ID"))
            .collect();
        for id in ids {
            let scheme = doc.element(id).and_then(|e| e.attribute("schemeID")).map(normalize_space);
            if scheme.as_deref() != Some(PARTY_ID_SCHEME) {
                c.bv_invariant(
                    NodeTarget::Node(id),
                    format!("{rule}: {party} ID must have schemeID {PARTY_ID_SCHEME}"),
                );
            }
        }
    }

    let payloads: Vec<NodeId> =
        doc.children_named(root, XHA_NS, "Payloads").flat_map(|ps| doc.children_named(ps, XHA_NS, "Payload")).collect();
    for p in payloads {
        // XPath's `= true()` casts each indicator to xs:boolean; any match counts.
        let flags: Vec<bool> = doc
            .children_named(p, XHB_NS, "InstanceEncryptionIndicator")
            .filter_map(|n| lexical::parse_boolean(&doc.text_content(n)))
            .collect();
        let encrypted_data = doc
            .children_named(p, XHA_NS, "PayloadContent")
            .any(|pc| doc.child_named(pc, XENC_NS, "EncryptedData").is_some());
        let content = doc.child_named(p, XHA_NS, "PayloadContent");
        let at = content.map(NodeTarget::Node).unwrap_or(NodeTarget::Node(p));
        if flags.contains(&true) && !encrypted_data {
            c.bv_invariant(
                at.clone(),
                "R12-XHE: PayloadContent must hold xenc:EncryptedData when InstanceEncryptionIndicator is true",
            );
        }
        if flags.contains(&false) && encrypted_data {
            c.bv_invariant(
                at,
                "R13-XHE: PayloadContent must not hold xenc:EncryptedData when InstanceEncryptionIndicator is false",
            );
        }
    }
}

fn criterion_code(doc: &Document, bsc: NodeId) -> Option<String> {
    doc.child_named(bsc, XHB_NS, "BusinessScopeCriterionTypeCode").map(|n| normalize_space(&doc.text_content(n)))
}

// ---------------------------------------------------------------------------
// Validation: datatypes and the syntax mapping's instructions
// ---------------------------------------------------------------------------

fn check_values(c: &mut Checker<'_>, root: NodeId) {
    let doc = c.doc;
    for h in doc.children_named(root, XHA_NS, "Header") {
        for n in doc.children_named(h, XHB_NS, "CreationDateTime") {
            match lexical::parse_date_time(&doc.text_content(n)) {
                None => c.sv(NodeTarget::Node(n), "CreationDateTime is not a valid xsd:dateTime"),
                Some((_, None)) => {
                    c.bv_invariant(NodeTarget::Node(n), "CreationDateTime must include a time zone (C3.2.2 §2.2)")
                }
                Some(_) => {}
            }
        }
        for n in doc.children_named(h, XHB_NS, "ID") {
            let text = doc.text_content(n);
            // An empty ID is R2's; one problem is enough.
            if !trim_xml(&text).is_empty() && !is_uuid(trim_xml(&text)) {
                c.bv_invariant(NodeTarget::Node(n), "Header ID must be a UUID (C3.2.2 §2.2)");
            }
        }
    }
    let payloads: Vec<NodeId> =
        doc.children_named(root, XHA_NS, "Payloads").flat_map(|ps| doc.children_named(ps, XHA_NS, "Payload")).collect();
    for p in payloads {
        for n in doc.children_named(p, XHB_NS, "InstanceEncryptionIndicator") {
            if lexical::parse_boolean(&doc.text_content(n)).is_none() {
                c.sv(NodeTarget::Node(n), "InstanceEncryptionIndicator is not a valid xsd:boolean (true or false)");
            }
        }
        let Some(content) = doc.child_named(p, XHA_NS, "PayloadContent") else { continue };
        match payload_shape(doc, content) {
            PayloadShape::Empty => {} // R2
            PayloadShape::Mixed => c.bv_invariant(
                NodeTarget::Node(content),
                "PayloadContent must hold one payload: one XML element, base64 text, or xenc:EncryptedData (C3.2.2 §2.2)",
            ),
            PayloadShape::One(e) if is_encrypted_data(doc, e) => {}
            PayloadShape::One(e) => {
                let code = doc.child_named(p, XHB_NS, "DocumentTypeCode").map(|n| normalize_space(&doc.text_content(n)));
                let ctype = doc.child_named(p, XHB_NS, "ContentTypeCode").map(|n| normalize_space(&doc.text_content(n)));
                let base = c.path(NodeTarget::Node(p));
                c.out.extend(payload_root_problems(doc, e, code.as_deref(), ctype.as_deref(), &base));
            }
            PayloadShape::Text => {
                if !is_base64_content(doc, content) {
                    c.bv_invariant(
                        NodeTarget::Node(content),
                        "a payload that is not XML must be base64 encoded (C3.2.2 §2.2)",
                    );
                }
            }
        }
    }
}

/// Checks a plaintext XML payload against its `Payload` metadata
/// (C3.2.2 §2.2): `DocumentTypeCode` is the root's EQName and
/// `ContentTypeCode` is `application/xml`. [`validate_xhe`] does this for a
/// plaintext payload; the envelope layer calls it after decrypting one.
pub fn validate_payload_root(payload: &PayloadInfo, doc: &Document, root: NodeId) -> Validation {
    payload_root_problems(
        doc,
        root,
        Some(normalize_space(&payload.document_type_code).as_str()),
        Some(normalize_space(&payload.content_type_code).as_str()),
        "/x:XHE/xha:Payloads/xha:Payload",
    )
}

fn payload_root_problems(
    doc: &Document,
    root: NodeId,
    document_type_code: Option<&str>,
    content_type_code: Option<&str>,
    payload_path: &str,
) -> Validation {
    let mut v = Validation::default();
    // Missing codes are R14's problem, reported elsewhere.
    if let (Some(code), Some(e)) = (document_type_code, doc.element(root)) {
        let eqname = format!("Q{{{}}}{}", e.namespace().unwrap_or(""), e.local);
        if code != eqname {
            v.push(Problem::bv(
                DetailCode::Invariant,
                format!("{payload_path}/xhb:DocumentTypeCode"),
                "DocumentTypeCode must be the payload root element's expanded name, Q{namespace}local-name (C3.2.2 §2.2)",
            ));
        }
    }
    if let Some(ct) = content_type_code {
        if ct != CONTENT_TYPE_XML {
            v.push(Problem::bv(
                DetailCode::Invariant,
                format!("{payload_path}/xhb:ContentTypeCode"),
                "ContentTypeCode must be application/xml for an XML payload (C3.2.2 §2.2)",
            ));
        }
    }
    v
}

enum PayloadShape {
    /// No element, no text: R2's case.
    Empty,
    One(NodeId),
    Text,
    /// Several elements, or an element with text beside it.
    Mixed,
}

fn payload_shape(doc: &Document, content: NodeId) -> PayloadShape {
    let mut elements = doc.child_elements(content);
    let first = elements.next();
    let more = elements.next().is_some();
    let text = doc.children(content).iter().any(|&n| matches!(doc.kind(n), NodeKind::Text(t) if !is_xml_whitespace(t)));
    match (first, more, text) {
        (None, _, false) => PayloadShape::Empty,
        (None, _, true) => PayloadShape::Text,
        (Some(e), false, false) => PayloadShape::One(e),
        _ => PayloadShape::Mixed,
    }
}

fn is_encrypted_data(doc: &Document, e: NodeId) -> bool {
    is(doc, e, XENC_NS, "EncryptedData")
}

/// Base64 as XML tools write it: the alphabet, whitespace anywhere, up to two
/// `=` at the end, a multiple of four characters. Streams over the text
/// nodes, so a large payload is not copied.
fn is_base64_content(doc: &Document, content: NodeId) -> bool {
    let mut count = 0usize;
    let mut padding = 0usize;
    for &n in doc.children(content) {
        let NodeKind::Text(t) = doc.kind(n) else { continue };
        for b in t.bytes() {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => {}
                b'=' => {
                    padding += 1;
                    count += 1;
                }
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' if padding == 0 => count += 1,
                _ => return false,
            }
        }
    }
    padding <= 2 && count % 4 == 0
}

// ---------------------------------------------------------------------------
// SDK's values and the message cross-checks
// ---------------------------------------------------------------------------

const DOCUMENT_ID_PATH: &str = "/x:XHE/xha:Header/xha:BusinessScope/xha:BusinessScopeCriterion[xhb:BusinessScopeCriterionTypeCode='DOCUMENTID']/xhb:BusinessScopeCriterionValue";

fn criterion_path(code: &str) -> String {
    format!("/x:XHE/xha:Header/xha:BusinessScope/xha:BusinessScopeCriterion[xhb:BusinessScopeCriterionTypeCode='{code}']/xhb:BusinessScopeCriterionValue")
}

/// Checks a parsed envelope's values against SDK's code lists (C3.2.7) and
/// B1.3.3 §3.2, for the federation this node serves (`federation_id`,
/// normally [`FEDERATION_ID_SDK`]). [`validate_xhe`] checks DIGG's generic
/// profile, which other federations and non-XML payloads share; this is the
/// SDK-specific layer above it.
///
/// A message under `tm-base-ext-sigenc` whose payload is not encrypted is
/// `SIG security` (B1.3.3 §5.3 row 14, "okrypterat meddelande"). Receipts
/// are signed but never encrypted, so the check is for messages only.
pub fn validate_sdk_scope(header: &XheHeader, payload: &PayloadInfo, federation_id: &str) -> Validation {
    let mut v = Validation::default();
    let bs = &header.business_scope;
    let invariant = |path: String, text: &str| Problem::bv(DetailCode::Invariant, path, text);
    let kind = DocumentKind::from_document_id(bs.document_id.trim());
    if kind.is_none() {
        v.push(invariant(
            DOCUMENT_ID_PATH.to_owned(),
            "DOCUMENTID must be a document type of SDK: Meddelande v3 or the message receipt (C3.2.7 §1.3)",
        ));
    }
    for (code, actual, expected) in [
        (CRITERION_DOCUMENT_ID_SCHEME, &bs.document_id_scheme, DOCUMENT_ID_SCHEME),
        (CRITERION_PROCESS_ID, &bs.process_id, PROCESS_ID),
        (CRITERION_PROCESS_ID_SCHEME, &bs.process_id_scheme, PROCESS_ID_SCHEME),
    ] {
        if actual.trim() != expected {
            v.push(invariant(criterion_path(code), &format!("{code} must be {expected} (C3.2.7)")));
        }
    }
    if bs.federation_id.trim() != federation_id {
        v.push(invariant(
            criterion_path(CRITERION_FEDERATION_ID),
            &format!("FEDERATIONID must be {federation_id}, the federation this node serves (C3.2.7 §1.1)"),
        ));
    }
    if let Some((kind, model)) = kind {
        if payload.document_type_code.trim() != kind.document_type_code() {
            v.push(invariant(
                "/x:XHE/xha:Payloads/xha:Payload/xhb:DocumentTypeCode".to_owned(),
                &format!("DocumentTypeCode must be {} for this DOCUMENTID (B1.3.3 §3.2)", kind.document_type_code()),
            ));
        }
        if kind == DocumentKind::MessageV3
            && model == TransportModel::ExtSigEnc
            && !payload.instance_encryption_indicator
        {
            v.push(Problem::new(
                ReasonCode::Sig,
                DetailCode::Security,
                "/x:XHE/xha:Payloads/xha:Payload/xhb:InstanceEncryptionIndicator",
                "payload is not encrypted as transport model tm-base-ext-sigenc requires (B1.3.3 §5.3)",
            ));
        }
    }
    if payload.content_type_code.trim() != CONTENT_TYPE_XML {
        v.push(invariant(
            "/x:XHE/xha:Payloads/xha:Payload/xhb:ContentTypeCode".to_owned(),
            "ContentTypeCode must be application/xml (B1.3.3 §3.2)",
        ));
    }
    v
}

/// Checks that the envelope and the message it carries agree (B1.3.3 §3.2
/// and §4.3.2.x). Organisation ids and UUIDs compare ASCII
/// case-insensitively (domain names and UUIDs are case-insensitive; the SML
/// lower-cases participant ids); functional addresses are opaque and compare
/// exactly.
///
/// Codes:
/// - `messageId` ≠ `Header/ID`: `BV invariant`. B1.3.3 §4.3.2 says they
///   SHALL be equal but gives no code for a mismatch; invariant is its code
///   for a broken rule on that field.
/// - `senderID` ≠ `FromParty`: `BV invariant` "Wrong or unknown sender-id",
///   the code §4.3.2.2 gives when senderId fails its checks, which list
///   "same as XHE FromParty". Not `SIG security`: that is §4.3.2.2's code for
///   an XHE signature that does not validate or does not belong to the
///   sender (§5.3 row 12), which the envelope layer checks when it binds the
///   signer to `FromParty`. Here both values come from the same verified
///   envelope, so nothing about the signature is wrong.
/// - `recipientID` ≠ `ToParty`: `BV security` "recipientId is not identical
///   to value in XHE envelope" (§4.3.2.1 #1).
/// - `HandlingServiceID` missing or ≠ the recipient's functional address:
///   `BV not-found` "Wrong or unknown xha:HandlingServiceID" (§3.2). Note
///   §4.3.2.3 #3 gives `BV security` for the same mismatch seen from the
///   message side; §3.2, the XHE field's own section, is followed.
pub fn validate_cross_fields(header: &XheHeader, payload: &PayloadInfo, message: &CrossFieldView) -> Validation {
    let mut v = Validation::default();
    if !header.id.trim().eq_ignore_ascii_case(message.message_id.trim()) {
        v.push(Problem::bv(
            DetailCode::Invariant,
            "/x:XHE/xha:Header/xhb:ID",
            "messageId is not identical to ID in XHE envelope",
        ));
    }
    if !header.from_party.trim().eq_ignore_ascii_case(message.sender_org_id.trim()) {
        v.push(Problem::bv(
            DetailCode::Invariant,
            "/x:XHE/xha:Header/xha:FromParty/xha:PartyIdentification/xhb:ID",
            "Wrong or unknown sender-id",
        ));
    }
    if !header.to_party.trim().eq_ignore_ascii_case(message.recipient_org_id.trim()) {
        v.push(Problem::bv(
            DetailCode::Security,
            "/x:XHE/xha:Header/xha:ToParty/xha:PartyIdentification/xhb:ID",
            "recipientId is not identical to value in XHE envelope",
        ));
    }
    let hs_ok = payload
        .handling_service_id
        .as_deref()
        .is_some_and(|hs| hs.trim() == message.recipient_functional_address.trim());
    if !hs_ok {
        v.push(Problem::bv(
            DetailCode::NotFound,
            "/x:XHE/xha:Payloads/xha:Payload/xhb:HandlingServiceID",
            "Wrong or unknown xha:HandlingServiceID",
        ));
    }
    v
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

fn is(doc: &Document, n: NodeId, ns: &str, local: &str) -> bool {
    doc.element(n).is_some_and(|e| e.is(ns, local))
}

pub(crate) fn is_xml_whitespace(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

pub(crate) fn trim_xml(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\n', '\r'])
}

/// XPath `normalize-space()`.
pub(crate) fn normalize_space(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for part in s.split([' ', '\t', '\n', '\r']).filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(part);
    }
    out
}

/// RFC 4122 text form: 8-4-4-4-12 hexadecimal digits.
pub(crate) fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

// ---------------------------------------------------------------------------
// Shared with the receipt: a content-model checker and XSD lexical forms
// ---------------------------------------------------------------------------

/// A small checker for DIGG's profiled schemas: sequences with the XSD's and
/// the profile's cardinalities, attribute sets, simple content, and the
/// "no empty elements" rule, with XPaths for every problem.
pub(crate) mod schema {
    use super::{is_xml_whitespace, normalize_space, XSI_NS};
    use crate::sdk::codes::{DetailCode, Problem, Validation};
    use crate::xml::{Document, Element, NodeId, NodeKind};

    /// Attributes the CCTS/UDT types define. An attribute outside the set is
    /// a schema error; inside it but not used by the profile, an R1 error.
    pub(crate) const IDENTIFIER_ATTRS: &[&str] = &[
        "schemeID",
        "schemeName",
        "schemeAgencyID",
        "schemeAgencyName",
        "schemeVersionID",
        "schemeDataURI",
        "schemeURI",
    ];
    pub(crate) const CODE_ATTRS: &[&str] = &[
        "listID",
        "listAgencyID",
        "listAgencyName",
        "listName",
        "listVersionID",
        "name",
        "languageID",
        "listURI",
        "listSchemeURI",
    ];
    pub(crate) const TEXT_ATTRS: &[&str] = &["languageID", "languageLocaleID"];
    pub(crate) const NO_ATTRS: &[&str] = &[];

    /// Rule ids of one profile.
    #[derive(Clone, Copy)]
    pub(crate) struct RuleIds {
        /// "Only elements and attributes in this specification" (R1).
        pub unlisted: &'static str,
        /// "Cardinalities as in the syntax mapping" (R14-XHE, R9-APP).
        pub cardinality: &'static str,
        /// "No empty elements or attributes" (R2).
        pub empty: &'static str,
    }

    /// What the profile says about an element the XSD allows.
    #[derive(Clone, Copy)]
    pub(crate) enum Profile {
        Use {
            min: u32,
            max: Option<u32>,
        },
        /// Allowed by the XSD, not listed in the syntax mapping.
        Unlisted,
    }

    /// One element of an XSD sequence.
    /// Shorthands for the content-model tables of the XHE and the receipt.
    pub(crate) const ONE: Option<u32> = Some(1);
    pub(crate) const MANY: Option<u32> = None;
    pub(crate) const USE_ONE: Profile = Profile::Use { min: 1, max: Some(1) };
    pub(crate) const UNLISTED: Profile = Profile::Unlisted;

    pub(crate) struct Particle {
        pub ns: &'static str,
        pub local: &'static str,
        pub xsd_min: u32,
        /// `None`: unbounded.
        pub xsd_max: Option<u32>,
        pub profile: Profile,
    }

    /// The children of one element, sorted by particle.
    pub(crate) struct Matched {
        names: Vec<&'static str>,
        nodes: Vec<Vec<NodeId>>,
    }

    impl Matched {
        /// Children matched to the particle named `local`.
        pub(crate) fn of(&self, local: &str) -> &[NodeId] {
            self.names.iter().position(|n| *n == local).map(|i| self.nodes[i].as_slice()).unwrap_or(&[])
        }
    }

    /// Where a problem is.
    #[derive(Clone)]
    pub(crate) enum Target {
        Node(NodeId),
        Attribute(NodeId, String),
        /// An XPath already written (for something missing).
        Path(String),
    }

    pub(crate) struct Checker<'d> {
        pub doc: &'d Document,
        /// The element paths start from.
        top: NodeId,
        prefixes: &'d [(&'static str, &'static str)],
        rules: RuleIds,
        pub out: Validation,
    }

    impl<'d> Checker<'d> {
        pub(crate) fn new(
            doc: &'d Document,
            top: NodeId,
            prefixes: &'d [(&'static str, &'static str)],
            rules: RuleIds,
        ) -> Self {
            Self { doc, top, prefixes, rules, out: Validation::default() }
        }

        pub(crate) fn finish(self) -> Validation {
            self.out
        }

        /// The name of `e` with the profile's prefix, or as an EQName.
        fn name_of(&self, e: &Element) -> String {
            self.qname(e.namespace(), &e.local)
        }

        fn qname(&self, ns: Option<&str>, local: &str) -> String {
            match ns {
                None => local.to_owned(),
                Some(ns) => match self.prefixes.iter().find(|(uri, _)| *uri == ns) {
                    Some((_, p)) => format!("{p}:{local}"),
                    None => format!("Q{{{ns}}}{local}"),
                },
            }
        }

        /// XPath of `node` from the top element, with a position only where
        /// siblings share the name.
        pub(crate) fn node_path(&self, node: NodeId) -> String {
            let mut steps = Vec::new();
            let mut cur = node;
            while let Some(e) = self.doc.element(cur) {
                let mut step = self.name_of(e);
                if cur != self.top {
                    if let Some(parent) = self.doc.parent(cur) {
                        let same: Vec<NodeId> = self
                            .doc
                            .child_elements(parent)
                            .filter(|&s| {
                                self.doc
                                    .element(s)
                                    .is_some_and(|o| o.local == e.local && o.namespace() == e.namespace())
                            })
                            .collect();
                        if same.len() > 1 {
                            let pos = same.iter().position(|&s| s == cur).map_or(0, |p| p + 1);
                            step.push_str(&format!("[{pos}]"));
                        }
                    }
                }
                steps.push(step);
                if cur == self.top {
                    break;
                }
                match self.doc.parent(cur) {
                    Some(p) => cur = p,
                    None => break,
                }
            }
            steps.reverse();
            format!("/{}", steps.join("/"))
        }

        pub(crate) fn path(&self, target: Target) -> String {
            match target {
                Target::Node(n) => self.node_path(n),
                Target::Attribute(n, qname) => format!("{}/@{qname}", self.node_path(n)),
                Target::Path(p) => p,
            }
        }

        pub(crate) fn sv(&mut self, target: Target, text: impl Into<String>) {
            let path = self.path(target);
            self.out.push(Problem::sv_structure(path, text));
        }

        pub(crate) fn bv_invariant(&mut self, target: Target, text: impl Into<String>) {
            let path = self.path(target);
            self.out.push(Problem::bv(DetailCode::Invariant, path, text));
        }

        /// Matches the element children of `parent` against `model` and
        /// reports unknown, misplaced, missing and surplus elements. Every
        /// known child is returned under its particle, misplaced ones too, so
        /// their content is still checked.
        pub(crate) fn sequence(&mut self, parent: NodeId, model: &[Particle]) -> Matched {
            let doc = self.doc;
            let mut nodes: Vec<Vec<NodeId>> = model.iter().map(|_| Vec::new()).collect();
            let mut pos = 0usize;
            let parent_name = doc.element(parent).map(|e| self.name_of(e)).unwrap_or_default();
            let parent_path = self.node_path(parent);
            for child in doc.child_elements(parent) {
                let Some(e) = doc.element(child) else { continue };
                let matches = |p: &Particle| e.is(p.ns, p.local);
                if let Some(j) = model.get(pos..).and_then(|rest| rest.iter().position(matches)) {
                    pos += j;
                    nodes[pos].push(child);
                } else if let Some(j) = model[..pos.min(model.len())].iter().position(matches) {
                    let name = self.name_of(e);
                    let before = model.get(pos).map_or("", |p| p.local);
                    nodes[j].push(child);
                    self.sv(
                        Target::Node(child),
                        format!("{name} is out of order in {parent_name}: it must come before {before}"),
                    );
                } else {
                    let name = self.name_of(e);
                    self.sv(Target::Node(child), format!("element {name} is not allowed in {parent_name}"));
                }
            }
            for (p, found) in model.iter().zip(&nodes) {
                let n = found.len();
                let name = self.qname(Some(p.ns), p.local);
                let missing = Target::Path(format!("{parent_path}/{name}"));
                if n < p.xsd_min as usize {
                    self.sv(missing, format!("{parent_name} must contain {name}"));
                    continue;
                }
                if let Some(max) = p.xsd_max.map(|m| m as usize).filter(|&m| n > m) {
                    for &extra in &found[max..] {
                        self.sv(
                            Target::Node(extra),
                            format!("{name} may occur at most {max} time(s) in {parent_name}"),
                        );
                    }
                    continue;
                }
                match p.profile {
                    Profile::Unlisted => {
                        let rule = self.rules.unlisted;
                        for &f in found {
                            self.bv_invariant(
                                Target::Node(f),
                                format!("{rule}: {name} is not used in DIGG's profile; only elements and attributes in the specification may be used"),
                            );
                        }
                    }
                    Profile::Use { min, max } => {
                        let rule = self.rules.cardinality;
                        let card = match max {
                            Some(m) if m == min => format!("exactly {min} time(s)"),
                            Some(m) => format!("{min} to {m} times"),
                            None => format!("at least {min} time(s)"),
                        };
                        let text = format!("{rule}: {name} must occur {card} in {parent_name}");
                        if n < min as usize {
                            let at = found.first().map_or(missing, |&f| Target::Node(f));
                            self.bv_invariant(at, text);
                        } else if let Some(max) = max.map(|m| m as usize).filter(|&m| n > m) {
                            for &extra in &found[max..] {
                                self.bv_invariant(Target::Node(extra), text.clone());
                            }
                        }
                    }
                }
            }
            Matched { names: model.iter().map(|p| p.local).collect(), nodes }
        }

        /// Element-only content: text other than whitespace is an error.
        pub(crate) fn element_only(&mut self, node: NodeId) {
            let has_text = self
                .doc
                .children(node)
                .iter()
                .any(|&c| matches!(self.doc.kind(c), NodeKind::Text(t) if !is_xml_whitespace(t)));
            if has_text {
                let name = self.doc.element(node).map(|e| self.name_of(e)).unwrap_or_default();
                self.sv(Target::Node(node), format!("{name} must not contain text, only elements"));
            }
        }

        /// Simple content: no child elements, attributes from `known`, of
        /// which the profile uses `allowed`.
        pub(crate) fn simple(&mut self, node: NodeId, known: &[&str], allowed: &[&str]) {
            if self.doc.child_elements(node).next().is_some() {
                let name = self.doc.element(node).map(|e| self.name_of(e)).unwrap_or_default();
                self.sv(Target::Node(node), format!("{name} must not contain elements"));
            }
            self.attributes(node, known, allowed);
        }

        /// Attributes of `node`: `known` to the XSD type, `allowed` by the
        /// profile. `xsi:schemaLocation` and `xsi:noNamespaceSchemaLocation`
        /// are schema-processing hints that every XSD validator accepts (and
        /// DIGG's own `example-xhe-base.xml` carries one); they are not
        /// information the profile would have to list.
        pub(crate) fn attributes(&mut self, node: NodeId, known: &[&str], allowed: &[&str]) {
            let doc = self.doc;
            let Some(e) = doc.element(node) else { return };
            let name = self.name_of(e);
            let mut found = Vec::new();
            for a in &e.attributes {
                let hint = a.ns.as_deref() == Some(XSI_NS)
                    && matches!(a.local.as_str(), "schemaLocation" | "noNamespaceSchemaLocation");
                if hint {
                    continue;
                }
                let qname = self.qname(a.ns.as_deref(), &a.local);
                let kind = if a.ns.is_none() && known.contains(&a.local.as_str()) {
                    if allowed.contains(&a.local.as_str()) {
                        continue;
                    }
                    true
                } else {
                    false
                };
                found.push((qname, kind));
            }
            for (qname, known_to_xsd) in found {
                if known_to_xsd {
                    let rule = self.rules.unlisted;
                    self.bv_invariant(
                        Target::Attribute(node, qname.clone()),
                        format!("{rule}: attribute {qname} on {name} is not used in DIGG's profile; only elements and attributes in the specification may be used"),
                    );
                } else {
                    self.sv(
                        Target::Attribute(node, qname.clone()),
                        format!("attribute {qname} is not allowed on {name}"),
                    );
                }
            }
        }

        /// R2: no empty elements or attributes. An element is empty with no
        /// child elements and only whitespace text. Elements in `exempt`
        /// namespaces (XML-DSig, XML Encryption) are exempt, as in DIGG's
        /// schematron; `stop_below` elements are checked but not entered.
        pub(crate) fn empty_rule(&mut self, top: NodeId, stop_below: impl Fn(&Element) -> bool, exempt: &[&str]) {
            let rule = self.rules.empty;
            let doc = self.doc;
            let mut stack = vec![top];
            while let Some(n) = stack.pop() {
                let Some(e) = doc.element(n) else { continue };
                let exempt_ns = e.namespace().is_some_and(|ns| exempt.contains(&ns));
                if !exempt_ns {
                    // Without element children, the text is in direct children.
                    let empty = doc.child_elements(n).next().is_none()
                        && !doc
                            .children(n)
                            .iter()
                            .any(|&d| matches!(doc.kind(d), NodeKind::Text(t) if !is_xml_whitespace(t)));
                    if empty {
                        let name = self.name_of(e);
                        self.bv_invariant(
                            Target::Node(n),
                            format!("{rule}: element {name} is empty; empty elements must not be used"),
                        );
                    }
                    let empty_attrs: Vec<String> = e
                        .attributes
                        .iter()
                        .filter(|a| normalize_space(&a.value).is_empty())
                        .map(|a| self.qname(a.ns.as_deref(), &a.local))
                        .collect();
                    for q in empty_attrs {
                        self.bv_invariant(
                            Target::Attribute(n, q.clone()),
                            format!("{rule}: attribute {q} is empty; empty attributes must not be used"),
                        );
                    }
                }
                if stop_below(e) {
                    continue;
                }
                let kids: Vec<NodeId> = self.doc.child_elements(n).collect();
                stack.extend(kids.into_iter().rev());
            }
        }
    }
}

/// XSD lexical forms of `date`, `time`, `dateTime` and `boolean`, with the
/// value checks XSD makes (month lengths, leap years, zone range). Years are
/// four digits, 0001–9999: nothing SDK exchanges needs more.
pub(crate) mod lexical {
    use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

    use super::trim_xml;

    /// `xsd:boolean` after whitespace collapsing.
    pub(crate) fn parse_boolean(s: &str) -> Option<bool> {
        match trim_xml(s) {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        }
    }

    /// `xsd:date`; the optional zone is returned beside the date.
    pub(crate) fn parse_date(s: &str) -> Option<(Date, Option<UtcOffset>)> {
        let (date, rest) = ymd(trim_xml(s))?;
        Some((date, zone(rest)?))
    }

    /// `xsd:time`. `24:00:00` is midnight, as XSD defines it.
    pub(crate) fn parse_time(s: &str) -> Option<(Time, Option<UtcOffset>)> {
        let (t, _, rest) = hms(trim_xml(s))?;
        Some((t, zone(rest)?))
    }

    /// `xsd:dateTime`. `T24:00:00` is midnight of the next day.
    pub(crate) fn parse_date_time(s: &str) -> Option<(PrimitiveDateTime, Option<UtcOffset>)> {
        let (date, rest) = ymd(trim_xml(s))?;
        let rest = rest.strip_prefix('T')?;
        let (t, end_of_day, rest) = hms(rest)?;
        let date = if end_of_day { date.next_day()? } else { date };
        Some((PrimitiveDateTime::new(date, t), zone(rest)?))
    }

    /// `Z` for UTC, otherwise `±hh:mm`.
    pub(crate) fn format_offset(o: UtcOffset) -> String {
        if o.is_utc() {
            return "Z".to_owned();
        }
        let (h, m, _) = o.as_hms();
        let sign = if o.is_negative() { '-' } else { '+' };
        format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
    }

    /// `hh:mm:ss` plus a fraction with its trailing zeros dropped.
    pub(crate) fn format_time(t: Time) -> String {
        let mut s = format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
        if t.nanosecond() != 0 {
            let frac = format!("{:09}", t.nanosecond());
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
        s
    }

    pub(crate) fn format_date(d: Date) -> String {
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    }

    fn digits(s: &str, n: usize) -> Option<(u32, &str)> {
        let head = s.get(..n)?;
        if !head.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some((head.parse().ok()?, &s[n..]))
    }

    fn ymd(s: &str) -> Option<(Date, &str)> {
        let (y, s) = digits(s, 4)?;
        let s = s.strip_prefix('-')?;
        let (m, s) = digits(s, 2)?;
        let s = s.strip_prefix('-')?;
        let (d, s) = digits(s, 2)?;
        if y == 0 {
            return None;
        }
        let month = Month::try_from(u8::try_from(m).ok()?).ok()?;
        let date = Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?).ok()?;
        Some((date, s))
    }

    /// `hh:mm:ss(.f+)?`; the flag is set for `24:00:00`.
    fn hms(s: &str) -> Option<(Time, bool, &str)> {
        let (h, s) = digits(s, 2)?;
        let s = s.strip_prefix(':')?;
        let (m, s) = digits(s, 2)?;
        let s = s.strip_prefix(':')?;
        let (sec, mut s) = digits(s, 2)?;
        let mut nanos = 0u32;
        let mut fraction_zero = true;
        if let Some(f) = s.strip_prefix('.') {
            let len = f.bytes().take_while(u8::is_ascii_digit).count();
            if len == 0 {
                return None;
            }
            let frac = &f[..len];
            fraction_zero = frac.bytes().all(|b| b == b'0');
            // Digits beyond nanoseconds are dropped.
            let kept = &frac[..len.min(9)];
            nanos = kept.parse::<u32>().ok()? * 10u32.pow(9 - kept.len() as u32);
            s = &f[len..];
        }
        if h == 24 && m == 0 && sec == 0 && fraction_zero {
            return Some((Time::MIDNIGHT, true, s));
        }
        let t =
            Time::from_hms_nano(u8::try_from(h).ok()?, u8::try_from(m).ok()?, u8::try_from(sec).ok()?, nanos).ok()?;
        Some((t, false, s))
    }

    /// The zone suffix: empty (none), `Z`, or `±hh:mm` within ±14:00.
    fn zone(s: &str) -> Option<Option<UtcOffset>> {
        match s {
            "" => return Some(None),
            "Z" => return Some(Some(UtcOffset::UTC)),
            _ => {}
        }
        let (sign, s) = match s.as_bytes().first()? {
            b'+' => (1i8, &s[1..]),
            b'-' => (-1i8, &s[1..]),
            _ => return None,
        };
        let (h, s) = digits(s, 2)?;
        let s = s.strip_prefix(':')?;
        let (m, s) = digits(s, 2)?;
        if !s.is_empty() || m > 59 || h > 14 || (h == 14 && m != 0) {
            return None;
        }
        let h = i8::try_from(h).ok()? * sign;
        let m = i8::try_from(m).ok()? * sign;
        Some(Some(UtcOffset::from_hms(h, m, 0).ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{parse_str, serialize};

    fn header() -> XheHeader {
        XheHeader {
            id: "7bc5576a-3f87-4cf5-a0c5-277da06fcacb".into(),
            creation_date_time: "2022-10-13T18:10:39.844Z".into(),
            business_scope: BusinessScope::new(DocumentKind::MessageV3, TransportModel::ExtSigEnc),
            from_party: "0203:testb.testbed.inera.se".into(),
            to_party: "0203:testa.testbed.inera.se".into(),
        }
    }

    #[test]
    fn built_envelope_with_payload_is_valid_and_reparses() {
        let payload = PayloadInfo::new(DocumentKind::MessageV3, Some("fa".into()), false);
        let (mut doc, content) = build_xhe(&header(), &payload);
        let p = parse_str(r#"<m:messagePayload xmlns:m="urn:riv:infrastructure:messaging:MessageWithAttachments:3"><m:x>1</m:x></m:messagePayload>"#)
            .expect("payload parses");
        let proot = p.document_element().expect("root");
        doc.graft(content, 0, &p, proot);
        let bytes = serialize(&doc, NodeId::DOCUMENT);
        let doc = parse_str(std::str::from_utf8(&bytes).expect("utf-8")).expect("reparses");
        let parsed = parse_xhe(&doc).expect("valid");
        assert_eq!(parsed.header, header());
        assert_eq!(parsed.payload, payload);
        assert!(matches!(parsed.body, PayloadBody::Xml(_)));
        assert_eq!(parsed.signature, None);
    }

    #[test]
    fn lexical_forms() {
        assert!(lexical::parse_date_time("2022-01-30T17:52:58.1Z").is_some_and(|(_, z)| z.is_some()));
        assert!(lexical::parse_date_time("2021-03-24T17:22:10+01:00").is_some());
        assert!(lexical::parse_date_time("2021-03-24T17:22:10").is_some_and(|(_, z)| z.is_none()));
        assert!(lexical::parse_date_time("2021-02-29T00:00:00Z").is_none());
        assert!(lexical::parse_date_time("2020-02-29T24:00:00Z").is_some());
        assert!(lexical::parse_date_time("2021-03-24 17:22:10Z").is_none());
        assert!(lexical::parse_date_time("2021-03-24T17:22:10+15:00").is_none());
        assert!(lexical::parse_time("12:00:00Z").is_some());
        assert!(lexical::parse_time("12:00:00.").is_none());
        assert!(lexical::parse_date("2021-04-15").is_some());
        assert!(lexical::parse_date("2021-4-15").is_none());
        assert_eq!(lexical::parse_boolean(" true "), Some(true));
        assert_eq!(lexical::parse_boolean("TRUE"), None);
        let t = time::Time::from_hms_milli(12, 0, 0, 120).expect("time");
        assert_eq!(lexical::format_time(t), "12:00:00.12");
    }

    #[test]
    fn uuid_and_space_helpers() {
        assert!(is_uuid("862693f7-53d4-4d96-b35c-470055710092"));
        assert!(!is_uuid("862693f7-53d4-4d96-b35c-47005571009"));
        assert!(!is_uuid("862693f7x53d4-4d96-b35c-470055710092"));
        assert_eq!(normalize_space("  a \n b\t"), "a b");
    }

    #[test]
    fn document_ids_classify() {
        assert_eq!(
            DocumentKind::from_document_id(DOCUMENT_ID_RECEIPT_SIGENC),
            Some((DocumentKind::Receipt, TransportModel::ExtSigEnc))
        );
        assert_eq!(DocumentKind::from_document_id("urn:x"), None);
    }

    #[test]
    fn format_date_time_has_zone_and_millis() {
        let t = time::macros::datetime!(2022-10-13 18:10:39.844 +01:00);
        assert_eq!(format_timestamp(t), "2022-10-13T18:10:39.844+01:00");
        assert_eq!(format_timestamp(t.to_offset(time::UtcOffset::UTC)), "2022-10-13T17:10:39.844Z");
    }
}
