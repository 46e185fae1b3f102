//! What went wrong, grouped by whose fault it is, and what the peer is told.
//!
//! Internal errors ([`As4Error`]) carry detail for our logs. What goes on
//! the wire is decided in one place, [`peer_error`]: security failures say
//! which check failed by code only (EBMS:0101/0102/0103, no detail, so the
//! error signal is no oracle), header and packaging errors say what was
//! wrong with the peer's own markup, and our own faults say nothing.

use crate::xml::XmlError;
use crate::xmlsec::VerifyError;

use super::ebms::ReceivedError;

/// ebMS 3 error codes (ebMS 3.0 Core §6.7.1, §6.7.2; AS4 §3.1, §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// EBMS:0001
    ValueNotRecognized,
    /// EBMS:0002
    FeatureNotSupported,
    /// EBMS:0003
    ValueInconsistent,
    /// EBMS:0004. With the detail `NOT_SERVICED`, DIGG's "participant or
    /// document type not served here" (C3.2.1 §2.5.c).
    Other,
    /// EBMS:0005
    ConnectionFailure,
    /// EBMS:0006
    EmptyMessagePartitionChannel,
    /// EBMS:0007
    MimeInconsistency,
    /// EBMS:0008
    FeatureNotSupportedUnpackaging,
    /// EBMS:0009
    InvalidHeader,
    /// EBMS:0010
    ProcessingModeMismatch,
    /// EBMS:0011
    ExternalPayloadError,
    /// EBMS:0101
    FailedAuthentication,
    /// EBMS:0102
    FailedDecryption,
    /// EBMS:0103
    PolicyNoncompliance,
    /// EBMS:0301
    MissingReceipt,
    /// EBMS:0302
    InvalidReceipt,
    /// EBMS:0303
    DecompressionFailure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Failure,
    Warning,
}

impl Severity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Failure => "failure",
            Severity::Warning => "warning",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Content,
    Communication,
    Unpackaging,
    Processing,
}

impl Category {
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Content => "Content",
            Category::Communication => "Communication",
            Category::Unpackaging => "Unpackaging",
            Category::Processing => "Processing",
        }
    }
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::ValueNotRecognized,
        ErrorCode::FeatureNotSupported,
        ErrorCode::ValueInconsistent,
        ErrorCode::Other,
        ErrorCode::ConnectionFailure,
        ErrorCode::EmptyMessagePartitionChannel,
        ErrorCode::MimeInconsistency,
        ErrorCode::FeatureNotSupportedUnpackaging,
        ErrorCode::InvalidHeader,
        ErrorCode::ProcessingModeMismatch,
        ErrorCode::ExternalPayloadError,
        ErrorCode::FailedAuthentication,
        ErrorCode::FailedDecryption,
        ErrorCode::PolicyNoncompliance,
        ErrorCode::MissingReceipt,
        ErrorCode::InvalidReceipt,
        ErrorCode::DecompressionFailure,
    ];

    /// The `errorCode` attribute, its `shortDescription`, severity and category.
    const fn table(self) -> (&'static str, &'static str, Severity, Category) {
        use Category::*;
        use Severity::*;
        match self {
            ErrorCode::ValueNotRecognized => ("EBMS:0001", "ValueNotRecognized", Failure, Content),
            ErrorCode::FeatureNotSupported => ("EBMS:0002", "FeatureNotSupported", Warning, Content),
            ErrorCode::ValueInconsistent => ("EBMS:0003", "ValueInconsistent", Failure, Content),
            ErrorCode::Other => ("EBMS:0004", "Other", Failure, Content),
            ErrorCode::ConnectionFailure => ("EBMS:0005", "ConnectionFailure", Failure, Communication),
            ErrorCode::EmptyMessagePartitionChannel => {
                ("EBMS:0006", "EmptyMessagePartitionChannel", Warning, Communication)
            }
            ErrorCode::MimeInconsistency => ("EBMS:0007", "MimeInconsistency", Failure, Unpackaging),
            ErrorCode::FeatureNotSupportedUnpackaging => ("EBMS:0008", "FeatureNotSupported", Failure, Unpackaging),
            ErrorCode::InvalidHeader => ("EBMS:0009", "InvalidHeader", Failure, Unpackaging),
            ErrorCode::ProcessingModeMismatch => ("EBMS:0010", "ProcessingModeMismatch", Failure, Processing),
            ErrorCode::ExternalPayloadError => ("EBMS:0011", "ExternalPayloadError", Failure, Content),
            ErrorCode::FailedAuthentication => ("EBMS:0101", "FailedAuthentication", Failure, Processing),
            ErrorCode::FailedDecryption => ("EBMS:0102", "FailedDecryption", Failure, Processing),
            ErrorCode::PolicyNoncompliance => ("EBMS:0103", "PolicyNoncompliance", Failure, Processing),
            ErrorCode::MissingReceipt => ("EBMS:0301", "MissingReceipt", Failure, Communication),
            ErrorCode::InvalidReceipt => ("EBMS:0302", "InvalidReceipt", Failure, Communication),
            ErrorCode::DecompressionFailure => ("EBMS:0303", "DecompressionFailure", Failure, Communication),
        }
    }

    /// `EBMS:0004` and so on.
    pub const fn code(self) -> &'static str {
        self.table().0
    }

    pub const fn short_description(self) -> &'static str {
        self.table().1
    }

    pub const fn severity(self) -> Severity {
        self.table().2
    }

    pub const fn category(self) -> Category {
        self.table().3
    }

    /// `origin`: `security` for the WS-Security failures, `ebMS` otherwise.
    pub const fn origin(self) -> &'static str {
        match self {
            ErrorCode::FailedAuthentication | ErrorCode::FailedDecryption | ErrorCode::PolicyNoncompliance => {
                "security"
            }
            _ => "ebMS",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }
}

/// `eb:ErrorDetail` of DIGG's "not served here" error (C3.2.1 §2.5.c).
pub const NOT_SERVICED: &str = "NOT_SERVICED";

/// What the peer is told: one `eb:Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EbmsError {
    pub code: ErrorCode,
    /// `eb:ErrorDetail`.
    pub detail: Option<String>,
}

impl EbmsError {
    pub fn new(code: ErrorCode) -> Self {
        Self { code, detail: None }
    }

    pub fn with_detail(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { code, detail: Some(detail.into()) }
    }
}

/// The MIME layer (SOAP with attachments) could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackagingError {
    #[error("message is {size} bytes, over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("content type: {0}")]
    ContentType(String),
    #[error("multipart body: {0}")]
    Malformed(String),
    #[error("more than {0} MIME parts")]
    TooManyParts(usize),
    #[error("part headers over {0} bytes or too many")]
    HeadersTooLarge(usize),
    #[error("content transfer encoding '{0}' is not supported (binary only)")]
    TransferEncoding(String),
    #[error("SOAP part is {size} bytes, over the limit of {limit}")]
    EnvelopeTooLarge { size: usize, limit: usize },
    #[error("attachment: {0}")]
    Attachment(String),
}

/// The SOAP envelope or the ebMS header does not have the required
/// structure, or does not match DIGG's P-mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("SOAP envelope is not acceptable XML: {0}")]
    Xml(#[from] XmlError),
    #[error("{0}")]
    Structure(String),
    #[error("P-mode mismatch: {0}")]
    PModeMismatch(String),
}

/// WS-Security: the message is not what it claims, not from whom it claims,
/// or not protected as DIGG's profile requires.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityError {
    /// Missing token, wrong algorithm, unsigned part, unknown header element.
    #[error("security policy: {0}")]
    Policy(String),
    #[error("signature: {0}")]
    Signature(#[from] VerifyError),
    #[error("timestamp: {0}")]
    Timestamp(String),
    /// The ebMS From party is not the signing access point.
    #[error("sender party '{claimed}' is not the signer '{signer}'")]
    PartyMismatch { claimed: String, signer: String },
    /// Deliberately says nothing about which step failed.
    #[error("cannot decrypt the payload")]
    Decryption,
}

/// The payload cannot be turned back into the XHE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("payload is not valid gzip: {0}")]
    Decompression(String),
    #[error("decompressed payload is over the limit of {limit} bytes")]
    TooLarge { limit: usize },
}

/// Our routing decision: this access point does not serve the addressed
/// participant for this document type (C3.2.1 §2.5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    #[error("service '{service}' of type '{service_type}' is not served")]
    UnknownService { service: String, service_type: String },
    #[error("action '{0}' is not served")]
    UnknownAction(String),
    #[error("participant '{final_recipient}' is not served for '{action}'")]
    Participant { final_recipient: String, action: String },
}

/// Sender side: the answer to our message is not a valid receipt for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("the signal refers to '{found}', not to our message '{expected}'")]
    WrongReference { expected: String, found: String },
    #[error("the receipt's non-repudiation information does not match what we signed: {0}")]
    NrrMismatch(String),
    #[error("the receipt is signed by '{signer}', not by the receiving access point '{expected}'")]
    WrongSigner { expected: String, signer: String },
    #[error("not a receipt: {0}")]
    NotAReceipt(String),
    /// A verified error signal: the peer refused our message.
    #[error("the receiving access point reported: {}", summary(.0))]
    PeerErrors(Vec<ReceivedError>),
}

fn summary(errors: &[ReceivedError]) -> String {
    errors
        .iter()
        .map(|e| match &e.detail {
            Some(d) => format!("{} {}", e.code, d),
            None => e.code.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Our side: keys, certificates, the random generator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalError {
    #[error("our key or certificate cannot be used: {0}")]
    Key(String),
    #[error("cannot build the message: {0}")]
    Build(String),
    /// Reading or writing the spool (a disk full, a file gone).
    #[error("local storage: {0}")]
    Storage(String),
}

impl LocalError {
    pub(crate) fn storage(error: std::io::Error) -> LocalError {
        LocalError::Storage(error.to_string())
    }
}

/// Everything that can go wrong in the AS4 layer, by fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum As4Error {
    #[error("packaging: {0}")]
    Packaging(#[from] PackagingError),
    #[error("header: {0}")]
    Header(#[from] HeaderError),
    #[error("security: {0}")]
    Security(#[from] SecurityError),
    #[error("payload: {0}")]
    Payload(#[from] PayloadError),
    #[error("not serviced: {0}")]
    Service(#[from] ServiceError),
    #[error("receipt: {0}")]
    Receipt(#[from] ReceiptError),
    #[error("local: {0}")]
    Local(#[from] LocalError),
}

/// Longest `ErrorDetail` we send: enough to name an element, short enough
/// that nothing of size is echoed back.
const MAX_DETAIL_CHARS: usize = 200;

fn clipped(text: &str) -> String {
    text.chars().take(MAX_DETAIL_CHARS).collect()
}

/// The one decision of what the peer is told for each internal error.
pub fn peer_error(error: &As4Error) -> EbmsError {
    match error {
        As4Error::Packaging(PackagingError::TooLarge { limit, .. }) => {
            EbmsError::with_detail(ErrorCode::Other, format!("message exceeds {limit} bytes"))
        }
        As4Error::Packaging(e) => EbmsError::with_detail(ErrorCode::MimeInconsistency, clipped(&e.to_string())),
        As4Error::Header(HeaderError::PModeMismatch(what)) => {
            EbmsError::with_detail(ErrorCode::ProcessingModeMismatch, clipped(what))
        }
        As4Error::Header(e) => EbmsError::with_detail(ErrorCode::InvalidHeader, clipped(&e.to_string())),
        // Security failures name the class of failure and nothing more.
        As4Error::Security(SecurityError::Policy(_)) => EbmsError::new(ErrorCode::PolicyNoncompliance),
        As4Error::Security(SecurityError::Decryption) => EbmsError::new(ErrorCode::FailedDecryption),
        As4Error::Security(
            SecurityError::Signature(_) | SecurityError::Timestamp(_) | SecurityError::PartyMismatch { .. },
        ) => EbmsError::new(ErrorCode::FailedAuthentication),
        As4Error::Payload(_) => EbmsError::new(ErrorCode::DecompressionFailure),
        As4Error::Service(_) => EbmsError::with_detail(ErrorCode::Other, NOT_SERVICED),
        // Never sent in practice (signals are not answered); total for logs.
        As4Error::Receipt(_) => EbmsError::new(ErrorCode::InvalidReceipt),
        As4Error::Local(_) => EbmsError::new(ErrorCode::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_security_codes_have_security_origin() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(code.code()), Some(code));
        }
        assert_eq!(ErrorCode::from_code("EBMS:9999"), None);
        assert_eq!(ErrorCode::FailedDecryption.origin(), "security");
        assert_eq!(ErrorCode::DecompressionFailure.origin(), "ebMS");
        assert_eq!(ErrorCode::FeatureNotSupported.severity(), Severity::Warning);
    }

    #[test]
    fn security_failures_carry_no_detail() {
        let errors = [
            As4Error::Security(SecurityError::Policy("no token".into())),
            As4Error::Security(SecurityError::Decryption),
            As4Error::Security(SecurityError::Timestamp("expired".into())),
            As4Error::Security(SecurityError::Signature(VerifyError::BadSignatureValue)),
            As4Error::Security(SecurityError::PartyMismatch { claimed: "a".into(), signer: "b".into() }),
            As4Error::Local(LocalError::Key("our key file".into())),
            As4Error::Payload(PayloadError::Decompression("bad header".into())),
        ];
        for e in &errors {
            assert_eq!(peer_error(e).detail, None, "{e}");
        }
        let long = As4Error::Header(HeaderError::Structure("x".repeat(10_000)));
        assert!(peer_error(&long).detail.is_some_and(|d| d.chars().count() <= MAX_DETAIL_CHARS));
    }
}
