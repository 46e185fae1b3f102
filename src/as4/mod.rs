//! AS4: the transport between access points, in DIGG's profile (C3.2.1,
//! on eDelivery AS4 1.15 and OASIS ebMS 3 / AS4). Pure: no sockets and no
//! clock; `now` is a parameter and bytes go in and out.
//!
//! A message is SOAP 1.2 with attachments, one-way push. The SOAP header
//! holds `eb:Messaging` (who sends what to whom) and `wsse:Security`; the
//! body is empty; the XHE travels gzip-compressed and encrypted in one MIME
//! part, `cid:message`. The answer, in the HTTP response, is a signed
//! receipt listing the digests of what was received, or a signed error.
//!
//! Outbound ([`build_user_message`]):
//! XHE → gzip → `eb:Messaging` and a `wsse:Security` with timestamp, our
//! certificate, and a fresh AES-128-GCM key wrapped (RSA-OAEP SHA-256) for
//! the receiver's certificate → RSA-SHA256 signature over Messaging, Body,
//! Timestamp and the compressed payload → the payload encrypted → MIME. Keep
//! [`As4Request::sent`] to check the receipt with
//! [`parse_and_verify_receipt`].
//!
//! Inbound:
//! 1. [`parse_inbound`] reads everything under [`As4Limits`] (size before
//!    anything else, MIME, the envelope under XML limits, `eb:Messaging`
//!    against the P-mode, the security header's structure and algorithms)
//!    and yields a [`ParsedAs4`]: claims only, payload out of reach.
//! 2. [`check_serviced`] decides on the claims whether this access point
//!    serves the recipient for the action (EBMS:0004 `NOT_SERVICED`).
//! 3. [`verify_and_open`] checks the signature and the sender's trust,
//!    decrypts, checks every digest and what the signature covers, the
//!    timestamp and the parties, and decompresses under a cap; only it
//!    makes a [`VerifiedUserMessage`], the only holder of the XHE.
//! 4. [`build_receipt`] answers it; any error on the way goes through
//!    [`peer_error`], the one place that decides what the peer is told, and
//!    [`build_error`].
//!
//! Modules: [`mime`] (multipart/related), [`soap`] (the envelope),
//! [`ebms`] (user and signal messages), [`wss`] (WS-Security header),
//! [`pmode`] (DIGG's constants), [`error`] (faults and ebMS error codes).

pub mod ebms;
pub mod error;
mod exchange;
pub mod mime;
pub mod pmode;
pub mod soap;
pub mod wss;

pub use ebms::{NrrReference, ReceivedError, UserMessageHeader};
pub use error::{peer_error, As4Error, EbmsError, ErrorCode, NOT_SERVICED};
pub use exchange::{
    build_error, build_receipt, build_user_message, check_serviced, parse_and_verify_receipt, parse_inbound,
    unverified_errors, verify_and_open, As4Request, As4Response, ParsedAs4, SentMessage, UserMessageParams,
    VerifiedReceipt, VerifiedUserMessage,
};
pub use pmode::Action;

use time::Duration;

/// Bounds on what a peer may send to the AS4 layer. They belong with the
/// rest in [`crate::limits`] once that module takes them over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct As4Limits {
    /// The whole HTTP body, checked before anything is parsed.
    pub max_message_bytes: usize,
    /// The SOAP envelope part: headers only, the body is empty.
    pub max_envelope_bytes: usize,
    /// MIME parts, the envelope included.
    pub max_parts: usize,
    /// Header block of one MIME part.
    pub max_part_header_bytes: usize,
    /// The decompressed payload (the XHE): the gzip bomb cap.
    pub max_payload_bytes: usize,
    /// How far the peer's clock may be from ours for `wsu:Timestamp`.
    pub clock_skew: Duration,
}

impl Default for As4Limits {
    /// C3.2.1 §2.8.a: an access point handles messages (the XHE) of at least
    /// 100 MB; 128 MiB leaves room. The encrypted, compressed payload is
    /// never much larger than the XHE, hence the same cap plus headroom for
    /// the envelope and MIME.
    fn default() -> Self {
        Self {
            max_message_bytes: 128 * 1024 * 1024 + 1024 * 1024,
            max_envelope_bytes: 1024 * 1024,
            max_parts: 4,
            max_part_header_bytes: 8 * 1024,
            max_payload_bytes: 128 * 1024 * 1024,
            clock_skew: Duration::seconds(60),
        }
    }
}
