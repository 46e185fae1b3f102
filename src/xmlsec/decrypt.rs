//! Opening an `xenc:EncryptedData` addressed to us.
//!
//! The structure is read strictly: the algorithms come from the closed sets
//! in [`super::cipher`], the session key is exactly one `EncryptedKey`
//! embedded in `EncryptedData/KeyInfo` (no `RetrievalMethod`, no key names,
//! no `CipherReference`), and every size is bounded before decoding.
//!
//! Failures of the cryptography itself (OAEP unwrap, wrong session-key
//! length, CBC padding, GCM tag) and a decrypted element that does not parse
//! are one error, [`DecryptError::CannotDecrypt`], whose text names no step:
//! that is the padding-oracle defence of DIGG C3.2.2 §3.4.1. When the key
//! cannot be unwrapped, the payload is still decrypted under a random key
//! (implicit rejection) so both failure paths do the same work.
//!
//! DIGG's profile requires verifying the envelope's signature before calling
//! anything here; this module cannot check that and does not try.

use base64::Engine as _;

use crate::limits::XmlLimits;
use crate::pki::{Certificate, PrivateKey};
use crate::xml::cursor::{ChildCursor as Children, CursorError};
use std::io::{self, Read};

use crate::spool::{Blob, Spool};
use crate::xml::{parse_stream, Document, Element, NodeId, NodeKind};
use super::stream::{decrypt_stream, Base64TextDecoder};

use super::cipher::{
    BlockCipher, CipherError, KeyTransport, SessionKey, DSIG_NS, TYPE_CONTENT, TYPE_ELEMENT, XENC11_NS, XENC_NS,
};

/// Longest base64 text accepted for a wrapped session key: an 8192-bit RSA
/// block is 1024 bytes, about 1400 base64 characters, plus line breaks.
const MAX_WRAPPED_KEY_BASE64: usize = 2048;
/// Longest base64 text accepted for `OAEPparams` (only an empty label is
/// accepted, but it is decoded to say so).
const MAX_OAEP_PARAMS_BASE64: usize = 1024;

/// What the ciphertext held, from `EncryptedData/@Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptedType {
    /// One XML element (serialised).
    Element,
    /// Element content or, in DIGG's profile, a non-XML payload.
    Content,
}

/// A decrypted payload.
#[derive(Debug, Clone)]
pub struct Decrypted {
    pub kind: EncryptedType,
    /// In memory when small, in a spool file when large.
    pub plaintext: Blob,
    /// `EncryptedData/@MimeType`, as the sender wrote it.
    pub mime_type: Option<String>,
}

/// Why an `EncryptedData` could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// Any cryptographic failure. Deliberately vague (padding-oracle defence).
    #[error("cannot decrypt the encrypted payload")]
    CannotDecrypt,
    #[error("node is not an xenc:EncryptedData element")]
    NotEncryptedData,
    #[error("{parent} lacks the required {child}")]
    MissingElement { parent: &'static str, child: &'static str },
    #[error("unexpected '{found}' in {parent}")]
    UnexpectedElement { parent: &'static str, found: String },
    #[error("{0} has text where only elements are allowed")]
    UnexpectedText(&'static str),
    #[error("{0} has no Algorithm attribute")]
    MissingAlgorithm(&'static str),
    #[error("EncryptedData has no Type attribute (Element or Content)")]
    MissingType,
    #[error("EncryptedData Type '{0}' is not supported (Element or Content)")]
    UnsupportedType(String),
    #[error(
        "the session key must be exactly one EncryptedKey inside EncryptedData/KeyInfo; \
         keys by reference (RetrievalMethod, KeyName) are not supported"
    )]
    KeyNotEmbedded,
    #[error("CipherReference is not supported; the ciphertext must be in CipherValue")]
    CipherReferenceUnsupported,
    #[error("{0} is not valid base64")]
    BadBase64(&'static str),
    #[error("{what} holds more than {limit} characters")]
    TooLong { what: &'static str, limit: usize },
    #[error("the encrypted data is Type Content, not an element; use the decrypted bytes")]
    NotAnElement,
    #[error("the EncryptedData is not attached to a parent")]
    Detached,
    /// Our own key is unusable: configuration, not the peer's input.
    #[error("the private key cannot be used for RSA-OAEP decryption")]
    UnusablePrivateKey,
    #[error("the system random number generator failed")]
    RandomFailed,
    #[error(transparent)]
    Algorithm(CipherError),
}

impl From<CipherError> for DecryptError {
    fn from(e: CipherError) -> Self {
        match e {
            CipherError::CannotDecrypt | CipherError::EncryptionFailed => DecryptError::CannotDecrypt,
            CipherError::UnusablePrivateKey => DecryptError::UnusablePrivateKey,
            CipherError::RandomFailed => DecryptError::RandomFailed,
            other => DecryptError::Algorithm(other),
        }
    }
}

/// Decrypts the `EncryptedData` at `encrypted_data` with `key`.
///
/// The payload's `CipherValue` text is taken out of `doc` and decoded,
/// decrypted and written to `spool` as a stream, so a large payload is never
/// held in memory; on success and on failure alike that text is gone
/// afterwards. Call
/// [`replace_with_plaintext`] to put a decrypted element back in the tree.
pub fn decrypt_encrypted_data(
    doc: &mut Document,
    encrypted_data: NodeId,
    key: &PrivateKey,
    spool: &Spool,
) -> Result<Decrypted, DecryptError> {
    let parsed = EncryptedDataParts::read(doc, encrypted_data)?;
    let wrapped_key = decode_base64(
        bounded_text(doc, parsed.wrapped_key_value, "EncryptedKey CipherValue", MAX_WRAPPED_KEY_BASE64)?,
        "EncryptedKey CipherValue",
    )?;
    let mut ciphertext = Base64TextDecoder::new(take_text(doc, parsed.payload_value));

    // Implicit rejection: a failed unwrap continues with a random key so the
    // payload is decrypted either way, then fails like a bad padding would.
    let (session_key, unwrapped) = match parsed.transport.unwrap(key, &wrapped_key, parsed.cipher) {
        Ok(session_key) => (session_key, true),
        Err(CipherError::CannotDecrypt) => (SessionKey::generate(parsed.cipher)?, false),
        Err(other) => return Err(other.into()),
    };
    // The writer is unbounded: the plaintext is shorter than the
    // ciphertext, which the document's size limit already bounds.
    let mut plaintext = spool.writer(u64::MAX);
    let decrypted = decrypt_stream(parsed.cipher, &session_key, &mut ciphertext, &mut plaintext);
    match (unwrapped, decrypted) {
        (true, Ok(_)) => {
            let plaintext = plaintext.finish().map_err(|_| DecryptError::CannotDecrypt)?;
            Ok(Decrypted { kind: parsed.kind, plaintext, mime_type: parsed.mime_type })
        }
        _ => Err(DecryptError::CannotDecrypt),
    }
}

/// Parses a decrypted element and puts it in place of the `EncryptedData`;
/// returns the new element. Check [`Decrypted::kind`] first: Type Content is
/// refused with [`DecryptError::NotAnElement`], since DIGG uses it for
/// non-XML payloads, which stay bytes.
///
/// The plaintext is parsed in the context of the `EncryptedData`'s parent,
/// as XML-Enc (§4.5) has it: with the namespace bindings in scope there.
/// Brygga's [`super::encrypt::encrypt_element`] writes the inherited
/// declarations on the element, so for it the context changes nothing; but
/// xmlsec1 (1.2) writes the element without them, relying on the envelope's
/// prefixes and default namespace, and parsing it standalone would fail or,
/// for the default namespace, silently change element names.
///
/// The plaintext is parsed under `limits`. One that does not parse, or that
/// is not exactly one element, is [`DecryptError::CannotDecrypt`]: parse
/// errors after CBC decryption are themselves an oracle.
pub fn replace_with_plaintext(
    doc: &mut Document,
    encrypted_data: NodeId,
    decrypted: Decrypted,
    limits: &XmlLimits,
    spool: &Spool,
) -> Result<NodeId, DecryptError> {
    if decrypted.kind != EncryptedType::Element {
        return Err(DecryptError::NotAnElement);
    }
    let parent = doc.parent(encrypted_data).ok_or(DecryptError::Detached)?;
    let index = doc.children(parent).iter().position(|&c| c == encrypted_data).ok_or(DecryptError::Detached)?;
    let fragment = parse_in_context(doc, parent, &decrypted.plaintext, limits, spool)?;
    let adopted = doc.adopt(parent, index, fragment);
    doc.detach(encrypted_data);
    adopted.into_iter().find(|&id| doc.element(id).is_some()).ok_or(DecryptError::CannotDecrypt)
}

/// Name of the element that carries the context's namespace declarations
/// around the plaintext while it is parsed. It never reaches the tree.
const CONTEXT_WRAPPER: &str = "brygga-decryption-context";

/// Parses `plaintext` (one serialised element) as if it stood where
/// `context` is, and returns a document holding just that element, its
/// strings moved out of the parse rather than copied.
fn parse_in_context(
    doc: &Document,
    context: NodeId,
    plaintext: &Blob,
    limits: &XmlLimits,
    spool: &Spool,
) -> Result<Document, DecryptError> {
    let opening = format!("<{CONTEXT_WRAPPER}{}>", in_scope_declarations(doc, context));
    let closing = format!("</{CONTEXT_WRAPPER}>");
    let mut head = Vec::with_capacity(1024);
    plaintext.range(0, plaintext.len().min(1024)).and_then(|mut r| r.read_to_end(&mut head)).map_err(|_| DecryptError::CannotDecrypt)?;
    let body_start = xml_declaration_len(&head) as u64;
    let body = plaintext.range(body_start, plaintext.len() - body_start).map_err(|_| DecryptError::CannotDecrypt)?;
    let len = opening.len() as u64 + (plaintext.len() - body_start) + closing.len() as u64;
    let wrapped = opening.as_bytes().chain(body).chain(closing.as_bytes());
    let mut parsed = parse_stream(wrapped, len, limits, spool).map_err(|_| DecryptError::CannotDecrypt)?;

    let wrapper = parsed.document_element().ok_or(DecryptError::CannotDecrypt)?;
    let mut element = None;
    for &child in parsed.children(wrapper) {
        match parsed.kind(child) {
            NodeKind::Element(_) if element.is_none() => element = Some(child),
            NodeKind::Element(_) => return Err(DecryptError::CannotDecrypt),
            NodeKind::Text(t) if !is_xml_whitespace(t) => return Err(DecryptError::CannotDecrypt),
            _ => {}
        }
    }
    let element = element.ok_or(DecryptError::CannotDecrypt)?;
    Ok(move_subtree(&mut parsed, element))
}

/// ` xmlns:p="uri"` for every namespace binding in scope at `id` (the
/// default namespace included), nearest declaration first.
fn in_scope_declarations(doc: &Document, id: NodeId) -> String {
    let mut seen: Vec<Option<&str>> = Vec::new();
    let mut out = String::new();
    let mut current = Some(id);
    while let Some(node) = current {
        if let Some(e) = doc.element(node) {
            for decl in &e.namespaces {
                let prefix = decl.prefix.as_deref();
                if prefix == Some("xml") || seen.contains(&prefix) {
                    continue;
                }
                seen.push(prefix);
                // An undeclaration (`xmlns=""`) hides outer bindings; leaving
                // the prefix out of the wrapper does the same.
                if decl.uri.is_empty() {
                    continue;
                }
                match prefix {
                    Some(p) => out.push_str(&format!(" xmlns:{p}=\"")),
                    None => out.push_str(" xmlns=\""),
                }
                escape_attribute_value(&decl.uri, &mut out);
                out.push('"');
            }
        }
        current = doc.parent(node);
    }
    out
}

fn escape_attribute_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// Length of a leading byte-order mark and XML declaration, which cannot
/// stand inside the wrapper; 0 when there is none.
fn xml_declaration_len(plaintext: &[u8]) -> usize {
    let bom = if plaintext.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let rest = &plaintext[bom..];
    let is_declaration = rest.starts_with(b"<?xml") && rest.get(5).is_some_and(|b| b.is_ascii_whitespace());
    if !is_declaration {
        return bom;
    }
    match rest.windows(2).position(|w| w == b"?>") {
        Some(end) => bom + end + 2,
        None => bom,
    }
}

fn is_xml_whitespace(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// Moves the subtree at `root` of `source` into a new document of its own.
/// Element and text strings are moved, not copied, so a large decrypted
/// payload exists once; `source` is left with empty husks.
fn move_subtree(source: &mut Document, root: NodeId) -> Document {
    let mut target = Document::new();
    let mut pending = vec![(root, NodeId::DOCUMENT)];
    while let Some((from, target_parent)) = pending.pop() {
        let kind = match source.kind(from) {
            NodeKind::Text(_) => NodeKind::Text(source.take_text(from).unwrap_or_default()),
            NodeKind::Element(_) => match source.element_mut(from) {
                Some(e) => NodeKind::Element(std::mem::replace(e, empty_element())),
                None => continue,
            },
            other => other.clone(),
        };
        let copy = target.append(target_parent, kind);
        pending.extend(source.children(from).iter().rev().map(|&child| (child, copy)));
    }
    target
}

fn empty_element() -> Element {
    Element { prefix: None, local: String::new(), ns: None, namespaces: Vec::new(), attributes: Vec::new() }
}

/// The certificate in `EncryptedKey/KeyInfo/X509Data`, when the
/// `EncryptedData` is well formed and names one that parses (DIGG's profile
/// requires it). Lets a receiver holding several keys, e.g. during a
/// certificate rollover, pick the right one; [`decrypt_encrypted_data`]
/// reports what is wrong with a malformed one.
pub fn recipient_certificate(doc: &Document, encrypted_data: NodeId) -> Option<Certificate> {
    let key_info = EncryptedDataParts::read(doc, encrypted_data).ok()?.recipient_key_info?;
    let x509_data = doc.child_named(key_info, DSIG_NS, "X509Data")?;
    let cert = doc.child_named(x509_data, DSIG_NS, "X509Certificate")?;
    Certificate::from_base64(&doc.text_content(cert)).ok()
}

/// What [`EncryptedDataParts::read`] found, before anything is decoded.
struct EncryptedDataParts {
    kind: EncryptedType,
    mime_type: Option<String>,
    cipher: BlockCipher,
    transport: KeyTransport,
    /// `EncryptedKey/ds:KeyInfo`, not interpreted for decryption.
    recipient_key_info: Option<NodeId>,
    wrapped_key_value: NodeId,
    payload_value: NodeId,
}

impl EncryptedDataParts {
    fn read(doc: &Document, encrypted_data: NodeId) -> Result<Self, DecryptError> {
        let element = doc.element(encrypted_data).ok_or(DecryptError::NotEncryptedData)?;
        if !element.is(XENC_NS, "EncryptedData") {
            return Err(DecryptError::NotEncryptedData);
        }
        let kind = match element.attribute("Type") {
            Some(TYPE_ELEMENT) => EncryptedType::Element,
            Some(TYPE_CONTENT) => EncryptedType::Content,
            Some(other) => return Err(DecryptError::UnsupportedType(other.to_owned())),
            None => return Err(DecryptError::MissingType),
        };
        let mime_type = element.attribute("MimeType").map(str::to_owned);

        const ED: &str = "EncryptedData";
        let mut children = Children::new(doc, encrypted_data, ED)?;
        let method = children.required(XENC_NS, "EncryptionMethod")?;
        let key_info = children.required(DSIG_NS, "KeyInfo")?;
        let cipher_data = children.required(XENC_NS, "CipherData")?;
        children.optional(XENC_NS, "EncryptionProperties");
        children.finish()?;

        let cipher = BlockCipher::from_uri(algorithm(doc, method, "EncryptedData EncryptionMethod")?)?;
        Children::new(doc, method, "EncryptedData EncryptionMethod")?.finish()?;

        let encrypted_key = single_encrypted_key(doc, key_info)?;
        const EK: &str = "EncryptedKey";
        let mut children = Children::new(doc, encrypted_key, EK)?;
        let key_method = children.required(XENC_NS, "EncryptionMethod")?;
        let recipient_key_info = children.optional(DSIG_NS, "KeyInfo");
        let key_cipher_data = children.required(XENC_NS, "CipherData")?;
        children.optional(XENC_NS, "EncryptionProperties");
        children.optional(XENC_NS, "ReferenceList");
        children.optional(XENC_NS, "CarriedKeyName");
        children.finish()?;

        Ok(Self {
            kind,
            mime_type,
            cipher,
            transport: key_transport(doc, key_method)?,
            recipient_key_info,
            wrapped_key_value: cipher_value(doc, key_cipher_data, "EncryptedKey CipherData")?,
            payload_value: cipher_value(doc, cipher_data, "EncryptedData CipherData")?,
        })
    }
}

/// `EncryptedData/KeyInfo` must hold one `EncryptedKey` and nothing else.
fn single_encrypted_key(doc: &Document, key_info: NodeId) -> Result<NodeId, DecryptError> {
    let children = Children::new(doc, key_info, "EncryptedData KeyInfo")?;
    match children.rest() {
        [only] if doc.element(*only).is_some_and(|e| e.is(XENC_NS, "EncryptedKey")) => Ok(*only),
        _ => Err(DecryptError::KeyNotEmbedded),
    }
}

/// Reads `EncryptedKey/EncryptionMethod` with its OAEP parameters.
fn key_transport(doc: &Document, method: NodeId) -> Result<KeyTransport, DecryptError> {
    const WHAT: &str = "EncryptedKey EncryptionMethod";
    let uri = algorithm(doc, method, WHAT)?;
    let (mut digest, mut mgf, mut oaep_params) = (None, None, None);
    for &child in Children::new(doc, method, WHAT)?.rest() {
        let Some(e) = doc.element(child) else { continue };
        let slot = if e.is(DSIG_NS, "DigestMethod") {
            &mut digest
        } else if e.is(XENC11_NS, "MGF") {
            &mut mgf
        } else if e.is(XENC_NS, "OAEPparams") {
            &mut oaep_params
        } else {
            return Err(DecryptError::UnexpectedElement { parent: WHAT, found: e.qname() });
        };
        if slot.replace(child).is_some() {
            return Err(DecryptError::UnexpectedElement { parent: WHAT, found: e.qname() });
        }
    }
    let digest = digest.map(|id| algorithm(doc, id, "DigestMethod")).transpose()?;
    let mgf = mgf.map(|id| algorithm(doc, id, "MGF")).transpose()?;
    let label = oaep_params
        .map(|id| decode_base64(bounded_text(doc, id, "OAEPparams", MAX_OAEP_PARAMS_BASE64)?, "OAEPparams"))
        .transpose()?;
    Ok(KeyTransport::from_parameters(uri, digest, mgf, label.as_deref())?)
}

/// The `CipherValue` inside `CipherData`; `CipherReference` is refused.
fn cipher_value(doc: &Document, cipher_data: NodeId, what: &'static str) -> Result<NodeId, DecryptError> {
    let mut children = Children::new(doc, cipher_data, what)?;
    if children.optional(XENC_NS, "CipherReference").is_some() {
        return Err(DecryptError::CipherReferenceUnsupported);
    }
    let value = children.required(XENC_NS, "CipherValue")?;
    children.finish()?;
    if let Some(&child) = doc.children(value).iter().find(|&&c| doc.element(c).is_some()) {
        let found = doc.element(child).map(|e| e.qname()).unwrap_or_default();
        return Err(DecryptError::UnexpectedElement { parent: "CipherValue", found });
    }
    Ok(value)
}

fn algorithm<'d>(doc: &'d Document, id: NodeId, what: &'static str) -> Result<&'d str, DecryptError> {
    doc.element(id).and_then(|e| e.attribute("Algorithm")).ok_or(DecryptError::MissingAlgorithm(what))
}

/// The text of a small element, refused before copying when over `limit`.
fn bounded_text(doc: &Document, id: NodeId, what: &'static str, limit: usize) -> Result<String, DecryptError> {
    let len: usize = doc
        .children(id)
        .iter()
        .map(|&c| match doc.kind(c) {
            NodeKind::Text(t) => t.len(),
            NodeKind::LargeText(t) => usize::try_from(t.raw_len()).unwrap_or(usize::MAX),
            _ => 0,
        })
        .sum();
    if len > limit {
        return Err(DecryptError::TooLong { what, limit });
    }
    Ok(doc.text_content(id))
}

/// Takes the text out of `id` (a `CipherValue`) as one reader over its
/// pieces in order: strings are moved, large text stays on disk.
fn take_text(doc: &mut Document, id: NodeId) -> Box<dyn Read> {
    let mut reader: Box<dyn Read> = Box::new(io::empty());
    for child in doc.children(id).to_vec() {
        let piece: Box<dyn Read> = match doc.kind(child) {
            NodeKind::Text(_) => Box::new(io::Cursor::new(doc.take_text(child).unwrap_or_default().into_bytes())),
            NodeKind::LargeText(t) => match t.reader() {
                Ok(r) => Box::new(r),
                Err(e) => Box::new(FailingReader(Some(e))),
            },
            _ => continue,
        };
        doc.detach(child);
        reader = Box::new(reader.chain(piece));
    }
    reader
}

/// A reader that fails: a large text that cannot be opened makes the
/// decryption fail like any other.
struct FailingReader(Option<io::Error>);

impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(self.0.take().unwrap_or_else(|| io::Error::other("unreadable")))
    }
}

/// Decodes base64 that XML tools may have wrapped, dropping the whitespace
/// in place rather than in a second buffer.
fn decode_base64(text: String, what: &'static str) -> Result<Vec<u8>, DecryptError> {
    let mut bytes = text.into_bytes();
    bytes.retain(|b| !b.is_ascii_whitespace());
    base64::engine::general_purpose::STANDARD.decode(&bytes).map_err(|_| DecryptError::BadBase64(what))
}

impl From<CursorError> for DecryptError {
    fn from(e: CursorError) -> Self {
        match e {
            CursorError::UnexpectedText { parent } => DecryptError::UnexpectedText(parent),
            CursorError::Missing { parent, child } => DecryptError::MissingElement { parent, child },
            CursorError::Unexpected { parent, found } => DecryptError::UnexpectedElement { parent, found },
            CursorError::TooMany { parent, child, .. } => DecryptError::UnexpectedElement { parent, found: child.to_owned() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::Spool;
    use crate::xml::parse_str;

    const HEAD: &str = r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes256-cbc"/>"#;
    const KEY: &str = r#"<ds:KeyInfo><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>"#;
    const DATA: &str =
        r#"<xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>"#;

    fn read(xml: &str) -> Result<EncryptedDataParts, DecryptError> {
        let doc = parse_str(xml).unwrap();
        EncryptedDataParts::read(&doc, doc.document_element().unwrap())
    }

    #[test]
    fn well_formed_structure_is_read() {
        let parts = read(&format!("{HEAD}{KEY}{DATA}")).unwrap();
        assert_eq!(parts.cipher, BlockCipher::Aes256Cbc);
        assert_eq!(parts.transport, KeyTransport::RsaOaepMgf1p);
        assert_eq!(parts.kind, EncryptedType::Element);
    }

    #[test]
    fn key_by_reference_is_refused() {
        let retrieval = r##"<ds:KeyInfo><ds:RetrievalMethod URI="#k" Type="http://www.w3.org/2001/04/xmlenc#EncryptedKey"/></ds:KeyInfo>"##;
        assert_eq!(read(&format!("{HEAD}{retrieval}{DATA}")).err(), Some(DecryptError::KeyNotEmbedded));
        let two_keys = KEY.replace("</ds:KeyInfo>", "").to_owned() + &KEY.replace("<ds:KeyInfo>", "");
        assert_eq!(read(&format!("{HEAD}{two_keys}{DATA}")).err(), Some(DecryptError::KeyNotEmbedded));
    }

    #[test]
    fn cipher_reference_and_unknown_algorithms_are_refused() {
        let reference =
            DATA.replace("<xenc:CipherValue>AAAA</xenc:CipherValue>", r#"<xenc:CipherReference URI="http://x/"/>"#);
        assert_eq!(read(&format!("{HEAD}{KEY}{reference}")).err(), Some(DecryptError::CipherReferenceUnsupported));
        let des = HEAD.replace("aes256-cbc", "tripledes-cbc");
        assert!(matches!(
            read(&format!("{des}{KEY}{DATA}")).err(),
            Some(DecryptError::Algorithm(CipherError::UnsupportedAlgorithm(_)))
        ));
        let rsa15 = KEY.replace("rsa-oaep-mgf1p", "rsa-1_5");
        assert!(matches!(
            read(&format!("{HEAD}{rsa15}{DATA}")).err(),
            Some(DecryptError::Algorithm(CipherError::UnsupportedAlgorithm(_)))
        ));
    }

    #[test]
    fn oaep_parameters_are_checked() {
        let sha256 = KEY.replace(
            r#"rsa-oaep-mgf1p"/>"#,
            r#"rsa-oaep-mgf1p"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/></xenc:EncryptionMethod>"#,
        );
        assert!(matches!(
            read(&format!("{HEAD}{sha256}{DATA}")).err(),
            Some(DecryptError::Algorithm(CipherError::UnsupportedDigest { .. }))
        ));
        let label = KEY.replace(
            r#"rsa-oaep-mgf1p"/>"#,
            r#"rsa-oaep-mgf1p"><xenc:OAEPparams>bGFiZWw=</xenc:OAEPparams></xenc:EncryptionMethod>"#,
        );
        assert_eq!(
            read(&format!("{HEAD}{label}{DATA}")).err(),
            Some(DecryptError::Algorithm(CipherError::OaepLabelUnsupported))
        );
    }

    #[test]
    fn missing_or_extra_parts_are_refused() {
        assert_eq!(
            read(&format!("{HEAD}{DATA}")).err(),
            Some(DecryptError::MissingElement { parent: "EncryptedData", child: "KeyInfo" })
        );
        let extra = DATA.replace("</xenc:EncryptedData>", "<xenc:Other/></xenc:EncryptedData>");
        assert!(matches!(read(&format!("{HEAD}{KEY}{extra}")).err(), Some(DecryptError::UnexpectedElement { .. })));
        let no_type = HEAD.replace(r#" Type="http://www.w3.org/2001/04/xmlenc#Element""#, "");
        assert_eq!(read(&format!("{no_type}{KEY}{DATA}")).err(), Some(DecryptError::MissingType));
    }

    /// Puts `plaintext` where `<slot/>` is in `envelope`, as a decrypted
    /// element would go in place of its `EncryptedData`.
    fn replace_slot(envelope: &str, plaintext: &str) -> Result<(Document, NodeId), DecryptError> {
        let mut doc = parse_str(envelope).unwrap();
        let slot =
            doc.descendants(NodeId::DOCUMENT).find(|&n| doc.element(n).is_some_and(|e| e.local == "slot")).unwrap();
        let decrypted =
            Decrypted { kind: EncryptedType::Element, plaintext: plaintext.as_bytes().to_vec().into(), mime_type: None };
        let id = replace_with_plaintext(&mut doc, slot, decrypted, &XmlLimits::default(), &Spool::temporary())?;
        Ok((doc, id))
    }

    #[test]
    fn plaintext_is_parsed_in_the_envelopes_namespace_context() {
        let envelope =
            r#"<r xmlns="urn:default" xmlns:p="urn:p" xmlns:q="urn:outer"><w xmlns:q="urn:inner"><slot/></w></r>"#;
        let (doc, id) = replace_slot(envelope, "<?xml version=\"1.0\"?>\n<p:a q:at=\"1\"><b/></p:a>").unwrap();
        let a = doc.element(id).unwrap();
        assert!(a.is("urn:p", "a"));
        assert!(a.namespaces.is_empty(), "context declarations must not be copied onto the element");
        assert_eq!(a.attribute_ns("urn:inner", "at"), Some("1"));
        let b = doc.child_elements(id).next().unwrap();
        assert!(doc.element(b).unwrap().is("urn:default", "b"));
        let canonical = crate::xml::canonicalize(&doc, NodeId::DOCUMENT, &crate::xml::C14nMethod::INCLUSIVE);
        assert_eq!(canonical, br#"<r xmlns="urn:default" xmlns:p="urn:p" xmlns:q="urn:outer"><w xmlns:q="urn:inner"><p:a q:at="1"><b></b></p:a></w></r>"#);
    }

    #[test]
    fn undeclared_default_namespace_stays_undeclared() {
        let (doc, id) = replace_slot(r#"<r xmlns="urn:d"><w xmlns=""><slot/></w></r>"#, "<a/>").unwrap();
        assert_eq!(doc.element(id).unwrap().namespace(), None);
    }

    #[test]
    fn plaintext_that_is_not_one_element_cannot_be_decrypted() {
        let escape = format!("<a/></{CONTEXT_WRAPPER}><{CONTEXT_WRAPPER} xmlns:p=\"urn:evil\"><p:b/>");
        for bad in ["<a/><b/>", "text<a/>", "", "<a>", "<!DOCTYPE a><a/>", "<p:a/>", "</r>", &escape] {
            assert_eq!(replace_slot("<r><slot/></r>", bad).err(), Some(DecryptError::CannotDecrypt), "{bad}");
        }
        assert!(replace_slot("<r><slot/></r>", " <!-- c --> <a/>\n").is_ok());
    }

    #[test]
    fn content_is_not_put_in_the_tree() {
        let mut doc = parse_str("<r><slot/></r>").unwrap();
        let slot = doc.child_elements(doc.document_element().unwrap()).next().unwrap();
        let decrypted = Decrypted { kind: EncryptedType::Content, plaintext: b"<a/>".to_vec().into(), mime_type: None };
        assert_eq!(
            replace_with_plaintext(&mut doc, slot, decrypted, &XmlLimits::default(), &Spool::temporary()),
            Err(DecryptError::NotAnElement)
        );
    }

    #[test]
    fn base64_with_line_breaks_decodes() {
        assert_eq!(decode_base64("aGVs\r\nbG8=\n".to_owned(), "x").unwrap(), b"hello");
        assert_eq!(decode_base64("a*b".to_owned(), "x"), Err(DecryptError::BadBase64("x")));
    }
}
