//! A small SMP: publishes signed metadata for the participants of a TOML
//! file at `GET /{participant}/services/{document type}`.
//!
//! Everything is signed once, at start; a request is a map lookup, so the
//! public lookup interface (which C3.4.3 §3.8.2 expects to face overload
//! attempts) does no per-request cryptography. Open connections are capped
//! and TLS handshakes have a deadline.
//!
//! The participants file:
//!
//! ```toml
//! [[participant]]
//! id = "0203:habo.se"
//! document_types = [
//!   "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc",
//!   "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::ApplicationResponse##fdc:digg.se:edelivery:messagetype:response:1::2.1::tm-base-ext-sigenc",
//! ]
//! endpoint_url = "https://ap.habo.se/as4"
//! access_point_certificate = "ap.pem"      # paths relative to this file
//! signing_certificate = "habo-sign.pem"    # every certificate in the file is published
//! encryption_certificate = "habo-enc.pem"
//! # optional: service_activation / service_expiration (RFC 3339),
//! # description, technical_contact_url
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::metadata::{sign_service_metadata, verify_service_metadata};
use super::{
    CertPub, DirectoryError, DocumentTypeId, Endpoint, ParticipantId, ProcessId, ServiceMetadata,
    CERTPUB_MAX_CERTIFICATES,
};
use crate::pki::{Certificate, KeyError, PrivateKey};
use crate::xmlsec::SignError;

/// Most connections open at once, TLS handshakes included.
pub const SMP_MAX_CONNECTIONS: usize = 1024;
/// Deadline for a client to finish its TLS handshake.
pub const SMP_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest participants file read.
const PARTICIPANTS_FILE_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// One participant as published: its document types share one endpoint and
/// one set of certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    pub id: ParticipantId,
    pub document_types: Vec<DocumentTypeId>,
    pub process: ProcessId,
    pub endpoint: Endpoint,
    pub certpub: CertPub,
}

impl Participant {
    /// The metadata published for one of its document types.
    pub fn service_metadata(&self, document_type: &DocumentTypeId) -> ServiceMetadata {
        ServiceMetadata {
            participant: self.id.clone(),
            document_type: document_type.clone(),
            process: self.process.clone(),
            endpoint: self.endpoint.clone(),
            certpub: self.certpub.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the SMP key does not belong to the SMP certificate")]
    KeyMismatch,
    #[error("cannot sign metadata for {participant} / {document_type}: {source}")]
    Sign { participant: String, document_type: String, source: SignError },
    #[error("signed metadata for {participant} / {document_type} does not verify: {source}")]
    SelfCheck { participant: String, document_type: String, source: DirectoryError },
    #[error("{participant} / {document_type} is listed twice")]
    Duplicate { participant: String, document_type: String },
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParticipantsFile {
    #[serde(default)]
    participant: Vec<ParticipantEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParticipantEntry {
    id: String,
    document_types: Vec<String>,
    endpoint_url: String,
    access_point_certificate: PathBuf,
    signing_certificate: Option<PathBuf>,
    encryption_certificate: Option<PathBuf>,
    service_activation: Option<String>,
    service_expiration: Option<String>,
    description: Option<String>,
    technical_contact_url: Option<String>,
}

/// Reads a participants file; certificate paths are relative to its
/// directory.
pub fn load_participants(path: &Path) -> Result<Vec<Participant>, ConfigError> {
    let unreadable = |reason: String| ConfigError::Unreadable { path: path.display().to_string(), reason };
    let size = std::fs::metadata(path).map_err(|e| unreadable(e.to_string()))?.len();
    if size > PARTICIPANTS_FILE_MAX_BYTES {
        return Err(unreadable(format!("larger than {PARTICIPANTS_FILE_MAX_BYTES} bytes")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse_participants(&text, base).map_err(|reason| ConfigError::Invalid { path: path.display().to_string(), reason })
}

/// Parses the participants TOML; relative certificate paths are taken from
/// `base`.
pub fn parse_participants(text: &str, base: &Path) -> Result<Vec<Participant>, String> {
    let file: ParticipantsFile = toml::from_str(text).map_err(|e| e.to_string())?;
    file.participant.into_iter().map(|entry| participant_from(entry, base)).collect()
}

fn participant_from(entry: ParticipantEntry, base: &Path) -> Result<Participant, String> {
    let id = ParticipantId::new(&entry.id).map_err(|e| format!("participant {:?}: {e}", entry.id))?;
    let context = |what: &str, e: &dyn std::fmt::Display| format!("participant {id}: {what}: {e}");
    if entry.document_types.is_empty() {
        return Err(context("document_types", &"is empty"));
    }
    let document_types = entry
        .document_types
        .iter()
        .map(|d| DocumentTypeId::new(d).map_err(|e| context("document type", &e)))
        .collect::<Result<Vec<_>, _>>()?;
    // Clients refuse endpoints that are not https; do not publish one.
    match reqwest::Url::parse(&entry.endpoint_url) {
        Ok(url) if url.scheme() == "https" => {}
        Ok(_) => return Err(context("endpoint_url", &"must be https")),
        Err(e) => return Err(context("endpoint_url", &e)),
    }
    let load_all = |path: &Path| -> Result<Vec<Certificate>, String> {
        Certificate::all_from_pem_file(&base.join(path)).map_err(|e: KeyError| context(&path.display().to_string(), &e))
    };
    let access_point_certificate = load_all(&entry.access_point_certificate)?.remove(0);
    let signing = entry.signing_certificate.as_deref().map(&load_all).transpose()?.unwrap_or_default();
    let encryption = entry.encryption_certificate.as_deref().map(&load_all).transpose()?.unwrap_or_default();
    if signing.len() > CERTPUB_MAX_CERTIFICATES || encryption.len() > CERTPUB_MAX_CERTIFICATES {
        return Err(context("certificates", &format!("more than {CERTPUB_MAX_CERTIFICATES} of one type")));
    }
    // Utökad Bas needs both: senders encrypt for the encryption
    // certificate, receivers check signatures against the signing one.
    if document_types.iter().any(DocumentTypeId::is_sigenc) && (signing.is_empty() || encryption.is_empty()) {
        return Err(context(
            "certificates",
            &"tm-base-ext-sigenc document types need signing_certificate and encryption_certificate",
        ));
    }
    let date = |value: &Option<String>, what: &str| -> Result<Option<OffsetDateTime>, String> {
        value.as_deref().map(|t| OffsetDateTime::parse(t, &Rfc3339).map_err(|e| context(what, &e))).transpose()
    };
    let endpoint = Endpoint {
        url: entry.endpoint_url.clone(),
        transport_profile: super::metadata::TRANSPORT_PROFILE_AS4.to_owned(),
        access_point_certificate,
        service_activation: date(&entry.service_activation, "service_activation")?,
        service_expiration: date(&entry.service_expiration, "service_expiration")?,
        description: entry.description.unwrap_or_default(),
        technical_contact_url: entry.technical_contact_url.unwrap_or_default(),
    };
    Ok(Participant {
        id,
        document_types,
        process: ProcessId::sdk(),
        endpoint,
        certpub: CertPub { signing, encryption },
    })
}

/// Every published document, signed.
#[derive(Debug, Default)]
pub struct Publication {
    /// (participant in lower case, document type) → signed XML.
    documents: HashMap<(String, String), Bytes>,
}

impl Publication {
    /// Signs the metadata of every participant and document type with the
    /// SMP's key, and checks each result verifies against `certificate` at
    /// `now`, so a broken key or an expired certificate stops the start
    /// rather than every client.
    pub fn sign(
        participants: &[Participant],
        key: &PrivateKey,
        certificate: &Certificate,
        now: OffsetDateTime,
    ) -> Result<Self, ServeError> {
        if !key.matches(certificate) {
            return Err(ServeError::KeyMismatch);
        }
        let mut documents = HashMap::new();
        for participant in participants {
            for document_type in &participant.document_types {
                let names = || (participant.id.to_string(), document_type.to_string());
                let k = (participant.id.normalized(), document_type.value().to_owned());
                if documents.contains_key(&k) {
                    let (participant, document_type) = names();
                    return Err(ServeError::Duplicate { participant, document_type });
                }
                let metadata = participant.service_metadata(document_type);
                let signed = sign_service_metadata(&metadata, key, certificate).map_err(|source| {
                    let (participant, document_type) = names();
                    ServeError::Sign { participant, document_type, source }
                })?;
                verify_service_metadata(&signed, certificate, now).map_err(|source| {
                    let (participant, document_type) = names();
                    ServeError::SelfCheck { participant, document_type, source }
                })?;
                documents.insert(k, Bytes::from(signed));
            }
        }
        Ok(Self { documents })
    }

    /// The signed document for a participant and document type.
    pub fn get(&self, participant: &ParticipantId, document_type: &DocumentTypeId) -> Option<&Bytes> {
        self.documents.get(&(participant.normalized(), document_type.value().to_owned()))
    }

    pub fn len(&self) -> usize {
        self.documents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }
}

/// `GET /{participant}/services/{document type}`: the signed XML, 404 for
/// what is not published, 400 for identifiers that do not parse.
pub fn router(publication: Arc<Publication>) -> axum::Router {
    axum::Router::new()
        .route("/{participant}/services/{document_type}", axum::routing::get(service_metadata))
        .with_state(publication)
}

async fn service_metadata(
    State(publication): State<Arc<Publication>>,
    UrlPath((participant, document_type)): UrlPath<(String, String)>,
) -> Response {
    // The extractor has percent-decoded each segment.
    let (Ok(participant), Ok(document_type)) =
        (ParticipantId::from_qualified(&participant), DocumentTypeId::from_qualified(&document_type))
    else {
        return (StatusCode::BAD_REQUEST, "not a participant and document identifier\n").into_response();
    };
    match publication.get(&participant, &document_type) {
        Some(xml) => ([(header::CONTENT_TYPE, "application/xml")], xml.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "no metadata for this participant and document type\n").into_response(),
    }
}

/// Serves the participants' signed metadata over plain HTTP on `listener`
/// until `shutdown` resolves. For tests and for deployments behind a TLS
/// terminator; the signature, not the channel, protects the metadata.
pub async fn serve(
    listener: TcpListener,
    participants: Vec<Participant>,
    key: PrivateKey,
    certificate: Certificate,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let publication = Publication::sign(&participants, &key, &certificate, OffsetDateTime::now_utc())?;
    let listener = LimitedTcp { inner: listener, permits: Arc::new(Semaphore::new(SMP_MAX_CONNECTIONS)) };
    axum::serve(listener, router(Arc::new(publication))).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

/// As [`serve`], over TLS with `tls` (see [`tls_server_config`]).
pub async fn serve_tls(
    listener: TcpListener,
    participants: Vec<Participant>,
    key: PrivateKey,
    certificate: Certificate,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let publication = Publication::sign(&participants, &key, &certificate, OffsetDateTime::now_utc())?;
    let listener = TlsListener::start(listener, tls)?;
    axum::serve(listener, router(Arc::new(publication))).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

/// A TLS server configuration (rustls with ring, TLS 1.2 and 1.3, no client
/// certificates: lookups are public) from a certificate chain and its key.
pub fn tls_server_config(chain: &[Certificate], key: &PrivateKey) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let certs = chain.iter().map(|c| rustls_pki_types::CertificateDer::from(c.der().to_vec())).collect();
    let key =
        rustls_pki_types::PrivateKeyDer::Pkcs8(rustls_pki_types::PrivatePkcs8KeyDer::from(key.pkcs8_der().to_vec()));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

// ---------------------------------------------------------------------------
// Listeners that cap open connections
// ---------------------------------------------------------------------------

/// A connection that holds one of the listener's permits until dropped.
struct Limited<S> {
    inner: S,
    _permit: OwnedSemaphorePermit,
}

impl<S: AsyncRead + Unpin> AsyncRead for Limited<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Limited<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Accepts TCP connections, waiting for a free permit first.
struct LimitedTcp {
    inner: TcpListener,
    permits: Arc<Semaphore>,
}

async fn accept_tcp(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(pair) => return pair,
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::warn!(error = %e, "SMP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

impl axum::serve::Listener for LimitedTcp {
    type Io = Limited<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let permit = self.permits.clone().acquire_owned().await.expect("the semaphore is never closed");
        let (stream, addr) = accept_tcp(&self.inner).await;
        (Limited { inner: stream, _permit: permit }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

type TlsConnection = Limited<tokio_rustls::server::TlsStream<TcpStream>>;

/// Accepts TCP and runs TLS handshakes concurrently in the background (one
/// slow handshake must not hold up the others), handing finished
/// connections to the server.
struct TlsListener {
    ready: mpsc::Receiver<(TlsConnection, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    fn start(listener: TcpListener, tls: Arc<rustls::ServerConfig>) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let permits = Arc::new(Semaphore::new(SMP_MAX_CONNECTIONS));
        let accepting = tokio::spawn(async move {
            loop {
                let Ok(permit) = permits.clone().acquire_owned().await else { return };
                let (tcp, addr) = accept_tcp(&listener).await;
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(SMP_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            // The server is gone when this fails; the connection just drops.
                            let _ = tx.send((Limited { inner: stream, _permit: permit }, addr)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(peer = %addr, error = %e, "SMP TLS handshake refused"),
                        Err(_) => tracing::debug!(peer = %addr, "SMP TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { ready, local, accepting })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsConnection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accepting task only ends when aborted by our own drop.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::dev::DevCa;

    fn write(dir: &Path, name: &str, pem: &str) {
        std::fs::write(dir.join(name), pem).unwrap();
    }

    #[test]
    fn participants_file_is_read_and_checked() {
        let dir = std::env::temp_dir().join(format!("brygga-smp-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = DevCa::new("Test", "Test CA").unwrap();
        write(&dir, "ap.pem", &ca.identity.cert_pem);
        write(&dir, "sign.pem", &ca.identity.cert_pem);
        write(&dir, "enc.pem", &ca.identity.cert_pem);
        let ok = format!(
            r#"
            [[participant]]
            id = "0203:habo.se"
            document_types = ["{}", "{}"]
            endpoint_url = "https://ap.habo.se/as4"
            access_point_certificate = "ap.pem"
            signing_certificate = "sign.pem"
            encryption_certificate = "enc.pem"
            service_expiration = "2030-01-01T00:00:00Z"
            "#,
            crate::sdk::xhe::DOCUMENT_ID_MESSAGE_V3_SIGENC,
            crate::sdk::xhe::DOCUMENT_ID_RECEIPT_SIGENC
        );
        let participants = parse_participants(&ok, &dir).unwrap();
        assert_eq!(participants.len(), 1);
        assert_eq!(participants[0].document_types.len(), 2);
        assert_eq!(participants[0].certpub.encryption, vec![ca.identity.certificate.clone()]);
        assert_eq!(participants[0].endpoint.service_expiration, Some(time::macros::datetime!(2030-01-01 0:00 UTC)));

        let plain_http = ok.replace("https://ap.habo.se", "http://ap.habo.se");
        assert!(parse_participants(&plain_http, &dir).unwrap_err().contains("https"));
        let no_enc = ok.replace("encryption_certificate = \"enc.pem\"", "");
        assert!(parse_participants(&no_enc, &dir).unwrap_err().contains("encryption_certificate"));
        let unknown_field = ok.replace("service_expiration", "expires");
        assert!(parse_participants(&unknown_field, &dir).is_err());
        let missing_file = ok.replace("ap.pem", "nosuch.pem");
        assert!(parse_participants(&missing_file, &dir).unwrap_err().contains("nosuch.pem"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn publication_refuses_a_key_that_is_not_the_certificates() {
        let ca = DevCa::new("Test", "Test CA").unwrap();
        let smp = ca.issue("DIGG", "SMP", "smp.example.se").unwrap();
        let result = Publication::sign(&[], &smp.key, &ca.identity.certificate, OffsetDateTime::now_utc());
        assert!(matches!(result, Err(ServeError::KeyMismatch)));
    }
}
