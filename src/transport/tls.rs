//! rustls configurations for the access point's TLS, and the revocation
//! check a sender makes before it talks to a receiving access point.
//!
//! Both sides use the ring provider, TLS 1.2 and 1.3 only, ALPN `h2` and
//! `http/1.1`, and trust exactly the configured TLS CA certificates (no
//! system or web roots). Revocation uses the CRLs handed in: a certificate
//! listed on a CRL from its issuer is refused; a certificate whose issuer has
//! no CRL configured is not revocation-checked, the same rule
//! [`TrustPolicy`] applies to document signatures (a federation CA without a
//! published CRL must not stop all traffic).
//!
//! What this module does not do: fetch CRLs, open sockets, or compare the
//! peer's certificate with the one SMP publishes (it hands the certificate
//! out with [`peer_certificate`]; the node compares).

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, CommonState, RootCertStore, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};

use crate::pki::{Certificate, PrivateKey, TrustError, TrustPolicy};

/// ALPN protocols offered and accepted, most preferred first.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The oldest TLS version a node accepts. DIGG's transport profile asks for
/// an SSL Labs "grade A" configuration, which TLS 1.2 with AEAD suites meets;
/// TLS 1.0 and 1.1 cannot be chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub enum MinTlsVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    #[serde(rename = "1.2")]
    Tls12,
    /// TLS 1.3 only.
    #[serde(rename = "1.3")]
    Tls13,
}

impl MinTlsVersion {
    fn versions(self) -> &'static [&'static SupportedProtocolVersion] {
        static BOTH: [&SupportedProtocolVersion; 2] = [&rustls::version::TLS13, &rustls::version::TLS12];
        static TLS13_ONLY: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match self {
            MinTlsVersion::Tls12 => &BOTH,
            MinTlsVersion::Tls13 => &TLS13_ONLY,
        }
    }
}

impl std::fmt::Display for MinTlsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MinTlsVersion::Tls12 => "1.2",
            MinTlsVersion::Tls13 => "1.3",
        })
    }
}

/// Why a TLS configuration could not be built. These are configuration
/// faults, found at start-up, never a peer's doing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("no TLS certificate given")]
    NoCertificate,
    #[error("the TLS key does not match the TLS certificate")]
    KeyMismatch,
    #[error("no TLS CA certificate given")]
    NoCa,
    #[error("TLS CA certificate {subject} cannot be a trust anchor: {reason}")]
    BadCa { subject: String, reason: String },
    #[error("CRL number {index} cannot be used: {reason}")]
    BadCrl { index: usize, reason: String },
    #[error("TLS verifier: {0}")]
    Verifier(String),
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

/// The ring provider, named explicitly so the choice does not depend on
/// which provider other crates in the build enable.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(cas: &[Certificate]) -> Result<Arc<RootCertStore>, TlsError> {
    if cas.is_empty() {
        return Err(TlsError::NoCa);
    }
    let mut store = RootCertStore::empty();
    for ca in cas {
        store
            .add(CertificateDer::from(ca.der().to_vec()))
            .map_err(|e| TlsError::BadCa { subject: ca.subject(), reason: e.to_string() })?;
    }
    Ok(Arc::new(store))
}

fn crl_ders(crls: &[Vec<u8>]) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    crls.iter()
        .enumerate()
        .map(|(index, der)| {
            // Parsed here so a bad CRL is named by position, not as a
            // verifier builder failure.
            webpki::OwnedCertRevocationList::from_der(der)
                .map_err(|e| TlsError::BadCrl { index, reason: format!("{e:?}") })?;
            Ok(CertificateRevocationListDer::from(der.clone()))
        })
        .collect()
}

/// Our certificate chain (leaf first) and key in rustls' types, after
/// checking they belong together.
fn identity(
    key: &PrivateKey,
    chain: &[Certificate],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let leaf = chain.first().ok_or(TlsError::NoCertificate)?;
    if !key.matches(leaf) {
        return Err(TlsError::KeyMismatch);
    }
    let certs = chain.iter().map(|c| CertificateDer::from(c.der().to_vec())).collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.pkcs8_der().to_vec()));
    Ok((certs, key))
}

fn alpn() -> Vec<Vec<u8>> {
    ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect()
}

/// The server side of an access point.
///
/// `chain` is our TLS certificate followed by any intermediates to send.
/// With `client_ca` set, mutual TLS is required: a client without a
/// certificate, or with one that does not chain to these CAs or is revoked by
/// `crls` (DER), fails the handshake. With `None`, no client certificate is
/// asked for (DIGG's default one-way TLS).
pub fn server_config(
    key: &PrivateKey,
    chain: &[Certificate],
    client_ca: Option<&[Certificate]>,
    crls: &[Vec<u8>],
    min_version: MinTlsVersion,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let (certs, key) = identity(key, chain)?;
    let verifier = match client_ca {
        Some(cas) => WebPkiClientVerifier::builder_with_provider(roots(cas)?, provider.clone())
            .with_crls(crl_ders(crls)?)
            .allow_unknown_revocation_status()
            .build()
            .map_err(|e| TlsError::Verifier(e.to_string()))?,
        None => WebPkiClientVerifier::no_client_auth(),
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(min_version.versions())
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    config.alpn_protocols = alpn();
    Ok(Arc::new(config))
}

/// The client side of an access point: presents our TLS certificate (for
/// servers that require mutual TLS) and accepts only servers whose
/// certificate chains to `server_ca`, is not revoked by `crls` (DER), and
/// names the host being connected to.
pub fn client_config(
    key: &PrivateKey,
    chain: &[Certificate],
    server_ca: &[Certificate],
    crls: &[Vec<u8>],
    min_version: MinTlsVersion,
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let (certs, key) = identity(key, chain)?;
    let verifier = WebPkiServerVerifier::builder_with_provider(roots(server_ca)?, provider.clone())
        .with_crls(crl_ders(crls)?)
        .allow_unknown_revocation_status()
        .build()
        .map_err(|e| TlsError::Verifier(e.to_string()))?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(min_version.versions())
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(certs, key)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    config.alpn_protocols = alpn();
    Ok(Arc::new(config))
}

/// The certificate the peer authenticated with, once the handshake is done:
/// on the server side the sending access point's client certificate (to be
/// compared with the one SMP lists), on the client side the server's.
/// `None` before the handshake, or when the client sent none.
///
/// Takes any rustls connection (`&ServerConnection` and `&ClientConnection`
/// dereference to [`CommonState`]); with tokio-rustls, `stream.get_ref().1`.
pub fn peer_certificate(conn: &CommonState) -> Option<Certificate> {
    let leaf = conn.peer_certificates()?.first()?;
    // rustls already parsed it through webpki; a failure here would mean
    // x509-parser disagrees, and then we refuse to name a peer at all.
    Certificate::from_der(leaf.to_vec()).ok()
}

/// Whether `cert` is good at `now`: it chains to `issuer_ca`, is within its
/// validity, and no CRL in `crls` (DER) revokes it. A sender runs this on the
/// receiving access point's certificate from SMP before sending (DIGG's
/// transport profile §2.10 rule b, test case TF-02), so a revoked receiver is
/// refused before any connection is made.
pub fn check_certificate_status(
    cert: &Certificate,
    issuer_ca: &[Certificate],
    crls: &[Vec<u8>],
    now: UnixTime,
) -> Result<(), TrustError> {
    TrustPolicy::Anchors { anchors: issuer_ca.to_vec(), crls: crls.to_vec() }.check(cert, &[], now).map(|_| ())
}
