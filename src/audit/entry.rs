//! One audit entry: what the caller gives ([`NewEntry`]), what the log holds
//! ([`Entry`]), and the canonical bytes its hash covers.
//!
//! Canonical form: `serde_json` output of [`Entry`], fields in declaration
//! order, absent options left out, no whitespace. `hash` is SHA-256 over the
//! same serialisation without the `hash` field (the line minus
//! `,"hash":"…"`), so every other byte of the line, `prev` included, is
//! covered. The verifier re-serialises every line it reads and refuses one
//! whose bytes differ, so nothing outside the hash can hide in a line.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::person::{scrub_person_ids, PersonId, PersonKey};
use super::{hex, AuditError};

/// The `v` field. A reader refuses versions it does not know rather than
/// guess at their meaning.
pub const FORMAT_VERSION: u32 = 1;

/// `prev` of the first entry.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Longest actor, functional address, message id or conversation id, in bytes.
pub const MAX_IDENTIFIER_BYTES: usize = 256;

/// Longest detail text, in bytes; longer text is cut (see [`NewEntry::detail`]).
pub const MAX_DETAIL_BYTES: usize = 4096;

/// Longest line a reader accepts, newline excluded. Above the longest line
/// a writer can produce (every field at its cap, every byte JSON-escaped to
/// six) so that a reader never needs unbounded memory.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

const TRUNCATION_MARK: &str = " [truncated]";

/// What happened. Serialised in SCREAMING_SNAKE_CASE (`SEND_ATTEMPT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    /// A client handed the node a message to send.
    Submit,
    /// The node tried to deliver a message to the peer's access point.
    SendAttempt,
    /// The peer's access point acknowledged (or refused) transport (AS4 receipt).
    TransportReceipt,
    /// A message arrived from a peer.
    InboundMessage,
    /// The result of validating a message under SDK's rules.
    ValidationResult,
    /// An SDK message receipt (business receipt), sent or received.
    BusinessReceipt,
    /// Someone read a message or its content.
    Read,
    /// Someone exported messages or log entries (a patient's log extract too).
    Export,
    /// Someone was refused access.
    AccessDenied,
    /// A client deleted a message (its content is gone from the node).
    Delete,
    /// The node's configuration changed.
    ConfigChange,
    /// A key or certificate was added, replaced or removed.
    KeyChange,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    Accepted,
    Rejected,
    Ok,
    Denied,
    Error,
}

/// An entry as the caller describes it; [`super::AuditLog::append`] adds the
/// sequence number and the chain, and turns the person into a keyed hash.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// When it happened. The caller's clock: this library never reads one.
    /// Stored in UTC whatever the offset given.
    pub time: OffsetDateTime,
    /// Who: a client id, `node`, an operator's id.
    pub actor: String,
    /// The organisation the action is for: its SDK id, `0203:` and a domain name.
    pub org: String,
    pub functional_address: Option<String>,
    pub message_id: Option<String>,
    pub conversation_id: Option<String>,
    pub action: Action,
    pub outcome: Outcome,
    /// The person the action concerns; only its keyed hash is written.
    pub person: Option<PersonId>,
    /// Free text for reviewers. Anything in it that looks like a
    /// personnummer is replaced by `[PERSON-ID]`, and text longer than
    /// [`MAX_DETAIL_BYTES`] is cut: losing the end of a description is
    /// better than failing the action it describes.
    pub detail: Option<String>,
}

impl NewEntry {
    pub fn new(
        time: OffsetDateTime,
        actor: impl Into<String>,
        org: impl Into<String>,
        action: Action,
        outcome: Outcome,
    ) -> Self {
        Self {
            time,
            actor: actor.into(),
            org: org.into(),
            functional_address: None,
            message_id: None,
            conversation_id: None,
            action,
            outcome,
            person: None,
            detail: None,
        }
    }

    pub fn functional_address(mut self, address: impl Into<String>) -> Self {
        self.functional_address = Some(address.into());
        self
    }

    pub fn message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = Some(id.into());
        self
    }

    pub fn conversation_id(mut self, id: impl Into<String>) -> Self {
        self.conversation_id = Some(id.into());
        self
    }

    pub fn person(mut self, person: PersonId) -> Self {
        self.person = Some(person);
        self
    }

    pub fn detail(mut self, text: impl Into<String>) -> Self {
        self.detail = Some(text.into());
        self
    }

    /// Checks and normalises the fields, and replaces the person by its
    /// reference. Done before the log's lock is taken: none of it needs the
    /// chain.
    pub(super) fn prepare(self, key: &PersonKey) -> Result<Entry, AuditError> {
        let time = self
            .time
            .to_offset(UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(|_| invalid("time", "cannot be written as RFC 3339 (year outside 0000-9999)"))?;
        if !is_org_id(&self.org) {
            return Err(invalid("org", "must be 0203: and the organisation's domain name"));
        }
        Ok(Entry {
            v: FORMAT_VERSION,
            seq: 0,
            time,
            actor: identifier("actor", self.actor)?,
            org: self.org,
            functional_address: self.functional_address.map(|a| identifier("functional_address", a)).transpose()?,
            message_id: self.message_id.map(|m| identifier("message_id", m)).transpose()?,
            conversation_id: self.conversation_id.map(|c| identifier("conversation_id", c)).transpose()?,
            action: self.action,
            outcome: self.outcome,
            person_ref: self.person.map(|p| key.person_ref(&p)),
            detail: self.detail.map(|d| detail_text(&d)),
            prev: String::new(),
            hash: String::new(),
        })
    }
}

fn invalid(field: &'static str, problem: &'static str) -> AuditError {
    AuditError::InvalidEntry { field, problem }
}

/// SDK's organisation id: `0203:` and a domain name (B1.3.3), the same
/// rule the message validation applies.
fn is_org_id(org: &str) -> bool {
    crate::sdk::message_rules::is_org_id(org)
}

/// An identifier field: 1..=256 bytes, no control characters, person ids
/// scrubbed. UUIDs are left as they are: random, they are not person ids
/// even when a group happens to look like one.
fn identifier(field: &'static str, value: String) -> Result<String, AuditError> {
    if value.is_empty() || value.len() > MAX_IDENTIFIER_BYTES {
        return Err(invalid(field, "must be 1 to 256 bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    if is_uuid(&value) {
        return Ok(value);
    }
    let scrubbed = match scrub_person_ids(&value) {
        Cow::Borrowed(_) => value,
        Cow::Owned(s) => {
            tracing::warn!(field, "person identifier removed from an audit entry field");
            s
        }
    };
    if scrubbed.len() > MAX_IDENTIFIER_BYTES {
        return Err(invalid(field, "must be 1 to 256 bytes"));
    }
    Ok(scrubbed)
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

fn detail_text(text: &str) -> String {
    let scrubbed = scrub_person_ids(text);
    if let Cow::Owned(_) = scrubbed {
        tracing::warn!(field = "detail", "person identifier removed from an audit entry field");
    }
    if scrubbed.len() <= MAX_DETAIL_BYTES {
        return scrubbed.into_owned();
    }
    let mut cut = MAX_DETAIL_BYTES - TRUNCATION_MARK.len();
    while !scrubbed.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{TRUNCATION_MARK}", &scrubbed[..cut])
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Format version, [`FORMAT_VERSION`].
    pub v: u32,
    /// 1 for the first entry, then one more per line.
    pub seq: u64,
    /// UTC, RFC 3339.
    pub time: String,
    pub actor: String,
    pub org: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functional_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    pub action: Action,
    pub outcome: Outcome,
    /// Hex HMAC-SHA256 of the person identifier under the node's person key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `hash` of the previous entry; [`GENESIS_PREV`] for the first.
    pub prev: String,
    /// Hex SHA-256 of this entry's canonical form without `hash`.
    pub hash: String,
}

/// [`Entry`] without `hash`: what the hash covers. The field list must stay
/// the same as `Entry`'s, in the same order (a test checks).
#[derive(Serialize)]
struct Body<'a> {
    v: u32,
    seq: u64,
    time: &'a str,
    actor: &'a str,
    org: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    functional_address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation_id: Option<&'a str>,
    action: Action,
    outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    person_ref: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    prev: &'a str,
}

impl Entry {
    fn body(&self) -> Body<'_> {
        Body {
            v: self.v,
            seq: self.seq,
            time: &self.time,
            actor: &self.actor,
            org: &self.org,
            functional_address: self.functional_address.as_deref(),
            message_id: self.message_id.as_deref(),
            conversation_id: self.conversation_id.as_deref(),
            action: self.action,
            outcome: self.outcome,
            person_ref: self.person_ref.as_deref(),
            detail: self.detail.as_deref(),
            prev: &self.prev,
        }
    }

    /// The hash this entry must carry: hex SHA-256 of its canonical form
    /// without `hash`.
    pub fn compute_hash(&self) -> String {
        hex(ring::digest::digest(&ring::digest::SHA256, &to_json(&self.body())).as_ref())
    }

    /// The canonical line, without the newline.
    pub fn to_line(&self) -> String {
        // serde_json writes valid UTF-8.
        String::from_utf8_lossy(&to_json(self)).into_owned()
    }

    pub(super) fn to_line_bytes(&self) -> Vec<u8> {
        to_json(self)
    }
}

/// Structs of strings, integers and unit enums always serialise; a failure
/// here would be a bug in this module, not bad input.
fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("audit entries are plain strings and integers")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn sample() -> Entry {
        let key = PersonKey::from_bytes(&[9; 32]);
        let mut entry =
            NewEntry::new(datetime!(2026-11-25 11:00 +01:00), "client-1", "0203:bup.regionstockholm.se", Action::Read, Outcome::Ok)
                .functional_address("bup-intake")
                .message_id("5f0c2a1e-7b3d-4c9a-8e21-0a1b2c3d4e5f")
                .person(PersonId::parse("191212121212").unwrap())
                .detail("line one\nline \"two\"")
                .prepare(&key)
                .unwrap();
        entry.seq = 1;
        entry.prev = GENESIS_PREV.to_owned();
        entry.hash = entry.compute_hash();
        entry
    }

    #[test]
    fn hash_covers_the_line_without_the_hash_field() {
        let entry = sample();
        let line = entry.to_line();
        let body = String::from_utf8(to_json(&entry.body())).unwrap();
        assert_eq!(line, format!("{},\"hash\":\"{}\"}}", &body[..body.len() - 1], entry.hash));
        assert!(!line.contains('\n'), "JSON escapes newlines, so one entry is one line");
    }

    #[test]
    fn time_is_stored_in_utc() {
        assert_eq!(sample().time, "2026-11-25T10:00:00Z");
    }

    #[test]
    fn round_trips_byte_for_byte() {
        let entry = sample();
        let parsed: Entry = serde_json::from_str(&entry.to_line()).unwrap();
        assert_eq!(parsed, entry);
        assert_eq!(parsed.to_line(), entry.to_line());
    }

    #[test]
    fn long_detail_is_cut_on_a_char_boundary() {
        let text = "å".repeat(MAX_DETAIL_BYTES);
        let cut = detail_text(&text);
        assert!(cut.len() <= MAX_DETAIL_BYTES);
        assert!(cut.ends_with(TRUNCATION_MARK));
    }

    #[test]
    fn refuses_bad_identifiers() {
        let key = PersonKey::from_bytes(&[9; 32]);
        let base =
            || NewEntry::new(datetime!(2026-11-25 10:00 UTC), "node", "0203:bup.regionstockholm.se", Action::Submit, Outcome::Ok);
        assert!(base().prepare(&key).is_ok());
        let bad_org = NewEntry { org: "2321000016".into(), ..base() };
        assert!(matches!(bad_org.prepare(&key), Err(AuditError::InvalidEntry { field: "org", .. })));
        let empty_actor = NewEntry { actor: String::new(), ..base() };
        assert!(matches!(empty_actor.prepare(&key), Err(AuditError::InvalidEntry { field: "actor", .. })));
        let control = base().conversation_id("a\nb");
        assert!(matches!(control.prepare(&key), Err(AuditError::InvalidEntry { field: "conversation_id", .. })));
        let long = base().message_id("x".repeat(MAX_IDENTIFIER_BYTES + 1));
        assert!(matches!(long.prepare(&key), Err(AuditError::InvalidEntry { field: "message_id", .. })));
    }
}
