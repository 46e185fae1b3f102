//! Loading keys and certificates from PEM or DER.
//!
//! Private keys are RSA (what SDK's federation issues), PEM-encoded as
//! PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`); both are kept as
//! PKCS#8 inside so ring and aws-lc-rs take them alike.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, X509Certificate};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("no PEM private key found")]
    NoPrivateKey,
    #[error("no PEM certificate found")]
    NoCertificate,
    #[error("private key is not a usable RSA key: {0}")]
    BadPrivateKey(String),
    #[error("certificate cannot be parsed: {0}")]
    BadCertificate(String),
    #[error("public key algorithm is not supported: {0}")]
    UnsupportedPublicKey(String),
}

/// An RSA private key, held as PKCS#8 DER, with the parsed forms the
/// crypto libraries work with. Parsing an RSA key checks it and precomputes
/// its Montgomery constants (for aws-lc-rs, about half the cost of a
/// signature), so it is done once: ring's key pair at construction (it
/// decides which keys are accepted), aws-lc-rs's on first use. Clones share
/// them.
#[derive(Clone)]
pub struct PrivateKey {
    inner: Arc<KeyInner>,
}

struct KeyInner {
    pkcs8: Vec<u8>,
    /// For signing (ring).
    signing: ring::signature::RsaKeyPair,
    /// For signing with aws-lc-rs, which is faster than ring where the CPU
    /// has wide multipliers (AVX-512 IFMA); `None` when it refuses the key.
    aws_signing: OnceLock<Option<aws_lc_rs::signature::RsaKeyPair>>,
    /// For RSA-OAEP key transport (aws-lc-rs); `None` when aws-lc-rs refuses
    /// the key.
    decrypting: OnceLock<Option<aws_lc_rs::rsa::OaepPrivateDecryptingKey>>,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl PrivateKey {
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let key = PrivateKeyDer::from_pem_slice(pem).map_err(|_| KeyError::NoPrivateKey)?;
        let pkcs8 = match key {
            PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
            PrivateKeyDer::Pkcs1(k) => pkcs1_to_pkcs8(k.secret_pkcs1_der()),
            _ => return Err(KeyError::BadPrivateKey("only RSA keys in PKCS#8 or PKCS#1 form are supported".into())),
        };
        Self::from_pkcs8_der(pkcs8)
    }

    pub fn from_pkcs8_der(pkcs8: Vec<u8>) -> Result<Self, KeyError> {
        let signing =
            ring::signature::RsaKeyPair::from_pkcs8(&pkcs8).map_err(|e| KeyError::BadPrivateKey(e.to_string()))?;
        Ok(Self { inner: Arc::new(KeyInner { pkcs8, signing, aws_signing: OnceLock::new(), decrypting: OnceLock::new() }) })
    }

    pub fn from_pem_file(path: &Path) -> Result<Self, KeyError> {
        Self::from_pem(&read(path)?)
    }

    pub fn pkcs8_der(&self) -> &[u8] {
        &self.inner.pkcs8
    }

    /// The key as ring's signing key pair, parsed once.
    pub fn rsa_key_pair(&self) -> &ring::signature::RsaKeyPair {
        &self.inner.signing
    }

    /// The key as aws-lc-rs's signing key pair, parsed on first use and
    /// kept; `None` when aws-lc-rs cannot use it (then sign with
    /// [`PrivateKey::rsa_key_pair`]).
    pub fn aws_lc_key_pair(&self) -> Option<&aws_lc_rs::signature::RsaKeyPair> {
        self.inner
            .aws_signing
            .get_or_init(|| aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&self.inner.pkcs8).ok())
            .as_ref()
    }

    /// The key for RSA-OAEP decryption (aws-lc-rs), parsed on first use and
    /// kept; `None` when aws-lc-rs cannot use it.
    pub fn oaep_decrypting_key(&self) -> Option<&aws_lc_rs::rsa::OaepPrivateDecryptingKey> {
        self.inner
            .decrypting
            .get_or_init(|| {
                let key = aws_lc_rs::rsa::PrivateDecryptingKey::from_pkcs8(&self.inner.pkcs8).ok()?;
                aws_lc_rs::rsa::OaepPrivateDecryptingKey::new(key).ok()
            })
            .as_ref()
    }

    /// True when `certificate` carries this key's public half.
    pub fn matches(&self, certificate: &Certificate) -> bool {
        let public = self.inner.signing.public().as_ref();
        matches!(certificate.public_key(), Ok((PublicKeyAlgorithm::Rsa, cert_public)) if cert_public == public)
    }
}

/// Public key algorithms Brygga verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKeyAlgorithm {
    Rsa,
    EcdsaP256,
}

/// An X.509 certificate, known to parse.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Certificate({})", self.subject())
    }
}

impl Certificate {
    pub fn from_der(der: Vec<u8>) -> Result<Self, KeyError> {
        X509Certificate::from_der(&der).map_err(|e| KeyError::BadCertificate(e.to_string()))?;
        Ok(Self { der })
    }

    /// Every certificate in a PEM bundle, in order.
    pub fn all_from_pem(pem: &[u8]) -> Result<Vec<Self>, KeyError> {
        let mut certs = Vec::new();
        for c in CertificateDer::pem_slice_iter(pem) {
            let c = c.map_err(|e| KeyError::BadCertificate(e.to_string()))?;
            certs.push(Self::from_der(c.to_vec())?);
        }
        if certs.is_empty() {
            return Err(KeyError::NoCertificate);
        }
        Ok(certs)
    }

    /// The first certificate in a PEM file.
    pub fn from_pem_file(path: &Path) -> Result<Self, KeyError> {
        Ok(Self::all_from_pem_file(path)?.remove(0))
    }

    pub fn all_from_pem_file(path: &Path) -> Result<Vec<Self>, KeyError> {
        Self::all_from_pem(&read(path)?)
    }

    /// The content of an `X509Certificate` element.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let der = crate::xmlsec::base64_decode(text).map_err(|_| KeyError::BadCertificate("invalid base64".into()))?;
        Self::from_der(der)
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.der)
    }

    pub fn to_pem(&self) -> String {
        let b64 = self.to_base64();
        let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            s.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
            s.push('\n');
        }
        s.push_str("-----END CERTIFICATE-----\n");
        s
    }

    fn parsed(&self) -> X509Certificate<'_> {
        X509Certificate::from_der(&self.der).expect("checked at construction").1
    }

    /// Subject distinguished name, RFC 4514 style.
    pub fn subject(&self) -> String {
        self.parsed().subject().to_string()
    }

    pub fn issuer(&self) -> String {
        self.parsed().issuer().to_string()
    }

    /// The subject's common name, if it has one.
    pub fn common_name(&self) -> Option<String> {
        let cert = self.parsed();
        let cn = cert.subject().iter_common_name().next()?.as_str().ok()?.to_owned();
        Some(cn)
    }

    /// Validity period as Unix seconds (not before, not after).
    pub fn validity(&self) -> (i64, i64) {
        let v = self.parsed().validity().clone();
        (v.not_before.timestamp(), v.not_after.timestamp())
    }

    /// The algorithm and the raw key bytes ring expects: the PKCS#1
    /// `RSAPublicKey` for RSA, the uncompressed point for EC.
    pub fn public_key(&self) -> Result<(PublicKeyAlgorithm, Vec<u8>), KeyError> {
        let cert = self.parsed();
        let spki = cert.public_key();
        let oid = spki.algorithm.algorithm.to_id_string();
        let alg = match oid.as_str() {
            "1.2.840.113549.1.1.1" => PublicKeyAlgorithm::Rsa,
            "1.2.840.10045.2.1" => {
                // id-ecPublicKey names no curve; the parameters do.
                let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()).map(|o| o.to_id_string());
                match curve.as_deref() {
                    Some("1.2.840.10045.3.1.7") => PublicKeyAlgorithm::EcdsaP256,
                    other => return Err(KeyError::UnsupportedPublicKey(format!("EC curve {}", other.unwrap_or("unnamed")))),
                }
            }
            other => return Err(KeyError::UnsupportedPublicKey(other.to_owned())),
        };
        Ok((alg, spki.subject_public_key.data.to_vec()))
    }

    /// False when a key usage extension is present and allows neither
    /// digitalSignature nor nonRepudiation (RFC 5280 §4.2.1.3): an
    /// encryption-only certificate must not vouch for signatures.
    pub fn allows_signing(&self) -> bool {
        match self.parsed().key_usage() {
            Ok(Some(ku)) => ku.value.digital_signature() || ku.value.non_repudiation(),
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub fn spki_der(&self) -> Vec<u8> {
        self.parsed().public_key().raw.to_vec()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|e| KeyError::Unreadable { path: path.display().to_string(), reason: e.to_string() })
}

/// Wraps a PKCS#1 `RSAPrivateKey` in a PKCS#8 `PrivateKeyInfo`.
fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    // version 0, AlgorithmIdentifier { rsaEncryption, NULL }
    const HEADER: &[u8] = &[
        0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let octets = der_tlv(0x04, pkcs1);
    let mut body = HEADER.to_vec();
    body.extend_from_slice(&octets);
    der_tlv(0x30, &body)
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().iter().copied().skip_while(|&b| b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}
