//! The node's durable store, over sled.
//!
//! Trees (one sled database, committed together where it matters):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `outbox/entries` | message id | [`OutboxEntry`] |
//! | `outbox/payloads` | message id | the sealed XHE, bytes as-is |
//! | `outbox/due` | next attempt time ‖ message id | empty: what the scheduler sends next |
//! | `outbox/expiry` | expiry time ‖ message id | empty: what to give up on |
//! | `inbox/entries` | functional address ‖ receipt time ‖ message id | [`InboxEntry`] |
//! | `inbox/payloads` | same key | the received bytes, as-is |
//! | `inbox/ids` | message id | the `inbox/entries` key |
//! | `as4/dedup` | AS4 MessageId | what it was received as |
//! | `receipts` | direction ‖ receipt id | the message the receipt answers |
//! | `api/…` | | DIGG's message API's own records ([`crate::api`]) |
//!
//! Every write that is acknowledged to someone (a client's submission, a
//! peer's message, a receipt) is flushed to disk before the call returns.
//! Records are versioned JSON; a record that does not decode is reported as
//! [`StoreError::Corrupt`], never a panic.
//!
//! Atomicity: writes that span records of different kinds (a message and
//! its dedup record, a receipt and the entry it correlates) are one sled
//! transaction. The outbox's schedule indexes (`outbox/due`,
//! `outbox/expiry`) are derived from the entries: [`Store::submit`] and
//! [`Store::update`] write the entry and then its index keys without a
//! transaction (every sled transaction writes out two log buffers), under a
//! lock that orders all outbox writes, and [`Store::open`] repairs the
//! indexes from the entries, so a crash between the two leaves nothing
//! wrong behind.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionError, TransactionalTree, Transactional,
};
use sled::{IVec, Tree};
use time::OffsetDateTime;

use super::outbox::{
    rfc3339, BusinessReceipt, DocumentType, InboxEntry, InboxState, OutboxEntry, OutboxState, RetryPolicy,
    TransitionError,
};
use crate::sdk::envelope::ReceivedMessages;
use crate::spool::Blob;

/// Version byte in front of every JSON record, for future migrations.
const RECORD_V1: u8 = 1;
/// Layout version of the whole database, kept in the `meta` tree.
const SCHEMA_VERSION: u8 = 1;
/// Longest message id, AS4 MessageId or receipt id accepted as a key.
const MAX_ID_BYTES: usize = 512;
/// Longest functional address (stored behind a u16 length).
const MAX_ADDRESS_BYTES: usize = 1024;

const T_OUTBOX: &str = "outbox/entries";
const T_OUTBOX_PAYLOADS: &str = "outbox/payloads";
const T_OUTBOX_DUE: &str = "outbox/due";
const T_OUTBOX_EXPIRY: &str = "outbox/expiry";
const T_INBOX: &str = "inbox/entries";
const T_INBOX_PAYLOADS: &str = "inbox/payloads";
const T_INBOX_IDS: &str = "inbox/ids";
const T_DEDUP: &str = "as4/dedup";
const T_RECEIPTS: &str = "receipts";
const T_META: &str = "meta";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage engine: {0}")]
    Storage(#[from] sled::Error),
    #[error("payload file: {0}")]
    Files(String),
    #[error("corrupt record in {tree} under key {key:?}: {reason}")]
    Corrupt { tree: &'static str, key: String, reason: String },
    #[error("the store has layout version {found}; this build reads version {supported}")]
    UnsupportedSchema { found: String, supported: u8 },
    #[error("invalid {what}: {reason}")]
    InvalidKey { what: &'static str, reason: &'static str },
    #[error("cannot encode a record: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("outbox entry {0} already exists")]
    AlreadyExists(String),
    #[error("no outbox entry {0}")]
    OutboxNotFound(String),
    #[error("no message {message_id} in the inbox of {functional_address}")]
    InboxNotFound { functional_address: String, message_id: String },
    #[error("a message with id {0} has already been received")]
    MessageIdInUse(String),
    #[error("receipt {receipt_id} was already correlated with message {message_id}")]
    ReceiptAlreadyCorrelated { receipt_id: String, message_id: String },
    #[error("outbox entry {id} was changed by someone else (read at revision {expected}, stored {found})")]
    Conflict { id: String, expected: u64, found: u64 },
    #[error("outbox entry {id} would change its AS4 MessageId, which must stay the same for every attempt")]
    As4MessageIdChanged { id: String },
    #[error("a new outbox entry must be SCHEDULED at revision 0, not {state} at {revision}")]
    NotNew { state: OutboxState, revision: u64 },
    #[error("expected a {expected:?} entry, got {actual:?}")]
    WrongDocumentType { expected: DocumentType, actual: DocumentType },
    #[error(transparent)]
    Transition(#[from] TransitionError),
}

/// A stored message (a sealed XHE, or a received SDK message): small ones
/// inside the storage engine, large ones in a file of their own next to it,
/// which the engine's record names.
#[derive(Clone)]
pub struct Payload(Blob);

impl Payload {
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The content, without loading a file-backed payload.
    pub fn blob(&self) -> &Blob {
        &self.0
    }

    /// The content in memory, refused above `max` bytes.
    pub fn to_vec(&self, max: u64) -> std::io::Result<Vec<u8>> {
        self.0.to_vec(max)
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload({} bytes)", self.0.len())
    }
}

/// A record value naming a payload file starts with this; XML never does.
const FILE_MARKER: &[u8] = b"\0file:";

/// What [`Store::receive_inbound`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiveOutcome {
    /// Stored, durably.
    Inserted,
    /// This AS4 MessageId was received before, as `message_id`; nothing was
    /// stored. Answer with an AS4 receipt again and deliver nothing.
    Duplicate { message_id: String },
}

/// What [`Store::receive_receipt`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// The outbox entry moved to ACCEPTED or REJECTED.
    Correlated(Box<OutboxEntry>),
    /// This AS4 MessageId was received before; nothing changed.
    Duplicate { message_id: String },
}

/// Which way a receipt went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptDirection {
    /// We sent it, answering an incoming message.
    Sent,
    /// We received it, answering one of our messages.
    Received,
}

impl ReceiptDirection {
    fn tag(self) -> u8 {
        match self {
            ReceiptDirection::Sent => b'S',
            ReceiptDirection::Received => b'R',
        }
    }
}

/// The message a receipt answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptLink {
    pub message_id: String,
    /// The inbox the answered message is in (for receipts we sent).
    pub functional_address: Option<String>,
}

/// Filters for [`Store::inbox`]. Results come in order of receipt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboxFilter {
    pub state: Option<InboxState>,
    /// Received at or after.
    pub received_from: Option<OffsetDateTime>,
    /// Received strictly before.
    pub received_before: Option<OffsetDateTime>,
    pub conversation_id: Option<String>,
    pub sender_org_id: Option<String>,
    /// Matching entries to skip (paging).
    pub offset: usize,
    /// At most this many entries.
    pub limit: Option<usize>,
}

impl InboxFilter {
    fn matches(&self, e: &InboxEntry) -> bool {
        self.state.is_none_or(|s| e.state() == s)
            && self.conversation_id.as_deref().is_none_or(|c| e.conversation_id() == c)
            && self.sender_org_id.as_deref().is_none_or(|s| e.sender_org_id() == s)
    }
}

/// Entries per state, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateCounts {
    pub outbox: BTreeMap<OutboxState, u64>,
    pub inbox: BTreeMap<InboxState, u64>,
    /// Records found at open that do not decode.
    pub corrupt_records: u64,
}

/// What an AS4 MessageId was received as.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DedupRecord {
    message_id: String,
    kind: DocumentType,
    #[serde(with = "rfc3339")]
    received_at: OffsetDateTime,
}

/// Counts kept in memory: recomputed from the records at open, so they are
/// right after a crash, and moved after each committed write.
#[derive(Debug, Default)]
struct Counters {
    outbox: [AtomicI64; OutboxState::ALL.len()],
    inbox: [AtomicI64; InboxState::ALL.len()],
    corrupt: AtomicI64,
}

impl Counters {
    fn outbox_moved(&self, from: Option<OutboxState>, to: OutboxState) {
        if from == Some(to) {
            return;
        }
        if let Some(from) = from {
            self.outbox[from.index()].fetch_sub(1, Ordering::Relaxed);
        }
        self.outbox[to.index()].fetch_add(1, Ordering::Relaxed);
    }

    fn inbox_moved(&self, from: Option<InboxState>, to: InboxState) {
        if from == Some(to) {
            return;
        }
        if let Some(from) = from {
            self.inbox[from.index()].fetch_sub(1, Ordering::Relaxed);
        }
        self.inbox[to.index()].fetch_add(1, Ordering::Relaxed);
    }
}

/// The node's store. Cheap to clone; clones share one database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    /// Payloads too large for the engine's records.
    files: PathBuf,
    outbox: Tree,
    outbox_payloads: Tree,
    outbox_due: Tree,
    outbox_expiry: Tree,
    inbox: Tree,
    inbox_payloads: Tree,
    inbox_ids: Tree,
    dedup: Tree,
    receipts: Tree,
    counters: Arc<Counters>,
    flushes: Arc<FlushGroup>,
    /// Held by every write of an outbox entry, so that an entry and its
    /// index keys change together as far as other writers can see.
    outbox_lock: Arc<Mutex<()>>,
    /// Told about state changes after they are stored (webhooks).
    observer: Arc<std::sync::OnceLock<Arc<dyn StoreObserver>>>,
}

/// Told about outbox and inbox state changes right after they are
/// committed and flushed (not in the same transaction: a crash between the
/// two loses the notification).
pub trait StoreObserver: Send + Sync {
    /// An outbox entry was stored in a new state.
    fn outbox_changed(&self, entry: &OutboxEntry);
    /// A message was received into an inbox.
    fn inbox_received(&self, entry: &InboxEntry);
}

/// Group commit for [`Store::flush`]: one flush runs at a time, and a
/// caller whose writes a flush started after them has already covered
/// returns without flushing again. Concurrent callers thus share flushes
/// instead of each sealing and writing its own log buffer.
#[derive(Debug, Default)]
struct FlushGroup {
    /// Flushes started so far (a flush starts under `completed`'s lock).
    started: AtomicU64,
    /// The number of the last flush that completed successfully.
    completed: Mutex<u64>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

type TxResult<T> = ConflictableTransactionResult<T, StoreError>;

/// The answer for an AS4 MessageId already in the dedup index.
fn already_received(dedup: &TransactionalTree, as4_message_id: &str) -> TxResult<Option<ReceiveOutcome>> {
    match dedup.get(as4_message_id)? {
        None => Ok(None),
        Some(seen) => {
            let seen: DedupRecord = decode(T_DEDUP, as4_message_id.as_bytes(), &seen).or_else(abort)?;
            Ok(Some(ReceiveOutcome::Duplicate { message_id: seen.message_id }))
        }
    }
}

/// A payload file written for a record that was not committed is removed
/// at once (start-up would remove it too).
fn remove_unless_committed(file: Option<PathBuf>, committed: bool) {
    if let (Some(file), false) = (file, committed) {
        let _ = std::fs::remove_file(file);
    }
}

fn abort<T>(e: impl Into<StoreError>) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e.into()))
}

fn committed<T>(r: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
    r.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Storage(e),
    })
}

impl Store {
    /// Opens (or creates) the store in `dir`. Fails if another process, or
    /// another `Store` in this one, has it open.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store, StoreError> {
        let db = sled::Config::new().path(dir.as_ref()).open()?;
        let meta = db.open_tree(T_META)?;
        match meta.get("schema")? {
            None => {
                meta.insert("schema", &[SCHEMA_VERSION])?;
                db.flush()?;
            }
            Some(v) if v.as_ref() == [SCHEMA_VERSION] => {}
            Some(v) => {
                return Err(StoreError::UnsupportedSchema { found: format!("{:?}", v.as_ref()), supported: SCHEMA_VERSION })
            }
        }
        let files = dir.as_ref().join("payloads");
        std::fs::create_dir_all(&files).map_err(|e| StoreError::Files(e.to_string()))?;
        let store = Store {
            files,
            outbox: db.open_tree(T_OUTBOX)?,
            outbox_payloads: db.open_tree(T_OUTBOX_PAYLOADS)?,
            outbox_due: db.open_tree(T_OUTBOX_DUE)?,
            outbox_expiry: db.open_tree(T_OUTBOX_EXPIRY)?,
            inbox: db.open_tree(T_INBOX)?,
            inbox_payloads: db.open_tree(T_INBOX_PAYLOADS)?,
            inbox_ids: db.open_tree(T_INBOX_IDS)?,
            dedup: db.open_tree(T_DEDUP)?,
            receipts: db.open_tree(T_RECEIPTS)?,
            counters: Arc::new(Counters::default()),
            flushes: Arc::new(FlushGroup::default()),
            outbox_lock: Arc::new(Mutex::new(())),
            observer: Arc::default(),
            db,
        };
        store.recount()?;
        store.repair_schedule()?;
        store.remove_unreferenced_files()?;
        Ok(store)
    }

    /// Payload files whose record was never committed (a crash between
    /// writing the file and the transaction, or a duplicate) are removed.
    fn remove_unreferenced_files(&self) -> Result<(), StoreError> {
        let mut referenced = std::collections::HashSet::new();
        for tree in [&self.outbox_payloads, &self.inbox_payloads] {
            for item in tree.iter() {
                let (_, v) = item?;
                if let Some(name) = v.strip_prefix(FILE_MARKER) {
                    referenced.insert(String::from_utf8_lossy(name).into_owned());
                }
            }
        }
        let entries = std::fs::read_dir(&self.files).map_err(|e| StoreError::Files(e.to_string()))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !referenced.contains(&name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// The record value for `payload`: the bytes, or for a file-backed blob
    /// the name of a durable copy written (and fsynced) before the record
    /// that names it is committed.
    fn payload_record(&self, payload: &Blob) -> Result<(IVec, Option<PathBuf>), StoreError> {
        if let Some(bytes) = payload.as_memory() {
            return Ok((IVec::from(bytes), None));
        }
        let name = format!("{}.xml", uuid::Uuid::new_v4().simple());
        let path = self.files.join(&name);
        payload.persist(&path).map_err(|e| StoreError::Files(e.to_string()))?;
        let mut record = FILE_MARKER.to_vec();
        record.extend_from_slice(name.as_bytes());
        Ok((IVec::from(record), Some(path)))
    }

    fn load(&self, record: IVec) -> Result<Payload, StoreError> {
        match record.strip_prefix(FILE_MARKER) {
            None => Ok(Payload(Blob::from(record.as_ref()))),
            Some(name) => {
                let path = self.files.join(String::from_utf8_lossy(name).as_ref());
                Blob::open_file(&path).map(Payload).map_err(|e| StoreError::Files(format!("{}: {e}", path.display())))
            }
        }
    }

    fn recount(&self) -> Result<(), StoreError> {
        for item in self.outbox.iter() {
            let (k, v) = item?;
            match decode::<OutboxEntry>(T_OUTBOX, &k, &v) {
                Ok(e) => self.counters.outbox_moved(None, e.state()),
                Err(_) => _ = self.counters.corrupt.fetch_add(1, Ordering::Relaxed),
            }
        }
        for item in self.inbox.iter() {
            let (k, v) = item?;
            match decode::<InboxEntry>(T_INBOX, &k, &v) {
                Ok(e) => self.counters.inbox_moved(None, e.state()),
                Err(_) => _ = self.counters.corrupt.fetch_add(1, Ordering::Relaxed),
            }
        }
        Ok(())
    }

    /// Makes `outbox/due` and `outbox/expiry` hold exactly the keys the
    /// entries call for: [`Store::submit`] and [`Store::update`] write an
    /// entry and its index keys one after the other, so a crash can leave
    /// stale keys or miss new ones.
    /// The index keys of an entry that does not decode are left alone (the
    /// scheduler then reports it as corrupt).
    fn repair_schedule(&self) -> Result<(), StoreError> {
        let mut due = std::collections::BTreeSet::new();
        let mut expiry = std::collections::BTreeSet::new();
        let mut undecodable = std::collections::BTreeSet::new();
        for item in self.outbox.iter() {
            let (k, v) = item?;
            match decode::<OutboxEntry>(T_OUTBOX, &k, &v) {
                Ok(e) => {
                    due.extend(due_key(&e));
                    expiry.extend(expiry_key(&e));
                }
                Err(_) => _ = undecodable.insert(k.to_vec()),
            }
        }
        for (tree, wanted) in [(&self.outbox_due, due), (&self.outbox_expiry, expiry)] {
            let mut present = std::collections::BTreeSet::new();
            for item in tree.iter() {
                let (key, _) = item?;
                let id = key.get(16..).unwrap_or_default();
                if !wanted.contains(key.as_ref()) && !undecodable.contains(id) {
                    tree.remove(&key)?;
                } else {
                    present.insert(key.to_vec());
                }
            }
            for key in wanted.difference(&present) {
                tree.insert(key.as_slice(), &[])?;
            }
        }
        Ok(())
    }

    /// Moves an entry's `outbox/due` and `outbox/expiry` keys from `old` to
    /// `new`, outside a transaction: call with `outbox_lock` held, after the
    /// entry itself is written.
    fn reindex(&self, old: Option<&OutboxEntry>, new: &OutboxEntry) -> Result<(), StoreError> {
        for (tree, key) in [(&self.outbox_due, due_key as fn(&OutboxEntry) -> Option<Vec<u8>>), (&self.outbox_expiry, expiry_key)] {
            let before = old.and_then(key);
            let after = key(new);
            if before == after {
                continue;
            }
            if let Some(before) = before {
                tree.remove(before)?;
            }
            if let Some(after) = after {
                tree.insert(after, &[])?;
            }
        }
        Ok(())
    }

    fn lock_outbox(&self) -> std::sync::MutexGuard<'_, ()> {
        // The guarded data is `()`: a panic elsewhere leaves nothing to repair.
        self.outbox_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Returns once every write this caller committed before the call is on
    /// disk. Sled writes its log in order, so a flush started after those
    /// writes covers them, whoever started it.
    fn flush(&self) -> Result<(), StoreError> {
        // Flushes started before this point may have missed our writes;
        // any flush numbered higher starts later and covers them.
        let ticket = self.flushes.started.load(Ordering::SeqCst);
        let mut completed = self.flushes.completed.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if *completed > ticket {
            return Ok(());
        }
        let number = self.flushes.started.fetch_add(1, Ordering::SeqCst) + 1;
        self.db.flush()?;
        *completed = number;
        Ok(())
    }

    // -----------------------------------------------------------------------
    // Outbox
    // -----------------------------------------------------------------------

    /// Stores a new SCHEDULED entry and its sealed XHE, and returns only
    /// once both are on disk: the API acknowledges a submission after this.
    ///
    /// No transaction: the payload is written first, then the entry, then its
    /// index keys, in log order. A crash before the flush leaves a prefix of
    /// that: nothing, a payload without an entry (overwritten when the
    /// client submits again, since only the entry counts as submitted), or
    /// an entry whose index keys [`Store::open`] restores.
    pub fn submit(&self, entry: &OutboxEntry, sealed_xhe: impl Into<Blob>) -> Result<(), StoreError> {
        check_new(entry)?;
        check_id("message id", entry.id())?;
        let record = encode(entry)?;
        let (payload, file) = self.payload_record(&sealed_xhe.into())?;
        {
            let _outbox = self.lock_outbox();
            if self.outbox.get(entry.id())?.is_some() {
                remove_unless_committed(file, false);
                return Err(StoreError::AlreadyExists(entry.id().to_owned()));
            }
            // A failure from here on leaves at most an unreferenced file,
            // which the next start removes.
            self.outbox_payloads.insert(entry.id(), payload)?;
            self.outbox.insert(entry.id(), record)?;
            self.reindex(None, entry)?;
        }
        self.flush()?;
        self.counters.outbox_moved(None, entry.state());
        Ok(())
    }

    /// Up to `limit` entries whose next attempt is due at `now`, earliest
    /// first. Expired ones are included: [`OutboxEntry::on_attempt_started`]
    /// refuses them, and the scheduler then calls [`OutboxEntry::expire`].
    pub fn due(&self, now: OffsetDateTime, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.scan_schedule(&self.outbox_due, T_OUTBOX_DUE, now, limit)
    }

    /// Up to `limit` entries that are not final and have expired at `now`,
    /// earliest expiry first: the scheduler moves them to
    /// MESSAGE_EXCHANGE_ERROR (this covers a message whose business receipt
    /// never comes, and an attempt a crash left in SUBMITTED).
    pub fn expired(&self, now: OffsetDateTime, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.scan_schedule(&self.outbox_expiry, T_OUTBOX_EXPIRY, now, limit)
    }

    fn scan_schedule(&self, index: &Tree, name: &'static str, now: OffsetDateTime, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let upto = time_key(now);
        let mut found = Vec::new();
        for item in index.iter() {
            if found.len() >= limit {
                break;
            }
            let (key, _) = item?;
            let Some((at, id)) = key.split_first_chunk::<16>() else {
                return Err(corrupt(name, &key, "key shorter than its timestamp"));
            };
            if *at > upto {
                break;
            }
            let Some(record) = self.outbox.get(id)? else {
                return Err(corrupt(name, &key, "index entry without an outbox entry"));
            };
            found.push(decode(T_OUTBOX, id, &record)?);
        }
        Ok(found)
    }

    /// The outbox entry with this id.
    pub fn outbox_entry(&self, id: &str) -> Result<Option<OutboxEntry>, StoreError> {
        self.outbox.get(id)?.map(|v| decode(T_OUTBOX, id.as_bytes(), &v)).transpose()
    }

    /// The sealed XHE of an outbox entry.
    pub fn load_payload(&self, id: &str) -> Result<Option<Payload>, StoreError> {
        self.outbox_payloads.get(id)?.map(|v| self.load(v)).transpose()
    }

    /// Writes `entry` after a transition, and bumps its revision. Refused
    /// with [`StoreError::Conflict`] if the stored entry changed since
    /// `entry` was read (say, a business receipt correlated meanwhile): read
    /// it again and decide anew. Flushed when losing the write in a crash
    /// could do harm (see [`update_must_flush`]); otherwise it reaches the
    /// disk with the next flush (sled's own within half a second, or the
    /// next acknowledged write's).
    ///
    /// No transaction: the entry is written, then its index keys are moved
    /// (see the module documentation).
    pub fn update(&self, entry: &mut OutboxEntry) -> Result<(), StoreError> {
        let mut next = entry.clone();
        next.set_revision(entry.revision() + 1);
        let record = encode(&next)?;
        let from = {
            let _outbox = self.lock_outbox();
            let Some(stored) = self.outbox_entry(entry.id())? else {
                return Err(StoreError::OutboxNotFound(entry.id().to_owned()));
            };
            if stored.revision() != entry.revision() {
                return Err(StoreError::Conflict {
                    id: entry.id().to_owned(),
                    expected: entry.revision(),
                    found: stored.revision(),
                });
            }
            if stored.as4_message_id() != entry.as4_message_id() {
                return Err(StoreError::As4MessageIdChanged { id: entry.id().to_owned() });
            }
            self.outbox.insert(entry.id(), record)?;
            self.reindex(Some(&stored), &next)?;
            stored.state()
        };
        if update_must_flush(&next) {
            self.flush()?;
        }
        self.counters.outbox_moved(Some(from), next.state());
        if from != next.state() {
            self.notify_outbox(&next);
        }
        *entry = next;
        Ok(())
    }

    /// Correlates a business receipt with the outbox entry it answers
    /// (`message_id`, our XHE ID): → ACCEPTED or REJECTED, atomically and
    /// durably. See [`OutboxEntry::on_business_receipt`] for what is refused.
    pub fn correlate_receipt(&self, message_id: &str, receipt: BusinessReceipt) -> Result<OutboxEntry, StoreError> {
        check_id("receipt id", &receipt.receipt_id)?;
        let link = encode(&ReceiptLink { message_id: message_id.to_owned(), functional_address: None })?;
        let outbox_lock = self.lock_outbox();
        let (from, entry) = committed((&self.outbox, &self.outbox_due, &self.outbox_expiry, &self.receipts).transaction(
            |(outbox, due, expiry, receipts)| apply_receipt(outbox, due, expiry, receipts, message_id, &receipt, &link),
        ))?;
        drop(outbox_lock);
        self.flush()?;
        self.counters.outbox_moved(Some(from), entry.state());
        self.notify_outbox(&entry);
        Ok(entry)
    }

    /// Sets the observer of state changes (once; later calls are ignored).
    pub fn set_observer(&self, observer: Arc<dyn StoreObserver>) {
        let _ = self.observer.set(observer);
    }

    fn notify_outbox(&self, entry: &OutboxEntry) {
        if let Some(o) = self.observer.get() {
            o.outbox_changed(entry);
        }
    }

    fn notify_inbox(&self, entry: &InboxEntry) {
        if let Some(o) = self.observer.get() {
            o.inbox_received(entry);
        }
    }

    /// As [`Store::correlate_receipt`], for a receipt that arrived as an AS4
    /// user message: duplicate elimination by its AS4 MessageId and the
    /// correlation commit together.
    pub fn receive_receipt(&self, as4_message_id: &str, message_id: &str, receipt: BusinessReceipt) -> Result<ReceiptOutcome, StoreError> {
        check_id("AS4 MessageId", as4_message_id)?;
        check_id("receipt id", &receipt.receipt_id)?;
        let link = encode(&ReceiptLink { message_id: message_id.to_owned(), functional_address: None })?;
        let dedup = encode(&DedupRecord {
            message_id: receipt.receipt_id.clone(),
            kind: DocumentType::Receipt,
            received_at: receipt.received_at,
        })?;
        let outbox_lock = self.lock_outbox();
        let outcome = committed(
            (&self.dedup, &self.outbox, &self.outbox_due, &self.outbox_expiry, &self.receipts).transaction(
                |(dedup_tree, outbox, due, expiry, receipts)| {
                    if let Some(seen) = dedup_tree.get(as4_message_id)? {
                        let seen: DedupRecord = decode(T_DEDUP, as4_message_id.as_bytes(), &seen).or_else(abort)?;
                        return Ok((None, ReceiptOutcome::Duplicate { message_id: seen.message_id }));
                    }
                    let (from, entry) = apply_receipt(outbox, due, expiry, receipts, message_id, &receipt, &link)?;
                    dedup_tree.insert(as4_message_id, dedup.clone())?;
                    Ok((Some(from), ReceiptOutcome::Correlated(Box::new(entry))))
                },
            ),
        )?;
        drop(outbox_lock);
        // Flushed on the duplicate path too: the first copy may belong to a
        // concurrent call that has committed but not yet flushed.
        self.flush()?;
        if let (Some(from), ReceiptOutcome::Correlated(entry)) = &outcome {
            self.counters.outbox_moved(Some(*from), entry.state());
            self.notify_outbox(entry);
        }
        Ok(outcome.1)
    }

    /// Startup recovery: an entry still SUBMITTED was interrupted by a
    /// crash, mid-attempt. It counts as a retryable failure; the resend
    /// reuses the AS4 MessageId, so if the first attempt did arrive the
    /// receiver drops the copy. Call before the scheduler starts.
    pub fn recover_interrupted(
        &self,
        now: OffsetDateTime,
        policy: &RetryPolicy,
        mut rng: impl FnMut() -> f64,
    ) -> Result<usize, StoreError> {
        let mut interrupted = Vec::new();
        for item in self.outbox.iter() {
            let (k, v) = item?;
            let entry: OutboxEntry = decode(T_OUTBOX, &k, &v)?;
            if entry.state() == OutboxState::Submitted {
                interrupted.push(entry);
            }
        }
        let count = interrupted.len();
        for mut entry in interrupted {
            entry.on_transport_failure(now, true, "attempt interrupted by a restart", policy, rng())?;
            self.update(&mut entry)?;
        }
        Ok(count)
    }

    // -----------------------------------------------------------------------
    // Inbox
    // -----------------------------------------------------------------------

    /// Stores an incoming message unless its AS4 MessageId was seen before.
    /// The duplicate check and the insert are one transaction over the
    /// dedup index and the inbox, then flushed: a crash never leaves a
    /// stored message without its dedup record, or the reverse. Answer the
    /// AS4 receipt only after this returns.
    pub fn receive_inbound(
        &self,
        as4_message_id: &str,
        mut entry: InboxEntry,
        payload: impl Into<Blob>,
    ) -> Result<ReceiveOutcome, StoreError> {
        let inbound = self.inbound_records(as4_message_id, &mut entry, &payload.into())?;
        let record = encode(&entry)?;
        let outcome = committed((&self.dedup, &self.inbox, &self.inbox_payloads, &self.inbox_ids).transaction(
            |(dedup_tree, inbox, payloads, ids)| {
                Ok(insert_inbound(dedup_tree, inbox, payloads, ids, &inbound, &record)?.unwrap_or(ReceiveOutcome::Inserted))
            },
        ));
        let outcome = self.finish_receive(outcome, inbound.file)?;
        if outcome == ReceiveOutcome::Inserted {
            self.counters.inbox_moved(None, InboxState::New);
            self.notify_inbox(&entry);
        }
        Ok(outcome)
    }

    /// Queues the REJECTED business receipt for a message that was not
    /// stored, and records the message's AS4 MessageId in the same
    /// transaction: an AS4 resend of it (the sender missed our AS4 receipt)
    /// is then [`ReceiveOutcome::Duplicate`] and gets no second receipt.
    pub fn submit_rejection(
        &self,
        as4_message_id: &str,
        rejected_message_id: &str,
        receipt: &OutboxEntry,
        sealed_receipt: impl Into<Blob>,
        now: OffsetDateTime,
    ) -> Result<ReceiveOutcome, StoreError> {
        check_new(receipt)?;
        check_id("AS4 MessageId", as4_message_id)?;
        check_id("receipt id", receipt.id())?;
        let record = encode(receipt)?;
        let dedup = encode(&DedupRecord {
            message_id: rejected_message_id.to_owned(),
            kind: DocumentType::Message,
            received_at: now,
        })?;
        let (payload, file) = self.payload_record(&sealed_receipt.into())?;
        let outbox_lock = self.lock_outbox();
        let outcome = committed((&self.dedup, &self.outbox, &self.outbox_payloads, &self.outbox_due, &self.outbox_expiry).transaction(
            |(dedup_tree, outbox, payloads, due, expiry)| {
                if let Some(duplicate) = already_received(dedup_tree, as4_message_id)? {
                    return Ok(duplicate);
                }
                if outbox.get(receipt.id())?.is_some() {
                    return abort(StoreError::AlreadyExists(receipt.id().to_owned()));
                }
                outbox.insert(receipt.id(), record.clone())?;
                payloads.insert(receipt.id(), payload.clone())?;
                index_outbox(due, expiry, None, receipt)?;
                dedup_tree.insert(as4_message_id, dedup.clone())?;
                Ok(ReceiveOutcome::Inserted)
            },
        ));
        drop(outbox_lock);
        let outcome = self.finish_receive(outcome, file)?;
        if outcome == ReceiveOutcome::Inserted {
            self.counters.outbox_moved(None, receipt.state());
        }
        Ok(outcome)
    }

    /// [`Store::receive_inbound`] and [`Store::submit_receipt`] as one
    /// transaction with one flush: the message is stored already marked
    /// RECEIPT_SENT, with our business receipt for it in the outbox. A crash
    /// leaves either all of it or none (then the sender, having no AS4
    /// receipt, sends again). On a duplicate AS4 MessageId nothing is stored
    /// and the receipt is dropped. Answer the AS4 receipt only after this
    /// returns.
    pub fn receive_inbound_answered(
        &self,
        as4_message_id: &str,
        mut entry: InboxEntry,
        payload: impl Into<Blob>,
        receipt: &OutboxEntry,
        sealed_receipt: &[u8],
        now: OffsetDateTime,
    ) -> Result<ReceiveOutcome, StoreError> {
        let queued = QueuedReceipt::new(receipt, sealed_receipt, entry.functional_address(), entry.message_id())?;
        let inbound = self.inbound_records(as4_message_id, &mut entry, &payload.into())?;
        entry.mark_receipt_sent(receipt.id(), now)?;
        let record = encode(&entry)?;
        let outbox_lock = self.lock_outbox();
        let outcome = committed(
            (
                &self.dedup,
                &self.inbox,
                &self.inbox_payloads,
                &self.inbox_ids,
                &self.outbox,
                &self.outbox_payloads,
                &self.outbox_due,
                &self.outbox_expiry,
                &self.receipts,
            )
                .transaction(|(dedup_tree, inbox, payloads, ids, outbox, outbox_payloads, due, expiry, receipts)| {
                    if let Some(duplicate) = insert_inbound(dedup_tree, inbox, payloads, ids, &inbound, &record)? {
                        return Ok(duplicate);
                    }
                    queued.insert(outbox, outbox_payloads, due, expiry, receipts)?;
                    Ok(ReceiveOutcome::Inserted)
                }),
        );
        drop(outbox_lock);
        let outcome = self.finish_receive(outcome, inbound.file)?;
        if outcome == ReceiveOutcome::Inserted {
            self.counters.inbox_moved(None, entry.state());
            self.counters.outbox_moved(None, receipt.state());
            self.notify_inbox(&entry);
        }
        Ok(outcome)
    }

    /// Checks a NEW incoming message and makes its records: its inbox key,
    /// its dedup record and its payload (written to a file when large).
    fn inbound_records(&self, as4_message_id: &str, entry: &mut InboxEntry, payload: &Blob) -> Result<InboundRecords, StoreError> {
        check_id("AS4 MessageId", as4_message_id)?;
        check_id("message id", entry.message_id())?;
        if entry.state() != InboxState::New {
            return Err(TransitionError::Illegal { from: entry.state().as_str(), event: "storing a received message" }.into());
        }
        entry.as4_message_id = as4_message_id.to_owned();
        let key = inbox_key(entry.functional_address(), entry.received_at(), entry.message_id())?;
        let dedup = encode(&DedupRecord {
            message_id: entry.message_id().to_owned(),
            kind: DocumentType::Message,
            received_at: entry.received_at(),
        })?;
        let (payload, file) = self.payload_record(payload)?;
        Ok(InboundRecords { as4_message_id: as4_message_id.to_owned(), message_id: entry.message_id().to_owned(), key, dedup, payload, file })
    }

    /// After a receiving transaction: a payload file that was not committed
    /// goes, and the store is flushed, on the duplicate path too (see
    /// `receive_receipt`).
    fn finish_receive(&self, outcome: Result<ReceiveOutcome, StoreError>, file: Option<PathBuf>) -> Result<ReceiveOutcome, StoreError> {
        remove_unless_committed(file, matches!(outcome, Ok(ReceiveOutcome::Inserted)));
        let outcome = outcome?;
        self.flush()?;
        Ok(outcome)
    }

    /// The inbox of `functional_address`, in order of receipt.
    pub fn inbox(&self, functional_address: &str, filter: &InboxFilter) -> Result<Vec<InboxEntry>, StoreError> {
        let prefix = inbox_prefix(functional_address)?;
        let mut start = prefix.clone();
        if let Some(from) = filter.received_from {
            start.extend_from_slice(&time_key(from));
        }
        let mut skipped = 0;
        let mut found = Vec::new();
        for item in self.inbox.range(start..) {
            if filter.limit.is_some_and(|l| found.len() >= l) {
                break;
            }
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            let entry: InboxEntry = decode(T_INBOX, &key, &value)?;
            if filter.received_before.is_some_and(|t| entry.received_at() >= t) {
                break;
            }
            if !filter.matches(&entry) {
                continue;
            }
            if skipped < filter.offset {
                skipped += 1;
                continue;
            }
            found.push(entry);
        }
        Ok(found)
    }

    /// Where a message is stored, if it is in this inbox. A message in
    /// another functional address's inbox is reported as absent.
    fn locate(&self, functional_address: &str, message_id: &str) -> Result<Option<IVec>, StoreError> {
        let prefix = inbox_prefix(functional_address)?;
        Ok(self.inbox_ids.get(message_id)?.filter(|key| key.starts_with(&prefix)))
    }

    pub fn inbox_entry(&self, functional_address: &str, message_id: &str) -> Result<Option<InboxEntry>, StoreError> {
        let Some(key) = self.locate(functional_address, message_id)? else { return Ok(None) };
        match self.inbox.get(&key)? {
            Some(v) => decode(T_INBOX, &key, &v).map(Some),
            None => Err(corrupt(T_INBOX_IDS, message_id.as_bytes(), "id index points at no inbox entry")),
        }
    }

    /// The stored bytes of an incoming message.
    pub fn load_inbound_payload(&self, functional_address: &str, message_id: &str) -> Result<Option<Payload>, StoreError> {
        let Some(key) = self.locate(functional_address, message_id)? else { return Ok(None) };
        self.inbox_payloads.get(&key)?.map(|v| self.load(v)).transpose()
    }

    /// A client read the message: NEW → RETRIEVED. Not flushed: it
    /// acknowledges nothing to anyone, and losing it in a crash only shows
    /// the message as NEW again (sled writes it out within half a second).
    pub fn mark_retrieved(&self, functional_address: &str, message_id: &str, now: OffsetDateTime) -> Result<InboxEntry, StoreError> {
        self.change_inbound(functional_address, message_id, |e| e.mark_retrieved(now))
    }

    /// Processing the message failed: → ERROR, durably.
    pub fn mark_inbound_error(
        &self,
        functional_address: &str,
        message_id: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<InboxEntry, StoreError> {
        let entry = self.change_inbound(functional_address, message_id, |e| e.mark_error(reason, now))?;
        self.flush()?;
        Ok(entry)
    }

    fn change_inbound(
        &self,
        functional_address: &str,
        message_id: &str,
        change: impl Fn(&mut InboxEntry) -> Result<(), TransitionError>,
    ) -> Result<InboxEntry, StoreError> {
        let prefix = inbox_prefix(functional_address)?;
        let (from, entry) = committed((&self.inbox_ids, &self.inbox).transaction(|(ids, inbox)| {
            let (key, mut entry) = read_inbound(ids, inbox, &prefix, functional_address, message_id)?;
            let from = entry.state();
            change(&mut entry).or_else(abort)?;
            inbox.insert(key, encode(&entry).or_else(abort)?)?;
            Ok((from, entry))
        }))?;
        self.counters.inbox_moved(Some(from), entry.state());
        Ok(entry)
    }

    /// Hands our business receipt for an incoming message to the outbox and
    /// marks the message RECEIPT_SENT, in one transaction: a crash can
    /// neither lose the receipt of a message marked answered nor let a
    /// message be answered twice. Durable before it returns.
    pub fn submit_receipt(
        &self,
        functional_address: &str,
        answered_message_id: &str,
        receipt: &OutboxEntry,
        sealed_receipt: &[u8],
        now: OffsetDateTime,
    ) -> Result<InboxEntry, StoreError> {
        let queued = QueuedReceipt::new(receipt, sealed_receipt, functional_address, answered_message_id)?;
        let prefix = inbox_prefix(functional_address)?;
        let outbox_lock = self.lock_outbox();
        let (from, entry) = committed(
            (
                &self.inbox_ids,
                &self.inbox,
                &self.outbox,
                &self.outbox_payloads,
                &self.outbox_due,
                &self.outbox_expiry,
                &self.receipts,
            )
                .transaction(|(ids, inbox, outbox, payloads, due, expiry, receipts)| {
                    let (key, mut entry) = read_inbound(ids, inbox, &prefix, functional_address, answered_message_id)?;
                    let from = entry.state();
                    entry.mark_receipt_sent(receipt.id(), now).or_else(abort)?;
                    queued.insert(outbox, payloads, due, expiry, receipts)?;
                    inbox.insert(key, encode(&entry).or_else(abort)?)?;
                    Ok((from, entry))
                }),
        )?;
        drop(outbox_lock);
        self.flush()?;
        self.counters.inbox_moved(Some(from), entry.state());
        self.counters.outbox_moved(None, receipt.state());
        Ok(entry)
    }

    /// The message a receipt answers: for a receipt we sent, the incoming
    /// message and its inbox; for one we received, our message.
    pub fn answered_by(&self, receipt_id: &str, direction: ReceiptDirection) -> Result<Option<ReceiptLink>, StoreError> {
        let key = receipt_key(direction, receipt_id);
        self.receipts.get(&key)?.map(|v| decode(T_RECEIPTS, &key, &v)).transpose()
    }

    /// Removes an incoming message's content (a client deleted it). The
    /// entry stays, so its message id stays known and a copy sent again is
    /// still refused as a duplicate. False when the message is not in this
    /// inbox.
    pub fn purge_inbound_payload(&self, functional_address: &str, message_id: &str) -> Result<bool, StoreError> {
        let Some(key) = self.locate(functional_address, message_id)? else { return Ok(false) };
        let old = self.inbox_payloads.remove(&key)?;
        self.flush()?;
        if let Some(name) = old.as_ref().and_then(|v| v.strip_prefix(FILE_MARKER)) {
            let _ = std::fs::remove_file(self.files.join(String::from_utf8_lossy(name).as_ref()));
        }
        Ok(true)
    }

    // -----------------------------------------------------------------------
    // Trees of the API layer
    // -----------------------------------------------------------------------

    /// A tree named `name` in this database, for a module with records of
    /// its own (the pilots' conversations).
    pub fn tree(&self, name: &str) -> Result<Tree, StoreError> {
        Ok(self.db.open_tree(name)?)
    }

    /// A tree of DIGG's message API (`api/<name>`), in this database.
    pub fn api_tree(&self, name: &str) -> Result<Tree, StoreError> {
        Ok(self.db.open_tree(format!("api/{name}"))?)
    }

    // -----------------------------------------------------------------------
    // Metrics
    // -----------------------------------------------------------------------

    /// Entries per state, every state listed.
    pub fn count_by_state(&self) -> StateCounts {
        let read = |c: &AtomicI64| c.load(Ordering::Relaxed).max(0) as u64;
        StateCounts {
            outbox: OutboxState::ALL.iter().map(|&s| (s, read(&self.counters.outbox[s.index()]))).collect(),
            inbox: InboxState::ALL.iter().map(|&s| (s, read(&self.counters.inbox[s.index()]))).collect(),
            corrupt_records: read(&self.counters.corrupt),
        }
    }
}

impl ReceivedMessages for Store {
    /// 0 or 1: message ids are unique in the store. A storage error counts
    /// as 0, because [`Store::receive_inbound`] enforces uniqueness again
    /// inside its transaction.
    fn count(&self, message_id: &str) -> usize {
        match self.inbox_ids.contains_key(message_id) {
            Ok(true) => 1,
            _ => 0,
        }
    }
}

/// Whether [`Store::update`] must flush before it returns. Sled writes in
/// log order, so a write that is not flushed here is durable once any later
/// write is flushed; a crash before that leaves the entry in an earlier
/// state, and what that costs decides:
///
/// - MESSAGE_EXCHANGE_ERROR (and ACCEPTED or REJECTED, which normally come
///   through the receipt paths, flushed there): flushed. The client is told
///   the exchange is over; a crash must not revive and resend it.
/// - SUBMITTED of a message: flushed. The business receipt may arrive
///   after a crash, and it is accepted only from SUBMITTED,
///   SCHEDULED_FOR_RESEND or WAITING_FOR_RECEIPT, not from SCHEDULED (which
///   is what a lost SUBMITTED would leave).
/// - SUBMITTED of a receipt we send: not flushed. No answer to it ever
///   comes; lost, the receipt is SCHEDULED again and sent again under the
///   same AS4 MessageId, which the peer eliminates as a duplicate. Sending
///   acknowledges nothing to anyone.
/// - WAITING_FOR_RECEIPT, ACKNOWLEDGE, SCHEDULED_FOR_RESEND: not flushed.
///   Each follows a durable SUBMITTED (or, for receipts, SCHEDULED); lost,
///   the entry is found SUBMITTED at start and recovered as an interrupted
///   attempt (or is still SCHEDULED): it is sent again under the same AS4
///   MessageId, the peer answers the duplicate with an AS4 receipt only,
///   and a business receipt is still accepted. These states acknowledge
///   nothing to anyone; only the attempt counter may miss the lost attempt.
fn update_must_flush(next: &OutboxEntry) -> bool {
    match next.state() {
        OutboxState::Submitted => next.document_type() == DocumentType::Message,
        OutboxState::MessageExchangeError | OutboxState::Accepted | OutboxState::Rejected => true,
        OutboxState::Scheduled
        | OutboxState::ScheduledForResend
        | OutboxState::WaitingForReceipt
        | OutboxState::Acknowledge => false,
    }
}

// ---------------------------------------------------------------------------
// Transaction steps
// ---------------------------------------------------------------------------

fn read_outbox(outbox: &TransactionalTree, id: &str) -> TxResult<OutboxEntry> {
    match outbox.get(id)? {
        Some(v) => decode(T_OUTBOX, id.as_bytes(), &v).or_else(abort),
        None => abort(StoreError::OutboxNotFound(id.to_owned())),
    }
}

/// An incoming message's records, made before its transaction.
struct InboundRecords {
    as4_message_id: String,
    message_id: String,
    key: Vec<u8>,
    dedup: IVec,
    payload: IVec,
    /// The payload's file, when it is large: removed unless committed.
    file: Option<PathBuf>,
}

/// Inside a transaction: stores an incoming message (`record` is its
/// encoded inbox entry) with its dedup record, unless its AS4 MessageId was
/// seen before (then `Some` of the duplicate outcome, nothing written).
fn insert_inbound(
    dedup: &TransactionalTree,
    inbox: &TransactionalTree,
    payloads: &TransactionalTree,
    ids: &TransactionalTree,
    inbound: &InboundRecords,
    record: &IVec,
) -> TxResult<Option<ReceiveOutcome>> {
    if let Some(duplicate) = already_received(dedup, &inbound.as4_message_id)? {
        return Ok(Some(duplicate));
    }
    // Same messageId under a new AS4 MessageId: not an AS4 resend. The
    // envelope layer rejects it first (BV Duplicate, via
    // `ReceivedMessages`); this is the backstop.
    if ids.get(&inbound.message_id)?.is_some() {
        return abort(StoreError::MessageIdInUse(inbound.message_id.clone()));
    }
    inbox.insert(inbound.key.as_slice(), record.clone())?;
    payloads.insert(inbound.key.as_slice(), inbound.payload.clone())?;
    ids.insert(inbound.message_id.as_str(), inbound.key.as_slice())?;
    dedup.insert(inbound.as4_message_id.as_str(), inbound.dedup.clone())?;
    Ok(None)
}

/// Our business receipt for an incoming message, encoded for the outbox.
struct QueuedReceipt<'r> {
    entry: &'r OutboxEntry,
    record: IVec,
    payload: IVec,
    link_key: Vec<u8>,
    link: IVec,
}

impl<'r> QueuedReceipt<'r> {
    /// `receipt` (new, of type Receipt), answering `message_id` in the inbox
    /// of `functional_address`.
    fn new(receipt: &'r OutboxEntry, sealed: &[u8], functional_address: &str, message_id: &str) -> Result<Self, StoreError> {
        check_new(receipt)?;
        check_id("receipt id", receipt.id())?;
        if receipt.document_type() != DocumentType::Receipt {
            return Err(StoreError::WrongDocumentType { expected: DocumentType::Receipt, actual: receipt.document_type() });
        }
        let link = encode(&ReceiptLink { message_id: message_id.to_owned(), functional_address: Some(functional_address.to_owned()) })?;
        Ok(QueuedReceipt {
            entry: receipt,
            record: encode(receipt)?,
            payload: IVec::from(sealed),
            link_key: receipt_key(ReceiptDirection::Sent, receipt.id()),
            link,
        })
    }

    /// Inside a transaction: into the outbox, its schedule and the receipt
    /// link; aborts if the outbox has the id already.
    fn insert(
        &self,
        outbox: &TransactionalTree,
        payloads: &TransactionalTree,
        due: &TransactionalTree,
        expiry: &TransactionalTree,
        receipts: &TransactionalTree,
    ) -> TxResult<()> {
        let id = self.entry.id();
        if outbox.get(id)?.is_some() {
            return abort(StoreError::AlreadyExists(id.to_owned()));
        }
        outbox.insert(id, self.record.clone())?;
        payloads.insert(id, self.payload.clone())?;
        index_outbox(due, expiry, None, self.entry)?;
        receipts.insert(self.link_key.as_slice(), self.link.clone())?;
        Ok(())
    }
}

fn read_inbound(
    ids: &TransactionalTree,
    inbox: &TransactionalTree,
    prefix: &[u8],
    functional_address: &str,
    message_id: &str,
) -> TxResult<(IVec, InboxEntry)> {
    let not_found = || StoreError::InboxNotFound {
        functional_address: functional_address.to_owned(),
        message_id: message_id.to_owned(),
    };
    let Some(key) = ids.get(message_id)?.filter(|k| k.starts_with(prefix)) else {
        return abort(not_found());
    };
    let Some(value) = inbox.get(&key)? else {
        return abort(corrupt(T_INBOX_IDS, message_id.as_bytes(), "id index points at no inbox entry"));
    };
    let entry = decode(T_INBOX, &key, &value).or_else(abort)?;
    Ok((key, entry))
}

/// An entry's key in `outbox/due`: it has one while schedulable.
fn due_key(entry: &OutboxEntry) -> Option<Vec<u8>> {
    entry.state().is_schedulable().then(|| schedule_key(entry.next_attempt_at(), entry.id()))
}

/// An entry's key in `outbox/expiry`: it has one while not final.
fn expiry_key(entry: &OutboxEntry) -> Option<Vec<u8>> {
    (!entry.state().is_final()).then(|| schedule_key(entry.expires_at(), entry.id()))
}

/// Moves the due and expiry index entries from `old` to `new` inside a
/// transaction: due while schedulable, expiring while not final.
fn index_outbox(
    due: &TransactionalTree,
    expiry: &TransactionalTree,
    old: Option<&OutboxEntry>,
    new: &OutboxEntry,
) -> TxResult<()> {
    if let Some(old) = old {
        if let Some(key) = due_key(old) {
            due.remove(key)?;
        }
        if let Some(key) = expiry_key(old) {
            expiry.remove(key)?;
        }
    }
    if let Some(key) = due_key(new) {
        due.insert(key, &[])?;
    }
    if let Some(key) = expiry_key(new) {
        expiry.insert(key, &[])?;
    }
    Ok(())
}

fn apply_receipt(
    outbox: &TransactionalTree,
    due: &TransactionalTree,
    expiry: &TransactionalTree,
    receipts: &TransactionalTree,
    message_id: &str,
    receipt: &BusinessReceipt,
    link: &IVec,
) -> TxResult<(OutboxState, OutboxEntry)> {
    let link_key = receipt_key(ReceiptDirection::Received, &receipt.receipt_id);
    if let Some(seen) = receipts.get(link_key.as_slice())? {
        let seen: ReceiptLink = decode(T_RECEIPTS, &link_key, &seen).or_else(abort)?;
        return abort(StoreError::ReceiptAlreadyCorrelated {
            receipt_id: receipt.receipt_id.clone(),
            message_id: seen.message_id,
        });
    }
    let stored = read_outbox(outbox, message_id)?;
    let mut entry = stored.clone();
    entry.on_business_receipt(receipt.clone()).or_else(abort)?;
    entry.set_revision(stored.revision() + 1);
    outbox.insert(message_id, encode(&entry).or_else(abort)?)?;
    index_outbox(due, expiry, Some(&stored), &entry)?;
    receipts.insert(link_key.as_slice(), link.clone())?;
    Ok((stored.state(), entry))
}

// ---------------------------------------------------------------------------
// Keys and records
// ---------------------------------------------------------------------------

fn check_new(entry: &OutboxEntry) -> Result<(), StoreError> {
    if entry.state() != OutboxState::Scheduled || entry.revision() != 0 {
        return Err(StoreError::NotNew { state: entry.state(), revision: entry.revision() });
    }
    Ok(())
}

fn check_id(what: &'static str, id: &str) -> Result<(), StoreError> {
    if id.is_empty() {
        return Err(StoreError::InvalidKey { what, reason: "empty" });
    }
    if id.len() > MAX_ID_BYTES {
        return Err(StoreError::InvalidKey { what, reason: "longer than 512 bytes" });
    }
    Ok(())
}

/// A timestamp that sorts bytewise in time order: Unix nanoseconds with
/// the sign bit flipped, big-endian.
fn time_key(t: OffsetDateTime) -> [u8; 16] {
    ((t.unix_timestamp_nanos() as u128) ^ (1u128 << 127)).to_be_bytes()
}

fn schedule_key(t: OffsetDateTime, id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(16 + id.len());
    key.extend_from_slice(&time_key(t));
    key.extend_from_slice(id.as_bytes());
    key
}

/// Length-prefixed, so one address can never be a prefix of another's keys.
fn inbox_prefix(functional_address: &str) -> Result<Vec<u8>, StoreError> {
    const WHAT: &str = "functional address";
    if functional_address.is_empty() {
        return Err(StoreError::InvalidKey { what: WHAT, reason: "empty" });
    }
    if functional_address.len() > MAX_ADDRESS_BYTES {
        return Err(StoreError::InvalidKey { what: WHAT, reason: "longer than 1024 bytes" });
    }
    let mut key = Vec::with_capacity(2 + functional_address.len() + 16 + 40);
    key.extend_from_slice(&(functional_address.len() as u16).to_be_bytes());
    key.extend_from_slice(functional_address.as_bytes());
    Ok(key)
}

fn inbox_key(functional_address: &str, received_at: OffsetDateTime, message_id: &str) -> Result<Vec<u8>, StoreError> {
    let mut key = inbox_prefix(functional_address)?;
    key.extend_from_slice(&time_key(received_at));
    key.extend_from_slice(message_id.as_bytes());
    Ok(key)
}

fn receipt_key(direction: ReceiptDirection, receipt_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + receipt_id.len());
    key.push(direction.tag());
    key.extend_from_slice(receipt_id.as_bytes());
    key
}

/// A record as the store keeps it: a version byte, then JSON. Shared with
/// the modules that keep trees of their own in this database.
pub(crate) fn encode<T: Serialize>(record: &T) -> Result<IVec, StoreError> {
    let mut bytes = vec![RECORD_V1];
    serde_json::to_writer(&mut bytes, record).map_err(StoreError::Encode)?;
    Ok(IVec::from(bytes))
}

/// A record written by [`encode`]; `tree` and `key` name it in errors.
pub(crate) fn decode<T: DeserializeOwned>(tree: &'static str, key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&RECORD_V1, json)) => serde_json::from_slice(json).map_err(|e| corrupt(tree, key, &e.to_string())),
        Some((v, _)) => Err(corrupt(tree, key, &format!("unknown record version {v}"))),
        None => Err(corrupt(tree, key, "empty record")),
    }
}

fn corrupt(tree: &'static str, key: &[u8], reason: &str) -> StoreError {
    StoreError::Corrupt { tree, key: String::from_utf8_lossy(key).into_owned(), reason: reason.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn time_keys_sort_in_time_order() {
        let times = [
            datetime!(1960-01-01 0:00 UTC),
            datetime!(1970-01-01 0:00 UTC),
            datetime!(1970-01-01 0:00:00.000000001 UTC),
            datetime!(2026-01-01 0:00 UTC),
            datetime!(2026-01-01 1:00 +02:00), // earlier than the next one
            datetime!(2026-01-01 0:30 UTC),
        ];
        let mut sorted = times;
        sorted.sort();
        let mut by_key = times;
        by_key.sort_by_key(|t| time_key(*t));
        assert_eq!(sorted, by_key);
    }

    #[test]
    fn inbox_prefixes_do_not_nest() {
        let a = inbox_key("fa", datetime!(2026-01-01 0:00 UTC), "m").unwrap();
        let b = inbox_prefix("fa:x").unwrap();
        assert!(!a.starts_with(&b));
        assert!(!b.starts_with(&inbox_prefix("fa").unwrap()));
    }

    #[test]
    fn bad_records_are_typed_errors() {
        assert!(matches!(decode::<OutboxEntry>(T_OUTBOX, b"k", b""), Err(StoreError::Corrupt { .. })));
        assert!(matches!(decode::<OutboxEntry>(T_OUTBOX, b"k", b"\x02{}"), Err(StoreError::Corrupt { .. })));
        assert!(matches!(decode::<OutboxEntry>(T_OUTBOX, b"k", b"\x01{\"id\":1}"), Err(StoreError::Corrupt { .. })));
    }
}
