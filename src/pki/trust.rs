//! Deciding whether a certificate is trusted, at a given time.
//!
//! Trust is always explicit: either one pinned certificate, or a path to
//! configured CA certificates built and checked by rustls-webpki (signature
//! algorithms, validity at `at`, basic constraints, name constraints, and
//! revocation when CRLs are configured). A [`TrustedCertificate`] can only be
//! made here, so holding one proves the check ran and passed.

use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{
    CertRevocationList, EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter, OwnedCertRevocationList,
    RevocationOptionsBuilder, UnknownStatusPolicy,
};

use super::keys::Certificate;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("signer certificate is not the pinned certificate")]
    NotPinned,
    #[error("certificate has expired (checked at {at})")]
    Expired { at: String },
    #[error("certificate is not yet valid (checked at {at})")]
    NotYetValid { at: String },
    #[error("certificate has been revoked")]
    Revoked,
    #[error("certificate does not chain to a trusted CA: {0}")]
    UntrustedChain(String),
    #[error("a trust anchor or CRL cannot be used: {0}")]
    BadAnchor(String),
}

/// How a signer's certificate becomes trusted.
#[derive(Debug, Clone)]
pub enum TrustPolicy {
    /// Exactly this certificate, and only while it is valid.
    Pinned(Certificate),
    /// Any certificate with a valid path to one of these CA certificates,
    /// not revoked by any of these CRLs (DER).
    Anchors { anchors: Vec<Certificate>, crls: Vec<Vec<u8>> },
}

/// A certificate that passed a [`TrustPolicy`] at a point in time.
#[derive(Debug, Clone)]
pub struct TrustedCertificate {
    certificate: Certificate,
}

impl TrustedCertificate {
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }
}

/// Document signatures in SDK carry certificates issued for many purposes
/// (SITHS function certificates list TLS server and client). The extended key
/// usage is not what makes them trustworthy, the issuing CA is, so any is
/// accepted as long as the extension parses.
struct AnyPurpose;

impl ExtendedKeyUsageValidator for AnyPurpose {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for purpose in iter {
            purpose?;
        }
        Ok(())
    }
}

impl TrustPolicy {
    /// Trust anchored in the CA certificates of a PEM bundle.
    pub fn anchors(anchors: Vec<Certificate>) -> Self {
        TrustPolicy::Anchors { anchors, crls: Vec::new() }
    }

    /// Checks `certificate` at `at`; `intermediates` are candidates for the
    /// path (for example the other certificates of an `X509Data`).
    pub fn check(
        &self,
        certificate: &Certificate,
        intermediates: &[Certificate],
        at: UnixTime,
    ) -> Result<TrustedCertificate, TrustError> {
        match self {
            TrustPolicy::Pinned(pinned) => {
                if pinned.der() != certificate.der() {
                    return Err(TrustError::NotPinned);
                }
                let (not_before, not_after) = certificate.validity();
                let now = at.as_secs() as i64;
                if now < not_before {
                    return Err(TrustError::NotYetValid { at: format_time(at) });
                }
                if now > not_after {
                    return Err(TrustError::Expired { at: format_time(at) });
                }
            }
            TrustPolicy::Anchors { anchors, crls } => {
                check_path(certificate, intermediates, anchors, crls, at)?;
            }
        }
        Ok(TrustedCertificate { certificate: certificate.clone() })
    }
}

fn check_path(
    certificate: &Certificate,
    intermediates: &[Certificate],
    anchors: &[Certificate],
    crls: &[Vec<u8>],
    at: UnixTime,
) -> Result<(), TrustError> {
    let anchor_ders: Vec<CertificateDer<'_>> = anchors.iter().map(|c| CertificateDer::from(c.der())).collect();
    let trust_anchors = anchor_ders
        .iter()
        .map(|der| webpki::anchor_from_trusted_cert(der).map_err(|e| TrustError::BadAnchor(format!("{e:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    // A bundle may hold a root and its intermediates; all may serve as path
    // elements, but only configured certificates are anchors.
    let mut path_candidates: Vec<CertificateDer<'_>> =
        intermediates.iter().map(|c| CertificateDer::from(c.der())).collect();
    path_candidates.extend(anchor_ders.iter().cloned());

    let owned_crls = crls
        .iter()
        .map(|der| OwnedCertRevocationList::from_der(der).map_err(|e| TrustError::BadAnchor(format!("CRL: {e:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let crl_refs: Vec<CertRevocationList<'_>> = owned_crls.into_iter().map(CertRevocationList::from).collect();
    let crl_refs: Vec<&CertRevocationList<'_>> = crl_refs.iter().collect();
    let revocation = RevocationOptionsBuilder::new(&crl_refs)
        .ok()
        .map(|b| b.with_status_policy(UnknownStatusPolicy::Allow).build());

    let der = CertificateDer::from(certificate.der());
    let ee = EndEntityCert::try_from(&der).map_err(|e| TrustError::UntrustedChain(format!("{e:?}")))?;
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &trust_anchors,
        &path_candidates,
        at,
        AnyPurpose,
        revocation,
        None,
    )
    .map(|_| ())
    .map_err(|e| match e {
        webpki::Error::CertExpired { .. } => TrustError::Expired { at: format_time(at) },
        webpki::Error::CertNotValidYet { .. } => TrustError::NotYetValid { at: format_time(at) },
        webpki::Error::CertRevoked => TrustError::Revoked,
        other => TrustError::UntrustedChain(format!("{other:?}")),
    })
}

fn format_time(at: UnixTime) -> String {
    time::OffsetDateTime::from_unix_timestamp(at.as_secs() as i64)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| at.as_secs().to_string())
}
