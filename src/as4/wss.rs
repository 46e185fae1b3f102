//! The WS-Security 1.1 header of DIGG's AS4 profile (eDelivery AS4 1.15
//! common profile, Domibus policy `eDeliveryAS4Policy_BST`):
//!
//! ```text
//! wsse:Security @env:mustUnderstand
//!   wsu:Timestamp @wsu:Id (Created, Expires)           signed
//!   wsse:BinarySecurityToken @wsu:Id (X509v3)          the sending AP's certificate
//!   xenc:EncryptedKey @Id                              user messages only
//!     EncryptionMethod xmlenc11#rsa-oaep (SHA-256, MGF1-SHA-256)
//!     ds:KeyInfo/wsse:SecurityTokenReference           names the receiver's certificate
//!     CipherData/CipherValue                           the wrapped AES-128 key
//!     ReferenceList/DataReference → EncryptedData
//!   xenc:EncryptedData @Id @Type=SwA Attachment-Content-Only
//!     EncryptionMethod xmlenc11#aes128-gcm
//!     ds:KeyInfo/wsse:SecurityTokenReference → EncryptedKey
//!     CipherData/CipherReference @URI=cid:… (Attachment-Ciphertext-Transform)
//!   ds:Signature                                        RSA-SHA256, exclusive C14N
//!     references: #Body, #Messaging, #Timestamp (exc-c14n), cid:… (SwA content)
//!     KeyInfo/wsse:SecurityTokenReference/wsse:Reference → the token
//! ```
//!
//! Order of protection: sign, then encrypt (WS-SecurityPolicy's default
//! `SignBeforeEncrypting`, which Domibus' and Oxalis' eDelivery policies
//! state). The attachment reference digests the compressed payload; the
//! attachment part then carries its encryption. A receiver checks the
//! signature over `SignedInfo` and the signer's trust first, then decrypts,
//! then compares the attachment digest with the plaintext.

use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

use crate::pki::{Certificate, PrivateKey};
use crate::spool::{Blob, Recorded, Spool};
use crate::xml::c14n::EXC_C14N;
use crate::xml::{Document, NodeId};
use crate::xmlsec::algorithm::{
    DigestAlgorithm, SignatureAlgorithm, ATTACHMENT_CONTENT_SIGNATURE, DSIG_NS, WSSE_BASE64_BINARY, WSSE_NS,
    WSSE_X509V3,
};
use crate::xmlsec::cipher::{BlockCipher, CipherError, KeyTransport, SessionKey, XENC11_NS, XENC_NS};
use crate::xmlsec::reference::WSU_NS;
use crate::xmlsec::stream::{decrypt_stream, encrypt_stream};
use crate::xmlsec::sign::{AttachmentContent, AttachmentResolver};
use crate::xmlsec::{base64_decode, base64_encode};

use super::error::{As4Error, HeaderError, LocalError, SecurityError};
use super::soap::{attr, element_children};

/// WS-Security 1.1 (`wsse11:`), for `TokenType`.
pub const WSSE11_NS: &str = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd";
/// `EncryptedData/@Type` for an encrypted attachment body (SwA 1.1, §5.5).
pub const ATTACHMENT_CONTENT_ONLY: &str =
    "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Only";
/// `CipherReference` transform: the ciphertext is the attachment's body.
pub const ATTACHMENT_CIPHERTEXT: &str =
    "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Ciphertext-Transform";
const TOKEN_TYPE_ENCRYPTED_KEY: &str =
    "http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#EncryptedKey";
const KEY_IDENTIFIER_SKI: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509SubjectKeyIdentifier";
const KEY_IDENTIFIER_THUMBPRINT: &str =
    "http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#ThumbprintSHA1";

/// The profile's algorithms, and the only ones accepted (eDelivery AS4 1.15
/// §3.2.6/§3.2.7; DIGG README: rsa-oaep with SHA-256 and MGF1-SHA-256).
pub const SIGNATURE_ALGORITHM: SignatureAlgorithm = SignatureAlgorithm::RsaSha256;
pub const DIGEST_ALGORITHM: DigestAlgorithm = DigestAlgorithm::Sha256;
pub const BLOCK_CIPHER: BlockCipher = BlockCipher::Aes128Gcm;
pub const KEY_TRANSPORT: KeyTransport = KeyTransport::RsaOaepSha256;

/// Lifetime of the timestamps we write (WSS4J's default time to live).
pub const TIMESTAMP_TTL: Duration = Duration::minutes(5);

/// Longest base64 text of a wrapped key: 8192-bit RSA plus line breaks.
const MAX_WRAPPED_KEY_BASE64: usize = 2048;

fn policy(what: impl Into<String>) -> SecurityError {
    SecurityError::Policy(what.into())
}

/// The `wsu:Id`s and `Id`s of one message's signed and encrypted parts.
#[derive(Debug, Clone)]
pub struct Ids {
    pub messaging: String,
    pub body: String,
    pub timestamp: String,
    pub token: String,
    pub encrypted_key: String,
    pub encrypted_data: String,
}

impl Ids {
    pub fn fresh() -> Self {
        let id = |prefix: &str| format!("{prefix}-{}", uuid::Uuid::new_v4());
        Self {
            messaging: id("_messaging"),
            body: id("_body"),
            timestamp: id("TS"),
            token: id("X509"),
            encrypted_key: id("EK"),
            encrypted_data: id("ED"),
        }
    }
}

// ---------------------------------------------------------------- writing

/// `wsu:Timestamp` valid from `now` for [`TIMESTAMP_TTL`].
pub fn write_timestamp(out: &mut String, id: &str, now: OffsetDateTime) {
    out.push_str(&format!(
        "<wsu:Timestamp wsu:Id=\"{}\"><wsu:Created>{}</wsu:Created><wsu:Expires>{}</wsu:Expires></wsu:Timestamp>",
        attr(id),
        super::ebms::format_timestamp(now),
        super::ebms::format_timestamp(now + TIMESTAMP_TTL)
    ));
}

/// `wsse:BinarySecurityToken` holding `certificate`.
pub fn write_token(out: &mut String, id: &str, certificate: &Certificate) {
    out.push_str(&format!(
        "<wsse:BinarySecurityToken EncodingType=\"{WSSE_BASE64_BINARY}\" ValueType=\"{WSSE_X509V3}\" wsu:Id=\"{}\">{}</wsse:BinarySecurityToken>",
        attr(id),
        certificate.to_base64()
    ));
}

/// The session key of an attachment about to be encrypted.
pub struct SealingKey(SessionKey);

impl SealingKey {
    /// Encrypts the attachment body (consumed, its buffer reused) into
    /// XML-Enc's `IV || ciphertext || tag`.
    pub fn encrypt(self, plaintext: Vec<u8>) -> Result<Vec<u8>, LocalError> {
        BLOCK_CIPHER.encrypt(&self.0, plaintext).map_err(|e| LocalError::Build(e.to_string()))
    }

    /// [`SealingKey::encrypt`] in chunks, from a blob into a blob of
    /// `spool`: memory stays bounded whatever the payload's size.
    pub fn encrypt_blob(self, plaintext: &Blob, spool: &Spool) -> Result<Blob, LocalError> {
        let mut input = Recorded::new(plaintext.reader().map_err(LocalError::storage)?);
        let mut output = Recorded::new(spool.writer(u64::MAX));
        let result = encrypt_stream(BLOCK_CIPHER, &self.0, &mut input, &mut output);
        if let Some(e) = input.error().or(output.error()) {
            return Err(LocalError::Storage(e.to_owned()));
        }
        result.map_err(|e| LocalError::Build(e.to_string()))?;
        output.into_inner().finish().map_err(LocalError::storage)
    }
}

/// Prepares encrypting attachment `content_id` for `recipient`: a fresh
/// session key, wrapped for the recipient, and `xenc:EncryptedKey` and
/// `xenc:EncryptedData` written into `out`. The attachment itself is
/// encrypted later, after it has been signed.
pub fn prepare_encryption(
    out: &mut String,
    ids: &Ids,
    content_id: &str,
    original_mime_type: &str,
    recipient: &Certificate,
) -> Result<SealingKey, LocalError> {
    let key = SessionKey::generate(BLOCK_CIPHER).map_err(|e| LocalError::Build(e.to_string()))?;
    let wrapped =
        KEY_TRANSPORT.wrap(recipient, &key).map_err(|e| LocalError::Key(format!("receiver certificate: {e}")))?;
    out.push_str(&format!(
        "<xenc:EncryptedKey Id=\"{ek}\"><xenc:EncryptionMethod Algorithm=\"{transport}\"><ds:DigestMethod Algorithm=\"{digest}\"/><xenc11:MGF Algorithm=\"{mgf}\"/></xenc:EncryptionMethod><ds:KeyInfo><wsse:SecurityTokenReference>{identifier}</wsse:SecurityTokenReference></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>{wrapped}</xenc:CipherValue></xenc:CipherData><xenc:ReferenceList><xenc:DataReference URI=\"#{ed}\"/></xenc:ReferenceList></xenc:EncryptedKey>",
        ek = attr(&ids.encrypted_key),
        ed = attr(&ids.encrypted_data),
        transport = KEY_TRANSPORT.uri(),
        digest = KEY_TRANSPORT.digest_uri().unwrap_or_default(),
        mgf = KEY_TRANSPORT.mgf_uri().unwrap_or_default(),
        identifier = key_identifier(recipient),
        wrapped = base64_encode(&wrapped),
    ));
    out.push_str(&format!(
        "<xenc:EncryptedData Id=\"{ed}\" MimeType=\"{mime}\" Type=\"{ATTACHMENT_CONTENT_ONLY}\"><xenc:EncryptionMethod Algorithm=\"{cipher}\"/><ds:KeyInfo><wsse:SecurityTokenReference wsse11:TokenType=\"{TOKEN_TYPE_ENCRYPTED_KEY}\"><wsse:Reference URI=\"#{ek}\"/></wsse:SecurityTokenReference></ds:KeyInfo><xenc:CipherData><xenc:CipherReference URI=\"cid:{cid}\"><xenc:Transforms><ds:Transform Algorithm=\"{ATTACHMENT_CIPHERTEXT}\"/></xenc:Transforms></xenc:CipherReference></xenc:CipherData></xenc:EncryptedData>",
        ed = attr(&ids.encrypted_data),
        ek = attr(&ids.encrypted_key),
        mime = attr(original_mime_type),
        cipher = BLOCK_CIPHER.uri(),
        cid = attr(content_id),
    ));
    Ok(SealingKey(key))
}

/// `wsse:KeyIdentifier` naming the receiver's certificate: its subject key
/// identifier when it has one (as the eDelivery examples do), else its
/// SHA-1 thumbprint (WSS 1.1 §7.2; an identifier, not a security function).
fn key_identifier(certificate: &Certificate) -> String {
    let (value_type, value) = match subject_key_identifier(certificate.der()) {
        Some(ski) => (KEY_IDENTIFIER_SKI, ski),
        None => {
            let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, certificate.der());
            (KEY_IDENTIFIER_THUMBPRINT, digest.as_ref().to_vec())
        }
    };
    format!(
        "<wsse:KeyIdentifier EncodingType=\"{WSSE_BASE64_BINARY}\" ValueType=\"{value_type}\">{}</wsse:KeyIdentifier>",
        base64_encode(&value)
    )
}

fn subject_key_identifier(der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let ski = cert.iter_extensions().find_map(|ext| match ext.parsed_extension() {
        ParsedExtension::SubjectKeyIdentifier(ki) => Some(ki.0.to_vec()),
        _ => None,
    });
    ski
}

// ---------------------------------------------------------------- reading

/// The recognised `wsse:Security` header.
#[derive(Debug, Clone)]
pub struct SecurityHeader {
    pub timestamp: NodeId,
    pub token: NodeId,
    pub signature: NodeId,
    pub encryption: Option<Encryption>,
}

/// An encrypted attachment, read from `EncryptedKey` and `EncryptedData`.
#[derive(Debug, Clone)]
pub struct Encryption {
    /// The attachment whose body is the ciphertext.
    pub content_id: String,
    pub cipher: BlockCipher,
    pub transport: KeyTransport,
    pub wrapped_key: Vec<u8>,
}

/// Recognises the `wsse:Security` header completely: at most one of each
/// element of the layout above, nothing else; a timestamp, a token and a
/// signature are required; the encryption elements come as a pair. The
/// signature's algorithms are checked against the profile here, before
/// any cryptography.
pub fn recognise(doc: &Document, security: Option<NodeId>) -> Result<SecurityHeader, As4Error> {
    let security = security.ok_or_else(|| policy("no wsse:Security header"))?;
    let (mut timestamp, mut token, mut signature, mut key, mut data) = (None, None, None, None, None);
    for child in element_children(doc, security, "wsse:Security")? {
        let e = doc.element(child).expect("element_children yields elements");
        let slot = if e.is(WSU_NS, "Timestamp") {
            &mut timestamp
        } else if e.is(WSSE_NS, "BinarySecurityToken") {
            &mut token
        } else if e.is(DSIG_NS, "Signature") {
            &mut signature
        } else if e.is(XENC_NS, "EncryptedKey") {
            &mut key
        } else if e.is(XENC_NS, "EncryptedData") {
            &mut data
        } else {
            return Err(policy(format!("{} is not supported in wsse:Security", e.qname())).into());
        };
        if slot.replace(child).is_some() {
            return Err(policy(format!("{} appears twice in wsse:Security", e.qname())).into());
        }
    }
    let token = token.ok_or_else(|| policy("no wsse:BinarySecurityToken"))?;
    let signature = signature.ok_or_else(|| policy("the message is not signed"))?;
    let timestamp = timestamp.ok_or_else(|| policy("no wsu:Timestamp"))?;
    check_signature_algorithms(doc, signature)?;
    let encryption = match (key, data) {
        (None, None) => None,
        (Some(k), Some(d)) => Some(read_encryption(doc, k, d)?),
        _ => return Err(policy("EncryptedKey and EncryptedData come together").into()),
    };
    Ok(SecurityHeader { timestamp, token, signature, encryption })
}

/// Every `Algorithm` under `SignedInfo` is one the profile names.
fn check_signature_algorithms(doc: &Document, signature: NodeId) -> Result<(), SecurityError> {
    let signed_info = doc.child_named(signature, DSIG_NS, "SignedInfo").ok_or_else(|| policy("no SignedInfo"))?;
    for node in doc.descendants(signed_info) {
        let Some(e) = doc.element(node) else { continue };
        let Some(algorithm) = e.attribute("Algorithm") else { continue };
        let allowed: &[&str] = match e.local.as_str() {
            "CanonicalizationMethod" => &[EXC_C14N],
            "SignatureMethod" => &[SIGNATURE_ALGORITHM.uri()],
            "DigestMethod" => &[DIGEST_ALGORITHM.uri()],
            "Transform" => &[EXC_C14N, ATTACHMENT_CONTENT_SIGNATURE],
            _ => continue,
        };
        if !allowed.contains(&algorithm) {
            return Err(policy(format!("{} {algorithm} is not the profile's", e.local)));
        }
    }
    Ok(())
}

fn structure(what: impl Into<String>) -> As4Error {
    HeaderError::Structure(what.into()).into()
}

/// Element children of `id` matching `names` in order; each name is
/// required unless it starts with `?`.
fn children_in_order(
    doc: &Document,
    id: NodeId,
    names: &[(&str, &str)],
    what: &str,
) -> Result<Vec<Option<NodeId>>, As4Error> {
    let children = element_children(doc, id, what)?;
    let mut out = Vec::with_capacity(names.len());
    let mut next = 0;
    for &(ns, local) in names {
        let (optional, local) = match local.strip_prefix('?') {
            Some(l) => (true, l),
            None => (false, local),
        };
        match children.get(next) {
            Some(&c) if doc.element(c).is_some_and(|e| e.is(ns, local)) => {
                out.push(Some(c));
                next += 1;
            }
            _ if optional => out.push(None),
            _ => return Err(structure(format!("{what} lacks {local}"))),
        }
    }
    if next != children.len() {
        return Err(structure(format!("unexpected element in {what}")));
    }
    Ok(out)
}

fn algorithm_of(doc: &Document, id: NodeId) -> Result<&str, As4Error> {
    doc.element(id)
        .and_then(|e| e.attribute("Algorithm"))
        .ok_or_else(|| structure("EncryptionMethod without Algorithm"))
}

/// Reads the `EncryptedKey`/`EncryptedData` pair: one key, for one
/// attachment, with the profile's algorithms.
fn read_encryption(doc: &Document, key: NodeId, data: NodeId) -> Result<Encryption, As4Error> {
    const EK: &str = "xenc:EncryptedKey";
    let parts = children_in_order(
        doc,
        key,
        &[(XENC_NS, "EncryptionMethod"), (DSIG_NS, "KeyInfo"), (XENC_NS, "CipherData"), (XENC_NS, "ReferenceList")],
        EK,
    )?;
    let [Some(method), Some(key_info), Some(cipher_data), Some(reference_list)] = parts[..] else {
        return Err(structure("EncryptedKey is incomplete"));
    };
    let transport = key_transport(doc, method)?;
    // The reference names the receiver's certificate; we try our key either
    // way, so it is recognised but not interpreted.
    let key_info_children = element_children(doc, key_info, "EncryptedKey KeyInfo")?;
    if !matches!(key_info_children.as_slice(), [r] if doc.element(*r).is_some_and(|e| e.is(WSSE_NS, "SecurityTokenReference")))
    {
        return Err(policy("EncryptedKey KeyInfo must be one wsse:SecurityTokenReference").into());
    }
    let value = single_child(doc, cipher_data, XENC_NS, "CipherValue", "EncryptedKey CipherData")?;
    let text = doc.simple_text(value).unwrap_or_default();
    if text.len() > MAX_WRAPPED_KEY_BASE64 {
        return Err(structure("EncryptedKey CipherValue is too long"));
    }
    let wrapped_key = base64_decode(&text).map_err(|_| structure("EncryptedKey CipherValue is not base64"))?;
    let data_reference = single_child(doc, reference_list, XENC_NS, "DataReference", "ReferenceList")?;

    const ED: &str = "xenc:EncryptedData";
    let d = doc.element(data).expect("caller checked");
    if d.attribute("Type") != Some(ATTACHMENT_CONTENT_ONLY) {
        return Err(policy("EncryptedData is not SwA Attachment-Content-Only").into());
    }
    let data_id = d.attribute("Id").ok_or_else(|| structure("EncryptedData without Id"))?;
    if doc.element(data_reference).and_then(|e| e.attribute("URI")) != Some(format!("#{data_id}").as_str()) {
        return Err(structure("EncryptedKey does not refer to the EncryptedData"));
    }
    let parts = children_in_order(
        doc,
        data,
        &[(XENC_NS, "EncryptionMethod"), (DSIG_NS, "KeyInfo"), (XENC_NS, "CipherData")],
        ED,
    )?;
    let [Some(method), Some(key_info), Some(cipher_data)] = parts[..] else {
        return Err(structure("EncryptedData is incomplete"));
    };
    let cipher_uri = algorithm_of(doc, method)?;
    if cipher_uri != BLOCK_CIPHER.uri() || !element_children(doc, method, ED)?.is_empty() {
        return Err(policy(format!("payload cipher {cipher_uri} is not the profile's")).into());
    }
    // KeyInfo → the EncryptedKey above, by reference.
    let token_reference = single_child(doc, key_info, WSSE_NS, "SecurityTokenReference", "EncryptedData KeyInfo")?;
    let reference = single_child(doc, token_reference, WSSE_NS, "Reference", "SecurityTokenReference")?;
    let key_id = doc.element(key).and_then(|e| e.attribute("Id")).unwrap_or_default();
    if key_id.is_empty()
        || doc.element(reference).and_then(|e| e.attribute("URI")) != Some(format!("#{key_id}").as_str())
    {
        return Err(structure("EncryptedData does not use the EncryptedKey"));
    }
    let cipher_reference = single_child(doc, cipher_data, XENC_NS, "CipherReference", "EncryptedData CipherData")?;
    let content_id = doc
        .element(cipher_reference)
        .and_then(|e| e.attribute("URI"))
        .and_then(|u| u.strip_prefix("cid:"))
        .filter(|c| !c.is_empty())
        .ok_or_else(|| structure("CipherReference must name an attachment (cid:)"))?
        .to_owned();
    let transforms = single_child(doc, cipher_reference, XENC_NS, "Transforms", "CipherReference")?;
    let transform = single_child(doc, transforms, DSIG_NS, "Transform", "CipherReference Transforms")?;
    if algorithm_of(doc, transform)? != ATTACHMENT_CIPHERTEXT {
        return Err(policy("CipherReference transform is not Attachment-Ciphertext-Transform").into());
    }
    Ok(Encryption { content_id, cipher: BLOCK_CIPHER, transport, wrapped_key })
}

fn single_child(doc: &Document, id: NodeId, ns: &str, local: &str, what: &str) -> Result<NodeId, As4Error> {
    match element_children(doc, id, what)?.as_slice() {
        [c] if doc.element(*c).is_some_and(|e| e.is(ns, local)) => Ok(*c),
        _ => Err(structure(format!("{what} must hold exactly one {local}"))),
    }
}

/// `EncryptedKey/EncryptionMethod`: only xmlenc11#rsa-oaep with SHA-256 and
/// MGF1-SHA-256 is the profile's.
fn key_transport(doc: &Document, method: NodeId) -> Result<KeyTransport, As4Error> {
    let uri = algorithm_of(doc, method)?;
    let (mut digest, mut mgf) = (None, None);
    for child in element_children(doc, method, "EncryptedKey EncryptionMethod")? {
        let e = doc.element(child).expect("element_children yields elements");
        let slot = if e.is(DSIG_NS, "DigestMethod") {
            &mut digest
        } else if e.is(XENC11_NS, "MGF") {
            &mut mgf
        } else {
            return Err(policy(format!("{} in the key transport method", e.qname())).into());
        };
        if slot.replace(e.attribute("Algorithm").unwrap_or_default()).is_some() {
            return Err(structure("key transport parameter appears twice"));
        }
    }
    match KeyTransport::from_parameters(uri, digest, mgf, None) {
        Ok(KEY_TRANSPORT) => Ok(KEY_TRANSPORT),
        Ok(other) => Err(policy(format!("key transport {} is not the profile's", other.uri())).into()),
        Err(e) => Err(policy(e.to_string()).into()),
    }
}

/// Checks `wsu:Timestamp`: `Created` not in the future and `Expires` not in
/// the past, by more than `skew`; a timestamp without `Expires` is at most
/// [`TIMESTAMP_TTL`] old.
pub fn check_timestamp(
    doc: &Document,
    timestamp: NodeId,
    now: OffsetDateTime,
    skew: Duration,
) -> Result<(), SecurityError> {
    let bad = |what: &str| SecurityError::Timestamp(what.to_owned());
    let children = element_children(doc, timestamp, "wsu:Timestamp").map_err(|_| bad("malformed"))?;
    let read = |id: NodeId| {
        doc.simple_text(id)
            .and_then(|t| super::ebms::parse_timestamp(t.trim()))
            .ok_or_else(|| bad("not an xsd:dateTime"))
    };
    let (created, expires) = match children.as_slice() {
        [c] if doc.element(*c).is_some_and(|e| e.is(WSU_NS, "Created")) => (read(*c)?, None),
        [c, e]
            if doc.element(*c).is_some_and(|x| x.is(WSU_NS, "Created"))
                && doc.element(*e).is_some_and(|x| x.is(WSU_NS, "Expires")) =>
        {
            (read(*c)?, Some(read(*e)?))
        }
        _ => return Err(bad("must hold Created and optionally Expires")),
    };
    if created > now + skew {
        return Err(bad("created in the future"));
    }
    let expires = expires.unwrap_or(created + TIMESTAMP_TTL);
    if expires < created {
        return Err(bad("expires before it is created"));
    }
    if expires + skew < now {
        return Err(bad("expired"));
    }
    Ok(())
}

/// Decrypts the attachment when the verifier first asks for it, that is
/// after `SignedInfo` has verified against a trusted signer. Decryption
/// streams from the ciphertext blob into a blob of the spool.
pub struct Decryptor<'a> {
    encryption: &'a Encryption,
    key: &'a PrivateKey,
    spool: &'a Spool,
    ciphertext: Option<Blob>,
    plaintext: Option<Blob>,
    failure: Option<As4Error>,
}

impl<'a> Decryptor<'a> {
    pub fn new(encryption: &'a Encryption, key: &'a PrivateKey, ciphertext: Blob, spool: &'a Spool) -> Self {
        Self { encryption, key, spool, ciphertext: Some(ciphertext), plaintext: None, failure: None }
    }

    /// Why decryption failed, if it was tried and did.
    pub fn take_failure(&mut self) -> Option<As4Error> {
        self.failure.take()
    }

    pub fn into_plaintext(self) -> Option<Blob> {
        self.plaintext
    }

    fn decrypt(&self, ciphertext: Blob) -> Result<Blob, As4Error> {
        let Encryption { cipher, transport, wrapped_key, .. } = self.encryption;
        // Implicit rejection: a key that does not unwrap is replaced by a
        // random one, so both failures decrypt and fail alike.
        let (session_key, unwrapped) = match transport.unwrap(self.key, wrapped_key, *cipher) {
            Ok(k) => (k, true),
            Err(CipherError::CannotDecrypt) => {
                (SessionKey::generate(*cipher).map_err(|e| LocalError::Build(e.to_string()))?, false)
            }
            Err(other) => return Err(LocalError::Key(other.to_string()).into()),
        };
        let mut input = Recorded::new(ciphertext.reader().map_err(LocalError::storage)?);
        // The plaintext is never longer than the ciphertext.
        let mut output = Recorded::new(self.spool.writer(ciphertext.len()));
        let result = decrypt_stream(*cipher, &session_key, &mut input, &mut output);
        if let Some(e) = input.error().or(output.error()) {
            return Err(LocalError::Storage(e.to_owned()).into());
        }
        match (unwrapped, result) {
            (true, Ok(_)) => Ok(output.into_inner().finish().map_err(LocalError::storage)?),
            // What was written is unauthenticated: dropped with the writer.
            _ => Err(SecurityError::Decryption.into()),
        }
    }
}

impl AttachmentResolver for Decryptor<'_> {
    fn attachment(&mut self, content_id: &str) -> Option<AttachmentContent<'_>> {
        if content_id != self.encryption.content_id {
            return None;
        }
        if let Some(ciphertext) = self.ciphertext.take() {
            match self.decrypt(ciphertext) {
                Ok(p) => self.plaintext = Some(p),
                Err(e) => self.failure = Some(e),
            }
        }
        self.plaintext.as_ref().map(AttachmentContent::Blob)
    }
}
