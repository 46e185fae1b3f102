//! XML Encryption of an SDK payload for one recipient, in the structure of
//! DIGG's envelope profile (C3.2.2 §3.4.2):
//!
//! ```text
//! xenc:EncryptedData @Type [@MimeType]
//!   xenc:EncryptionMethod @Algorithm            (block cipher)
//!   ds:KeyInfo
//!     xenc:EncryptedKey
//!       xenc:EncryptionMethod @Algorithm        (key transport)
//!         [ds:DigestMethod, xenc11:MGF]         (xmlenc11#rsa-oaep only)
//!       ds:KeyInfo/ds:X509Data/ds:X509Certificate
//!       xenc:CipherData/xenc:CipherValue        (wrapped session key)
//!   xenc:CipherData/xenc:CipherValue            (payload)
//! ```
//!
//! The `xenc`, `ds` (and, when used, `xenc11`) prefixes are declared on
//! `EncryptedData` itself, so the structure means the same wherever it is
//! placed. Base64 is written without line breaks; the payload's base64 text
//! is built once and moved into the tree.

use crate::pki::Certificate;
use std::io::Read;

use crate::spool::Spool;
use crate::xml::{serialize_to, Document, Element, LargeText, NodeId, NodeKind, NsDecl};

use super::cipher::{BlockCipher, CipherError, KeyTransport, SessionKey, DSIG_NS};
use super::stream::{base64_text_encoder, encrypt_stream};
pub use super::cipher::{TYPE_CONTENT, TYPE_ELEMENT, XENC11_NS, XENC_NS};

/// Which algorithms to encrypt with. The default is DIGG's profile
/// (C3.2.2 §3.4.4): AES-256-CBC, session key wrapped with rsa-oaep-mgf1p.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EncryptionOptions {
    pub cipher: BlockCipher,
    pub key_transport: KeyTransport,
}

/// Why a payload could not be encrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncryptError {
    #[error("node to encrypt is not an element")]
    NotAnElement,
    #[error("element to encrypt is not attached to a parent")]
    Detached,
    #[error(transparent)]
    Cipher(#[from] CipherError),
}

/// Encrypts `element` and its subtree and puts an `EncryptedData` of Type
/// Element in its place. Returns the `EncryptedData` node.
///
/// The plaintext is [`crate::xml::serialize`]'s output, which declares the namespaces
/// the element inherits on the element itself, so a receiver can parse it
/// standalone.
///
/// Serialising, encrypting and base64 encoding stream through `spool`: a
/// large element (one holding large text) becomes a `CipherValue` of large
/// text without the plaintext or ciphertext ever being in memory whole.
pub fn encrypt_element(
    doc: &mut Document,
    element: NodeId,
    recipient: &Certificate,
    options: &EncryptionOptions,
    spool: &Spool,
) -> Result<NodeId, EncryptError> {
    if doc.element(element).is_none() {
        return Err(EncryptError::NotAnElement);
    }
    let parent = doc.parent(element).ok_or(EncryptError::Detached)?;
    let index = doc.children(parent).iter().position(|&c| c == element).ok_or(EncryptError::Detached)?;
    let mut plaintext = spool.writer(u64::MAX);
    serialize_to(doc, element, &mut plaintext).map_err(io_failure)?;
    let plaintext = plaintext.finish().map_err(io_failure)?;
    let sealed = seal(&mut plaintext.reader().map_err(io_failure)?, recipient, options, spool)?;
    let encrypted_data = insert_encrypted_data(doc, parent, index, TYPE_ELEMENT, None, sealed, options);
    doc.detach(element);
    Ok(encrypted_data)
}

/// Replaces all children of `parent` by one `EncryptedData` of Type Content
/// holding `plaintext`: DIGG's form for non-XML payloads. `mime_type`, if
/// given, is written as `MimeType`. Returns the `EncryptedData` node.
pub fn encrypt_content(
    doc: &mut Document,
    parent: NodeId,
    plaintext: &[u8],
    mime_type: Option<&str>,
    recipient: &Certificate,
    options: &EncryptionOptions,
) -> Result<NodeId, EncryptError> {
    if doc.element(parent).is_none() {
        return Err(EncryptError::NotAnElement);
    }
    let sealed = seal(&mut &plaintext[..], recipient, options, &Spool::temporary())?;
    doc.clear_children(parent);
    Ok(insert_encrypted_data(doc, parent, 0, TYPE_CONTENT, mime_type, sealed, options))
}

/// The base64 values an `EncryptedData` carries.
struct Sealed {
    recipient_certificate: String,
    wrapped_key: String,
    /// A text node, or large text when the ciphertext is large.
    cipher_value: NodeKind,
}

/// Encrypts `plaintext` under a fresh session key and wraps that key for
/// `recipient`.
fn seal(
    plaintext: &mut impl Read,
    recipient: &Certificate,
    options: &EncryptionOptions,
    spool: &Spool,
) -> Result<Sealed, EncryptError> {
    let session_key = SessionKey::generate(options.cipher)?;
    // Wrap first: an unusable recipient certificate fails before the
    // (possibly large) payload is encrypted.
    let wrapped_key = super::base64_encode(&options.key_transport.wrap(recipient, &session_key)?);
    let mut encoder = base64_text_encoder(spool.writer(u64::MAX));
    encrypt_stream(options.cipher, &session_key, plaintext, &mut encoder)?;
    let cipher_value = encoder.finish().and_then(|w| w.finish()).map_err(io_failure)?;
    let cipher_value = match cipher_value.as_memory() {
        // base64 is ASCII.
        Some(bytes) => NodeKind::Text(String::from_utf8_lossy(bytes).into_owned()),
        None => NodeKind::LargeText(LargeText::from_base64(cipher_value).map_err(io_failure)?),
    };
    Ok(Sealed { recipient_certificate: recipient.to_base64(), wrapped_key, cipher_value })
}

fn io_failure(_: std::io::Error) -> EncryptError {
    EncryptError::Cipher(CipherError::EncryptionFailed)
}

/// Builds the `EncryptedData` tree as child number `index` of `parent`.
fn insert_encrypted_data(
    doc: &mut Document,
    parent: NodeId,
    index: usize,
    type_uri: &str,
    mime_type: Option<&str>,
    sealed: Sealed,
    options: &EncryptionOptions,
) -> NodeId {
    let mut root = Element::new_declared(Some("xenc"), "EncryptedData", XENC_NS);
    root.namespaces.push(NsDecl { prefix: Some("ds".into()), uri: DSIG_NS.into() });
    let transport = options.key_transport;
    if transport.mgf_uri().is_some() {
        root.namespaces.push(NsDecl { prefix: Some("xenc11".into()), uri: XENC11_NS.into() });
    }
    root.set_attribute("Type", type_uri);
    if let Some(mime) = mime_type {
        root.set_attribute("MimeType", mime);
    }
    let encrypted_data = doc.insert(parent, index, NodeKind::Element(root));

    append_method(doc, encrypted_data, options.cipher.uri());

    let key_info = append_element(doc, encrypted_data, "ds", DSIG_NS, "KeyInfo");
    let encrypted_key = append_element(doc, key_info, "xenc", XENC_NS, "EncryptedKey");
    let key_method = append_method(doc, encrypted_key, transport.uri());
    if let Some(digest) = transport.digest_uri() {
        let id = append_element(doc, key_method, "ds", DSIG_NS, "DigestMethod");
        set_algorithm(doc, id, digest);
    }
    if let Some(mgf) = transport.mgf_uri() {
        let id = append_element(doc, key_method, "xenc11", XENC11_NS, "MGF");
        set_algorithm(doc, id, mgf);
    }
    let recipient_info = append_element(doc, encrypted_key, "ds", DSIG_NS, "KeyInfo");
    let x509_data = append_element(doc, recipient_info, "ds", DSIG_NS, "X509Data");
    let certificate = append_element(doc, x509_data, "ds", DSIG_NS, "X509Certificate");
    doc.append(certificate, NodeKind::Text(sealed.recipient_certificate));
    append_cipher_value(doc, encrypted_key, NodeKind::Text(sealed.wrapped_key));

    append_cipher_value(doc, encrypted_data, sealed.cipher_value);
    encrypted_data
}

fn append_element(doc: &mut Document, parent: NodeId, prefix: &str, ns: &str, local: &str) -> NodeId {
    doc.append(parent, NodeKind::Element(Element::new_inherited(Some(prefix), local, ns)))
}

fn set_algorithm(doc: &mut Document, id: NodeId, uri: &str) {
    if let Some(e) = doc.element_mut(id) {
        e.set_attribute("Algorithm", uri);
    }
}

fn append_method(doc: &mut Document, parent: NodeId, algorithm: &str) -> NodeId {
    let id = append_element(doc, parent, "xenc", XENC_NS, "EncryptionMethod");
    set_algorithm(doc, id, algorithm);
    id
}

/// `xenc:CipherData/xenc:CipherValue` holding `base64`, moved, not copied.
fn append_cipher_value(doc: &mut Document, parent: NodeId, base64: NodeKind) {
    let cipher_data = append_element(doc, parent, "xenc", XENC_NS, "CipherData");
    let cipher_value = append_element(doc, cipher_data, "xenc", XENC_NS, "CipherValue");
    doc.append(cipher_value, base64);
}
