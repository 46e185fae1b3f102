//! Keys, certificates and trust.
//!
//! [`keys`] loads PEM and DER; [`trust`] decides whether a certificate is
//! trusted, explicitly: a pinned certificate, or a chain to configured CA
//! certificates at a given time. Nothing here fetches CRLs or talks to the
//! network; revocation lists are handed in.

pub mod dev;
pub mod keys;
pub mod trust;

pub use keys::{Certificate, KeyError, PrivateKey, PublicKeyAlgorithm};
pub use trust::{TrustError, TrustPolicy, TrustedCertificate};
