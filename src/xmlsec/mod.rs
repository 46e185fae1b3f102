//! XML Signature and XML Encryption for SDK's profiles.
//!
//! Closed sets of algorithms ([`algorithm`]), strict reference resolution
//! ([`reference`]), signing and verification, encryption and decryption.
//! Nothing here trusts a document: verification returns a
//! [`VerifiedSignature`] that only this module can build, and callers read
//! the signed content through it.

pub mod algorithm;
pub mod reference;
pub mod sign;
pub mod verify;

pub use sign::{sign, sign_enveloped, ReferenceSpec, SignError, SigningOptions};
pub use verify::{verify_enveloped, verify_signature, SignatureValid, VerifiedDocument, VerifiedSignature, VerifyError};

use base64::Engine as _;

/// Decodes base64 element content, which XML tools wrap at 64 or 76 columns.
pub fn base64_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let engine = &base64::engine::general_purpose::STANDARD;
    if !text.bytes().any(|b| b.is_ascii_whitespace()) {
        return engine.decode(text);
    }
    let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    engine.decode(compact)
}

pub fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub mod cipher;
pub mod decrypt;
pub mod encrypt;
pub mod stream;

/// Replaces the children of `element` with one text node.
pub(crate) fn set_text(doc: &mut crate::xml::Document, element: crate::xml::NodeId, text: &str) {
    doc.clear_children(element);
    doc.append(element, crate::xml::NodeKind::Text(text.to_owned()));
}
