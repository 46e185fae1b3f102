//! DIGG's receipt codes and the one type every validation problem becomes.
//!
//! The message receipt specification (C3.2.4) gives the response codes and
//! reason codes; the content specification (B1.3.3 §5.3) gives the detail
//! code for each kind of violation. Every layer maps its own errors to a
//! [`Problem`] here, so what a peer is told is decided in one place.

use std::fmt;

/// `DocumentResponse/Response/ResponseCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseCode {
    Accepted,
    Rejected,
}

impl ResponseCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseCode::Accepted => "ACCEPTED",
            ResponseCode::Rejected => "REJECTED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACCEPTED" => Some(ResponseCode::Accepted),
            "REJECTED" => Some(ResponseCode::Rejected),
            _ => None,
        }
    }
}

/// `LineResponse/Response/ResponseCode`: why a message was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReasonCode {
    /// Breaks the XML schema.
    Sv,
    /// Breaks a business rule (schematron or the specification's own rules).
    Bv,
    /// Signature or security.
    Sig,
}

impl ReasonCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::Sv => "SV",
            ReasonCode::Bv => "BV",
            ReasonCode::Sig => "SIG",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "SV" => Some(ReasonCode::Sv),
            "BV" => Some(ReasonCode::Bv),
            "SIG" => Some(ReasonCode::Sig),
            _ => None,
        }
    }
}

/// `Status/StatusReasonCode`: the detail code of B1.3.3 §5.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DetailCode {
    Structure,
    Invariant,
    Security,
    NotFound,
    NotSupported,
    TooLong,
    Forbidden,
    Duplicate,
    MultipleMatches,
}

impl DetailCode {
    pub const ALL: [DetailCode; 9] = [
        DetailCode::Structure,
        DetailCode::Invariant,
        DetailCode::Security,
        DetailCode::NotFound,
        DetailCode::NotSupported,
        DetailCode::TooLong,
        DetailCode::Forbidden,
        DetailCode::Duplicate,
        DetailCode::MultipleMatches,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DetailCode::Structure => "structure",
            DetailCode::Invariant => "invariant",
            DetailCode::Security => "security",
            DetailCode::NotFound => "not-found",
            DetailCode::NotSupported => "not-supported",
            DetailCode::TooLong => "too-long",
            DetailCode::Forbidden => "forbidden",
            DetailCode::Duplicate => "duplicate",
            DetailCode::MultipleMatches => "multiple-matches",
        }
    }

    /// Accepts the spellings the specification uses (`Not-found`, `not-found`).
    pub fn parse(s: &str) -> Option<Self> {
        let lower = s.to_ascii_lowercase();
        Self::ALL.into_iter().find(|d| d.as_str() == lower)
    }
}

/// One reason a message or envelope is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub reason: ReasonCode,
    pub detail: DetailCode,
    /// XPath of the offending element or attribute, or `NA` (C3.2.4 [g]).
    pub path: String,
    /// Human-readable text. Never contains the offending value when that
    /// value could be personal data (B1.3.3: label content must not be echoed).
    pub text: String,
}

impl Problem {
    pub fn new(reason: ReasonCode, detail: DetailCode, path: impl Into<String>, text: impl Into<String>) -> Self {
        Self { reason, detail, path: path.into(), text: text.into() }
    }

    pub fn sv_structure(path: impl Into<String>, text: impl Into<String>) -> Self {
        Self::new(ReasonCode::Sv, DetailCode::Structure, path, text)
    }

    pub fn bv(detail: DetailCode, path: impl Into<String>, text: impl Into<String>) -> Self {
        Self::new(ReasonCode::Bv, detail, path, text)
    }

    pub fn sig_security(text: impl Into<String>) -> Self {
        Self::new(ReasonCode::Sig, DetailCode::Security, "NA", text)
    }
}

/// The line the command line prints for a problem:
/// `REJECTED <reason> <detail>: <text>`.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "REJECTED {} {}: {}", self.reason.as_str(), self.detail.as_str(), self.text)?;
        if self.path != "NA" && !self.path.is_empty() {
            write!(f, " (at {})", self.path)?;
        }
        Ok(())
    }
}

/// The outcome of validating a message or an envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validation {
    pub problems: Vec<Problem>,
}

impl Validation {
    pub fn is_accepted(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn response_code(&self) -> ResponseCode {
        if self.is_accepted() {
            ResponseCode::Accepted
        } else {
            ResponseCode::Rejected
        }
    }

    pub fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    pub fn extend(&mut self, other: Validation) {
        self.problems.extend(other.problems);
    }
}
