//! Verifying XML signatures, failing closed.
//!
//! The order is fixed: parse the `Signature` completely under caps (closed
//! algorithm sets, bounded references and transforms), decide whether the
//! signer's certificate is trusted, check the signature over `SignedInfo`,
//! then every reference digest. Only when all pass is a [`VerifiedSignature`]
//! built, and only here: it carries a [`SignatureValid`] proof that nothing
//! else can construct, and it hands out the nodes that were signed, so
//! callers read data from signed content and nowhere else.
//!
//! [`verify_signature`] takes the signer's certificate from `X509Data` and
//! same-document references only. [`verify_wss_signature`] is the
//! WS-Security form of the AS4 layer: the certificate comes from the
//! `wsse:BinarySecurityToken` that `KeyInfo/wsse:SecurityTokenReference`
//! points at, and `cid:` references digest MIME attachments through an
//! [`AttachmentResolver`], asked only after `SignedInfo` has verified.

use rustls_pki_types::UnixTime;

use super::algorithm::{
    DigestAlgorithm, SignatureAlgorithm, Transform, ATTACHMENT_CONTENT_SIGNATURE, DSIG_NS, ENVELOPED_SIGNATURE,
    WSSE_BASE64_BINARY, WSSE_NS, WSSE_X509V3,
};
use super::base64_decode;
use super::reference::{IdRegistry, ReferenceError};
use super::sign::{digest_reference, AttachmentResolver};
use crate::limits::{DSIG_MAX_CERTIFICATES, DSIG_MAX_REFERENCES, DSIG_MAX_TRANSFORMS};
use crate::pki::{Certificate, KeyError, TrustError, TrustPolicy, TrustedCertificate};
use crate::xml::c14n::EXC_C14N;
use crate::xml::{C14nMethod, Canonicalizer, Document, NodeId, NodeKind};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("signed content could not be read: {0}")]
    Unreadable(String),
    #[error("document is not signed")]
    NoSignature,
    #[error("document carries {0} signatures where one is expected")]
    MultipleSignatures(usize),
    #[error("malformed signature: {0}")]
    Malformed(String),
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    #[error("{0}")]
    Reference(#[from] ReferenceError),
    #[error("signer certificate: {0}")]
    BadCertificate(#[from] KeyError),
    #[error("signer not trusted: {0}")]
    Untrusted(#[from] TrustError),
    #[error("signature value does not verify")]
    BadSignatureValue,
    #[error("digest of reference '{uri}' does not match: the signed content was changed")]
    DigestMismatch { uri: String },
    #[error("signature does not cover the whole document")]
    NotWholeDocument,
    #[error("signer certificate's key usage does not allow signatures")]
    KeyUsage,
    #[error("attachment '{0}' is not available")]
    AttachmentUnavailable(String),
}

/// Proof that a signature value verified. Only this module can make one.
#[derive(Debug, Clone, Copy)]
pub struct SignatureValid(());

/// A signature that verified and whose signer is trusted.
#[derive(Debug)]
pub struct VerifiedSignature<'d> {
    doc: &'d Document,
    signature: NodeId,
    signed: Vec<(String, NodeId)>,
    /// `cid:` references whose attachment digests matched.
    attachments: Vec<String>,
    signer: TrustedCertificate,
    proof: SignatureValid,
}

impl<'d> VerifiedSignature<'d> {
    pub fn document(&self) -> &'d Document {
        self.doc
    }

    pub fn signer(&self) -> &TrustedCertificate {
        &self.signer
    }

    pub fn signature_node(&self) -> NodeId {
        self.signature
    }

    pub fn proof(&self) -> SignatureValid {
        self.proof
    }

    /// The node a reference `uri` signed (`NodeId::DOCUMENT` for `""`).
    /// Only nodes covered by a verified reference are handed out.
    pub fn signed_node(&self, uri: &str) -> Option<NodeId> {
        self.signed.iter().find(|(u, _)| u == uri).map(|(_, n)| *n)
    }

    /// Every verified reference and its node.
    pub fn references(&self) -> &[(String, NodeId)] {
        &self.signed
    }

    /// True when a reference covers the whole document.
    pub fn covers_whole_document(&self) -> bool {
        self.signed_node("").is_some()
    }

    /// The `cid:` reference URIs whose attachment content verified.
    pub fn signed_attachments(&self) -> &[String] {
        &self.attachments
    }
}

/// A whole document whose enveloped signature verified: the owned form, for
/// the stages (decryption) that must change the tree afterwards.
#[derive(Debug)]
pub struct VerifiedDocument {
    doc: Document,
    signature: NodeId,
    signer: TrustedCertificate,
    proof: SignatureValid,
}

impl VerifiedDocument {
    pub fn document(&self) -> &Document {
        &self.doc
    }

    pub fn signer(&self) -> &TrustedCertificate {
        &self.signer
    }

    pub fn signature_node(&self) -> NodeId {
        self.signature
    }

    pub fn proof(&self) -> SignatureValid {
        self.proof
    }

    /// Hands the tree on, with the proof, to the next stage.
    pub fn into_parts(self) -> (Document, TrustedCertificate, SignatureValid) {
        (self.doc, self.signer, self.proof)
    }
}

/// SDK's profile: exactly one `ds:Signature`, a child of the document
/// element, with a reference covering the whole document (`URI=""`).
pub fn verify_enveloped(doc: Document, policy: &TrustPolicy, at: UnixTime) -> Result<VerifiedDocument, VerifyError> {
    let signature = find_enveloped_signature(&doc)?;
    let verified = verify_signature(&doc, signature, policy, at)?;
    if !verified.covers_whole_document() {
        return Err(VerifyError::NotWholeDocument);
    }
    let (signer, proof) = (verified.signer.clone(), verified.proof);
    Ok(VerifiedDocument { doc, signature, signer, proof })
}

/// The single `ds:Signature` child of the document element.
pub fn find_enveloped_signature(doc: &Document) -> Result<NodeId, VerifyError> {
    let root = doc.document_element().ok_or(VerifyError::NoSignature)?;
    let signatures: Vec<NodeId> = doc.children_named(root, DSIG_NS, "Signature").collect();
    match signatures.len() {
        0 => Err(VerifyError::NoSignature),
        1 => Ok(signatures[0]),
        n => Err(VerifyError::MultipleSignatures(n)),
    }
}

/// Verifies the `ds:Signature` element at `signature`.
pub fn verify_signature<'d>(
    doc: &'d Document,
    signature: NodeId,
    policy: &TrustPolicy,
    at: UnixTime,
) -> Result<VerifiedSignature<'d>, VerifyError> {
    verify_with(doc, signature, None, policy, at)
}

/// Verifies a WS-Security signature (WSS 1.1 with the X.509 token and SwA
/// profiles): `KeyInfo` must be a `wsse:SecurityTokenReference` to a
/// `wsse:BinarySecurityToken` in the signature's own parent (the
/// `wsse:Security` header), and `cid:` references, with exactly the
/// attachment content transform, are digested over what `attachments` hands
/// out for them.
pub fn verify_wss_signature<'d>(
    doc: &'d Document,
    signature: NodeId,
    attachments: &mut dyn AttachmentResolver,
    policy: &TrustPolicy,
    at: UnixTime,
) -> Result<VerifiedSignature<'d>, VerifyError> {
    verify_with(doc, signature, Some(attachments), policy, at)
}

/// `attachments` is `Some` for the WS-Security form only.
fn verify_with<'d>(
    doc: &'d Document,
    signature: NodeId,
    mut attachments: Option<&mut dyn AttachmentResolver>,
    policy: &TrustPolicy,
    at: UnixTime,
) -> Result<VerifiedSignature<'d>, VerifyError> {
    let parsed = ParsedSignature::parse(doc, signature, attachments.is_some())?;

    let (signer, intermediates) = parsed.certificates.split_first().expect("parse requires one certificate");
    let trusted = policy.check(signer, intermediates, at)?;
    if !signer.allows_signing() {
        return Err(VerifyError::KeyUsage);
    }

    let (key_algorithm, public_key) = signer.public_key()?;
    if key_algorithm != parsed.algorithm.key_algorithm() {
        return Err(VerifyError::UnsupportedAlgorithm(format!(
            "{} with a {key_algorithm:?} key",
            parsed.algorithm.uri()
        )));
    }
    let canonical = Canonicalizer::new(doc, &parsed.c14n).to_vec(parsed.signed_info);
    ring::signature::UnparsedPublicKey::new(parsed.algorithm.verification(), &public_key)
        .verify(&canonical, &parsed.signature_value)
        .map_err(|_| VerifyError::BadSignatureValue)?;

    let needs_registry = parsed.references.iter().any(|r| !r.uri.is_empty() && !r.is_attachment());
    let registry = if needs_registry { Some(IdRegistry::build(doc)?) } else { None };
    let mut signed = Vec::with_capacity(parsed.references.len());
    let mut signed_attachments = Vec::new();
    for r in &parsed.references {
        if r.is_attachment() {
            // Parsing admits cid: references only in the WS-Security form.
            let resolver = attachments.as_deref_mut().ok_or_else(|| malformed("attachment reference"))?;
            let content_id = r.uri.strip_prefix("cid:").unwrap_or_default();
            let content =
                resolver.attachment(content_id).ok_or_else(|| VerifyError::AttachmentUnavailable(r.uri.clone()))?;
            // A read failure of a spooled attachment leaves it unverified.
            let digest = content.digest(r.digest).map_err(|_| VerifyError::AttachmentUnavailable(r.uri.clone()))?;
            if !constant_time_eq(&digest, &r.digest_value) {
                return Err(VerifyError::DigestMismatch { uri: r.uri.clone() });
            }
            signed_attachments.push(r.uri.clone());
            continue;
        }
        let target = match &registry {
            Some(reg) => reg.resolve(&r.uri)?,
            None => NodeId::DOCUMENT,
        };
        let digest = digest_reference(doc, target, signature, &r.transforms, r.digest)
            .map_err(|e| VerifyError::Unreadable(e.to_string()))?;
        if !constant_time_eq(&digest, &r.digest_value) {
            return Err(VerifyError::DigestMismatch { uri: r.uri.clone() });
        }
        signed.push((r.uri.clone(), target));
    }
    Ok(VerifiedSignature {
        doc,
        signature,
        signed,
        attachments: signed_attachments,
        signer: trusted,
        proof: SignatureValid(()),
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

struct ParsedReference {
    uri: String,
    transforms: Vec<Transform>,
    digest: DigestAlgorithm,
    digest_value: Vec<u8>,
}

impl ParsedReference {
    fn is_attachment(&self) -> bool {
        self.transforms == [Transform::AttachmentContent]
    }
}

/// A `Signature` element read completely, under caps, before anything is
/// checked ("full recognition before processing").
struct ParsedSignature {
    signed_info: NodeId,
    c14n: C14nMethod,
    algorithm: SignatureAlgorithm,
    references: Vec<ParsedReference>,
    signature_value: Vec<u8>,
    certificates: Vec<Certificate>,
}

fn malformed(what: impl Into<String>) -> VerifyError {
    VerifyError::Malformed(what.into())
}

impl ParsedSignature {
    /// `wss` selects the WS-Security form (token reference, attachments).
    fn parse(doc: &Document, signature: NodeId, wss: bool) -> Result<Self, VerifyError> {
        let children = dsig_children(doc, signature)?;
        // Exactly these three (C3.2.2 §3.5.1). A ds:Object is refused: the
        // enveloped transform cuts the whole Signature out of what is
        // digested, so anything carried there would ride along unsigned.
        let [signed_info, signature_value, key_info] = children.as_slice() else {
            return Err(malformed("Signature must hold exactly SignedInfo, SignatureValue and KeyInfo"));
        };
        expect_name(doc, *signed_info, "SignedInfo")?;
        expect_name(doc, *signature_value, "SignatureValue")?;
        expect_name(doc, *key_info, "KeyInfo")?;

        let info = dsig_children(doc, *signed_info)?;
        let [c14n_node, method_node, reference_nodes @ ..] = info.as_slice() else {
            return Err(malformed("SignedInfo needs CanonicalizationMethod, SignatureMethod and a Reference"));
        };
        expect_name(doc, *c14n_node, "CanonicalizationMethod")?;
        expect_name(doc, *method_node, "SignatureMethod")?;
        let c14n = parse_c14n_method(doc, *c14n_node)?;
        let algorithm_uri = algorithm_attribute(doc, *method_node)?;
        let algorithm = SignatureAlgorithm::from_uri(algorithm_uri)
            .ok_or_else(|| VerifyError::UnsupportedAlgorithm(algorithm_uri.to_owned()))?;
        if !dsig_children(doc, *method_node)?.is_empty() {
            return Err(malformed("SignatureMethod has unexpected parameters"));
        }
        if reference_nodes.is_empty() {
            return Err(malformed("SignedInfo has no Reference"));
        }
        if reference_nodes.len() > DSIG_MAX_REFERENCES {
            return Err(malformed(format!("more than {DSIG_MAX_REFERENCES} references")));
        }
        let references =
            reference_nodes.iter().map(|&r| parse_reference(doc, r, wss)).collect::<Result<Vec<_>, _>>()?;

        let signature_value = decode_text(doc, *signature_value, "SignatureValue")?;
        let certificates =
            if wss { parse_token_reference(doc, *key_info, signature)? } else { parse_key_info(doc, *key_info)? };
        Ok(Self { signed_info: *signed_info, c14n, algorithm, references, signature_value, certificates })
    }
}

/// Element children of `id`; refuses non-whitespace text and elements
/// outside the XML-DSig namespace where the schema has none.
fn dsig_children(doc: &Document, id: NodeId) -> Result<Vec<NodeId>, VerifyError> {
    let mut out = Vec::new();
    for &c in doc.children(id) {
        match doc.kind(c) {
            NodeKind::Element(_) => out.push(c),
            NodeKind::Text(t) if t.trim().is_empty() => {}
            NodeKind::Comment(_) | NodeKind::Pi(_) => {}
            _ => return Err(malformed("unexpected text inside signature markup")),
        }
    }
    Ok(out)
}

fn expect_name(doc: &Document, id: NodeId, local: &str) -> Result<(), VerifyError> {
    match doc.element(id) {
        Some(e) if e.is(DSIG_NS, local) => Ok(()),
        Some(e) => Err(malformed(format!("expected ds:{local}, found {}", e.qname()))),
        None => Err(malformed(format!("expected ds:{local}"))),
    }
}

fn algorithm_attribute(doc: &Document, id: NodeId) -> Result<&str, VerifyError> {
    doc.element(id)
        .and_then(|e| e.attribute("Algorithm"))
        .ok_or_else(|| malformed("Algorithm attribute missing"))
}

/// A canonicalisation method element (`CanonicalizationMethod` or
/// `Transform`), with its `InclusiveNamespaces` prefix list if exclusive.
fn parse_c14n_method(doc: &Document, id: NodeId) -> Result<C14nMethod, VerifyError> {
    let uri = algorithm_attribute(doc, id)?;
    let mut method = C14nMethod::from_uri(uri).ok_or_else(|| VerifyError::UnsupportedAlgorithm(uri.to_owned()))?;
    let params: Vec<NodeId> = doc.child_elements(id).collect();
    match params.as_slice() {
        [] => {}
        [p] if method.exclusive => {
            let e = doc.element(*p).expect("child_elements yields elements");
            if !e.is(EXC_C14N, "InclusiveNamespaces") {
                return Err(malformed(format!("unexpected {} in canonicalization method", e.qname())));
            }
            let list = e.attribute("PrefixList").ok_or_else(|| malformed("InclusiveNamespaces without PrefixList"))?;
            method = method.with_prefix_list(list);
        }
        _ => return Err(malformed("unexpected parameters in canonicalization method")),
    }
    Ok(method)
}

fn parse_reference(doc: &Document, id: NodeId, wss: bool) -> Result<ParsedReference, VerifyError> {
    expect_name(doc, id, "Reference")?;
    let element = doc.element(id).expect("checked above");
    let uri = element.attribute("URI").ok_or_else(|| malformed("Reference without URI"))?.to_owned();
    let children = dsig_children(doc, id)?;
    let (transforms_node, rest) = match children.split_first() {
        Some((&first, rest)) if doc.element(first).is_some_and(|e| e.is(DSIG_NS, "Transforms")) => (Some(first), rest),
        _ => (None, children.as_slice()),
    };
    let [digest_method, digest_value] = rest else {
        return Err(malformed("Reference needs DigestMethod and DigestValue"));
    };
    expect_name(doc, *digest_method, "DigestMethod")?;
    expect_name(doc, *digest_value, "DigestValue")?;
    let digest_uri = algorithm_attribute(doc, *digest_method)?;
    let digest = DigestAlgorithm::from_uri(digest_uri).ok_or_else(|| VerifyError::UnsupportedAlgorithm(digest_uri.to_owned()))?;
    let digest_value = decode_text(doc, *digest_value, "DigestValue")?;
    if digest_value.len() != digest.output_len() {
        return Err(malformed("DigestValue has the wrong length"));
    }

    let mut transforms = Vec::new();
    if let Some(t) = transforms_node {
        let nodes = dsig_children(doc, t)?;
        if nodes.len() > DSIG_MAX_TRANSFORMS {
            return Err(malformed(format!("more than {DSIG_MAX_TRANSFORMS} transforms")));
        }
        for node in nodes {
            expect_name(doc, node, "Transform")?;
            let algorithm = algorithm_attribute(doc, node)?;
            let transform = if algorithm == ENVELOPED_SIGNATURE {
                Transform::EnvelopedSignature
            } else if wss && algorithm == ATTACHMENT_CONTENT_SIGNATURE {
                if !dsig_children(doc, node)?.is_empty() {
                    return Err(malformed("attachment content transform has unexpected parameters"));
                }
                Transform::AttachmentContent
            } else {
                Transform::Canonicalize(parse_c14n_method(doc, node)?)
            };
            transforms.push(transform);
        }
    }
    // An attachment is octets: its one transform is the attachment content
    // transform, which means nothing on a node-set.
    let attachment = wss && uri.starts_with("cid:");
    if attachment || transforms.contains(&Transform::AttachmentContent) {
        if !attachment || transforms != [Transform::AttachmentContent] {
            return Err(malformed("a cid: reference takes exactly the attachment content transform"));
        }
        return Ok(ParsedReference { uri, transforms, digest, digest_value });
    }
    // Only "enveloped, then one canonicalisation" makes sense on a node-set;
    // anything else is refused rather than guessed at.
    let enveloped = transforms.iter().filter(|t| **t == Transform::EnvelopedSignature).count();
    let canonical = transforms.len() - enveloped;
    let enveloped_first = enveloped == 0 || transforms[0] == Transform::EnvelopedSignature;
    if enveloped > 1 || canonical > 1 || !enveloped_first {
        return Err(malformed("unsupported transform chain"));
    }
    Ok(ParsedReference { uri, transforms, digest, digest_value })
}

fn parse_key_info(doc: &Document, key_info: NodeId) -> Result<Vec<Certificate>, VerifyError> {
    let mut certificates = Vec::new();
    for data in dsig_children(doc, key_info)? {
        expect_name(doc, data, "X509Data")?;
        for item in dsig_children(doc, data)? {
            let e = doc.element(item).expect("dsig_children yields elements");
            if e.namespace() != Some(DSIG_NS) {
                return Err(malformed(format!("unexpected {} in X509Data", e.qname())));
            }
            if !e.is(DSIG_NS, "X509Certificate") {
                continue; // X509IssuerSerial, X509SubjectName, X509SKI: hints only, never trusted
            }
            if certificates.len() == DSIG_MAX_CERTIFICATES {
                return Err(malformed(format!("more than {DSIG_MAX_CERTIFICATES} certificates")));
            }
            certificates.push(Certificate::from_der(decode_text(doc, item, "X509Certificate")?)?);
        }
    }
    if certificates.is_empty() {
        return Err(malformed("KeyInfo carries no X509Certificate"));
    }
    Ok(certificates)
}

/// The WS-Security `KeyInfo`: exactly one `wsse:SecurityTokenReference`
/// holding exactly one `wsse:Reference` to an X.509v3
/// `wsse:BinarySecurityToken` that is a sibling of the signature. Key
/// identifiers, issuer-serial and external references are refused: the
/// certificate travels in the message or the signature is not checked.
fn parse_token_reference(doc: &Document, key_info: NodeId, signature: NodeId) -> Result<Vec<Certificate>, VerifyError> {
    let children = dsig_children(doc, key_info)?;
    let [token_reference] = children.as_slice() else {
        return Err(malformed("KeyInfo must hold exactly one wsse:SecurityTokenReference"));
    };
    let e = doc.element(*token_reference).expect("dsig_children yields elements");
    if !e.is(WSSE_NS, "SecurityTokenReference") {
        return Err(malformed(format!("expected wsse:SecurityTokenReference, found {}", e.qname())));
    }
    let children = dsig_children(doc, *token_reference)?;
    let [reference] = children.as_slice() else {
        return Err(malformed("SecurityTokenReference must hold exactly one wsse:Reference"));
    };
    let e = doc.element(*reference).expect("dsig_children yields elements");
    if !e.is(WSSE_NS, "Reference") {
        return Err(malformed(format!("expected wsse:Reference, found {}", e.qname())));
    }
    if e.attribute("ValueType").is_some_and(|v| v != WSSE_X509V3) {
        return Err(malformed("wsse:Reference ValueType is not X509v3"));
    }
    let uri = e.attribute("URI").ok_or_else(|| malformed("wsse:Reference without URI"))?;
    if !uri.starts_with('#') {
        return Err(malformed("wsse:Reference must point into the message"));
    }
    let token = IdRegistry::build(doc)?.resolve(uri)?;
    let t = doc.element(token).ok_or_else(|| malformed("token reference does not name an element"))?;
    if !t.is(WSSE_NS, "BinarySecurityToken") {
        return Err(malformed(format!("token reference names {}, not wsse:BinarySecurityToken", t.qname())));
    }
    if t.attribute("ValueType") != Some(WSSE_X509V3) {
        return Err(malformed("BinarySecurityToken is not an X509v3 token"));
    }
    if t.attribute("EncodingType").is_some_and(|v| v != WSSE_BASE64_BINARY) {
        return Err(malformed("BinarySecurityToken is not Base64Binary"));
    }
    if doc.parent(token) != doc.parent(signature) {
        return Err(malformed("BinarySecurityToken is not in the signature's security header"));
    }
    Ok(vec![Certificate::from_der(decode_text(doc, token, "BinarySecurityToken")?)?])
}

fn decode_text(doc: &Document, id: NodeId, what: &str) -> Result<Vec<u8>, VerifyError> {
    let text = doc.simple_text(id).ok_or_else(|| malformed(format!("{what} has child elements")))?;
    base64_decode(&text).map_err(|_| malformed(format!("{what} is not valid base64")))
}
