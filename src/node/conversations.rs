//! The pilots' conversations at the node: the structured documents
//! (`crate::pilot`) found in SDK messages, checked on the way in, and each
//! conversation's thread as this node saw it.
//!
//! A pilot document travels as an `application/xml` attachment of an SDK
//! message. The receiving node checks it after SDK's own rules: a broken
//! document, or one whose common part contradicts the message it came in,
//! is rejected with BV invariant; a reply that answers nothing sent on its
//! conversation with BV not-found. The texts name the field, never its
//! value: they travel in the receipt.
//!
//! Trees in the node's store:
//!
//! | tree | key | value |
//! |---|---|---|
//! | `pilot/documents` | messageId | [`ThreadEntry`] (the document as JSON) |
//! | `pilot/conversations` | conversationId `/` created (ms, hex) `/` messageId | empty |
//!
//! A received document is recorded before the message is stored, so a
//! message in the inbox always has its entry (an entry whose message then
//! failed to store is overwritten by the resend).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sled::Tree;
use time::OffsetDateTime;

use super::store::{decode, encode, Store, StoreError};
use crate::pilot::{self, DocumentKind, FieldIssue, PilotDocument};
use crate::sdk::message::MessageHeader;
use crate::sdk::xml_attachments::{XmlAttachment, XmlContent};
use crate::sdk::{DetailCode, Problem};

const T_DOCUMENTS: &str = "pilot/documents";

/// How many field problems one rejection lists at most.
const MAX_PROBLEMS: usize = 20;

/// Which way a document went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Sent,
    Received,
}

/// One document of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadEntry {
    pub message_id: String,
    pub direction: Direction,
    /// [`DocumentKind::as_str`].
    pub kind: String,
    pub document_id: String,
    pub conversation_id: String,
    /// The document's `created`, RFC 3339.
    pub created: String,
    /// When this node sent or received it, RFC 3339.
    pub recorded_at: String,
    /// Our functional address (sender or recipient).
    pub functional_address: String,
    pub counterpart_org_id: String,
    pub counterpart_functional_address: String,
    /// The API client that sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// [`PilotDocument::outcome`], kept so that listings need not read
    /// the document again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The document as JSON (personal data: read only through the API,
    /// which audits the read).
    pub document: Value,
}

impl ThreadEntry {
    /// The entry for `document`, carried in the message `header`.
    pub fn new(document: &PilotDocument, header: &MessageHeader, direction: Direction, now: OffsetDateTime) -> ThreadEntry {
        let common = document.common();
        let (ours, counterpart_org, counterpart_address) = match direction {
            Direction::Sent => (
                header.sender_functional_address().unwrap_or_default(),
                header.recipient_org_id(),
                header.recipient_functional_address(),
            ),
            Direction::Received => (
                header.recipient_functional_address(),
                header.sender_org_id(),
                header.sender_functional_address().unwrap_or_default(),
            ),
        };
        ThreadEntry {
            message_id: header.message_id().to_owned(),
            direction,
            kind: document.kind().as_str().to_owned(),
            document_id: common.document_id.to_string(),
            conversation_id: common.conversation_id.to_string(),
            created: rfc3339(common.created),
            recorded_at: rfc3339(now),
            functional_address: ours.to_owned(),
            counterpart_org_id: counterpart_org.to_owned(),
            counterpart_functional_address: counterpart_address.to_owned(),
            client_id: None,
            outcome: document.outcome().map(str::to_owned),
            document: document.to_json(),
        }
    }

    pub fn kind(&self) -> Option<DocumentKind> {
        DocumentKind::parse(&self.kind)
    }

    /// The document, read back from its JSON.
    pub fn document(&self) -> Result<PilotDocument, StoreError> {
        let kind = self.kind().ok_or_else(|| self.corrupt("unknown document kind"))?;
        PilotDocument::from_json(kind, &self.document).map(|c| c.document).map_err(|_| self.corrupt("stored document no longer reads"))
    }

    fn corrupt(&self, reason: &str) -> StoreError {
        StoreError::Corrupt { tree: T_DOCUMENTS, key: self.message_id.clone(), reason: reason.to_owned() }
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// The conversation trees.
#[derive(Clone)]
pub struct Conversations {
    documents: Tree,
    by_conversation: Tree,
}

impl std::fmt::Debug for Conversations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversations").finish_non_exhaustive()
    }
}

fn index_key(entry: &ThreadEntry) -> Vec<u8> {
    let created = OffsetDateTime::parse(&entry.created, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000).max(0) as u64)
        .unwrap_or(0);
    format!("{}/{created:016x}/{}", entry.conversation_id, entry.message_id).into_bytes()
}

impl Conversations {
    pub fn open(store: &Store) -> Result<Conversations, StoreError> {
        Ok(Conversations { documents: store.tree(T_DOCUMENTS)?, by_conversation: store.tree("pilot/conversations")? })
    }

    /// Records `entry` durably (replacing an entry of the same message).
    pub fn record(&self, entry: &ThreadEntry) -> Result<(), StoreError> {
        let value = encode(entry)?;
        if let Some(old) = self.get(&entry.message_id)? {
            self.by_conversation.remove(index_key(&old))?;
        }
        self.documents.insert(entry.message_id.as_bytes(), value)?;
        self.by_conversation.insert(index_key(entry), &[])?;
        self.documents.flush()?;
        Ok(())
    }

    /// Forgets the entry of `message_id` (a send that was refused).
    pub fn forget(&self, message_id: &str) -> Result<(), StoreError> {
        if let Some(old) = self.get(message_id)? {
            self.by_conversation.remove(index_key(&old))?;
            self.documents.remove(message_id.as_bytes())?;
            self.documents.flush()?;
        }
        Ok(())
    }

    pub fn get(&self, message_id: &str) -> Result<Option<ThreadEntry>, StoreError> {
        let key = message_id.as_bytes();
        self.documents.get(key)?.map(|value| decode(T_DOCUMENTS, key, &value)).transpose()
    }

    /// The person the pilot document carried by `message_id` is about, if
    /// the message carried one (for audit entries of reads that do not
    /// parse the document).
    pub fn person_of(&self, message_id: &str) -> Option<crate::audit::PersonId> {
        let entry = self.get(message_id).ok().flatten()?;
        entry.document().ok()?.person().cloned()
    }

    /// The documents of `conversation_id`, oldest document first.
    pub fn thread(&self, conversation_id: &str) -> Result<Vec<ThreadEntry>, StoreError> {
        let prefix = format!("{conversation_id}/");
        let mut entries = Vec::new();
        for item in self.by_conversation.scan_prefix(prefix.as_bytes()) {
            let (key, _) = item?;
            let key = String::from_utf8_lossy(&key);
            let Some(message_id) = key.rsplit('/').next() else { continue };
            if let Some(entry) = self.get(message_id)? {
                entries.push(entry);
            }
        }
        Ok(entries)
    }

    /// Every entry, in message id order (for listings).
    pub fn all(&self) -> impl Iterator<Item = Result<ThreadEntry, StoreError>> + '_ {
        self.documents.iter().map(|item| {
            let (key, value) = item?;
            decode(T_DOCUMENTS, &key, &value)
        })
    }
}

// ---------------------------------------------------------------------------
// Finding pilot documents in a message
// ---------------------------------------------------------------------------

/// A pilot document in a message's attachments.
pub struct Carried {
    /// XPath of its `content` element, for receipts.
    pub path: String,
    /// What its root element says it is.
    pub kind: DocumentKind,
    /// What reading and checking it gave.
    pub checked: Result<pilot::Checked, Vec<FieldIssue>>,
}

/// The pilot documents among a message's XML attachments (read by
/// `envelope::open`), each read and checked.
pub fn carried_documents(attachments: &[XmlAttachment]) -> Result<Vec<Carried>, Problem> {
    let mut found = Vec::new();
    for attachment in attachments {
        let path = attachment.path.clone();
        match &attachment.content {
            XmlContent::Whole(bytes) => {
                if let Some(kind) = PilotDocument::is_pilot_xml(bytes) {
                    found.push(Carried { path, kind, checked: PilotDocument::from_xml(bytes) });
                }
            }
            XmlContent::TooLarge { head } => {
                if let Some(kind) = PilotDocument::is_pilot_xml(head).or_else(|| sniff_pilot_namespace(head)) {
                    let too_large = FieldIssue::document_too_large(crate::limits::PILOT_XML_MAX_BYTES);
                    found.push(Carried { path, kind, checked: Err(vec![too_large]) });
                }
            }
            XmlContent::Unreadable(e) => {
                return Err(Problem::bv(DetailCode::Invariant, path, format!("attachment unreadable: {e}")));
            }
        }
    }
    Ok(found)
}

/// Which of our namespaces the start of an XML document declares.
fn sniff_pilot_namespace(start: &[u8]) -> Option<DocumentKind> {
    let text = String::from_utf8_lossy(start);
    DocumentKind::ALL.into_iter().find(|k| text.contains(k.namespace()))
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/// BV invariant problems for a document's field issues (errors only).
pub fn invariant_problems(path: &str, kind: DocumentKind, issues: &[FieldIssue]) -> Vec<Problem> {
    let what = kind.as_str();
    issues
        .iter()
        .filter(|i| i.is_error())
        .take(MAX_PROBLEMS)
        .map(|i| Problem::bv(DetailCode::Invariant, path, format!("{what} {}", i.text)))
        .collect()
}

/// The common part of `document` must agree with the message carrying it.
pub fn check_against_header(document: &PilotDocument, header: &MessageHeader) -> Vec<FieldIssue> {
    let common = document.common();
    let mut issues = Vec::new();
    let mut differs = |pointer: &str, what: &str, equal: bool| {
        if !equal {
            issues.push(FieldIssue::mismatch(pointer, what));
        }
    };
    differs("/conversationId", "the SDK message's conversationId", common.conversation_id.to_string() == header.conversation_id());
    differs("/sender/organisation", "the SDK message's sender", common.sender.org_id().eq_ignore_ascii_case(header.sender_org_id()));
    differs(
        "/sender/functionalAddress",
        "the SDK message's sender functional address",
        Some(common.sender.functional_address.as_str()) == header.sender_functional_address(),
    );
    differs(
        "/recipient/organisation",
        "the SDK message's recipient",
        common.recipient.org_id().eq_ignore_ascii_case(header.recipient_org_id()),
    );
    differs(
        "/recipient/functionalAddress",
        "the SDK message's recipient functional address",
        common.recipient.functional_address == header.recipient_functional_address(),
    );
    issues
}

/// What answering `document` needs from its conversation: the document it
/// answers, which went the other way. `Ok(None)` for a document that
/// answers nothing.
pub enum Answered {
    NothingToAnswer,
    Found(Box<ThreadEntry>),
    /// Nothing on the conversation matches.
    NotFound(&'static str),
}

/// Finds what `document` answers on its conversation, among the documents
/// that went `direction` (for an inbound reply: what we sent).
pub fn answered(conversations: &Conversations, document: &PilotDocument, direction: Direction) -> Result<Answered, StoreError> {
    let Some(target) = document.in_reply_to() else { return Ok(Answered::NothingToAnswer) };
    let wanted = match document.kind() {
        DocumentKind::ReferralReply => DocumentKind::Referral,
        DocumentKind::ConcernAcknowledgement | DocumentKind::ConcernFeedback => DocumentKind::ConcernReport,
        _ => return Ok(Answered::NothingToAnswer),
    };
    let conversation = document.common().conversation_id.to_string();
    for entry in conversations.thread(&conversation)? {
        if entry.direction != direction || entry.kind() != Some(wanted) {
            continue;
        }
        if target.matches(&entry.document()?) {
            return Ok(Answered::Found(Box::new(entry)));
        }
    }
    Ok(Answered::NotFound(match wanted {
        DocumentKind::Referral => "no referral with this id and version was sent on this conversation",
        _ => "no concern report with this document id was sent on this conversation",
    }))
}
