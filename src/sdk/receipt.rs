//! The message receipt (meddelandekvittens, C3.2.4): a UBL 2.1
//! `ApplicationResponse` in DIGG's profile. Building one from a
//! [`Validation`], writing it, parsing one, and validating it against the
//! UBL schema as DIGG profiles it and DIGG's rules R1–R9.
//!
//! Receipts are written unsigned; the envelope layer puts them in an XHE and
//! signs that.
//!
//! Problems are coded as for the envelope (see `sdk::xhe`): what UBL 2.1's
//! own XSD rejects is `SV structure`; an element or attribute UBL allows but
//! DIGG's syntax mapping does not list is R1-APP, a cardinality stricter
//! than UBL's is R9-APP, both `BV invariant` like the other rules. DIGG's
//! reduced XSD (`receipt/xsd/`) makes every mapped element mandatory, but
//! C3.2.4 §3.4 validates against UBL 2.1 itself and R9's schematron asserts
//! exactly the cardinalities UBL leaves open, so that is the split used.

use time::{Date, OffsetDateTime, Time, UtcOffset};

use crate::sdk::codes::{DetailCode, Problem, ReasonCode, ResponseCode, Validation};
use crate::sdk::xhe::lexical;
use crate::sdk::xhe::schema::{
    Checker, Particle, Profile, RuleIds, Target, CODE_ATTRS, IDENTIFIER_ATTRS, MANY, NO_ATTRS, ONE, TEXT_ATTRS, UNLISTED,
    USE_ONE,
};
use crate::sdk::xhe::{normalize_space, trim_xml, DS_NS, PARTY_ID_SCHEME, XENC_NS};
use crate::xml::{serialize, Document, Element, NodeId, NodeKind, NsDecl};

/// Namespace of the document element `ApplicationResponse`.
pub const APPLICATION_RESPONSE_NS: &str = "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2";
/// `cac`: UBL common aggregate components.
pub const CAC_NS: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2";
/// `cbc`: UBL common basic components.
pub const CBC_NS: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2";
/// `ext`: UBL extensions, which DIGG's profile does not use (R1).
pub const UBL_EXT_NS: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2";

/// `cbc:CustomizationID` of the receipt (C3.2.4 §3.1[a], R3).
pub const RECEIPT_CUSTOMIZATION_ID: &str = "urn:fdc:digg.se:edelivery:messagetype:response:1";
/// `cbc:ProfileID` of the receipt (C3.2.4 §3.1[b], R4).
pub const RECEIPT_PROFILE_ID: &str = "bdx:noprocess";
/// `EndpointID/@schemeID` (C3.2.4 §3.1[d], [e]).
pub const ENDPOINT_SCHEME: &str = PARTY_ID_SCHEME;
/// `LineID` when no XPath can point at the problem (C3.2.4 §3.1[g]).
pub const LINE_ID_NA: &str = "NA";

/// `cbc:IssueTime`: a time of day with its zone, which C3.2.4 §3.1[c]
/// requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssueTime {
    pub time: Time,
    pub offset: UtcOffset,
}

impl IssueTime {
    /// The `xsd:time` form: `12:00:00Z`, `12:00:00.5+01:00`.
    pub fn to_xsd(&self) -> String {
        format!("{}{}", lexical::format_time(self.time), lexical::format_offset(self.offset))
    }
}

/// `Status/StatusReasonCode`. SDK writes B1.3.3's detail codes; DIGG's
/// receipt specification allows any rule id (its examples use
/// `RegelID-123`), so a received code may be something else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusReasonCode {
    Detail(DetailCode),
    Other(String),
}

impl StatusReasonCode {
    pub fn parse(s: &str) -> Self {
        match DetailCode::parse(s) {
            Some(d) => StatusReasonCode::Detail(d),
            None => StatusReasonCode::Other(s.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            StatusReasonCode::Detail(d) => d.as_str(),
            StatusReasonCode::Other(s) => s,
        }
    }
}

/// One `DocumentResponse/LineResponse`: why a message was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptLine {
    /// `LineReference/LineID`: an XPath, or [`LINE_ID_NA`].
    pub line_id: String,
    /// `Response/ResponseCode`: the reason code.
    pub reason: ReasonCode,
    /// `Status/StatusReasonCode` (0..1): the detail code.
    pub status_reason_code: Option<StatusReasonCode>,
    /// `Status/StatusReason`: the text.
    pub status_reason: String,
}

impl ReceiptLine {
    /// The detail code, when the line carries one of B1.3.3's.
    pub fn detail(&self) -> Option<DetailCode> {
        match self.status_reason_code {
            Some(StatusReasonCode::Detail(d)) => Some(d),
            _ => None,
        }
    }

    /// The line as a [`Problem`], when it carries one of B1.3.3's detail
    /// codes.
    pub fn to_problem(&self) -> Option<Problem> {
        Some(Problem::new(self.reason, self.detail()?, self.line_id.clone(), self.status_reason.clone()))
    }
}

impl From<&Problem> for ReceiptLine {
    /// An empty path becomes `NA` and an empty text the detail code, since
    /// empty elements are not allowed (R2).
    fn from(p: &Problem) -> Self {
        let line_id = if trim_xml(&p.path).is_empty() { LINE_ID_NA.to_owned() } else { p.path.clone() };
        let status_reason = if trim_xml(&p.text).is_empty() { p.detail.as_str().to_owned() } else { p.text.clone() };
        Self { line_id, reason: p.reason, status_reason_code: Some(StatusReasonCode::Detail(p.detail)), status_reason }
    }
}

/// A message receipt.
///
/// [`Receipt::from_validation`] and [`Receipt::parse`] only produce
/// receipts where `response` and `lines` agree (ACCEPTED with no lines,
/// REJECTED with at least one). The fields are public, so one built by hand
/// may not; [`validate_receipt`] refuses such a document (R7, R8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// `cbc:ID`: the receipt's own id.
    pub id: String,
    /// `cbc:IssueDate`, in the zone of `issue_time`. A zone written on the
    /// date itself (`2021-04-15Z`, valid `xsd:date`) is accepted and dropped.
    pub issue_date: Date,
    pub issue_time: IssueTime,
    /// `SenderParty/EndpointID`: the organisation that acknowledges.
    pub sender_endpoint: String,
    /// `ReceiverParty/EndpointID`: the organisation that sent the message.
    pub receiver_endpoint: String,
    /// `DocumentResponse/Response/ResponseCode`.
    pub response: ResponseCode,
    /// `DocumentReference/ID`: the XHE `Header/ID` of the acknowledged
    /// message.
    pub document_reference: String,
    pub lines: Vec<ReceiptLine>,
}

impl Receipt {
    /// The receipt for a validation outcome: ACCEPTED with no lines, or
    /// REJECTED with one line per problem (LineID = the problem's path or
    /// `NA`, reason code, detail code as `StatusReasonCode`, text as
    /// `StatusReason`).
    pub fn from_validation(
        id: String,
        issued_at: OffsetDateTime,
        sender: String,
        receiver: String,
        document_reference: String,
        validation: &Validation,
    ) -> Receipt {
        Receipt {
            id,
            issue_date: issued_at.date(),
            issue_time: IssueTime { time: issued_at.time(), offset: issued_at.offset() },
            sender_endpoint: sender,
            receiver_endpoint: receiver,
            response: validation.response_code(),
            document_reference,
            lines: validation.problems.iter().map(ReceiptLine::from).collect(),
        }
    }

    /// When the receipt was issued.
    pub fn issued_at(&self) -> OffsetDateTime {
        self.issue_date.with_time(self.issue_time.time).assume_offset(self.issue_time.offset)
    }

    /// The receipt as a document, namespaces as in DIGG's examples (UBL's
    /// ApplicationResponse namespace as default, `cac`, `cbc`). Unsigned.
    pub fn to_document(&self) -> Document {
        let mut root = Element::new_declared(None, "ApplicationResponse", APPLICATION_RESPONSE_NS);
        root.namespaces.push(NsDecl { prefix: Some("cac".to_owned()), uri: CAC_NS.to_owned() });
        root.namespaces.push(NsDecl { prefix: Some("cbc".to_owned()), uri: CBC_NS.to_owned() });
        let (mut doc, root) = Document::with_root(root);
        let cbc = |local: &str| Element::new_inherited(Some("cbc"), local, CBC_NS);
        let cac = |local: &str| NodeKind::Element(Element::new_inherited(Some("cac"), local, CAC_NS));

        doc.append_text_element(root, cbc("CustomizationID"), RECEIPT_CUSTOMIZATION_ID);
        doc.append_text_element(root, cbc("ProfileID"), RECEIPT_PROFILE_ID);
        doc.append_text_element(root, cbc("ID"), &self.id);
        doc.append_text_element(root, cbc("IssueDate"), &lexical::format_date(self.issue_date));
        doc.append_text_element(root, cbc("IssueTime"), &self.issue_time.to_xsd());
        for (party, endpoint) in [("SenderParty", &self.sender_endpoint), ("ReceiverParty", &self.receiver_endpoint)] {
            let p = doc.append(root, cac(party));
            let mut e = cbc("EndpointID");
            e.set_attribute("schemeID", ENDPOINT_SCHEME);
            doc.append_text_element(p, e, endpoint);
        }
        let dr = doc.append(root, cac("DocumentResponse"));
        let r = doc.append(dr, cac("Response"));
        doc.append_text_element(r, cbc("ResponseCode"), self.response.as_str());
        let reference = doc.append(dr, cac("DocumentReference"));
        doc.append_text_element(reference, cbc("ID"), &self.document_reference);
        for line in &self.lines {
            let lr = doc.append(dr, cac("LineResponse"));
            let lref = doc.append(lr, cac("LineReference"));
            doc.append_text_element(lref, cbc("LineID"), &line.line_id);
            let r = doc.append(lr, cac("Response"));
            doc.append_text_element(r, cbc("ResponseCode"), line.reason.as_str());
            let status = doc.append(r, cac("Status"));
            if let Some(code) = &line.status_reason_code {
                doc.append_text_element(status, cbc("StatusReasonCode"), code.as_str());
            }
            doc.append_text_element(status, cbc("StatusReason"), &line.status_reason);
        }
        doc
    }

    /// The receipt as UTF-8 XML with an XML declaration. Unsigned.
    pub fn to_xml(&self) -> Vec<u8> {
        let mut out = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".to_vec();
        out.extend(serialize(&self.to_document(), NodeId::DOCUMENT));
        out
    }

    /// Validates ([`validate_receipt`]) and reads a receipt document.
    pub fn parse(doc: &Document) -> Result<Receipt, Validation> {
        match doc.document_element() {
            Some(root) => Self::parse_at(doc, root),
            None => Err(single(Problem::sv_structure("/", "document has no document element"))),
        }
    }

    /// As [`Self::parse`] for an `ApplicationResponse` element anywhere in
    /// `doc`, such as inside an XHE's `PayloadContent`.
    pub fn parse_at(doc: &Document, root: NodeId) -> Result<Receipt, Validation> {
        let validation = validate_receipt_at(doc, root);
        if !validation.is_accepted() {
            return Err(validation);
        }
        read_valid(doc, root)
    }
}

fn single(p: Problem) -> Validation {
    let mut v = Validation::default();
    v.push(p);
    v
}

/// Reads a receipt [`validate_receipt_at`] accepted. The lookups cannot fail
/// on such a document; if they do, that is reported rather than panicking.
fn read_valid(doc: &Document, root: NodeId) -> Result<Receipt, Validation> {
    let need = |parent: NodeId, ns: &str, local: &str| -> Result<NodeId, Validation> {
        doc.child_named(parent, ns, local).ok_or_else(|| {
            single(Problem::sv_structure(
                "/app:ApplicationResponse",
                format!("receipt could not be read after validation: {local} missing"),
            ))
        })
    };
    let text = |parent: NodeId, ns: &str, local: &str| -> Result<String, Validation> {
        need(parent, ns, local).map(|n| trim_xml(&doc.text_content(n)).to_owned())
    };
    let unreadable = |what: &str| {
        single(Problem::sv_structure(
            "/app:ApplicationResponse",
            format!("receipt could not be read after validation: {what}"),
        ))
    };

    let (issue_date, _) =
        lexical::parse_date(&text(root, CBC_NS, "IssueDate")?).ok_or_else(|| unreadable("IssueDate"))?;
    let (time, offset) =
        lexical::parse_time(&text(root, CBC_NS, "IssueTime")?).ok_or_else(|| unreadable("IssueTime"))?;
    let offset = offset.ok_or_else(|| unreadable("IssueTime zone"))?;
    let endpoint =
        |party: &str| -> Result<String, Validation> { text(need(root, CAC_NS, party)?, CBC_NS, "EndpointID") };
    let dr = need(root, CAC_NS, "DocumentResponse")?;
    let response = ResponseCode::parse(&normalize_space(&text(need(dr, CAC_NS, "Response")?, CBC_NS, "ResponseCode")?))
        .ok_or_else(|| unreadable("ResponseCode"))?;
    let mut lines = Vec::new();
    for lr in doc.children_named(dr, CAC_NS, "LineResponse") {
        let line_id = text(need(lr, CAC_NS, "LineReference")?, CBC_NS, "LineID")?;
        let r = need(lr, CAC_NS, "Response")?;
        let reason = ReasonCode::parse(&normalize_space(&text(r, CBC_NS, "ResponseCode")?))
            .ok_or_else(|| unreadable("reason code"))?;
        let status = need(r, CAC_NS, "Status")?;
        let status_reason_code = doc
            .child_named(status, CBC_NS, "StatusReasonCode")
            .map(|n| StatusReasonCode::parse(&normalize_space(&doc.text_content(n))));
        let status_reason = text(status, CBC_NS, "StatusReason")?;
        lines.push(ReceiptLine { line_id, reason, status_reason_code, status_reason });
    }
    Ok(Receipt {
        id: text(root, CBC_NS, "ID")?,
        issue_date,
        issue_time: IssueTime { time, offset },
        sender_endpoint: endpoint("SenderParty")?,
        receiver_endpoint: endpoint("ReceiverParty")?,
        response,
        document_reference: text(need(dr, CAC_NS, "DocumentReference")?, CBC_NS, "ID")?,
        lines,
    })
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

/// Prefixes used in the XPaths of problems: those of DIGG's schematron.
const RECEIPT_PREFIXES: &[(&str, &str)] = &[
    (APPLICATION_RESPONSE_NS, "app"),
    (CAC_NS, "cac"),
    (CBC_NS, "cbc"),
    (UBL_EXT_NS, "ext"),
    (DS_NS, "ds"),
    (XENC_NS, "xenc"),
];

const RECEIPT_RULES: RuleIds = RuleIds { unlisted: "R1-APP", cardinality: "R9-APP", empty: "R2-APP" };

const fn cbc(local: &'static str, xsd_min: u32, xsd_max: Option<u32>, profile: Profile) -> Particle {
    Particle { ns: CBC_NS, local, xsd_min, xsd_max, profile }
}
const fn cac(local: &'static str, xsd_min: u32, xsd_max: Option<u32>, profile: Profile) -> Particle {
    Particle { ns: CAC_NS, local, xsd_min, xsd_max, profile }
}

// Content models: UBL 2.1's sequences and cardinalities, with C3.2.4 §3.1's
// cardinality or "not listed" beside each particle. The unlisted elements
// are those of R1's schematron context.
const ROOT_MODEL: &[Particle] = &[
    Particle { ns: UBL_EXT_NS, local: "UBLExtensions", xsd_min: 0, xsd_max: ONE, profile: UNLISTED },
    cbc("UBLVersionID", 0, ONE, UNLISTED),
    cbc("CustomizationID", 0, ONE, USE_ONE),
    cbc("ProfileID", 0, ONE, USE_ONE),
    cbc("ProfileExecutionID", 0, ONE, UNLISTED),
    cbc("ID", 1, ONE, USE_ONE),
    cbc("UUID", 0, ONE, UNLISTED),
    cbc("IssueDate", 1, ONE, USE_ONE),
    cbc("IssueTime", 0, ONE, USE_ONE),
    cbc("ResponseDate", 0, ONE, UNLISTED),
    cbc("ResponseTime", 0, ONE, UNLISTED),
    cbc("Note", 0, MANY, UNLISTED),
    cbc("VersionID", 0, ONE, UNLISTED),
    cac("Signature", 0, MANY, UNLISTED),
    cac("SenderParty", 1, ONE, USE_ONE),
    cac("ReceiverParty", 1, ONE, USE_ONE),
    cac("DocumentResponse", 1, MANY, USE_ONE),
];
const PARTY_MODEL: &[Particle] = &[
    cbc("MarkCareIndicator", 0, ONE, UNLISTED),
    cbc("MarkAttentionIndicator", 0, ONE, UNLISTED),
    cbc("WebsiteURI", 0, ONE, UNLISTED),
    cbc("LogoReferenceID", 0, ONE, UNLISTED),
    cbc("EndpointID", 0, ONE, USE_ONE),
    cbc("IndustryClassificationCode", 0, ONE, UNLISTED),
    cac("PartyIdentification", 0, MANY, UNLISTED),
    cac("PartyName", 0, MANY, UNLISTED),
    cac("Language", 0, ONE, UNLISTED),
    cac("PostalAddress", 0, ONE, UNLISTED),
    cac("PhysicalLocation", 0, ONE, UNLISTED),
    cac("PartyTaxScheme", 0, MANY, UNLISTED),
    cac("PartyLegalEntity", 0, MANY, UNLISTED),
    cac("Contact", 0, ONE, UNLISTED),
    cac("Person", 0, MANY, UNLISTED),
    cac("AgentParty", 0, ONE, UNLISTED),
    cac("ServiceProviderParty", 0, MANY, UNLISTED),
    cac("PowerOfAttorney", 0, MANY, UNLISTED),
    cac("FinancialAccount", 0, ONE, UNLISTED),
];
const DOCUMENT_RESPONSE_MODEL: &[Particle] = &[
    cac("Response", 1, ONE, USE_ONE),
    cac("DocumentReference", 1, MANY, USE_ONE),
    cac("IssuerParty", 0, ONE, UNLISTED),
    cac("RecipientParty", 0, ONE, UNLISTED),
    cac("LineResponse", 0, MANY, Profile::Use { min: 0, max: MANY }),
];
/// `DocumentResponse/Response`: the response code only.
const DOCUMENT_RESPONSE_RESPONSE_MODEL: &[Particle] = &[
    cbc("ReferenceID", 0, ONE, UNLISTED),
    cbc("ResponseCode", 0, ONE, USE_ONE),
    cbc("Description", 0, MANY, UNLISTED),
    cbc("EffectiveDate", 0, ONE, UNLISTED),
    cbc("EffectiveTime", 0, ONE, UNLISTED),
    cac("Status", 0, MANY, UNLISTED),
];
const DOCUMENT_REFERENCE_MODEL: &[Particle] = &[
    cbc("ID", 1, ONE, USE_ONE),
    cbc("CopyIndicator", 0, ONE, UNLISTED),
    cbc("UUID", 0, ONE, UNLISTED),
    cbc("IssueDate", 0, ONE, UNLISTED),
    cbc("IssueTime", 0, ONE, UNLISTED),
    cbc("DocumentTypeCode", 0, ONE, UNLISTED),
    cbc("DocumentType", 0, ONE, UNLISTED),
    cbc("XPath", 0, MANY, UNLISTED),
    cbc("LanguageID", 0, ONE, UNLISTED),
    cbc("LocaleCode", 0, ONE, UNLISTED),
    cbc("VersionID", 0, ONE, UNLISTED),
    cbc("DocumentStatusCode", 0, ONE, UNLISTED),
    cbc("DocumentDescription", 0, MANY, UNLISTED),
    cac("Attachment", 0, ONE, UNLISTED),
    cac("ValidityPeriod", 0, ONE, UNLISTED),
    cac("IssuerParty", 0, ONE, UNLISTED),
    cac("ResultOfVerification", 0, ONE, UNLISTED),
];
const LINE_RESPONSE_MODEL: &[Particle] = &[cac("LineReference", 1, ONE, USE_ONE), cac("Response", 1, MANY, USE_ONE)];
const LINE_REFERENCE_MODEL: &[Particle] = &[
    cbc("LineID", 1, ONE, USE_ONE),
    cbc("UUID", 0, ONE, UNLISTED),
    cbc("LineStatusCode", 0, ONE, UNLISTED),
    cac("DocumentReference", 0, ONE, UNLISTED),
];
/// `LineResponse/Response`: reason code and one status.
const LINE_RESPONSE_RESPONSE_MODEL: &[Particle] = &[
    cbc("ReferenceID", 0, ONE, UNLISTED),
    cbc("ResponseCode", 0, ONE, USE_ONE),
    cbc("Description", 0, MANY, UNLISTED),
    cbc("EffectiveDate", 0, ONE, UNLISTED),
    cbc("EffectiveTime", 0, ONE, UNLISTED),
    cac("Status", 0, MANY, USE_ONE),
];
const STATUS_MODEL: &[Particle] = &[
    cbc("ConditionCode", 0, ONE, UNLISTED),
    cbc("ReferenceDate", 0, ONE, UNLISTED),
    cbc("ReferenceTime", 0, ONE, UNLISTED),
    cbc("Description", 0, MANY, UNLISTED),
    cbc("StatusReasonCode", 0, ONE, Profile::Use { min: 0, max: ONE }),
    cbc("StatusReason", 0, MANY, USE_ONE),
    cbc("SequenceID", 0, ONE, UNLISTED),
    cbc("Text", 0, MANY, UNLISTED),
    cbc("IndicationIndicator", 0, ONE, UNLISTED),
    cbc("Percent", 0, ONE, UNLISTED),
    cbc("ReliabilityPercent", 0, ONE, UNLISTED),
    cac("Condition", 0, MANY, UNLISTED),
];

/// Validates a receipt document against UBL 2.1 ApplicationResponse as
/// DIGG profiles it (C3.2.4 §3.1) and DIGG's rules R1–R9.
pub fn validate_receipt(doc: &Document) -> Validation {
    match doc.document_element() {
        Some(root) => validate_receipt_at(doc, root),
        None => single(Problem::sv_structure("/", "document has no document element")),
    }
}

/// As [`validate_receipt`] for an `ApplicationResponse` element anywhere in
/// `doc`; XPaths start at that element.
pub fn validate_receipt_at(doc: &Document, root: NodeId) -> Validation {
    let mut c = Checker::new(doc, root, RECEIPT_PREFIXES, RECEIPT_RULES);
    if !doc.element(root).is_some_and(|e| e.is(APPLICATION_RESPONSE_NS, "ApplicationResponse")) {
        c.sv(Target::Node(root), "document element must be UBL's ApplicationResponse");
        return c.finish();
    }
    check_structure(&mut c, root);
    check_rules(&mut c, root);
    c.empty_rule(root, |_| false, &[DS_NS, XENC_NS]);
    check_values(&mut c, root);
    c.finish()
}

fn check_structure(c: &mut Checker<'_>, root: NodeId) {
    c.attributes(root, NO_ATTRS, &[]);
    c.element_only(root);
    let m = c.sequence(root, ROOT_MODEL);
    for &n in m.of("CustomizationID").iter().chain(m.of("ProfileID")).chain(m.of("ID")) {
        c.simple(n, IDENTIFIER_ATTRS, &[]);
    }
    for &n in m.of("IssueDate").iter().chain(m.of("IssueTime")) {
        c.simple(n, NO_ATTRS, &[]);
    }
    for &party in m.of("SenderParty").iter().chain(m.of("ReceiverParty")) {
        c.attributes(party, NO_ATTRS, &[]);
        c.element_only(party);
        let pm = c.sequence(party, PARTY_MODEL);
        for &e in pm.of("EndpointID") {
            c.simple(e, IDENTIFIER_ATTRS, &["schemeID"]);
        }
    }
    for &dr in m.of("DocumentResponse") {
        c.attributes(dr, NO_ATTRS, &[]);
        c.element_only(dr);
        let dm = c.sequence(dr, DOCUMENT_RESPONSE_MODEL);
        for &r in dm.of("Response") {
            check_response(c, r, DOCUMENT_RESPONSE_RESPONSE_MODEL);
        }
        for &reference in dm.of("DocumentReference") {
            c.attributes(reference, NO_ATTRS, &[]);
            c.element_only(reference);
            let rm = c.sequence(reference, DOCUMENT_REFERENCE_MODEL);
            for &id in rm.of("ID") {
                c.simple(id, IDENTIFIER_ATTRS, &[]);
            }
        }
        for &lr in dm.of("LineResponse") {
            c.attributes(lr, NO_ATTRS, &[]);
            c.element_only(lr);
            let lm = c.sequence(lr, LINE_RESPONSE_MODEL);
            for &lref in lm.of("LineReference") {
                c.attributes(lref, NO_ATTRS, &[]);
                c.element_only(lref);
                let refm = c.sequence(lref, LINE_REFERENCE_MODEL);
                for &id in refm.of("LineID") {
                    c.simple(id, IDENTIFIER_ATTRS, &[]);
                }
            }
            for &r in lm.of("Response") {
                check_response(c, r, LINE_RESPONSE_RESPONSE_MODEL);
            }
        }
    }
}

fn check_response(c: &mut Checker<'_>, r: NodeId, model: &[Particle]) {
    c.attributes(r, NO_ATTRS, &[]);
    c.element_only(r);
    let m = c.sequence(r, model);
    for &code in m.of("ResponseCode") {
        c.simple(code, CODE_ATTRS, &[]);
    }
    // Status is only entered where the profile uses it (in a LineResponse);
    // elsewhere the R1 problem already covers it.
    let status_used = model.iter().any(|p| p.local == "Status" && matches!(p.profile, Profile::Use { .. }));
    if !status_used {
        return;
    }
    for &s in m.of("Status") {
        c.attributes(s, NO_ATTRS, &[]);
        c.element_only(s);
        let sm = c.sequence(s, STATUS_MODEL);
        for &n in sm.of("StatusReasonCode") {
            c.simple(n, CODE_ATTRS, &[]);
        }
        for &n in sm.of("StatusReason") {
            c.simple(n, TEXT_ATTRS, &[]);
        }
    }
}

fn check_rules(c: &mut Checker<'_>, root: NodeId) {
    let doc = c.doc;
    // R3 and R4 are only checked when the element is there; a missing one
    // is R9's problem.
    for n in doc.children_named(root, CBC_NS, "CustomizationID") {
        if normalize_space(&doc.text_content(n)) != RECEIPT_CUSTOMIZATION_ID {
            c.bv_invariant(Target::Node(n), format!("R3-APP: CustomizationID must be {RECEIPT_CUSTOMIZATION_ID}"));
        }
    }
    for n in doc.children_named(root, CBC_NS, "ProfileID") {
        if normalize_space(&doc.text_content(n)) != RECEIPT_PROFILE_ID {
            c.bv_invariant(Target::Node(n), format!("R4-APP: ProfileID must be {RECEIPT_PROFILE_ID}"));
        }
    }
    for party in ["SenderParty", "ReceiverParty"] {
        for p in doc.children_named(root, CAC_NS, party) {
            for e in doc.children_named(p, CBC_NS, "EndpointID") {
                if doc.element(e).and_then(|el| el.attribute("schemeID")).is_none() {
                    c.bv_invariant(
                        Target::Node(e),
                        format!("R9-APP: {party}/EndpointID must have the attribute schemeID"),
                    );
                }
            }
        }
    }

    let any_line = doc.descendants(root).any(|n| doc.element(n).is_some_and(|e| e.is(CAC_NS, "LineResponse")));
    let responses: Vec<NodeId> = doc.children_named(root, CAC_NS, "DocumentResponse").collect();
    for &dr in &responses {
        for r in doc.children_named(dr, CAC_NS, "Response") {
            for code in doc.children_named(r, CBC_NS, "ResponseCode") {
                // R5 normalises space; R7 and R8's predicates compare as
                // written. They are read normalised here too, so that a
                // receipt R5 accepts cannot slip past both R7 and R8.
                match ResponseCode::parse(&normalize_space(&doc.text_content(code))) {
                    None => {
                        c.bv_invariant(Target::Node(code), "R5-APP: the response code must be ACCEPTED or REJECTED")
                    }
                    Some(ResponseCode::Accepted) if any_line => c.bv_invariant(
                        Target::Node(code),
                        "R7-APP: a receipt with status ACCEPTED must not have reason codes (LineResponse)",
                    ),
                    Some(ResponseCode::Rejected) if !any_line => c.bv_invariant(
                        Target::Node(code),
                        "R8-APP: a receipt with status REJECTED must have at least one reason code (LineResponse)",
                    ),
                    Some(_) => {}
                }
            }
        }
        for lr in doc.children_named(dr, CAC_NS, "LineResponse") {
            for r in doc.children_named(lr, CAC_NS, "Response") {
                for code in doc.children_named(r, CBC_NS, "ResponseCode") {
                    if ReasonCode::parse(&normalize_space(&doc.text_content(code))).is_none() {
                        c.bv_invariant(Target::Node(code), "R6-APP: the reason code must be SV, BV or SIG");
                    }
                }
            }
        }
    }
}

fn check_values(c: &mut Checker<'_>, root: NodeId) {
    let doc = c.doc;
    for n in doc.children_named(root, CBC_NS, "IssueDate") {
        if lexical::parse_date(&doc.text_content(n)).is_none() {
            c.sv(Target::Node(n), "IssueDate is not a valid xsd:date");
        }
    }
    for n in doc.children_named(root, CBC_NS, "IssueTime") {
        match lexical::parse_time(&doc.text_content(n)) {
            None => c.sv(Target::Node(n), "IssueTime is not a valid xsd:time"),
            Some((_, None)) => c.bv_invariant(Target::Node(n), "IssueTime must include a time zone (C3.2.4 §3.1[c])"),
            Some(_) => {}
        }
    }
    for (party, rule) in [("SenderParty", "[d]"), ("ReceiverParty", "[e]")] {
        for p in doc.children_named(root, CAC_NS, party) {
            for e in doc.children_named(p, CBC_NS, "EndpointID") {
                // Missing is R9's problem, empty R2's.
                let scheme = doc.element(e).and_then(|el| el.attribute("schemeID")).map(normalize_space);
                if scheme.as_deref().is_some_and(|s| !s.is_empty() && s != ENDPOINT_SCHEME) {
                    c.bv_invariant(
                        Target::Attribute(e, "schemeID".to_owned()),
                        format!("{party}/EndpointID/@schemeID must be {ENDPOINT_SCHEME} (C3.2.4 §3.1{rule})"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse_str;

    fn rejected() -> Validation {
        let mut v = Validation::default();
        v.push(Problem::sv_structure("/x:XHE/xha:Header", "bad"));
        v.push(Problem::bv(DetailCode::NotFound, "", "Wrong or unknown xha:HandlingServiceID"));
        v
    }

    #[test]
    fn rejected_round_trip() {
        let at = time::macros::datetime!(2024-05-01 10:11:12.5 +02:00);
        let r =
            Receipt::from_validation("r1".into(), at, "0203:a.se".into(), "0203:b.se".into(), "x1".into(), &rejected());
        assert_eq!(r.response, ResponseCode::Rejected);
        assert_eq!(r.lines[1].line_id, "NA");
        let xml = String::from_utf8(r.to_xml()).expect("utf-8");
        assert!(xml.contains("<cbc:IssueTime>10:11:12.5+02:00</cbc:IssueTime>"), "{xml}");
        let doc = parse_str(&xml).expect("parses");
        assert_eq!(validate_receipt(&doc), Validation::default());
        let back = Receipt::parse(&doc).expect("valid");
        assert_eq!(back, r);
        assert_eq!(back.issued_at(), at);
        assert_eq!(back.lines[1].to_problem().map(|p| p.detail), Some(DetailCode::NotFound));
    }

    #[test]
    fn accepted_has_no_lines() {
        let at = time::macros::datetime!(2024-05-01 10:11:12 UTC);
        let r = Receipt::from_validation("r".into(), at, "s".into(), "t".into(), "x".into(), &Validation::default());
        assert_eq!(r.response, ResponseCode::Accepted);
        assert!(r.lines.is_empty());
        assert!(String::from_utf8_lossy(&r.to_xml()).contains("<cbc:IssueTime>10:11:12Z</cbc:IssueTime>"));
    }
}
