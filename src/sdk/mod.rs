//! SDK's message formats: SDK Meddelande v3, the XHE envelope in DIGG's
//! profile, and the message receipt, with DIGG's validation rules.
//!
//! Nothing here does I/O or reads the clock; times are parameters.

pub mod codes;
pub mod content_scan;

pub use codes::{DetailCode, Problem, ReasonCode, ResponseCode, Validation};
pub mod envelope;
pub mod message;
pub mod message_rules;
pub mod receipt;
pub mod xhe;
pub mod xml_attachments;
