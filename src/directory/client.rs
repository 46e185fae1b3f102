//! Looking up a participant's metadata in an SMP.
//!
//! One `GET` per lookup, bounded in time and size; the answer counts only
//! when its signature verifies against the pinned SMP certificate and it is
//! about exactly the participant and document type asked for.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::metadata::{verify_service_metadata, TRANSPORT_PROFILE_AS4};
use super::{
    service_metadata_path, DirectoryError, DocumentTypeId, ParticipantId, ServiceMetadata, SMP_RESPONSE_MAX_BYTES,
};
use crate::pki::Certificate;

/// Default bound on one whole lookup (connect, request, body).
pub const DEFAULT_LOOKUP_TIMEOUT: Duration = Duration::from_secs(20);

/// An HTTP client for SMP lookups: TLS through rustls with ring and only
/// `tls_roots` as trust anchors (the federation's TLS CA, not the system
/// store), no redirects (DIGG's SMP does not redirect, and a redirect must
/// not take a lookup elsewhere), and `timeout` on each request.
pub fn smp_http_client(tls_roots: &[Certificate], timeout: Duration) -> Result<reqwest::Client, DirectoryError> {
    let config_error = |e: String| DirectoryError::Config(format!("cannot build the HTTP client: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    for root in tls_roots {
        roots
            .add(rustls_pki_types::CertificateDer::from(root.der().to_vec()))
            .map_err(|e| config_error(e.to_string()))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .build()
        .map_err(|e| config_error(e.to_string()))
}

/// Looks up signed service metadata in one SMP.
#[derive(Debug, Clone)]
pub struct SmpClient {
    /// Without a trailing slash; the metadata path is appended.
    base: String,
    smp_certificate: Certificate,
    http: reqwest::Client,
    timeout: Duration,
    max_body: usize,
}

impl SmpClient {
    /// `base_url` is the SMP's address (`https://smp.example/` or with a
    /// path prefix); `smp_certificate` the certificate its metadata must be
    /// signed with.
    pub fn new(base_url: &str, smp_certificate: Certificate, http: reqwest::Client) -> Result<Self, DirectoryError> {
        let url = reqwest::Url::parse(base_url).map_err(|e| DirectoryError::Config(format!("{base_url}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(DirectoryError::Config(format!("{base_url}: not an http(s) base URL")));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(DirectoryError::Config(format!("{base_url}: has a query or fragment")));
        }
        let base = url.as_str().trim_end_matches('/').to_owned();
        Ok(Self { base, smp_certificate, http, timeout: DEFAULT_LOOKUP_TIMEOUT, max_body: SMP_RESPONSE_MAX_BYTES })
    }

    /// Bounds a whole lookup, whatever the HTTP client's own settings.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The URL [`Self::lookup`] fetches.
    pub fn url_for(&self, participant: &ParticipantId, document_type: &DocumentTypeId) -> String {
        format!("{}{}", self.base, service_metadata_path(participant, document_type))
    }

    /// The participant's verified metadata for `document_type` at `now`.
    ///
    /// [`DirectoryError::NotFound`] means the SMP does not list the
    /// participant for this document type: the sender must not send.
    pub async fn lookup(
        &self,
        participant: &ParticipantId,
        document_type: &DocumentTypeId,
        now: OffsetDateTime,
    ) -> Result<ServiceMetadata, DirectoryError> {
        let url = self.url_for(participant, document_type);
        let body = tokio::time::timeout(self.timeout, self.fetch(&url, participant, document_type))
            .await
            .map_err(|_| DirectoryError::Unreachable(format!("{url}: no answer within {:?}", self.timeout)))??;
        let metadata = verify_service_metadata(&body, &self.smp_certificate, now)?;
        check_answer(&metadata, participant, document_type, now)?;
        Ok(metadata)
    }

    async fn fetch(
        &self,
        url: &str,
        participant: &ParticipantId,
        document_type: &DocumentTypeId,
    ) -> Result<Vec<u8>, DirectoryError> {
        let unreachable = |e: reqwest::Error| DirectoryError::Unreachable(describe(e));
        let mut response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/xml, text/xml")
            .send()
            .await
            .map_err(|e| DirectoryError::Unreachable(format!("{url}: {}", describe(e))))?;
        match response.status().as_u16() {
            200 => {}
            404 | 410 => {
                return Err(DirectoryError::NotFound {
                    participant: participant.to_string(),
                    document_type: document_type.to_string(),
                })
            }
            status => return Err(DirectoryError::Unreachable(format!("{url}: HTTP {status}"))),
        }
        let too_large = || DirectoryError::Malformed(format!("response is larger than {} bytes", self.max_body));
        if response.content_length().is_some_and(|len| len > self.max_body as u64) {
            return Err(too_large());
        }
        // Read in chunks so a server that lies about (or omits) its length
        // still cannot make us hold more than the cap.
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > self.max_body {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// reqwest's message and its causes ("error sending request: ... invalid
/// peer certificate: UnknownIssuer"), without repeating the URL.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The verified answer must be about what was asked: a signed answer about
/// another participant or document type (replayed, misrouted or
/// substituted) would route the message or its key to the wrong party.
pub(crate) fn check_answer(
    metadata: &ServiceMetadata,
    participant: &ParticipantId,
    document_type: &DocumentTypeId,
    now: OffsetDateTime,
) -> Result<(), DirectoryError> {
    if metadata.participant != *participant {
        return Err(DirectoryError::WrongParticipant {
            expected: participant.to_string(),
            found: metadata.participant.to_string(),
        });
    }
    if metadata.document_type != *document_type {
        return Err(DirectoryError::WrongDocumentType {
            expected: document_type.to_string(),
            found: metadata.document_type.to_string(),
        });
    }
    if metadata.endpoint.transport_profile != TRANSPORT_PROFILE_AS4 {
        return Err(DirectoryError::NoUsableEndpoint(format!(
            "transport profile {} is not {TRANSPORT_PROFILE_AS4}",
            metadata.endpoint.transport_profile
        )));
    }
    if !metadata.endpoint.is_active(now) {
        return Err(DirectoryError::NoUsableEndpoint(format!(
            "endpoint {} is outside its activation period",
            metadata.endpoint.url
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::dev::DevCa;

    fn client(base: &str) -> Result<SmpClient, DirectoryError> {
        let ca = DevCa::new("Test", "Test CA").unwrap();
        let http = smp_http_client(std::slice::from_ref(&ca.identity.certificate), Duration::from_secs(5))?;
        SmpClient::new(base, ca.identity.certificate, http)
    }

    #[test]
    fn urls_are_built_from_the_base() {
        let p = ParticipantId::new("0203:habo.se").unwrap();
        let d = DocumentTypeId::sdk_message_v3();
        let c = client("https://smp.example.se/smp/").unwrap();
        assert_eq!(
            c.url_for(&p, &d),
            "https://smp.example.se/smp/iso6523-actorid-upis%3A%3A0203%3Ahabo.se/services/busdox-docid-qns%3A%3Aurn%3Ariv%3Ainfrastructure%3Amessaging%3AMessageWithAttachments%3A3%3A%3AmessagePayload%23%233.0%3A%3Atm-base-ext-sigenc"
        );
        let c = client("http://127.0.0.1:8080").unwrap();
        assert!(c.url_for(&p, &d).starts_with("http://127.0.0.1:8080/iso6523-actorid-upis%3A%3A"));
    }

    #[test]
    fn unusable_base_urls_are_refused() {
        for bad in ["smp.example.se", "ftp://smp.example.se/", "https://smp.example.se/?x=1", "https://smp/#f"] {
            assert!(matches!(client(bad), Err(DirectoryError::Config(_))), "{bad}");
        }
    }
}
