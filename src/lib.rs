//! Brygga: a secure message gateway for Sweden's Säker digital kommunikation.
//!
//! The inbound walk, top to bottom:
//!
//! 1. [`xml::reader`] parses bytes under [`limits::XmlLimits`]: no DTDs, bounded
//!    size, depth and attribute counts.
//! 2. [`xmlsec::verify`] checks the enveloped XML signature and, through
//!    [`pki`], that the signer is trusted; only it can produce a
//!    [`xmlsec::VerifiedSignature`], which hands out the signed content.
//! 3. [`xmlsec::decrypt`] opens the payload, and only from a verified envelope.
//! 4. [`sdk`] parses and validates the SDK message against DIGG's schema and
//!    rules, and produces the message receipt with DIGG's codes.
//!
//! The XML, XML-security and SDK layers take `now` as a parameter and do no
//! network or file I/O of their own.

pub mod audit;
pub mod limits;
pub mod xml;
pub mod xmlsec;
pub mod cli;
pub mod pilot;
pub mod pki;
pub mod sdk;
pub mod spool;
pub mod as4;
pub mod directory;
pub mod config;
pub mod transport;
pub mod node;
pub mod api;
