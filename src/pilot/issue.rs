//! Field-level validation findings.
//!
//! An issue names the field (by JSON pointer) and the rule, and never the
//! submitted value: issues travel back to the sender in receipts and are
//! written to logs, and the values are health data.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// Which kind of rule a field broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum IssueRule {
    /// A required field is absent or empty.
    Missing,
    /// The value has the wrong type, shape or is not one of the allowed values.
    Invalid,
    TooLong,
    /// A check digit (personnummer, organisation number, HSA-id) is wrong.
    CheckDigit,
    /// A rule that depends on other fields.
    Conditional,
    /// A field the schema does not have, or a second copy of one.
    NotAllowed,
    /// Disagrees with the document it answers.
    Mismatch,
}

impl IssueRule {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueRule::Missing => "missing",
            IssueRule::Invalid => "invalid",
            IssueRule::TooLong => "too-long",
            IssueRule::CheckDigit => "check-digit",
            IssueRule::Conditional => "conditional",
            IssueRule::NotAllowed => "not-allowed",
            IssueRule::Mismatch => "mismatch",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldIssue {
    /// JSON pointer into the JSON form (the XML form has the same names), e.g. `/child/personId`.
    pub pointer: String,
    pub rule: IssueRule,
    /// Names the field and the rule, never the value.
    pub text: String,
    pub severity: Severity,
}

impl FieldIssue {
    /// An issue at `pointer` (empty: the whole document); the text names the
    /// field, then says `what` is wrong, never with the value.
    fn new(pointer: &str, rule: IssueRule, what: impl std::fmt::Display, severity: Severity) -> FieldIssue {
        let field = if pointer.is_empty() { "/" } else { pointer };
        FieldIssue { pointer: pointer.to_owned(), rule, text: format!("{field}: {what}"), severity }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// A field that contradicts what carries the document (the SDK message).
    pub fn mismatch(pointer: &str, what: &str) -> FieldIssue {
        FieldIssue::new(pointer, IssueRule::Mismatch, format_args!("differs from {what}"), Severity::Error)
    }

    /// A document over the size a pilot document may have.
    pub fn document_too_large(max_bytes: usize) -> FieldIssue {
        FieldIssue::new("", IssueRule::TooLong, format_args!("the document is larger than {max_bytes} bytes"), Severity::Error)
    }
}

/// Collects issues while a document is read.
#[derive(Debug, Default)]
pub(crate) struct Issues {
    pub list: Vec<FieldIssue>,
}

impl Issues {
    pub fn error(&mut self, pointer: &str, rule: IssueRule, what: impl std::fmt::Display) {
        self.push(pointer, rule, what, Severity::Error);
    }

    pub fn warn(&mut self, pointer: &str, rule: IssueRule, what: impl std::fmt::Display) {
        self.push(pointer, rule, what, Severity::Warning);
    }

    fn push(&mut self, pointer: &str, rule: IssueRule, what: impl std::fmt::Display, severity: Severity) {
        self.list.push(FieldIssue::new(pointer, rule, what, severity));
    }

    pub fn has_errors(&self) -> bool {
        self.list.iter().any(|i| i.severity == Severity::Error)
    }

    /// Splits into errors (if any) or the warnings.
    pub fn into_result(self) -> Result<Vec<FieldIssue>, Vec<FieldIssue>> {
        if self.has_errors() {
            Err(self.list.into_iter().filter(|i| i.severity == Severity::Error).collect())
        } else {
            Ok(self.list)
        }
    }
}
