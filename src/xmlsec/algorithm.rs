//! The closed sets of signature algorithms, digests and transforms Brygga
//! accepts. Anything else in a document is refused, never ignored: SHA-1,
//! HMAC, XPath and XSLT transforms do not exist here.

use std::io;

use crate::pki::PublicKeyAlgorithm;
use crate::xml::C14nMethod;

pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// WS-Security SwA profile 1.1: a reference to a MIME attachment (`cid:`)
/// digests the attachment's content octets.
pub const ATTACHMENT_CONTENT_SIGNATURE: &str =
    "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Signature-Transform";

/// WS-Security 1.0 (`wsse:`), for `KeyInfo/wsse:SecurityTokenReference`.
pub const WSSE_NS: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// `BinarySecurityToken/@ValueType` (and `wsse:Reference/@ValueType`) of an
/// X.509v3 certificate token.
pub const WSSE_X509V3: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3";
/// `BinarySecurityToken/@EncodingType` for base64 content.
pub const WSSE_BASE64_BINARY: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    RsaSha256,
    RsaSha512,
    /// Verification only: SDK's federation issues RSA keys.
    EcdsaP256Sha256,
}

impl SignatureAlgorithm {
    pub fn uri(self) -> &'static str {
        match self {
            SignatureAlgorithm::RsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            SignatureAlgorithm::RsaSha512 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            SignatureAlgorithm::EcdsaP256Sha256 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        }
    }

    pub fn from_uri(uri: &str) -> Option<Self> {
        [Self::RsaSha256, Self::RsaSha512, Self::EcdsaP256Sha256].into_iter().find(|a| a.uri() == uri)
    }

    pub fn key_algorithm(self) -> PublicKeyAlgorithm {
        match self {
            SignatureAlgorithm::RsaSha256 | SignatureAlgorithm::RsaSha512 => PublicKeyAlgorithm::Rsa,
            SignatureAlgorithm::EcdsaP256Sha256 => PublicKeyAlgorithm::EcdsaP256,
        }
    }

    /// ring's verification parameters. XML-DSig ECDSA values are `r || s`,
    /// hence the fixed-length variant.
    pub fn verification(self) -> &'static dyn ring::signature::VerificationAlgorithm {
        match self {
            SignatureAlgorithm::RsaSha256 => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            SignatureAlgorithm::RsaSha512 => &ring::signature::RSA_PKCS1_2048_8192_SHA512,
            SignatureAlgorithm::EcdsaP256Sha256 => &ring::signature::ECDSA_P256_SHA256_FIXED,
        }
    }

    /// ring's signing parameters; `None` for verification-only algorithms.
    pub fn rsa_signing(self) -> Option<&'static dyn ring::signature::RsaEncoding> {
        match self {
            SignatureAlgorithm::RsaSha256 => Some(&ring::signature::RSA_PKCS1_SHA256),
            SignatureAlgorithm::RsaSha512 => Some(&ring::signature::RSA_PKCS1_SHA512),
            SignatureAlgorithm::EcdsaP256Sha256 => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    Sha256,
    Sha512,
}

impl DigestAlgorithm {
    pub fn uri(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
            DigestAlgorithm::Sha512 => "http://www.w3.org/2001/04/xmlenc#sha512",
        }
    }

    pub fn from_uri(uri: &str) -> Option<Self> {
        [Self::Sha256, Self::Sha512].into_iter().find(|a| a.uri() == uri)
    }

    fn ring(self) -> &'static ring::digest::Algorithm {
        match self {
            DigestAlgorithm::Sha256 => &ring::digest::SHA256,
            DigestAlgorithm::Sha512 => &ring::digest::SHA512,
        }
    }

    pub fn output_len(self) -> usize {
        self.ring().output_len()
    }

    pub fn hasher(self) -> Hasher {
        Hasher(ring::digest::Context::new(self.ring()))
    }

    pub fn digest(self, bytes: &[u8]) -> Vec<u8> {
        ring::digest::digest(self.ring(), bytes).as_ref().to_vec()
    }
}

/// A digest that canonical output can be streamed into.
pub struct Hasher(ring::digest::Context);

impl Hasher {
    pub fn finish(self) -> Vec<u8> {
        self.0.finish().as_ref().to_vec()
    }
}

impl io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A reference transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transform {
    EnvelopedSignature,
    Canonicalize(C14nMethod),
    /// SwA profile's Attachment-Content-Signature-Transform: the only
    /// transform of a `cid:` reference, and valid nowhere else.
    AttachmentContent,
}

impl Transform {
    pub fn uri(&self) -> &'static str {
        match self {
            Transform::EnvelopedSignature => ENVELOPED_SIGNATURE,
            Transform::Canonicalize(m) => m.uri(),
            Transform::AttachmentContent => ATTACHMENT_CONTENT_SIGNATURE,
        }
    }
}
