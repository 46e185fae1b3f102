//! The SOAP 1.2 envelope: writing it, and recognising it completely before
//! anything in it is used.
//!
//! An AS4 envelope here is `env:Header` with exactly one `eb:Messaging` and
//! exactly one `wsse:Security`, and an `env:Body`. Any other header block is
//! refused rather than ignored: a block we do not understand may change the
//! meaning of the message (SOAP 1.2 Part 1 §5.2.3), and eDelivery AS4 uses
//! no others. Processing instructions are refused (SOAP 1.2 Part 1 §5).

use crate::xml::{Document, NodeId, NodeKind};
use crate::xmlsec::algorithm::{DSIG_NS, WSSE_NS};
use crate::xmlsec::cipher::{XENC11_NS, XENC_NS};
use crate::xmlsec::reference::WSU_NS;

use super::error::HeaderError;
use super::pmode::EBMS_NS;
use super::wss::WSSE11_NS;

/// SOAP 1.2 envelope namespace (`env:`).
pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
/// SOAP 1.1, recognised only to refuse it clearly.
const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// An envelope with every prefix the profile uses declared once on it, the
/// header blocks `messaging` (an `eb:Messaging`) and the content of
/// `wsse:Security`, and an empty body with `wsu:Id` `body_id`.
pub fn envelope(messaging: &str, security: &str, body_id: &str) -> String {
    format!(
        "<env:Envelope xmlns:env=\"{SOAP12_NS}\" xmlns:eb=\"{EBMS_NS}\" xmlns:wsse=\"{WSSE_NS}\" xmlns:wsse11=\"{WSSE11_NS}\" xmlns:wsu=\"{WSU_NS}\" xmlns:ds=\"{DSIG_NS}\" xmlns:xenc=\"{XENC_NS}\" xmlns:xenc11=\"{XENC11_NS}\"><env:Header>{messaging}<wsse:Security env:mustUnderstand=\"true\">{security}</wsse:Security></env:Header><env:Body wsu:Id=\"{}\"/></env:Envelope>",
        attr(body_id)
    )
}

/// The parts of a recognised envelope.
#[derive(Debug, Clone, Copy)]
pub struct Envelope {
    pub header: NodeId,
    pub body: NodeId,
    pub messaging: NodeId,
    /// Absent is a policy failure, reported by the security layer.
    pub security: Option<NodeId>,
}

fn structure(what: impl Into<String>) -> HeaderError {
    HeaderError::Structure(what.into())
}

/// Recognises the envelope of `doc`, refusing anything outside the shape above.
pub fn recognise(doc: &Document) -> Result<Envelope, HeaderError> {
    for node in doc.descendants(NodeId::DOCUMENT) {
        if matches!(doc.kind(node), NodeKind::Pi(_)) {
            return Err(structure("processing instructions are not allowed in a SOAP message"));
        }
    }
    let root = doc.document_element().ok_or_else(|| structure("no envelope"))?;
    let envelope = doc.element(root).ok_or_else(|| structure("no envelope"))?;
    if envelope.is(SOAP11_NS, "Envelope") {
        return Err(structure("SOAP 1.1 is not supported; AS4 uses SOAP 1.2"));
    }
    if !envelope.is(SOAP12_NS, "Envelope") {
        return Err(structure(format!("root element is {}, not a SOAP 1.2 Envelope", envelope.qname())));
    }
    let children = element_children(doc, root, "Envelope")?;
    let [header, body] = children.as_slice() else {
        return Err(structure("Envelope must hold exactly Header and Body"));
    };
    expect_element(doc, *header, SOAP12_NS, "Header")?;
    expect_element(doc, *body, SOAP12_NS, "Body")?;

    let (mut messaging, mut security) = (None, None);
    for block in element_children(doc, *header, "Header")? {
        let e = doc.element(block).expect("element_children yields elements");
        let slot = if e.is(EBMS_NS, "Messaging") {
            &mut messaging
        } else if e.is(WSSE_NS, "Security") {
            &mut security
        } else {
            return Err(structure(format!("header block {} is not supported", e.qname())));
        };
        if slot.replace(block).is_some() {
            return Err(structure(format!("header block {} appears twice", e.qname())));
        }
    }
    let messaging = messaging.ok_or_else(|| structure("no eb:Messaging header"))?;
    Ok(Envelope { header: *header, body: *body, messaging, security })
}

/// Element children of `id`; whitespace and comments between them are
/// allowed, other text is not.
pub fn element_children(doc: &Document, id: NodeId, what: &str) -> Result<Vec<NodeId>, HeaderError> {
    let mut out = Vec::new();
    for &c in doc.children(id) {
        match doc.kind(c) {
            NodeKind::Element(_) => out.push(c),
            NodeKind::Text(t) if is_whitespace(t) => {}
            NodeKind::Comment(_) => {}
            _ => return Err(structure(format!("unexpected text in {what}"))),
        }
    }
    Ok(out)
}

pub fn expect_element(doc: &Document, id: NodeId, ns: &str, local: &str) -> Result<(), HeaderError> {
    match doc.element(id) {
        Some(e) if e.is(ns, local) => Ok(()),
        Some(e) => Err(structure(format!("expected {local}, found {}", e.qname()))),
        None => Err(structure(format!("expected {local}"))),
    }
}

pub fn is_whitespace(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// True when the Body holds nothing but whitespace and comments.
pub fn body_is_empty(doc: &Document, body: NodeId) -> bool {
    element_children(doc, body, "Body").is_ok_and(|c| c.is_empty())
}

/// Escapes character data for element content.
pub fn text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\r', "&#xD;")
}

/// Escapes an attribute value (double-quoted).
pub fn attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
        .replace('\t', "&#x9;")
        .replace('\n', "&#xA;")
        .replace('\r', "&#xD;")
}
