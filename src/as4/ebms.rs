//! The ebMS 3 header (`eb:Messaging`): the user message that carries an
//! XHE, and the signal messages that answer it (a receipt with
//! non-repudiation information, or errors). Writing and strict reading.
//!
//! Reading recognises the whole `eb:Messaging` against ebMS 3.0 Core §5.2
//! as DIGG's P-mode narrows it: one user message or one signal (no
//! bundling), one party id per party with DIGG's party type and the
//! initiator and responder roles, exactly the `originalSender` and
//! `finalRecipient` properties, and exactly one gzip-compressed payload
//! part. Anything else is refused, not skipped. What is read is a claim
//! until the signature over `eb:Messaging` has verified.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use crate::limits::DSIG_MAX_REFERENCES;
use crate::xml::cursor::{ChildCursor, CursorError};
use crate::xml::{Document, NodeId};
use crate::xmlsec::algorithm::DSIG_NS;
use crate::xmlsec::base64_decode;

use super::error::{EbmsError, HeaderError};
use super::pmode::{
    Action, COMPRESSION_TYPE, DEFAULT_MPC, EBMS_NS, FINAL_RECIPIENT, INITIATOR_ROLE, ORIGINAL_SENDER,
    PARTICIPANT_ID_TYPE, PARTY_TYPE, PAYLOAD_MIME_TYPE, PAYLOAD_MIME_TYPE_ALT, RESPONDER_ROLE, SERVICE, SERVICE_TYPE,
};
use super::soap::{attr, element_children, expect_element, text};

/// `ebbp:` — ebBP signals 2.0, for non-repudiation of receipt (AS4 §5.1.8).
pub const EBBP_NS: &str = "http://docs.oasis-open.org/ebxml-bp/ebbp-signals-2.0";

/// Most `eb:Error` elements read from one signal.
const MAX_ERRORS: usize = 16;

/// The header of a user message: who sends what to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMessageHeader {
    pub message_id: String,
    pub timestamp: OffsetDateTime,
    /// Common name of the sending access point's certificate (C2).
    pub from_party: String,
    /// Common name of the receiving access point's certificate (C3).
    pub to_party: String,
    pub service: String,
    pub service_type: Option<String>,
    /// The document type; DIGG's are [`Action`].
    pub action: String,
    /// The XHE's identifier (C3.2.1 §2.7.a).
    pub conversation_id: String,
    /// `0203:...` of C1.
    pub original_sender: String,
    /// `0203:...` of C4.
    pub final_recipient: String,
    /// The payload part's Content-ID (without `cid:`).
    pub payload_content_id: String,
    /// The payload's MIME type before compression.
    pub payload_mime_type: String,
}

/// One `ds:Reference` of a signed user message, as its receipt lists it in
/// `ebbp:MessagePartNRInformation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NrrReference {
    pub uri: String,
    /// `Transform/@Algorithm`s, in order.
    pub transforms: Vec<String>,
    pub digest_method: String,
    pub digest_value: Vec<u8>,
}

/// One `eb:Error` as a peer sent it. Codes outside ebMS 3 are kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedError {
    pub code: String,
    pub severity: String,
    pub category: Option<String>,
    pub short_description: Option<String>,
    pub origin: Option<String>,
    pub ref_to_message_in_error: Option<String>,
    pub description: Option<String>,
    pub detail: Option<String>,
}

/// What a signal message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalContent {
    /// A receipt with non-repudiation information.
    Receipt(Vec<NrrReference>),
    Errors(Vec<ReceivedError>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalHeader {
    pub message_id: String,
    pub timestamp: OffsetDateTime,
    pub ref_to_message_id: Option<String>,
    pub content: SignalContent,
}

/// The one message an `eb:Messaging` carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Messaging {
    User(UserMessageHeader),
    Signal(SignalHeader),
}

/// A fresh ebMS MessageId (RFC 2822 msg-id form, as ebMS 3.0 §5.2.2.1 asks).
pub fn new_message_id() -> String {
    format!("{}@brygga", uuid::Uuid::new_v4())
}

/// `xsd:dateTime` in UTC with milliseconds, as ebMS and WS-Security write it.
pub fn format_timestamp(t: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.to_offset(UtcOffset::UTC).format(&format).unwrap_or_default()
}

/// Reads `xsd:dateTime`; a value without a zone is UTC (ebMS 3.0 §5.2.2.1).
pub fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok().or_else(|| OffsetDateTime::parse(&format!("{text}Z"), &Rfc3339).ok())
}

// ---------------------------------------------------------------- writing

/// Opening tag of `eb:Messaging`; the `env`, `eb` and `wsu` prefixes are
/// declared on the envelope.
fn messaging_start(out: &mut String, messaging_id: &str) {
    out.push_str(&format!("<eb:Messaging env:mustUnderstand=\"true\" wsu:Id=\"{}\">", attr(messaging_id)));
}

fn element(out: &mut String, name: &str, value: &str) {
    out.push_str(&format!("<{name}>{}</{name}>", text(value)));
}

fn message_info(out: &mut String, timestamp: OffsetDateTime, message_id: &str, ref_to: Option<&str>) {
    out.push_str("<eb:MessageInfo>");
    element(out, "eb:Timestamp", &format_timestamp(timestamp));
    element(out, "eb:MessageId", message_id);
    if let Some(r) = ref_to {
        element(out, "eb:RefToMessageId", r);
    }
    out.push_str("</eb:MessageInfo>");
}

fn party(out: &mut String, name: &str, id: &str, role: &str) {
    out.push_str(&format!("<eb:{name}><eb:PartyId type=\"{}\">{}</eb:PartyId>", attr(PARTY_TYPE), text(id)));
    element(out, "eb:Role", role);
    out.push_str(&format!("</eb:{name}>"));
}

fn property(out: &mut String, name: &str, kind: Option<&str>, value: &str) {
    out.push_str(&format!("<eb:Property name=\"{}\"", attr(name)));
    if let Some(k) = kind {
        out.push_str(&format!(" type=\"{}\"", attr(k)));
    }
    out.push_str(&format!(">{}</eb:Property>", text(value)));
}

/// `eb:Messaging` for a user message in DIGG's P-mode.
pub fn write_user_message(out: &mut String, messaging_id: &str, h: &UserMessageHeader) {
    messaging_start(out, messaging_id);
    out.push_str(&format!("<eb:UserMessage mpc=\"{}\">", attr(DEFAULT_MPC)));
    message_info(out, h.timestamp, &h.message_id, None);
    out.push_str("<eb:PartyInfo>");
    party(out, "From", &h.from_party, INITIATOR_ROLE);
    party(out, "To", &h.to_party, RESPONDER_ROLE);
    out.push_str("</eb:PartyInfo><eb:CollaborationInfo>");
    match &h.service_type {
        Some(t) => out.push_str(&format!("<eb:Service type=\"{}\">{}</eb:Service>", attr(t), text(&h.service))),
        None => element(out, "eb:Service", &h.service),
    }
    element(out, "eb:Action", &h.action);
    element(out, "eb:ConversationId", &h.conversation_id);
    out.push_str("</eb:CollaborationInfo><eb:MessageProperties>");
    property(out, ORIGINAL_SENDER, Some(PARTICIPANT_ID_TYPE), &h.original_sender);
    property(out, FINAL_RECIPIENT, Some(PARTICIPANT_ID_TYPE), &h.final_recipient);
    out.push_str(&format!(
        "</eb:MessageProperties><eb:PayloadInfo><eb:PartInfo href=\"cid:{}\"><eb:PartProperties>",
        attr(&h.payload_content_id)
    ));
    property(out, "MimeType", None, &h.payload_mime_type);
    property(out, "CompressionType", None, COMPRESSION_TYPE);
    out.push_str("</eb:PartProperties></eb:PartInfo></eb:PayloadInfo></eb:UserMessage></eb:Messaging>");
}

/// `eb:Messaging` for a receipt listing `references` (AS4 §5.1.8, NRR).
pub fn write_receipt(
    out: &mut String,
    messaging_id: &str,
    message_id: &str,
    timestamp: OffsetDateTime,
    ref_to: &str,
    references: &[NrrReference],
) {
    messaging_start(out, messaging_id);
    out.push_str("<eb:SignalMessage>");
    message_info(out, timestamp, message_id, Some(ref_to));
    out.push_str(&format!(
        "<eb:Receipt><ebbp:NonRepudiationInformation xmlns:ebbp=\"{EBBP_NS}\" xmlns:ds=\"{DSIG_NS}\">"
    ));
    for r in references {
        out.push_str(&format!("<ebbp:MessagePartNRInformation><ds:Reference URI=\"{}\">", attr(&r.uri)));
        if !r.transforms.is_empty() {
            out.push_str("<ds:Transforms>");
            for t in &r.transforms {
                out.push_str(&format!("<ds:Transform Algorithm=\"{}\"/>", attr(t)));
            }
            out.push_str("</ds:Transforms>");
        }
        out.push_str(&format!(
            "<ds:DigestMethod Algorithm=\"{}\"/><ds:DigestValue>{}</ds:DigestValue></ds:Reference></ebbp:MessagePartNRInformation>",
            attr(&r.digest_method),
            crate::xmlsec::base64_encode(&r.digest_value)
        ));
    }
    out.push_str("</ebbp:NonRepudiationInformation></eb:Receipt></eb:SignalMessage></eb:Messaging>");
}

/// `eb:Messaging` for an error signal (ebMS 3.0 §6.3).
pub fn write_error(
    out: &mut String,
    messaging_id: &str,
    message_id: &str,
    timestamp: OffsetDateTime,
    ref_to: Option<&str>,
    error: &EbmsError,
) {
    messaging_start(out, messaging_id);
    out.push_str("<eb:SignalMessage>");
    message_info(out, timestamp, message_id, ref_to);
    let code = error.code;
    out.push_str(&format!(
        "<eb:Error errorCode=\"{}\" severity=\"{}\" category=\"{}\" shortDescription=\"{}\" origin=\"{}\"",
        code.code(),
        code.severity().as_str(),
        code.category().as_str(),
        code.short_description(),
        code.origin()
    ));
    if let Some(r) = ref_to {
        out.push_str(&format!(" refToMessageInError=\"{}\"", attr(r)));
    }
    out.push('>');
    if let Some(detail) = &error.detail {
        element(out, "eb:ErrorDetail", detail);
    }
    out.push_str("</eb:Error></eb:SignalMessage></eb:Messaging>");
}

// ---------------------------------------------------------------- reading

fn structure(what: impl Into<String>) -> HeaderError {
    HeaderError::Structure(what.into())
}

fn mismatch(what: impl Into<String>) -> HeaderError {
    HeaderError::PModeMismatch(what.into())
}

/// Walks an element's children in schema order: the shared cursor, in
/// the ebMS namespace, with ebMS header errors.
struct Children<'d>(ChildCursor<'d>);

impl From<CursorError> for HeaderError {
    fn from(e: CursorError) -> Self {
        HeaderError::Structure(e.to_string())
    }
}

impl<'d> Children<'d> {
    fn new(doc: &'d Document, id: NodeId, parent: &'static str) -> Result<Self, HeaderError> {
        Ok(Self(ChildCursor::new(doc, id, parent)?))
    }

    fn optional(&mut self, local: &str) -> Option<NodeId> {
        self.0.optional(EBMS_NS, local)
    }

    fn required(&mut self, local: &'static str) -> Result<NodeId, HeaderError> {
        Ok(self.0.required(EBMS_NS, local)?)
    }

    /// All remaining children named `local`, at least one and at most `max`.
    fn repeated(&mut self, local: &'static str, max: usize) -> Result<Vec<NodeId>, HeaderError> {
        Ok(self.0.repeated(EBMS_NS, local, max)?)
    }

    fn finish(self) -> Result<(), HeaderError> {
        Ok(self.0.finish()?)
    }
}

/// Text of a leaf element, trimmed, non-empty.
fn value(doc: &Document, id: NodeId, what: &str) -> Result<String, HeaderError> {
    let t = doc.simple_text(id).ok_or_else(|| structure(format!("{what} has child elements")))?;
    let t = t.trim();
    if t.is_empty() {
        return Err(structure(format!("{what} is empty")));
    }
    Ok(t.to_owned())
}

fn timestamp(doc: &Document, id: NodeId) -> Result<OffsetDateTime, HeaderError> {
    let t = value(doc, id, "eb:Timestamp")?;
    parse_timestamp(&t).ok_or_else(|| structure("eb:Timestamp is not an xsd:dateTime"))
}

/// `MessageInfo`: timestamp, id and optional reference.
fn read_message_info(doc: &Document, id: NodeId) -> Result<(OffsetDateTime, String, Option<String>), HeaderError> {
    let mut c = Children::new(doc, id, "eb:MessageInfo")?;
    let ts = timestamp(doc, c.required("Timestamp")?)?;
    let message_id = value(doc, c.required("MessageId")?, "eb:MessageId")?;
    let ref_to = c.optional("RefToMessageId").map(|r| value(doc, r, "eb:RefToMessageId")).transpose()?;
    c.finish()?;
    Ok((ts, message_id, ref_to))
}

/// Reads `eb:Messaging` completely.
pub fn read_messaging(doc: &Document, messaging: NodeId) -> Result<Messaging, HeaderError> {
    let children = element_children(doc, messaging, "eb:Messaging")?;
    let [only] = children.as_slice() else {
        return Err(structure("eb:Messaging must hold exactly one UserMessage or SignalMessage"));
    };
    let e = doc.element(*only).expect("element_children yields elements");
    if e.is(EBMS_NS, "UserMessage") {
        Ok(Messaging::User(read_user_message(doc, *only)?))
    } else if e.is(EBMS_NS, "SignalMessage") {
        Ok(Messaging::Signal(read_signal(doc, *only)?))
    } else {
        Err(structure(format!("unexpected {} in eb:Messaging", e.qname())))
    }
}

fn read_party(doc: &Document, id: NodeId, what: &'static str, role: &str) -> Result<String, HeaderError> {
    let mut c = Children::new(doc, id, what)?;
    let party_ids = c.repeated("PartyId", 4)?;
    let role_node = c.required("Role")?;
    c.finish()?;
    let [party_id] = party_ids.as_slice() else {
        return Err(mismatch(format!("{what} has more than one PartyId")));
    };
    let kind = doc.element(*party_id).and_then(|e| e.attribute("type"));
    if kind != Some(PARTY_TYPE) {
        return Err(mismatch(format!("{what} PartyId type is not {PARTY_TYPE}")));
    }
    if value(doc, role_node, "eb:Role")? != role {
        return Err(mismatch(format!("{what} Role is not {role}")));
    }
    value(doc, *party_id, "eb:PartyId")
}

fn read_user_message(doc: &Document, id: NodeId) -> Result<UserMessageHeader, HeaderError> {
    let user = doc.element(id).expect("caller checked");
    if user.attribute("mpc").is_some_and(|m| m != DEFAULT_MPC) {
        return Err(mismatch("MPC is not the default MPC"));
    }
    let mut c = Children::new(doc, id, "eb:UserMessage")?;
    let info = c.required("MessageInfo")?;
    let party_info = c.required("PartyInfo")?;
    let collaboration = c.required("CollaborationInfo")?;
    let properties = c.required("MessageProperties")?;
    let payload_info = c.required("PayloadInfo")?;
    c.finish()?;

    let (ts, message_id, ref_to) = read_message_info(doc, info)?;
    if ref_to.is_some() {
        return Err(mismatch("a one-way user message has no RefToMessageId"));
    }

    let mut c = Children::new(doc, party_info, "eb:PartyInfo")?;
    let from = c.required("From")?;
    let to = c.required("To")?;
    c.finish()?;
    let from_party = read_party(doc, from, "eb:From", INITIATOR_ROLE)?;
    let to_party = read_party(doc, to, "eb:To", RESPONDER_ROLE)?;

    let mut c = Children::new(doc, collaboration, "eb:CollaborationInfo")?;
    if c.optional("AgreementRef").is_some() {
        return Err(mismatch("DIGG's P-mode has no AgreementRef"));
    }
    let service = c.required("Service")?;
    let action = c.required("Action")?;
    let conversation = c.required("ConversationId")?;
    c.finish()?;
    let service_type = doc.element(service).and_then(|e| e.attribute("type")).map(str::to_owned);

    let mut original_sender = None;
    let mut final_recipient = None;
    let mut c = Children::new(doc, properties, "eb:MessageProperties")?;
    for p in c.repeated("Property", 2)? {
        let e = doc.element(p).expect("children are elements");
        let slot = match e.attribute("name") {
            Some(ORIGINAL_SENDER) => &mut original_sender,
            Some(FINAL_RECIPIENT) => &mut final_recipient,
            other => return Err(mismatch(format!("unexpected message property {:?}", other.unwrap_or("")))),
        };
        if e.attribute("type").is_some_and(|t| t != PARTICIPANT_ID_TYPE) {
            return Err(mismatch(format!("participant id type is not {PARTICIPANT_ID_TYPE}")));
        }
        if slot.replace(value(doc, p, "eb:Property")?).is_some() {
            return Err(structure("a message property appears twice"));
        }
    }
    c.finish()?;

    let (payload_content_id, payload_mime_type) = read_payload_info(doc, payload_info)?;
    Ok(UserMessageHeader {
        message_id,
        timestamp: ts,
        from_party,
        to_party,
        service: value(doc, service, "eb:Service")?,
        service_type,
        action: value(doc, action, "eb:Action")?,
        conversation_id: value(doc, conversation, "eb:ConversationId")?,
        original_sender: original_sender.ok_or_else(|| mismatch("no originalSender property"))?,
        final_recipient: final_recipient.ok_or_else(|| mismatch("no finalRecipient property"))?,
        payload_content_id,
        payload_mime_type,
    })
}

/// Exactly one gzip-compressed XML payload in an attachment.
fn read_payload_info(doc: &Document, id: NodeId) -> Result<(String, String), HeaderError> {
    let mut c = Children::new(doc, id, "eb:PayloadInfo")?;
    let parts = c.repeated("PartInfo", 4)?;
    c.finish()?;
    let [part] = parts.as_slice() else {
        return Err(mismatch("exactly one payload part is expected"));
    };
    let href = doc.element(*part).and_then(|e| e.attribute("href")).unwrap_or("");
    let content_id = href
        .strip_prefix("cid:")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| mismatch("the payload must be an attachment (href=\"cid:...\")"))?;
    let mut c = Children::new(doc, *part, "eb:PartInfo")?;
    let properties = c.required("PartProperties")?;
    c.finish()?;
    let (mut mime_type, mut compression) = (None, None);
    let mut c = Children::new(doc, properties, "eb:PartProperties")?;
    for p in c.repeated("Property", 4)? {
        let name = doc.element(p).and_then(|e| e.attribute("name")).unwrap_or("");
        let slot = match name {
            "MimeType" => &mut mime_type,
            "CompressionType" => &mut compression,
            "CharacterSet" => continue,
            other => return Err(mismatch(format!("unexpected part property '{other}'"))),
        };
        if slot.replace(value(doc, p, "eb:Property")?).is_some() {
            return Err(structure(format!("part property '{name}' appears twice")));
        }
    }
    c.finish()?;
    if compression.as_deref() != Some(COMPRESSION_TYPE) {
        return Err(mismatch("the payload must be compressed with application/gzip"));
    }
    let mime_type = mime_type.ok_or_else(|| structure("the payload has no MimeType part property"))?;
    if mime_type != PAYLOAD_MIME_TYPE && mime_type != PAYLOAD_MIME_TYPE_ALT {
        return Err(mismatch(format!("payload MIME type '{mime_type}' is not XML")));
    }
    Ok((content_id.to_owned(), mime_type))
}

fn read_signal(doc: &Document, id: NodeId) -> Result<SignalHeader, HeaderError> {
    let mut c = Children::new(doc, id, "eb:SignalMessage")?;
    let info = c.required("MessageInfo")?;
    let content = if let Some(receipt) = c.optional("Receipt") {
        SignalContent::Receipt(read_receipt(doc, receipt)?)
    } else {
        let errors = c.repeated("Error", MAX_ERRORS)?;
        SignalContent::Errors(errors.into_iter().map(|e| read_error(doc, e)).collect::<Result<_, _>>()?)
    };
    c.finish()?;
    let (ts, message_id, ref_to) = read_message_info(doc, info)?;
    Ok(SignalHeader { message_id, timestamp: ts, ref_to_message_id: ref_to, content })
}

/// `eb:Receipt/ebbp:NonRepudiationInformation`: the references of the
/// signature of the message it acknowledges.
fn read_receipt(doc: &Document, receipt: NodeId) -> Result<Vec<NrrReference>, HeaderError> {
    let children = element_children(doc, receipt, "eb:Receipt")?;
    let [nri] = children.as_slice() else {
        return Err(mismatch("the receipt must hold exactly ebbp:NonRepudiationInformation"));
    };
    expect_element(doc, *nri, EBBP_NS, "NonRepudiationInformation").map_err(|_| mismatch("the receipt has no NRR"))?;
    let parts = element_children(doc, *nri, "ebbp:NonRepudiationInformation")?;
    if parts.is_empty() || parts.len() > DSIG_MAX_REFERENCES {
        return Err(structure(format!("NRR must list 1 to {DSIG_MAX_REFERENCES} parts")));
    }
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        expect_element(doc, part, EBBP_NS, "MessagePartNRInformation")?;
        let children = element_children(doc, part, "ebbp:MessagePartNRInformation")?;
        let [reference] = children.as_slice() else {
            return Err(structure("MessagePartNRInformation must hold one ds:Reference"));
        };
        out.push(read_nrr_reference(doc, *reference)?);
    }
    Ok(out)
}

/// A `ds:Reference`: URI, transform algorithms, digest method and value.
pub fn read_nrr_reference(doc: &Document, reference: NodeId) -> Result<NrrReference, HeaderError> {
    expect_element(doc, reference, DSIG_NS, "Reference")?;
    let uri = doc.element(reference).and_then(|e| e.attribute("URI")).unwrap_or("").to_owned();
    let algorithm = |id: NodeId| {
        doc.element(id)
            .and_then(|e| e.attribute("Algorithm"))
            .map(str::to_owned)
            .ok_or_else(|| structure("ds:Reference part without Algorithm"))
    };
    let mut transforms = Vec::new();
    let mut digest_method = None;
    let mut digest_value = None;
    for child in element_children(doc, reference, "ds:Reference")? {
        let e = doc.element(child).expect("children are elements");
        if e.is(DSIG_NS, "Transforms") {
            for t in
                element_children(doc, child, "ds:Transforms")?.into_iter().take(crate::limits::DSIG_MAX_TRANSFORMS + 1)
            {
                transforms.push(algorithm(t)?);
            }
        } else if e.is(DSIG_NS, "DigestMethod") {
            digest_method = Some(algorithm(child)?);
        } else if e.is(DSIG_NS, "DigestValue") {
            let text = doc.simple_text(child).unwrap_or_default();
            digest_value = Some(base64_decode(&text).map_err(|_| structure("DigestValue is not base64"))?);
        } else {
            return Err(structure(format!("unexpected {} in ds:Reference", e.qname())));
        }
    }
    if transforms.len() > crate::limits::DSIG_MAX_TRANSFORMS {
        return Err(structure("too many transforms"));
    }
    Ok(NrrReference {
        uri,
        transforms,
        digest_method: digest_method.ok_or_else(|| structure("ds:Reference without DigestMethod"))?,
        digest_value: digest_value.ok_or_else(|| structure("ds:Reference without DigestValue"))?,
    })
}

fn read_error(doc: &Document, id: NodeId) -> Result<ReceivedError, HeaderError> {
    let e = doc.element(id).expect("caller checked");
    let get = |name: &str| e.attribute(name).map(str::to_owned);
    let mut c = Children::new(doc, id, "eb:Error")?;
    let description = c.optional("Description").map(|d| doc.text_content(d).trim().to_owned());
    let detail = c.optional("ErrorDetail").map(|d| doc.text_content(d).trim().to_owned());
    c.finish()?;
    Ok(ReceivedError {
        code: get("errorCode").ok_or_else(|| structure("eb:Error without errorCode"))?,
        severity: get("severity").ok_or_else(|| structure("eb:Error without severity"))?,
        category: get("category"),
        short_description: get("shortDescription"),
        origin: get("origin"),
        ref_to_message_in_error: get("refToMessageInError"),
        description,
        detail,
    })
}

/// The DIGG process values a user message must carry to be served at all.
pub fn is_digg_service(h: &UserMessageHeader) -> bool {
    h.service == SERVICE && h.service_type.as_deref() == Some(SERVICE_TYPE)
}

/// DIGG's action, when the header names one.
pub fn action(h: &UserMessageHeader) -> Option<Action> {
    Action::from_value(&h.action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_with_milliseconds_and_zone_is_optional_when_read() {
        let t = parse_timestamp("2017-10-24T11:29:12.000Z").unwrap();
        assert_eq!(format_timestamp(t), "2017-10-24T11:29:12.000Z");
        assert_eq!(parse_timestamp("2017-10-24T11:29:12"), Some(t));
        assert_eq!(format_timestamp(parse_timestamp("2017-10-24T13:29:12+02:00").unwrap()), "2017-10-24T11:29:12.000Z");
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
