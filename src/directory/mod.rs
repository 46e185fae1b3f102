//! The directory: SMP service metadata with DIGG's certificate publication
//! (CertPub), as published by an SMP and as looked up by a sender or receiver.
//!
//! - [`metadata`]: the model (participant, document type, process, the AS4
//!   endpoint, the organisation's certificates) and the OASIS SMP 1.0
//!   `SignedServiceMetadata` XML, built and signed, or parsed and verified.
//! - [`client`]: `GET {smp}/{participant}/services/{document type}`, bounded,
//!   verified against the pinned SMP certificate, checked against the request.
//! - [`cache`]: verified lookups kept for a configured time.
//! - [`server`]: a small SMP that publishes signed metadata from a TOML file.
//! - [`sml`]: the BDXL NAPTR name under which the SML lists a participant.
//!
//! Nothing here trusts the network: metadata is read only from a document
//! whose enveloped signature verified against the configured SMP
//! certificate, and a response about another participant or document type
//! than the one asked for is refused.

pub mod cache;
pub mod client;
pub mod metadata;
pub mod server;
pub mod sml;

pub use cache::{CacheConfig, CachedSmpClient, DirectoryCache};
pub use client::{smp_http_client, SmpClient};
pub use metadata::{
    sign_service_metadata, verify_service_metadata, CertPub, DocumentTypeId, Endpoint, IdentifierError, ParticipantId,
    ProcessId, ServiceMetadata,
};
pub use server::{load_participants, router, serve, serve_tls, Participant, Publication};
pub use sml::sml_naptr_name;

use crate::limits::XmlLimits;
use crate::xmlsec::VerifyError;

/// Largest SMP response body read; anything longer is refused unread.
/// A DIGG metadata document holds one endpoint and a handful of
/// certificates, a few tens of kilobytes at most.
pub const SMP_RESPONSE_MAX_BYTES: usize = 512 * 1024;

/// Longest participant or document identifier value accepted, in bytes.
pub const IDENTIFIER_MAX_BYTES: usize = 512;

/// Most `Process`, `Endpoint` or `Extension` siblings read in one document.
pub const SMP_MAX_SIBLINGS: usize = 64;

/// Most certificates of one kind (signing or encryption) per participant.
pub const CERTPUB_MAX_CERTIFICATES: usize = 8;

/// Bounds for parsing an SMP response: small, shallow documents.
pub fn smp_xml_limits() -> XmlLimits {
    XmlLimits {
        max_document_bytes: SMP_RESPONSE_MAX_BYTES,
        max_depth: 32,
        max_attributes: 32,
        max_nodes: 20_000,
        max_name_bytes: 256,
    }
}

/// Why a lookup gave no usable metadata. Every variant means "do not send
/// on this metadata"; they differ in what an operator should look at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// The SMP does not list the participant, or not for this document
    /// type: the sender must not send.
    #[error("SMP lists no metadata for {participant} and document type {document_type}")]
    NotFound { participant: String, document_type: String },
    /// No answer, a timeout, or an HTTP status other than 200 and 404.
    #[error("SMP unreachable: {0}")]
    Unreachable(String),
    /// The metadata is unsigned, its signature does not verify, or the
    /// signer is not the configured SMP certificate.
    #[error("SMP metadata signature refused: {0}")]
    BadSignature(VerifyError),
    /// Too large, not XML, or not SMP 1.0 metadata in DIGG's profile.
    #[error("SMP metadata malformed: {0}")]
    Malformed(String),
    /// Signed metadata, but about another participant than the one asked
    /// for (a replayed or misrouted answer).
    #[error("SMP answered for participant {found}, not {expected}")]
    WrongParticipant { expected: String, found: String },
    /// Signed metadata, but for another document type than the one asked for.
    #[error("SMP answered for document type {found}, not {expected}")]
    WrongDocumentType { expected: String, found: String },
    /// Signed metadata without an endpoint this node can use: no
    /// `bdx:noprocess` process, no `digg-transport-as4-v1_0` endpoint, or
    /// an endpoint outside its activation period.
    #[error("SMP metadata has no usable endpoint: {0}")]
    NoUsableEndpoint(String),
    /// The SMP address or the HTTP client configuration cannot be used.
    #[error("SMP client configuration: {0}")]
    Config(String),
}

/// Percent-encodes one URL path segment: every byte outside RFC 3986's
/// unreserved set (`A-Z a-z 0-9 - . _ ~`) becomes `%XX`. SMP identifiers
/// carry `::`, `:` and `#`, which must never reach the server as path
/// syntax (`#` would start a fragment); DIGG's CertPub REST binding (§3)
/// shows `:` as `%3A` and `.` and `-` left as they are.
pub fn percent_encode_segment(segment: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(segment.len() * 3);
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0x0f)] as char);
        }
    }
    out
}

/// The path of a participant's metadata for one document type, relative
/// to the SMP's base URL: `/{scheme}::{participant}/services/{scheme}::{document id}`,
/// each segment percent-encoded (SMP 1.0 §3.4.1, CertPub REST binding §3).
pub fn service_metadata_path(participant: &ParticipantId, document_type: &DocumentTypeId) -> String {
    format!(
        "/{}/services/{}",
        percent_encode_segment(&participant.qualified()),
        percent_encode_segment(&document_type.qualified())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_bytes_pass_everything_else_is_encoded() {
        assert_eq!(percent_encode_segment("aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode_segment("a::b#c d/é"), "a%3A%3Ab%23c%20d%2F%C3%A9");
    }

    #[test]
    fn path_matches_digg_certpub_rest_binding_example() {
        // C3.4.4 CertPub REST binding §3, the example URL after the host.
        let participant = ParticipantId::new("0203:receivingexample.se").expect("valid id");
        let document = DocumentTypeId::new(
            "urn:riv:infrastructure:messaging:messagewithattachments:2::message::2.0::tm-base-ext-sigenc",
        )
        .expect("valid id");
        assert_eq!(
            service_metadata_path(&participant, &document),
            "/iso6523-actorid-upis%3A%3A0203%3Areceivingexample.se/services/busdox-docid-qns%3A%3Aurn%3Ariv%3Ainfrastructure%3Amessaging%3Amessagewithattachments%3A2%3A%3Amessage%3A%3A2.0%3A%3Atm-base-ext-sigenc"
        );
    }
}
