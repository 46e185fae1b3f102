//! Creating XML signatures: enveloped over the whole document (SDK's XHE and
//! receipt profile), or over same-document `#id` references; for
//! WS-Security (the AS4 layer) also over MIME attachments (`cid:`) with a
//! `KeyInfo` that points at a `wsse:BinarySecurityToken`.
//!
//! The `Signature` element is placed first, with empty values, so digests
//! are computed over exactly the tree the verifier will see.

use std::io::{self, Write as _};

use ring::rand::SystemRandom;

use super::algorithm::{DigestAlgorithm, SignatureAlgorithm, Transform, DSIG_NS, WSSE_NS, WSSE_X509V3};
use super::reference::{IdRegistry, ReferenceError};
use super::{base64_encode, set_text};
use crate::pki::{Certificate, PrivateKey};
use crate::spool::Blob;
use crate::xml::{parse_str, C14nMethod, Canonicalizer, Document, NodeId};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("document has no root element")]
    NoRootElement,
    #[error("{0}")]
    Reference(#[from] ReferenceError),
    #[error("signature algorithm {0} cannot be used for signing")]
    UnsupportedAlgorithm(&'static str),
    #[error("private key cannot sign: {0}")]
    BadKey(String),
    #[error("signed content could not be read: {0}")]
    Unreadable(String),
    #[error(
        "reference '{0}': a cid: reference takes exactly the attachment content transform, and no other reference takes it"
    )]
    AttachmentTransform(String),
    #[error("attachment '{uri}' cannot be read: {reason}")]
    AttachmentRead { uri: String, reason: String },
}

/// The octets of MIME attachments by content ID, for `cid:` references (WS-Security
/// SwA profile 1.1). The verifier asks for an attachment only after `SignedInfo`
/// has verified against a trusted signer, so a resolver may do costly work, such
/// as decrypting, on demand.
pub trait AttachmentResolver {
    /// The content of the attachment whose Content-ID is `content_id` (the
    /// reference URI without `cid:`), or `None` when there is none.
    fn attachment(&mut self, content_id: &str) -> Option<AttachmentContent<'_>>;
}

/// An attachment's octets: bytes in memory, or a [`Blob`] that is digested
/// in chunks without being loaded (a payload of 100 MB and more).
#[derive(Debug, Clone, Copy)]
pub enum AttachmentContent<'a> {
    Bytes(&'a [u8]),
    Blob(&'a Blob),
}

impl AttachmentContent<'_> {
    /// The content's digest; a blob is read in chunks, which can fail.
    pub fn digest(self, algorithm: DigestAlgorithm) -> io::Result<Vec<u8>> {
        match self {
            AttachmentContent::Bytes(bytes) => Ok(algorithm.digest(bytes)),
            AttachmentContent::Blob(blob) => {
                let mut hasher = algorithm.hasher();
                blob.for_each_chunk(|chunk| hasher.write_all(chunk).expect("hashing cannot fail"))?;
                Ok(hasher.finish())
            }
        }
    }
}

/// A fixed set of attachments.
#[derive(Debug, Clone, Default)]
pub struct Attachments<'a> {
    parts: Vec<(&'a str, AttachmentContent<'a>)>,
}

impl<'a> Attachments<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, content_id: &'a str, content: &'a [u8]) -> Self {
        self.parts.push((content_id, AttachmentContent::Bytes(content)));
        self
    }

    /// An attachment held in a blob, digested without loading it.
    pub fn with_blob(mut self, content_id: &'a str, content: &'a Blob) -> Self {
        self.parts.push((content_id, AttachmentContent::Blob(content)));
        self
    }
}

impl AttachmentResolver for Attachments<'_> {
    fn attachment(&mut self, content_id: &str) -> Option<AttachmentContent<'_>> {
        self.parts.iter().find(|(id, _)| *id == content_id).map(|(_, content)| *content)
    }
}

/// What the signature's `KeyInfo` holds.
#[derive(Debug, Clone, Copy)]
pub enum KeyInfoSpec<'a> {
    /// The signer's certificate in `X509Data` (SDK's envelope profile).
    X509Certificate(&'a Certificate),
    /// A `wsse:SecurityTokenReference` to the `wsse:BinarySecurityToken` whose
    /// `wsu:Id` this is, which holds the signer's certificate (WS-Security
    /// X.509 token profile 1.1 §3.3.2).
    TokenReference(&'a str),
}

/// How to sign.
#[derive(Debug, Clone)]
pub struct SigningOptions {
    /// Used for `SignedInfo` and as the references' final transform.
    pub c14n: C14nMethod,
    pub algorithm: SignatureAlgorithm,
    pub digest: DigestAlgorithm,
}

impl Default for SigningOptions {
    /// DIGG's envelope profile: inclusive C14N 1.0, RSA-SHA256, SHA-256.
    fn default() -> Self {
        Self { c14n: C14nMethod::INCLUSIVE, algorithm: SignatureAlgorithm::RsaSha256, digest: DigestAlgorithm::Sha256 }
    }
}

/// One `Reference` to create: a same-document URI and its transforms.
#[derive(Debug, Clone)]
pub struct ReferenceSpec {
    /// `""` for the whole document or `#id`.
    pub uri: String,
    pub transforms: Vec<Transform>,
}

/// Signs the whole document with an enveloped signature appended as the
/// last child of the document element. Returns the `Signature` element.
pub fn sign_enveloped(
    doc: &mut Document,
    key: &PrivateKey,
    certificate: &Certificate,
    options: &SigningOptions,
) -> Result<NodeId, SignError> {
    let root = doc.document_element().ok_or(SignError::NoRootElement)?;
    let reference = ReferenceSpec {
        uri: String::new(),
        transforms: vec![Transform::EnvelopedSignature, Transform::Canonicalize(options.c14n.clone())],
    };
    let at = doc.children(root).len();
    sign(doc, root, at, &[reference], key, certificate, options)
}

/// Creates a `Signature` as child number `index` of `parent` over
/// `references`, with the signer's certificate in `KeyInfo/X509Data`.
pub fn sign(
    doc: &mut Document,
    parent: NodeId,
    index: usize,
    references: &[ReferenceSpec],
    key: &PrivateKey,
    certificate: &Certificate,
    options: &SigningOptions,
) -> Result<NodeId, SignError> {
    let key_info = KeyInfoSpec::X509Certificate(certificate);
    sign_with(doc, parent, index, references, &mut Attachments::new(), key_info, key, options)
}

/// [`sign`] with attachments for `cid:` references and a choice of `KeyInfo`.
#[allow(clippy::too_many_arguments)]
pub fn sign_with(
    doc: &mut Document,
    parent: NodeId,
    index: usize,
    references: &[ReferenceSpec],
    attachments: &mut dyn AttachmentResolver,
    key_info: KeyInfoSpec<'_>,
    key: &PrivateKey,
    options: &SigningOptions,
) -> Result<NodeId, SignError> {
    let encoding = options.algorithm.rsa_signing().ok_or(SignError::UnsupportedAlgorithm(options.algorithm.uri()))?;
    for r in references {
        let attachment = r.uri.starts_with("cid:");
        let attachment_transforms = r.transforms == [Transform::AttachmentContent];
        if attachment != attachment_transforms || (!attachment && r.transforms.contains(&Transform::AttachmentContent)) {
            return Err(SignError::AttachmentTransform(r.uri.clone()));
        }
    }

    let template = signature_template(references, key_info, options);
    let fragment = parse_str(&template).expect("signature template is well-formed");
    let signature = doc.adopt(parent, index, fragment)[0];

    let signed_info = doc.child_named(signature, DSIG_NS, "SignedInfo").expect("template has SignedInfo");
    let reference_nodes: Vec<NodeId> = doc.children_named(signed_info, DSIG_NS, "Reference").collect();
    let needs_registry = references.iter().any(|r| !r.uri.is_empty() && !r.uri.starts_with("cid:"));
    let registry = if needs_registry { Some(IdRegistry::build(doc)?) } else { None };
    for (spec, &reference_node) in references.iter().zip(&reference_nodes) {
        let digest = if let Some(content_id) = spec.uri.strip_prefix("cid:") {
            let content =
                attachments.attachment(content_id).ok_or_else(|| ReferenceError::UnknownId(spec.uri.clone()))?;
            content
                .digest(options.digest)
                .map_err(|e| SignError::AttachmentRead { uri: spec.uri.clone(), reason: e.to_string() })?
        } else {
            let target = match &registry {
                Some(r) => r.resolve(&spec.uri)?,
                None => NodeId::DOCUMENT,
            };
            digest_reference(doc, target, signature, &spec.transforms, options.digest)
                .map_err(|e| SignError::Unreadable(e.to_string()))?
        };
        let value = doc.child_named(reference_node, DSIG_NS, "DigestValue").expect("template has DigestValue");
        set_text(doc, value, &base64_encode(&digest));
    }

    let canonical = Canonicalizer::new(doc, &options.c14n).to_vec(signed_info);
    let signature_value = rsa_sign(key, options.algorithm, encoding, &canonical)?;
    let value = doc.child_named(signature, DSIG_NS, "SignatureValue").expect("template has SignatureValue");
    set_text(doc, value, &base64_encode(&signature_value));
    Ok(signature)
}

/// An RSA PKCS#1 v1.5 signature of `message` (deterministic: either library
/// gives the same octets). aws-lc-rs signs when it takes the key, about
/// twice as fast as ring on CPUs with AVX-512 IFMA; ring otherwise. Both key
/// forms are parsed once per key (see `PrivateKey`).
fn rsa_sign(
    key: &PrivateKey,
    algorithm: SignatureAlgorithm,
    ring_encoding: &'static dyn ring::signature::RsaEncoding,
    message: &[u8],
) -> Result<Vec<u8>, SignError> {
    let aws_encoding: Option<&'static dyn aws_lc_rs::signature::RsaEncoding> = match algorithm {
        SignatureAlgorithm::RsaSha256 => Some(&aws_lc_rs::signature::RSA_PKCS1_SHA256),
        SignatureAlgorithm::RsaSha512 => Some(&aws_lc_rs::signature::RSA_PKCS1_SHA512),
        SignatureAlgorithm::EcdsaP256Sha256 => None,
    };
    if let (Some(key_pair), Some(encoding)) = (key.aws_lc_key_pair(), aws_encoding) {
        let mut signature = vec![0; key_pair.public_modulus_len()];
        key_pair
            .sign(encoding, &aws_lc_rs::rand::SystemRandom::new(), message, &mut signature)
            .map_err(|e| SignError::BadKey(e.to_string()))?;
        return Ok(signature);
    }
    let key_pair = key.rsa_key_pair();
    let mut signature = vec![0; key_pair.public().modulus_len()];
    key_pair
        .sign(ring_encoding, &SystemRandom::new(), message, &mut signature)
        .map_err(|e| SignError::BadKey(e.to_string()))?;
    Ok(signature)
}

/// Digest of a reference target after its transforms. Shared with the
/// verifier so both sides compute the very same octets.
pub(crate) fn digest_reference(
    doc: &Document,
    target: NodeId,
    signature: NodeId,
    transforms: &[Transform],
    digest: DigestAlgorithm,
) -> std::io::Result<Vec<u8>> {
    let exclude = transforms.contains(&Transform::EnvelopedSignature).then_some(signature);
    let method = transforms
        .iter()
        .find_map(|t| match t {
            Transform::Canonicalize(m) => Some(m.clone()),
            Transform::EnvelopedSignature | Transform::AttachmentContent => None,
        })
        .unwrap_or(C14nMethod::INCLUSIVE);
    // Same-document references never include comments (XML-DSig §4.4.3.3).
    let method = C14nMethod { with_comments: false, ..method };
    let mut hasher = digest.hasher();
    Canonicalizer::new(doc, &method)
        .excluding(exclude)
        .write_to(target, &mut hasher)?; // fails only on reading large text from disk
    Ok(hasher.finish())
}

fn signature_template(references: &[ReferenceSpec], key_info: KeyInfoSpec<'_>, options: &SigningOptions) -> String {
    let mut s = format!(
        "<ds:Signature xmlns:ds=\"{DSIG_NS}\"><ds:SignedInfo>{}<ds:SignatureMethod Algorithm=\"{}\"/>",
        method_element("CanonicalizationMethod", &options.c14n),
        options.algorithm.uri()
    );
    for r in references {
        s.push_str(&format!("<ds:Reference URI=\"{}\"><ds:Transforms>", escape_attr(&r.uri)));
        for t in &r.transforms {
            match t {
                Transform::EnvelopedSignature | Transform::AttachmentContent => {
                    s.push_str(&format!("<ds:Transform Algorithm=\"{}\"/>", t.uri()));
                }
                Transform::Canonicalize(m) => s.push_str(&method_element("Transform", m)),
            }
        }
        s.push_str(&format!(
            "</ds:Transforms><ds:DigestMethod Algorithm=\"{}\"/><ds:DigestValue></ds:DigestValue></ds:Reference>",
            options.digest.uri()
        ));
    }
    s.push_str("</ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo>");
    match key_info {
        KeyInfoSpec::X509Certificate(certificate) => s.push_str(&format!(
            "<ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data>",
            certificate.to_base64()
        )),
        KeyInfoSpec::TokenReference(token_id) => s.push_str(&format!(
            "<wsse:SecurityTokenReference xmlns:wsse=\"{WSSE_NS}\"><wsse:Reference URI=\"#{}\" ValueType=\"{WSSE_X509V3}\"/></wsse:SecurityTokenReference>",
            escape_attr(token_id)
        )),
    }
    s.push_str("</ds:KeyInfo></ds:Signature>");
    s
}

/// A `CanonicalizationMethod` or `Transform` element for `method`, with an
/// `InclusiveNamespaces` child when it has a prefix list.
fn method_element(name: &str, method: &C14nMethod) -> String {
    if method.exclusive && !method.inclusive_prefixes.is_empty() {
        let list: Vec<&str> = method.inclusive_prefixes.iter().map(|p| p.as_deref().unwrap_or("#default")).collect();
        format!(
            "<ds:{name} Algorithm=\"{}\"><ec:InclusiveNamespaces xmlns:ec=\"{}\" PrefixList=\"{}\"/></ds:{name}>",
            method.uri(),
            crate::xml::c14n::EXC_C14N,
            escape_attr(&list.join(" "))
        )
    } else {
        format!("<ds:{name} Algorithm=\"{}\"/>", method.uri())
    }
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;")
}
