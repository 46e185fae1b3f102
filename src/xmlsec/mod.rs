//! XML Signature and XML Encryption for SDK's profiles.
//!
//! Closed sets of algorithms ([`algorithm`]), strict reference resolution
//! ([`reference`]), signing and verification, encryption and decryption.
//! Nothing here trusts a document: verification returns a
//! [`VerifiedSignature`] that only this module can build, and callers read
//! the signed content through it.

pub mod reference;
