//! Message states and their transitions: the outbox's retry policy and state
//! machine, and the inbox's state machine. Pure logic: no I/O, no clock
//! (`now` is a parameter) and no randomness of its own (jitter takes the
//! random value as a parameter), so every schedule is reproducible.
//!
//! Outgoing, in DIGG's message API vocabulary:
//!
//! ```text
//! SCHEDULED ──attempt──▶ SUBMITTED ──transport receipt──▶ WAITING_FOR_RECEIPT ──business receipt──▶ ACCEPTED | REJECTED
//!                          │    ▲
//!          retryable failure    attempt
//!                          ▼    │
//!                  SCHEDULED_FOR_RESEND
//!
//! any state that is not final ──retries or expiry exhausted──▶ MESSAGE_EXCHANGE_ERROR
//! ```
//!
//! A receipt we send is never answered with a receipt (C3.2.4), so its
//! transport receipt ends its flow in ACKNOWLEDGE.
//!
//! Incoming: NEW (stored in the inbox of its functional address) →
//! RETRIEVED (read by a client) → RECEIPT_SENT (our business receipt handed
//! to our outbox); ERROR when processing fails.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::sdk::receipt::ReceiptLine;

// ---------------------------------------------------------------------------
// Retry policy
// ---------------------------------------------------------------------------

/// When to try again after a failed attempt, and when to give up.
///
/// The delay after attempt `n` (1-based) is
/// `min(initial_backoff × multiplierⁿ⁻¹, max_backoff) × (1 − jitter × r)`
/// for a random `r` in `[0, 1]`, rounded to whole milliseconds. Jitter only
/// ever shortens the delay, so `max_backoff` is a true cap, and it spreads
/// the retries of many messages to one recovering peer.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Growth of the delay per attempt (≥ 1; 1 is a constant interval).
    pub multiplier: f64,
    /// Share of the delay that may be taken off at random, in `[0, 1]`.
    pub jitter: f64,
    /// How long a message may take from submission to its business receipt
    /// (or, for a receipt we send, to its transport receipt).
    pub expiry: Duration,
}

impl Default for RetryPolicy {
    /// 12 attempts, 30 s doubling to at most 30 min (about 3 h of retrying
    /// in all), 20 % jitter, and 24 h for the whole exchange.
    fn default() -> Self {
        Self {
            max_attempts: 12,
            initial_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(30 * 60),
            multiplier: 2.0,
            jitter: 0.2,
            expiry: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// A retry policy that cannot work as configured.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    #[error("max_attempts must be at least 1")]
    NoAttempts,
    #[error("multiplier must be a finite number ≥ 1, not {0}")]
    Multiplier(f64),
    #[error("jitter must be in [0, 1], not {0}")]
    Jitter(f64),
    #[error("initial_backoff ({initial:?}) is longer than max_backoff ({max:?})")]
    BackoffOrder { initial: Duration, max: Duration },
    #[error("expiry must be longer than zero")]
    NoExpiry,
}

impl RetryPolicy {
    /// Checks a policy read from configuration. The schedule functions below
    /// clamp out-of-range values instead of failing, so a bad policy that
    /// slips through degrades rather than panics.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.max_attempts == 0 {
            return Err(PolicyError::NoAttempts);
        }
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            return Err(PolicyError::Multiplier(self.multiplier));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(PolicyError::Jitter(self.jitter));
        }
        if self.initial_backoff > self.max_backoff {
            return Err(PolicyError::BackoffOrder { initial: self.initial_backoff, max: self.max_backoff });
        }
        if self.expiry.is_zero() {
            return Err(PolicyError::NoExpiry);
        }
        Ok(())
    }

    /// The delay after attempt number `attempt_no` (1-based; 0 counts as 1)
    /// has failed, for the random value `rng_value` in `[0, 1]` (clamped;
    /// NaN counts as 0).
    pub fn backoff(&self, attempt_no: u32, rng_value: f64) -> Duration {
        let initial_ms = self.initial_backoff.as_secs_f64() * 1000.0;
        let max_ms = self.max_backoff.as_secs_f64() * 1000.0;
        if initial_ms <= 0.0 || max_ms <= 0.0 {
            return Duration::ZERO;
        }
        let multiplier = if self.multiplier.is_finite() && self.multiplier >= 1.0 { self.multiplier } else { 1.0 };
        // Past 2^1023 the product is infinite anyway; min() below caps it.
        let exponent = attempt_no.saturating_sub(1).min(1100) as i32;
        let base_ms = (initial_ms * multiplier.powi(exponent)).min(max_ms);
        let jitter = unit(self.jitter);
        let r = unit(rng_value);
        let ms = (base_ms * (1.0 - jitter * r)).round();
        // `as` saturates; ms is finite and ≥ 0 here.
        Duration::from_millis(ms as u64)
    }

    /// When to make the next attempt after attempt `attempt_no` failed at
    /// `now`: deterministic for a given `rng_value`.
    pub fn next_attempt_at(&self, attempt_no: u32, now: OffsetDateTime, rng_value: f64) -> OffsetDateTime {
        add(now, self.backoff(attempt_no, rng_value))
    }
}

fn unit(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

/// `t + d`, saturating at the largest representable time (a policy with an
/// absurd expiry then means "never" instead of a panic).
pub(crate) fn add(t: OffsetDateTime, d: Duration) -> OffsetDateTime {
    t.saturating_add(time::Duration::try_from(d).unwrap_or(time::Duration::MAX))
}

// ---------------------------------------------------------------------------
// States
// ---------------------------------------------------------------------------

/// State of an outgoing message or receipt (DIGG's `messageStatusDef`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OutboxState {
    /// Stored and acknowledged to the client; no attempt yet.
    Scheduled,
    /// Handed to AS4; the attempt is in progress.
    Submitted,
    /// A previous attempt failed; the next one is scheduled.
    ScheduledForResend,
    /// AS4 transport receipt received; waiting for the business receipt.
    WaitingForReceipt,
    /// Final for a receipt we sent: its transport receipt arrived, and
    /// receipts are not answered.
    Acknowledge,
    /// Final: the recipient accepted the message.
    Accepted,
    /// Final: the recipient rejected the message.
    Rejected,
    /// Final: retries or expiry ran out, or the failure was permanent.
    MessageExchangeError,
}

impl OutboxState {
    pub const ALL: [OutboxState; 8] = [
        OutboxState::Scheduled,
        OutboxState::Submitted,
        OutboxState::ScheduledForResend,
        OutboxState::WaitingForReceipt,
        OutboxState::Acknowledge,
        OutboxState::Accepted,
        OutboxState::Rejected,
        OutboxState::MessageExchangeError,
    ];

    /// DIGG's code for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Scheduled => "SCHEDULED",
            OutboxState::Submitted => "SUBMITTED",
            OutboxState::ScheduledForResend => "SCHEDULED_FOR_RESEND",
            OutboxState::WaitingForReceipt => "WAITING_FOR_RECEIPT",
            OutboxState::Acknowledge => "ACKNOWLEDGE",
            OutboxState::Accepted => "ACCEPTED",
            OutboxState::Rejected => "REJECTED",
            OutboxState::MessageExchangeError => "MESSAGE_EXCHANGE_ERROR",
        }
    }

    /// No transition leaves a final state.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OutboxState::Acknowledge | OutboxState::Accepted | OutboxState::Rejected | OutboxState::MessageExchangeError
        )
    }

    /// Waiting for the scheduler to make an attempt.
    pub fn is_schedulable(self) -> bool {
        matches!(self, OutboxState::Scheduled | OutboxState::ScheduledForResend)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for OutboxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// State of an incoming message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InboxState {
    /// Stored in the inbox of its functional address.
    New,
    /// Read by a client.
    Retrieved,
    /// Our business receipt is in our outbox.
    ReceiptSent,
    /// Processing failed; see the entry's `error`.
    Error,
}

impl InboxState {
    pub const ALL: [InboxState; 4] = [InboxState::New, InboxState::Retrieved, InboxState::ReceiptSent, InboxState::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            InboxState::New => "NEW",
            InboxState::Retrieved => "RETRIEVED",
            InboxState::ReceiptSent => "RECEIPT_SENT",
            InboxState::Error => "ERROR",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for InboxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an outbox entry carries: an SDK message or a message receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentType {
    Message,
    Receipt,
}

/// A transition the current state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("{event} is not allowed in state {from}")]
    Illegal { from: &'static str, event: &'static str },
    #[error("the message expired at {}", rfc3339::text(.expires_at))]
    Expired { expires_at: OffsetDateTime },
    #[error("the message does not expire until {}", rfc3339::text(.expires_at))]
    NotExpired { expires_at: OffsetDateTime },
    #[error("a receipt from {actual} cannot answer a message sent to {expected}")]
    WrongSender { expected: String, actual: String },
    #[error("{0} is a receipt, and receipts are not answered with receipts")]
    ReceiptForReceipt(String),
}

fn illegal(from: impl Into<StateName>, event: &'static str) -> TransitionError {
    TransitionError::Illegal { from: from.into().0, event }
}

struct StateName(&'static str);
impl From<OutboxState> for StateName {
    fn from(s: OutboxState) -> Self {
        StateName(s.as_str())
    }
}
impl From<InboxState> for StateName {
    fn from(s: InboxState) -> Self {
        StateName(s.as_str())
    }
}

// ---------------------------------------------------------------------------
// Business receipts
// ---------------------------------------------------------------------------

/// One line of a receipt, as stored: the codes as DIGG writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReceiptLine {
    /// `LineReference/LineID`: an XPath or `NA`.
    pub line_id: String,
    /// `Response/ResponseCode`: SV, BV or SIG.
    pub reason_code: String,
    /// `Status/StatusReasonCode`, when present.
    pub detail_code: Option<String>,
    /// `Status/StatusReason`.
    pub text: String,
}

impl From<&ReceiptLine> for StoredReceiptLine {
    fn from(l: &ReceiptLine) -> Self {
        Self {
            line_id: l.line_id.clone(),
            reason_code: l.reason.as_str().to_owned(),
            detail_code: l.status_reason_code.as_ref().map(|c| c.as_str().to_owned()),
            text: l.status_reason.clone(),
        }
    }
}

/// A business receipt (meddelandekvittens) received for one of our
/// messages, verified by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessReceipt {
    /// The receipt's own id (its XHE ID).
    pub receipt_id: String,
    /// The organisation that signed and sent the receipt (XHE FromParty).
    pub from_org_id: String,
    pub accepted: bool,
    /// Why the message was rejected; empty when accepted.
    pub lines: Vec<StoredReceiptLine>,
    #[serde(with = "rfc3339")]
    pub received_at: OffsetDateTime,
}

// ---------------------------------------------------------------------------
// Outbox entries
// ---------------------------------------------------------------------------

/// What the caller knows about a message when it submits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxEntry {
    /// Our message id: the XHE ID (= the SDK messageId, or the receipt id).
    pub id: String,
    pub recipient_org_id: String,
    pub recipient_functional_address: String,
    pub document_type: DocumentType,
    pub conversation_id: String,
}

/// An outgoing message or receipt and where it is in its exchange.
///
/// Fields are read through accessors and changed only through the
/// transition methods, so a stored entry is always in a state the machine
/// can reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    id: String,
    as4_message_id: String,
    recipient_org_id: String,
    recipient_functional_address: String,
    document_type: DocumentType,
    conversation_id: String,
    state: OutboxState,
    attempts: u32,
    #[serde(with = "rfc3339")]
    next_attempt_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    updated_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    expires_at: OffsetDateTime,
    #[serde(with = "rfc3339::option")]
    last_attempt_at: Option<OffsetDateTime>,
    last_error: Option<String>,
    receipt: Option<BusinessReceipt>,
    /// Bumped by the store on every write; a write carrying an older
    /// revision is refused, so two writers cannot overwrite each other.
    revision: u64,
}

impl OutboxEntry {
    /// A new entry, SCHEDULED and due at once. The AS4 MessageId is
    /// generated here, once: every attempt reuses it, because the
    /// receiver's duplicate elimination recognises a resend only by it.
    pub fn new(spec: NewOutboxEntry, now: OffsetDateTime, policy: &RetryPolicy) -> Self {
        Self::with_as4_message_id(spec, new_as4_message_id(), now, policy)
    }

    /// As [`OutboxEntry::new`], with a given AS4 MessageId.
    pub fn with_as4_message_id(spec: NewOutboxEntry, as4_message_id: String, now: OffsetDateTime, policy: &RetryPolicy) -> Self {
        Self {
            id: spec.id,
            as4_message_id,
            recipient_org_id: spec.recipient_org_id,
            recipient_functional_address: spec.recipient_functional_address,
            document_type: spec.document_type,
            conversation_id: spec.conversation_id,
            state: OutboxState::Scheduled,
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
            updated_at: now,
            expires_at: add(now, policy.expiry),
            last_attempt_at: None,
            last_error: None,
            receipt: None,
            revision: 0,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn as4_message_id(&self) -> &str {
        &self.as4_message_id
    }
    pub fn recipient_org_id(&self) -> &str {
        &self.recipient_org_id
    }
    pub fn recipient_functional_address(&self) -> &str {
        &self.recipient_functional_address
    }
    pub fn document_type(&self) -> DocumentType {
        self.document_type
    }
    pub fn conversation_id(&self) -> &str {
        &self.conversation_id
    }
    pub fn state(&self) -> OutboxState {
        self.state
    }
    /// Attempts started so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
    /// When the next attempt is due; meaningful while
    /// [`OutboxState::is_schedulable`].
    pub fn next_attempt_at(&self) -> OffsetDateTime {
        self.next_attempt_at
    }
    pub fn created_at(&self) -> OffsetDateTime {
        self.created_at
    }
    pub fn updated_at(&self) -> OffsetDateTime {
        self.updated_at
    }
    pub fn expires_at(&self) -> OffsetDateTime {
        self.expires_at
    }
    pub fn last_attempt_at(&self) -> Option<OffsetDateTime> {
        self.last_attempt_at
    }
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
    pub fn receipt(&self) -> Option<&BusinessReceipt> {
        self.receipt.as_ref()
    }
    pub fn revision(&self) -> u64 {
        self.revision
    }
    pub(crate) fn set_revision(&mut self, revision: u64) {
        self.revision = revision;
    }

    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at
    }

    /// SCHEDULED or SCHEDULED_FOR_RESEND → SUBMITTED. Refused once the
    /// message has expired: call [`OutboxEntry::expire`] instead.
    pub fn on_attempt_started(&mut self, now: OffsetDateTime) -> Result<(), TransitionError> {
        if !self.state.is_schedulable() {
            return Err(illegal(self.state, "starting an attempt"));
        }
        if self.is_expired(now) {
            return Err(TransitionError::Expired { expires_at: self.expires_at });
        }
        self.state = OutboxState::Submitted;
        self.attempts = self.attempts.saturating_add(1);
        self.last_attempt_at = Some(now);
        self.updated_at = now;
        Ok(())
    }

    /// SUBMITTED → WAITING_FOR_RECEIPT, or ACKNOWLEDGE for a receipt (no
    /// business receipt will follow).
    pub fn on_transport_receipt(&mut self, now: OffsetDateTime) -> Result<(), TransitionError> {
        if self.state != OutboxState::Submitted {
            return Err(illegal(self.state, "an AS4 transport receipt"));
        }
        self.state = match self.document_type {
            DocumentType::Message => OutboxState::WaitingForReceipt,
            DocumentType::Receipt => OutboxState::Acknowledge,
        };
        self.last_error = None;
        self.updated_at = now;
        Ok(())
    }

    /// SUBMITTED → SCHEDULED_FOR_RESEND, or MESSAGE_EXCHANGE_ERROR when the
    /// failure is permanent, the attempts are used up, or the next attempt
    /// would fall after the expiry.
    pub fn on_transport_failure(
        &mut self,
        now: OffsetDateTime,
        retryable: bool,
        reason: impl Into<String>,
        policy: &RetryPolicy,
        rng_value: f64,
    ) -> Result<(), TransitionError> {
        if self.state != OutboxState::Submitted {
            return Err(illegal(self.state, "an AS4 transport failure"));
        }
        let reason = reason.into();
        self.updated_at = now;
        let next = policy.next_attempt_at(self.attempts, now, rng_value);
        if !retryable {
            self.fail(format!("permanent failure: {reason}"));
        } else if self.attempts >= policy.max_attempts {
            self.fail(format!("gave up after {} attempts: {reason}", self.attempts));
        } else if next >= self.expires_at {
            self.fail(format!("expires at {} before the next attempt: {reason}", rfc3339::text(&self.expires_at)));
        } else {
            self.state = OutboxState::ScheduledForResend;
            self.next_attempt_at = next;
            self.last_error = Some(reason);
        }
        Ok(())
    }

    fn fail(&mut self, reason: String) {
        self.state = OutboxState::MessageExchangeError;
        self.last_error = Some(reason);
    }

    /// → ACCEPTED or REJECTED. Allowed from WAITING_FOR_RECEIPT, and also
    /// from SUBMITTED and SCHEDULED_FOR_RESEND: a business receipt proves
    /// delivery even when the transport receipt was lost or not yet
    /// recorded. Refused for a message never handed over (SCHEDULED), in a
    /// final state (a late receipt does not reopen an exchange DIGG calls
    /// finished), from an organisation other than the recipient, and for
    /// receipts.
    pub fn on_business_receipt(&mut self, receipt: BusinessReceipt) -> Result<(), TransitionError> {
        if self.document_type == DocumentType::Receipt {
            return Err(TransitionError::ReceiptForReceipt(self.id.clone()));
        }
        if !matches!(
            self.state,
            OutboxState::WaitingForReceipt | OutboxState::Submitted | OutboxState::ScheduledForResend
        ) {
            return Err(illegal(self.state, "a business receipt"));
        }
        if receipt.from_org_id != self.recipient_org_id {
            return Err(TransitionError::WrongSender {
                expected: self.recipient_org_id.clone(),
                actual: receipt.from_org_id,
            });
        }
        self.state = if receipt.accepted { OutboxState::Accepted } else { OutboxState::Rejected };
        self.updated_at = receipt.received_at;
        self.last_error = None;
        self.receipt = Some(receipt);
        Ok(())
    }

    /// Any state that is not final → MESSAGE_EXCHANGE_ERROR, once `now` has
    /// reached the expiry.
    pub fn expire(&mut self, now: OffsetDateTime) -> Result<(), TransitionError> {
        if self.state.is_final() {
            return Err(illegal(self.state, "expiry"));
        }
        if !self.is_expired(now) {
            return Err(TransitionError::NotExpired { expires_at: self.expires_at });
        }
        let what = if self.state == OutboxState::WaitingForReceipt { "no business receipt" } else { "not delivered" };
        self.fail(format!("expired at {}: {what}", rfc3339::text(&self.expires_at)));
        self.updated_at = now;
        Ok(())
    }
}

/// A fresh AS4 MessageId: `uuid@brygga`, the `id-left@id-right` form ebMS 3
/// (§5.2.2.1) takes from RFC 2822.
pub fn new_as4_message_id() -> String {
    format!("{}@brygga", uuid::Uuid::new_v4())
}

// ---------------------------------------------------------------------------
// Inbox entries
// ---------------------------------------------------------------------------

/// What the caller knows about an incoming message when it stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInboxEntry {
    /// The XHE ID (= SDK messageId).
    pub message_id: String,
    /// The recipient functional address (XHE HandlingServiceID): the inbox.
    pub functional_address: String,
    pub sender_org_id: String,
    pub recipient_org_id: String,
    pub conversation_id: String,
}

/// An incoming message in the inbox of its functional address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEntry {
    message_id: String,
    /// Set by the store from the AS4 MessageId it was received under.
    pub(crate) as4_message_id: String,
    functional_address: String,
    sender_org_id: String,
    recipient_org_id: String,
    conversation_id: String,
    state: InboxState,
    #[serde(with = "rfc3339")]
    received_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    updated_at: OffsetDateTime,
    #[serde(with = "rfc3339::option")]
    retrieved_at: Option<OffsetDateTime>,
    receipt_id: Option<String>,
    error: Option<String>,
}

impl InboxEntry {
    /// A NEW entry received at `now`.
    pub fn new(spec: NewInboxEntry, now: OffsetDateTime) -> Self {
        Self {
            message_id: spec.message_id,
            as4_message_id: String::new(),
            functional_address: spec.functional_address,
            sender_org_id: spec.sender_org_id,
            recipient_org_id: spec.recipient_org_id,
            conversation_id: spec.conversation_id,
            state: InboxState::New,
            received_at: now,
            updated_at: now,
            retrieved_at: None,
            receipt_id: None,
            error: None,
        }
    }

    pub fn message_id(&self) -> &str {
        &self.message_id
    }
    pub fn as4_message_id(&self) -> &str {
        &self.as4_message_id
    }
    pub fn functional_address(&self) -> &str {
        &self.functional_address
    }
    pub fn sender_org_id(&self) -> &str {
        &self.sender_org_id
    }
    pub fn recipient_org_id(&self) -> &str {
        &self.recipient_org_id
    }
    pub fn conversation_id(&self) -> &str {
        &self.conversation_id
    }
    pub fn state(&self) -> InboxState {
        self.state
    }
    pub fn received_at(&self) -> OffsetDateTime {
        self.received_at
    }
    pub fn updated_at(&self) -> OffsetDateTime {
        self.updated_at
    }
    /// When a client first read the message.
    pub fn retrieved_at(&self) -> Option<OffsetDateTime> {
        self.retrieved_at
    }
    /// The id of the receipt we sent for it.
    pub fn receipt_id(&self) -> Option<&str> {
        self.receipt_id.as_deref()
    }
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// NEW → RETRIEVED. Reading again is not an error (a client may
    /// re-fetch): RETRIEVED and RECEIPT_SENT stay as they are, keeping the
    /// first read time. Refused in ERROR.
    pub fn mark_retrieved(&mut self, now: OffsetDateTime) -> Result<(), TransitionError> {
        match self.state {
            InboxState::New => self.state = InboxState::Retrieved,
            InboxState::Retrieved | InboxState::ReceiptSent => {}
            InboxState::Error => return Err(illegal(self.state, "retrieval")),
        }
        if self.retrieved_at.is_none() {
            self.retrieved_at = Some(now);
            self.updated_at = now;
        }
        Ok(())
    }

    /// NEW or RETRIEVED → RECEIPT_SENT. NEW is allowed because the node may
    /// answer as soon as it has validated the message, before any client
    /// reads it. Refused when a receipt was already sent: a message gets
    /// exactly one receipt.
    pub fn mark_receipt_sent(&mut self, receipt_id: impl Into<String>, now: OffsetDateTime) -> Result<(), TransitionError> {
        if !matches!(self.state, InboxState::New | InboxState::Retrieved) {
            return Err(illegal(self.state, "sending a receipt"));
        }
        self.state = InboxState::ReceiptSent;
        self.receipt_id = Some(receipt_id.into());
        self.updated_at = now;
        Ok(())
    }

    /// NEW or RETRIEVED → ERROR.
    pub fn mark_error(&mut self, reason: impl Into<String>, now: OffsetDateTime) -> Result<(), TransitionError> {
        if !matches!(self.state, InboxState::New | InboxState::Retrieved) {
            return Err(illegal(self.state, "an error"));
        }
        self.state = InboxState::Error;
        self.error = Some(reason.into());
        self.updated_at = now;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Timestamps in records
// ---------------------------------------------------------------------------

/// RFC 3339 with nanoseconds, so stored times read back exactly; the `time`
/// crate's own serde support is not enabled in this build.
pub(crate) mod rfc3339 {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    /// For messages: RFC 3339, or `time`'s own form for the rare time RFC
    /// 3339 cannot express (an offset with seconds).
    pub fn text(t: &OffsetDateTime) -> String {
        t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
    }

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        let text = t.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(D::Error::custom)
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
            let text = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
            text.map(|t| OffsetDateTime::parse(&t, &Rfc3339).map_err(D::Error::custom)).transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-10 12:00 UTC);

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(60),
            multiplier: 3.0,
            jitter: 0.5,
            expiry: Duration::from_secs(3600),
        }
    }

    fn entry(document_type: DocumentType) -> OutboxEntry {
        OutboxEntry::new(
            NewOutboxEntry {
                id: "m1".into(),
                recipient_org_id: "0203:b.se".into(),
                recipient_functional_address: "fa".into(),
                document_type,
                conversation_id: "c1".into(),
            },
            T0,
            &policy(),
        )
    }

    #[test]
    fn backoff_grows_caps_and_jitters_down() {
        let p = policy();
        assert_eq!(p.backoff(1, 0.0), Duration::from_secs(10));
        assert_eq!(p.backoff(2, 0.0), Duration::from_secs(30));
        assert_eq!(p.backoff(3, 0.0), Duration::from_secs(60)); // 90 capped
        assert_eq!(p.backoff(u32::MAX, 0.0), Duration::from_secs(60));
        assert_eq!(p.backoff(1, 1.0), Duration::from_secs(5));
        assert_eq!(p.backoff(2, 0.5), Duration::from_millis(22_500));
        // Out-of-range random input is clamped, never a panic.
        assert_eq!(p.backoff(1, f64::NAN), Duration::from_secs(10));
        assert_eq!(p.backoff(1, 7.0), Duration::from_secs(5));
        assert_eq!(p.backoff(0, 0.0), Duration::from_secs(10));
    }

    #[test]
    fn default_policy_is_valid() {
        assert_eq!(RetryPolicy::default().validate(), Ok(()));
        let bad = RetryPolicy { jitter: 1.5, ..RetryPolicy::default() };
        assert_eq!(bad.validate(), Err(PolicyError::Jitter(1.5)));
    }

    #[test]
    fn absurd_expiry_saturates() {
        let p = RetryPolicy { expiry: Duration::MAX, ..policy() };
        let e = OutboxEntry::new(
            NewOutboxEntry {
                id: "x".into(),
                recipient_org_id: "o".into(),
                recipient_functional_address: "f".into(),
                document_type: DocumentType::Message,
                conversation_id: "c".into(),
            },
            T0,
            &p,
        );
        assert!(e.expires_at() > T0);
    }

    #[test]
    fn receipts_end_in_acknowledge_and_are_not_answered() {
        let mut e = entry(DocumentType::Receipt);
        e.on_attempt_started(T0).unwrap();
        e.on_transport_receipt(T0).unwrap();
        assert_eq!(e.state(), OutboxState::Acknowledge);
        assert!(e.state().is_final());
        let r = BusinessReceipt {
            receipt_id: "r".into(),
            from_org_id: "0203:b.se".into(),
            accepted: true,
            lines: vec![],
            received_at: T0,
        };
        assert!(matches!(e.on_business_receipt(r), Err(TransitionError::ReceiptForReceipt(_))));
    }

    #[test]
    fn receipt_from_another_organisation_is_refused() {
        let mut e = entry(DocumentType::Message);
        e.on_attempt_started(T0).unwrap();
        e.on_transport_receipt(T0).unwrap();
        let r = BusinessReceipt {
            receipt_id: "r".into(),
            from_org_id: "0203:evil.se".into(),
            accepted: true,
            lines: vec![],
            received_at: T0,
        };
        assert!(matches!(e.on_business_receipt(r), Err(TransitionError::WrongSender { .. })));
        assert_eq!(e.state(), OutboxState::WaitingForReceipt);
    }

    #[test]
    fn entry_round_trips_through_json() {
        let mut e = entry(DocumentType::Message);
        e.on_attempt_started(datetime!(2026-01-10 12:00:00.123456789 UTC)).unwrap();
        let json = serde_json::to_vec(&e).unwrap();
        let back: OutboxEntry = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn inbox_transitions() {
        let mut i = InboxEntry::new(
            NewInboxEntry {
                message_id: "m".into(),
                functional_address: "fa".into(),
                sender_org_id: "a".into(),
                recipient_org_id: "b".into(),
                conversation_id: "c".into(),
            },
            T0,
        );
        i.mark_retrieved(T0).unwrap();
        i.mark_retrieved(T0).unwrap();
        assert_eq!(i.state(), InboxState::Retrieved);
        i.mark_receipt_sent("r1", T0).unwrap();
        assert!(i.mark_receipt_sent("r2", T0).is_err());
        assert!(i.mark_error("late", T0).is_err());
        assert_eq!(i.receipt_id(), Some("r1"));
    }
}
