//! What DIGG's message API remembers beyond the node's outbox and inbox, in
//! trees of the node's store:
//!
//! | tree | key | value |
//! |---|---|---|
//! | `api/sent` | messageId | [`SentRecord`]: who created it, for which address, the header as JSON |
//! | `api/sent-xml` | messageId | the SDK message as sent (the outbox keeps only the sealed envelope), when it fits in memory; a larger one (built from uploads) is the file `<data_dir>/api/sent-xml/<messageId>` |
//! | `api/inbound` | messageId | header of an incoming message as JSON, cached from its stored XML |
//! | `api/deleted` | messageId | when a client deleted it, and who |
//!
//! A sent record is written before the message goes to the outbox, so no
//! message created through the API can be in the outbox without it; a
//! record whose message never reached the outbox (a crash in between, a
//! refused submission) is not shown, and is removed on failure.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sled::Tree;

use crate::node::store::{Store, StoreError};
use crate::spool::Blob;

const RECORD_V1: u8 = 1;

/// A message created through the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentRecord {
    pub client_id: String,
    /// `data.id` when the client chose one (B1.4.2: the resource's own id,
    /// which "may be" the messageId); the resource is still addressed by
    /// its messageId.
    #[serde(default)]
    pub resource_id: Option<String>,
    pub sender_functional_address: String,
    pub recipient_functional_address: String,
    /// Unix seconds when the node accepted it.
    pub created_at: i64,
    /// The message's attributes without `messageStatus`, `events` and
    /// `digitalDocument`.
    pub header: Value,
}

/// A deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub client_id: String,
    pub deleted_at: i64,
}

#[derive(Clone)]
pub struct Records {
    sent: Tree,
    sent_xml: Tree,
    inbound: Tree,
    deleted: Tree,
    /// Where sent messages too large for the tree are kept.
    files: PathBuf,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records").finish_non_exhaustive()
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![RECORD_V1];
    serde_json::to_writer(&mut bytes, value).map_err(StoreError::Encode)?;
    Ok(bytes)
}

fn decode<T: for<'de> Deserialize<'de>>(tree: &'static str, key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt { tree, key: key.to_owned(), reason };
    match bytes.split_first() {
        Some((&RECORD_V1, json)) => serde_json::from_slice(json).map_err(|e| corrupt(e.to_string())),
        _ => Err(corrupt("unknown record version".into())),
    }
}

impl Records {
    /// `files`: where sent messages kept as files go (created when needed).
    pub fn open(store: &Store, files: PathBuf) -> Result<Records, StoreError> {
        Ok(Records {
            files,
            sent: store.api_tree("sent")?,
            sent_xml: store.api_tree("sent-xml")?,
            inbound: store.api_tree("inbound")?,
            deleted: store.api_tree("deleted")?,
        })
    }

    /// Records a message about to be submitted, durably.
    /// A message in memory goes into the tree; one on disk (the spool's)
    /// is copied to a file, fsynced, so it is never whole in memory.
    pub fn put_sent(&self, message_id: &str, record: &SentRecord, xml: &Blob) -> Result<(), StoreError> {
        match xml.as_memory() {
            Some(bytes) => {
                self.sent_xml.insert(message_id, bytes)?;
            }
            None => {
                let file = self.sent_file(message_id)?;
                std::fs::create_dir_all(&self.files).map_err(|e| StoreError::Files(e.to_string()))?;
                xml.persist(&file).map_err(|e| StoreError::Files(e.to_string()))?;
            }
        }
        self.sent.insert(message_id, encode(record)?)?;
        self.sent.flush()?;
        Ok(())
    }

    /// The file of a sent message kept as one; message ids are UUIDs.
    fn sent_file(&self, message_id: &str) -> Result<PathBuf, StoreError> {
        if uuid::Uuid::try_parse(message_id).is_err() {
            return Err(StoreError::InvalidKey { what: "message id", reason: "not a UUID" });
        }
        Ok(self.files.join(message_id))
    }

    pub fn sent(&self, message_id: &str) -> Result<Option<SentRecord>, StoreError> {
        self.sent.get(message_id)?.map(|v| decode("api/sent", message_id, &v)).transpose()
    }

    pub fn sent_xml(&self, message_id: &str) -> Result<Option<Blob>, StoreError> {
        if let Some(v) = self.sent_xml.get(message_id)? {
            return Ok(Some(Blob::from(v.as_ref())));
        }
        let Ok(file) = self.sent_file(message_id) else { return Ok(None) };
        match Blob::open_file(file) {
            Ok(blob) => Ok(Some(blob)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Files(e.to_string())),
        }
    }

    /// Every sent record, in message id order.
    pub fn all_sent(&self) -> impl Iterator<Item = Result<(String, SentRecord), StoreError>> + '_ {
        self.sent.iter().map(|item| {
            let (k, v) = item?;
            let id = String::from_utf8_lossy(&k).into_owned();
            let record = decode("api/sent", &id, &v)?;
            Ok((id, record))
        })
    }

    /// Forgets a sent message's record and content.
    pub fn remove_sent(&self, message_id: &str) -> Result<(), StoreError> {
        self.sent.remove(message_id)?;
        self.sent_xml.remove(message_id)?;
        self.sent.flush()?;
        if let Ok(file) = self.sent_file(message_id) {
            let _ = std::fs::remove_file(file);
        }
        Ok(())
    }

    pub fn inbound_header(&self, message_id: &str) -> Result<Option<Value>, StoreError> {
        self.inbound.get(message_id)?.map(|v| decode("api/inbound", message_id, &v)).transpose()
    }

    /// Caches an incoming message's header (not flushed: it can be made again).
    pub fn put_inbound_header(&self, message_id: &str, header: &Value) -> Result<(), StoreError> {
        self.inbound.insert(message_id, encode(header)?)?;
        Ok(())
    }

    pub fn is_deleted(&self, message_id: &str) -> Result<bool, StoreError> {
        Ok(self.deleted.contains_key(message_id)?)
    }

    pub fn mark_deleted(&self, message_id: &str, tombstone: &Tombstone) -> Result<(), StoreError> {
        self.deleted.insert(message_id, encode(tombstone)?)?;
        self.inbound.remove(message_id)?;
        self.deleted.flush()?;
        Ok(())
    }
}
