//! Every bound Brygga applies to peer-supplied input, in one place.
//!
//! A limit that is not here does not exist: parsers take a [`XmlLimits`] value
//! and never invent their own caps.

/// DIGG's content specification: a whole SDK message, attachments included,
/// may be at most 30 MB. The default of `limits.max_sdk_message_bytes`.
pub const SDK_MESSAGE_MAX_BYTES: usize = 30 * 1024 * 1024;

/// The most `limits.max_sdk_message_bytes` may be raised to: 128 MiB.
///
/// DIGG's content specification sets 30 MB ([`SDK_MESSAGE_MAX_BYTES`]), and
/// a node that sends more than that to a node keeping the default gets the
/// message refused. DIGG's AS4 profile, however, requires access points to
/// carry messages (the XHE with its payload) of at least 100 MB
/// (federation adjustment A4, test case TF-08); only a federation whose
/// members agree to larger messages, or a TF-08 run, raises the limit.
/// An XHE carrying a message this large is about 4/3 of it (base64).
pub const SDK_MESSAGE_CONFIGURABLE_MAX_BYTES: usize = 128 * 1024 * 1024;

/// The largest XHE that can carry an SDK message of `max_sdk_message_bytes`:
/// base64 (4/3) plus room for the envelope. Anything larger cannot hold a
/// valid message and is refused before parsing.
pub const fn xhe_max_bytes(max_sdk_message_bytes: usize) -> usize {
    max_sdk_message_bytes / 3 * 4 + 1024 * 1024
}

/// An XHE carrying a 30 MB message grows by base64 (4/3) plus the envelope.
/// Anything larger cannot hold a valid message and is refused before parsing.
/// A node with a raised SDK limit uses [`xhe_max_bytes`] of its own.
pub const XHE_MAX_BYTES: usize = xhe_max_bytes(SDK_MESSAGE_MAX_BYTES);

/// Largest pilot document (concern report, referral, reply) in its XML
/// form: its longest texts (65 000 characters) fit several times over.
pub const PILOT_XML_MAX_BYTES: usize = 1024 * 1024;

/// XML attachments up to this size are handed decoded to whoever opens a
/// message, for checks beyond SDK's rules: the pilots' documents.
pub const XML_ATTACHMENT_MAX_BYTES: usize = PILOT_XML_MAX_BYTES;

/// References one XML signature may carry. SDK's profile uses one.
pub const DSIG_MAX_REFERENCES: usize = 16;

/// Transforms one reference may carry.
pub const DSIG_MAX_TRANSFORMS: usize = 4;

/// Certificates accepted in one `X509Data`.
pub const DSIG_MAX_CERTIFICATES: usize = 8;

/// Bounds for the XML reader. The defaults fit SDK's messages with room to
/// spare; a node operator may tighten them in configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// Largest document, in bytes, before anything is parsed.
    pub max_document_bytes: usize,
    /// Deepest element nesting.
    pub max_depth: usize,
    /// Most attributes (namespace declarations included) on one element.
    pub max_attributes: usize,
    /// Most nodes (elements, text, comments, PIs) in one document.
    pub max_nodes: usize,
    /// Longest element or attribute name, in bytes.
    pub max_name_bytes: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        Self {
            max_document_bytes: XHE_MAX_BYTES,
            max_depth: 64,
            max_attributes: 64,
            max_nodes: 1_000_000,
            max_name_bytes: 1024,
        }
    }
}

impl XmlLimits {
    /// The same limits with a different size cap.
    pub fn with_max_document_bytes(self, max_document_bytes: usize) -> Self {
        Self { max_document_bytes, ..self }
    }
}
