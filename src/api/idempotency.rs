//! `Idempotency-Key` on message creation (after the IETF httpapi draft
//! "The Idempotency-Key HTTP Header Field"): a client that retries a
//! create with the same key gets the first answer again, and the message is
//! sent once.
//!
//! Keys are per client and kept durably in the node's store (tree
//! `api/idempotency`, key `client id ‖ 0 ‖ Idempotency-Key`) for
//! `api.idempotency_hours` (default 24 h). A record is written *before* the
//! message is stored, holding the message id the request will use, and
//! completed with the answer after: so a retry after a crash between the
//! two finds the message id, and either answers for the stored message or
//! stores it under that same id; it can never create a second message.
//!
//! - Same key, same body (compared as canonical JSON): the stored answer.
//! - Same key, other body: 422 (the draft's answer).
//! - Same key while the first request is still being handled: 409.
//! - A request that fails (bad input, recipient unknown) does not keep
//!   its key: only a created message is remembered.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sled::Tree;
use time::OffsetDateTime;

use crate::node::store::StoreError;

/// Longest key accepted.
pub const MAX_KEY_BYTES: usize = 255;
const RECORD_V1: u8 = 1;
/// Expired records are swept at most this often (seconds).
const SWEEP_INTERVAL_SECS: i64 = 600;

/// A stored answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAnswer {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    /// SHA-256 of the canonical JSON of the request body, hex.
    body_hash: String,
    message_id: String,
    /// Unix seconds.
    expires_at: i64,
    answer: Option<StoredAnswer>,
}

/// What [`Idempotency::begin`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// A new key: proceed with `message_id`; call `complete` or `abandon`.
    New { message_id: String },
    /// The same request came before, and a crash cut it short: proceed
    /// with its `message_id` (it may be stored already).
    Resume { message_id: String },
    /// The same request was answered: answer the same.
    Replay(StoredAnswer),
    /// The key was used with another body.
    Mismatch,
    /// The same key is being handled right now.
    InProgress,
}

/// The key store.
pub struct Idempotency {
    tree: Tree,
    ttl_secs: i64,
    /// Keys being handled by this process now.
    in_flight: Mutex<HashSet<Vec<u8>>>,
    last_sweep: AtomicI64,
}

impl std::fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency").field("ttl_secs", &self.ttl_secs).finish_non_exhaustive()
    }
}

/// Why a key was not accepted.
pub fn check_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err("must be 1 to 255 characters");
    }
    if !key.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err("must be printable ASCII");
    }
    Ok(())
}

/// Canonical JSON (object keys sorted, no whitespace) of `value`, hashed.
pub fn body_hash(value: &Value) -> String {
    fn write(value: &Value, out: &mut Vec<u8>) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push(b'{');
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(serde_json::to_string(k).unwrap_or_default().as_bytes());
                    out.push(b':');
                    write(&map[k.as_str()], out);
                }
                out.push(b'}');
            }
            Value::Array(items) => {
                out.push(b'[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write(v, out);
                }
                out.push(b']');
            }
            other => out.extend_from_slice(other.to_string().as_bytes()),
        }
    }
    let mut bytes = Vec::new();
    write(value, &mut bytes);
    crate::audit::hex(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref())
}

fn tree_key(client_id: &str, key: &str) -> Vec<u8> {
    let mut k = client_id.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

fn encode(record: &Record) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![RECORD_V1];
    serde_json::to_writer(&mut bytes, record).map_err(StoreError::Encode)?;
    Ok(bytes)
}

fn decode(bytes: &[u8]) -> Option<Record> {
    match bytes.split_first() {
        Some((&RECORD_V1, json)) => serde_json::from_slice(json).ok(),
        _ => None,
    }
}

impl Idempotency {
    pub fn new(tree: Tree, ttl_hours: u64) -> Idempotency {
        Idempotency {
            tree,
            ttl_secs: (ttl_hours * 3600) as i64,
            in_flight: Mutex::new(HashSet::new()),
            last_sweep: AtomicI64::new(0),
        }
    }

    /// Looks the key up and, for a new one, records `message_id` for it
    /// durably before returning.
    pub fn begin(&self, client_id: &str, key: &str, body_hash: &str, message_id: &str, now: OffsetDateTime) -> Result<Begin, StoreError> {
        let now = now.unix_timestamp();
        self.sweep(now);
        let k = tree_key(client_id, key);
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = Record { body_hash: body_hash.to_owned(), message_id: message_id.to_owned(), expires_at: now + self.ttl_secs, answer: None };
        let existing = self.tree.get(&k)?.and_then(|v| decode(&v)).filter(|r| r.expires_at > now);
        let outcome = match existing {
            Some(r) if r.body_hash != body_hash => return Ok(Begin::Mismatch),
            Some(Record { answer: Some(answer), .. }) => return Ok(Begin::Replay(answer)),
            Some(_) if in_flight.contains(&k) => return Ok(Begin::InProgress),
            Some(r) => Begin::Resume { message_id: r.message_id },
            None => {
                self.tree.insert(&k, encode(&fresh)?)?;
                self.tree.flush()?;
                Begin::New { message_id: message_id.to_owned() }
            }
        };
        in_flight.insert(k);
        Ok(outcome)
    }

    /// Stores the answer for the key, durably.
    pub fn complete(&self, client_id: &str, key: &str, answer: StoredAnswer) -> Result<(), StoreError> {
        let k = tree_key(client_id, key);
        let result = (|| {
            if let Some(mut r) = self.tree.get(&k)?.and_then(|v| decode(&v)) {
                r.answer = Some(answer);
                self.tree.insert(&k, encode(&r)?)?;
                self.tree.flush()?;
            }
            Ok(())
        })();
        self.release(&k);
        result
    }

    /// Forgets the key: the request failed without storing anything.
    pub fn abandon(&self, client_id: &str, key: &str) {
        let k = tree_key(client_id, key);
        if let Err(e) = self.tree.remove(&k) {
            tracing::warn!(error = %e, "idempotency key not removed");
        }
        self.release(&k);
    }

    fn release(&self, k: &[u8]) {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(k);
    }

    /// Removes expired records, at most every ten minutes.
    fn sweep(&self, now: i64) {
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now - last < SWEEP_INTERVAL_SECS || self.last_sweep.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            return;
        }
        for (k, v) in self.tree.iter().flatten() {
            if decode(&v).is_none_or(|r| r.expires_at <= now) {
                let _ = self.tree.remove(k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_hash_ignores_key_order_and_whitespace() {
        let a = json!({"data": {"type": "messages", "attributes": {"label": "x", "confidentiality": true}}});
        let b: Value = serde_json::from_str(r#"{ "data":{"attributes":{"confidentiality":true,"label":"x"},"type":"messages"}}"#).unwrap();
        assert_eq!(body_hash(&a), body_hash(&b));
        assert_ne!(body_hash(&a), body_hash(&json!({"data": {}})));
    }

    #[test]
    fn a_key_replays_refuses_other_bodies_and_resumes_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let idem = Idempotency::new(db.open_tree("i").unwrap(), 24);
        let now = OffsetDateTime::now_utc();
        assert_eq!(idem.begin("c", "k", "h1", "m1", now).unwrap(), Begin::New { message_id: "m1".into() });
        assert_eq!(idem.begin("c", "k", "h1", "m2", now).unwrap(), Begin::InProgress);
        assert_eq!(idem.begin("c", "k", "h2", "m2", now).unwrap(), Begin::Mismatch);
        // Another client's key space.
        assert_eq!(idem.begin("d", "k", "h2", "m3", now).unwrap(), Begin::New { message_id: "m3".into() });
        let answer = StoredAnswer { status: 201, location: Some("/v1/sdk/messages/m1".into()), body: "{}".into() };
        idem.complete("c", "k", answer.clone()).unwrap();
        assert_eq!(idem.begin("c", "k", "h1", "m9", now).unwrap(), Begin::Replay(answer));
        // A pending record left by a crash (not in flight in this process).
        let idem2 = Idempotency::new(db.open_tree("i").unwrap(), 24);
        assert_eq!(idem2.begin("d", "k", "h2", "m4", now).unwrap(), Begin::Resume { message_id: "m3".into() });
        // Expired: new again.
        let later = now + time::Duration::hours(25);
        assert_eq!(idem2.begin("c", "k", "h1", "m5", later).unwrap(), Begin::New { message_id: "m5".into() });
    }
}
