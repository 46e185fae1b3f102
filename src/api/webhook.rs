//! Webhooks for API clients: the durable event log and the signature.
//!
//! docs/api.md "Webhooks" describes them for client developers. Events
//! are appended by [`Webhooks`] as the store's observer, right after an
//! outbox or inbox change is committed and flushed (not in the same
//! transaction), and delivered by [`Webhooks::run`] (started by `serve`).
//!
//! Events are kept in the node's store, tree `api/webhook-events`:
//!
//! - `e ‖ client ‖ 0 ‖ position (u64 BE)`: an [`EventRecord`]. `position`
//!   counts the client's events (1, 2, …); it is what `since=` of the
//!   replay endpoints means.
//! - `p ‖ client`: the client's last position.
//! - `s ‖ client ‖ 0 ‖ messageId`: the message's last `sequence` (u64 BE)
//!   and the status of that event.
//! - `q ‖ client ‖ 0 ‖ position`: empty; the index of pending events, so
//!   finding due events does not read delivered ones.
//!
//! An event is written (flushed) before anyone is told about it and stays
//! until it is delivered (a 2xx answer), and after that too, for replay.
//! Delivery is at least once, per message strictly in order: an event is
//! only due when no earlier event of the same message is still pending.
//! A failed attempt is retried after the outbox's [`RetryPolicy`] backoff
//! (exponential, jittered); an event still undelivered after the policy's
//! `expiry` is marked dead, kept, and no longer holds back the message's
//! later events. A replay puts events from a position back to pending.

use std::sync::Arc;

use ring::hmac;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Tree;
use time::OffsetDateTime;

use crate::node::outbox::RetryPolicy;
use crate::node::store::StoreError;

const TREE: &str = "api/webhook-events";
const RECORD_V1: u8 = 1;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    /// A new message arrived for one of the client's functional addresses.
    #[serde(rename = "message.received")]
    Received,
    /// One of the client's outbound messages changed status.
    #[serde(rename = "message.status")]
    Status,
}

/// The JSON a receiver gets: identifiers and a status only, never message
/// content or person data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub message_id: String,
    /// The API's status name (as `GET /v1/sdk/messages/{id}` shows it).
    pub status: String,
    /// RFC 3339.
    pub occurred_at: String,
    /// Per message (and client): 1, 2, … in the order things happened.
    pub sequence: u64,
}

/// Where an event is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    Pending,
    Delivered,
    /// Undelivered past the policy's expiry; kept for replay.
    Dead,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    pub client_id: String,
    pub position: u64,
    pub event: Event,
    pub delivery: Delivery,
    /// Attempts since it was (re)queued.
    pub attempts: u32,
    /// Unix milliseconds.
    pub queued_at: i64,
    /// Unix milliseconds.
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}

/// The event log in the node's store.
#[derive(Clone)]
pub struct EventLog {
    tree: Tree,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog").finish_non_exhaustive()
    }
}

fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn client_prefix(tag: u8, client_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(client_id.len() + 2);
    k.push(tag);
    k.extend_from_slice(client_id.as_bytes());
    k.push(0);
    k
}

fn event_key(client_id: &str, position: u64) -> Vec<u8> {
    let mut k = client_prefix(b'e', client_id);
    k.extend_from_slice(&position.to_be_bytes());
    k
}

fn pending_key(client_id: &str, position: u64) -> Vec<u8> {
    let mut k = client_prefix(b'q', client_id);
    k.extend_from_slice(&position.to_be_bytes());
    k
}

fn encode(record: &EventRecord) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![RECORD_V1];
    serde_json::to_writer(&mut bytes, record).map_err(StoreError::Encode)?;
    Ok(bytes)
}

fn decode(key: &[u8], bytes: &[u8]) -> Result<EventRecord, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt { tree: TREE, key: String::from_utf8_lossy(key).into_owned(), reason };
    match bytes.split_first() {
        Some((&RECORD_V1, json)) => serde_json::from_slice(json).map_err(|e| corrupt(e.to_string())),
        Some((v, _)) => Err(corrupt(format!("unknown record version {v}"))),
        None => Err(corrupt("empty record".into())),
    }
}

fn read_u64(v: Option<sled::IVec>) -> u64 {
    v.and_then(|v| v.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok())).map(u64::from_be_bytes).unwrap_or(0)
}

fn seq_key(client_id: &str, message_id: &str) -> Vec<u8> {
    let mut k = client_prefix(b's', client_id);
    k.extend_from_slice(message_id.as_bytes());
    k
}

impl EventLog {
    pub fn new(tree: Tree) -> Self {
        Self { tree }
    }

    /// Opens the log's tree in the node's store.
    pub fn open(store: &crate::node::store::Store) -> Result<Self, StoreError> {
        Ok(Self::new(store.api_tree("webhook-events")?))
    }

    /// Appends an event for `client_id` and flushes: it is durable when
    /// this returns. The message's `sequence` and the client's position
    /// are taken in the same transaction.
    pub fn append(
        &self,
        client_id: &str,
        kind: EventType,
        message_id: &str,
        status: &str,
        occurred_at: OffsetDateTime,
    ) -> Result<EventRecord, StoreError> {
        let occurred = occurred_at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| StoreError::Files(format!("time: {e}")))?;
        let seq_key = seq_key(client_id, message_id);
        let pos_key = client_prefix(b'p', client_id);
        let event_id = uuid::Uuid::new_v4().to_string();
        let now = unix_ms(OffsetDateTime::now_utc());
        let result = self.tree.transaction(|tx| {
            let position = read_u64(tx.get(&pos_key)?) + 1;
            let sequence = read_u64(tx.get(&seq_key)?) + 1;
            let record = EventRecord {
                client_id: client_id.to_owned(),
                position,
                event: Event {
                    event_id: event_id.clone(),
                    kind,
                    message_id: message_id.to_owned(),
                    status: status.to_owned(),
                    occurred_at: occurred.clone(),
                    sequence,
                },
                delivery: Delivery::Pending,
                attempts: 0,
                queued_at: now,
                next_attempt_at: now,
                last_error: None,
            };
            let bytes = encode(&record).map_err(ConflictableTransactionError::Abort)?;
            tx.insert(pos_key.as_slice(), &position.to_be_bytes())?;
            // The message's last sequence, then the status of that event.
            let mut seq_value = sequence.to_be_bytes().to_vec();
            seq_value.extend_from_slice(status.as_bytes());
            tx.insert(seq_key.as_slice(), seq_value.as_slice())?;
            tx.insert(event_key(client_id, position), bytes)?;
            tx.insert(pending_key(client_id, position), &[][..])?;
            Ok(record)
        });
        let record = match result {
            Ok(r) => r,
            Err(TransactionError::Abort(e)) => return Err(e),
            Err(TransactionError::Storage(e)) => return Err(e.into()),
        };
        self.tree.flush()?;
        Ok(record)
    }

    /// The status of the client's last event for `message_id`, if any.
    pub fn last_status(&self, client_id: &str, message_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.tree.get(seq_key(client_id, message_id))?.map(|v| String::from_utf8_lossy(v.get(8..).unwrap_or_default()).into_owned()))
    }

    /// The client's events after `since` (a position), oldest first, at
    /// most `limit`.
    pub fn list(&self, client_id: &str, since: u64, limit: usize) -> Result<Vec<EventRecord>, StoreError> {
        let start = event_key(client_id, since.saturating_add(1));
        let end = event_key(client_id, u64::MAX);
        let mut out = Vec::new();
        for item in self.tree.range(start..=end) {
            let (k, v) = item?;
            out.push(decode(&k, &v)?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Events due for delivery now, oldest first: for each (client,
    /// message) only the first pending event, and only if its time has
    /// come. Dead and delivered events hold nothing back.
    /// Events of clients for which `deliverable` is false (no webhook any
    /// more) are skipped and stay pending.
    pub fn due(&self, now: OffsetDateTime, limit: usize, deliverable: impl Fn(&str) -> bool) -> Result<Vec<EventRecord>, StoreError> {
        let now = unix_ms(now);
        let mut blocked = std::collections::HashSet::new();
        let mut out = Vec::new();
        for item in self.tree.scan_prefix([b'q']) {
            let (k, _) = item?;
            // q ‖ client ‖ 0 ‖ position: the event's key is the same with e.
            let mut key = k.to_vec();
            key[0] = b'e';
            let Some(v) = self.tree.get(&key)? else { continue };
            let r = decode(&key, &v)?;
            if r.delivery != Delivery::Pending || !deliverable(&r.client_id) {
                continue;
            }
            if !blocked.insert((r.client_id.clone(), r.event.message_id.clone())) {
                continue;
            }
            if r.next_attempt_at <= now {
                out.push(r);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Writes a record and its pending-index key together (not flushed).
    fn write(&self, record: &EventRecord) -> Result<(), StoreError> {
        let bytes = encode(record)?;
        let (key, index) = (event_key(&record.client_id, record.position), pending_key(&record.client_id, record.position));
        let result = self.tree.transaction(|tx| {
            tx.insert(key.as_slice(), bytes.as_slice())?;
            if record.delivery == Delivery::Pending {
                tx.insert(index.as_slice(), &[][..])?;
            } else {
                tx.remove(index.as_slice())?;
            }
            Ok::<_, ConflictableTransactionError<StoreError>>(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    fn put(&self, record: &EventRecord) -> Result<(), StoreError> {
        self.write(record)?;
        self.tree.flush()?;
        Ok(())
    }

    /// The receiver took it (2xx).
    pub fn delivered(&self, mut record: EventRecord) -> Result<EventRecord, StoreError> {
        record.delivery = Delivery::Delivered;
        record.attempts += 1;
        record.last_error = None;
        self.put(&record)?;
        Ok(record)
    }

    /// An attempt failed: retry after the policy's backoff, or mark dead
    /// once the policy's expiry since queueing has passed. `rng` in [0, 1)
    /// for the jitter.
    pub fn failed(
        &self,
        mut record: EventRecord,
        now: OffsetDateTime,
        reason: &str,
        policy: &RetryPolicy,
        rng: f64,
    ) -> Result<EventRecord, StoreError> {
        record.attempts += 1;
        record.last_error = Some(reason.chars().take(500).collect());
        let next = unix_ms(policy.next_attempt_at(record.attempts, now, rng));
        let expires = record.queued_at.saturating_add(policy.expiry.as_millis().min(i64::MAX as u128) as i64);
        if next > expires {
            record.delivery = Delivery::Dead;
        } else {
            record.next_attempt_at = next;
        }
        self.put(&record)?;
        Ok(record)
    }

    /// Puts the client's events after `since` back to pending, due now, in
    /// their order. Returns how many.
    pub fn replay(&self, client_id: &str, since: u64) -> Result<usize, StoreError> {
        let now = unix_ms(OffsetDateTime::now_utc());
        let mut n = 0;
        let mut since = since;
        loop {
            let batch = self.list(client_id, since, 256)?;
            let Some(last) = batch.last() else { break };
            since = last.position;
            for mut r in batch {
                r.delivery = Delivery::Pending;
                r.attempts = 0;
                r.queued_at = now;
                r.next_attempt_at = now;
                r.last_error = None;
                self.write(&r)?;
                n += 1;
            }
        }
        self.tree.flush()?;
        Ok(n)
    }
}

/// A client with a webhook.
#[derive(Debug, Clone)]
struct Hooked {
    client_id: String,
    functional_addresses: Vec<String>,
    webhook: crate::config::api::Webhook,
    http: reqwest::Client,
}

/// The node's webhooks: turns stored state changes into events (as the
/// store's [`crate::node::store::StoreObserver`]) and delivers them.
pub struct Webhooks {
    log: EventLog,
    records: super::records::Records,
    clients: Vec<Hooked>,
    notify: std::sync::Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks").finish_non_exhaustive()
    }
}

/// How long one delivery attempt may take.
pub const DELIVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Webhooks {
    /// The clients of `config` with a `webhook`, and their HTTP clients.
    pub fn new(log: EventLog, records: super::records::Records, config: &crate::config::api::ApiConfig) -> Result<Self, String> {
        let mut clients = Vec::new();
        for c in &config.clients {
            let Some(webhook) = &c.webhook else { continue };
            let mut roots = rustls::RootCertStore::empty();
            for cert in &webhook.ca {
                roots.add(rustls_pki_types::CertificateDer::from(cert.der().to_vec())).map_err(|e| e.to_string())?;
            }
            let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            let http = reqwest::Client::builder()
                .use_preconfigured_tls(tls)
                .timeout(DELIVERY_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| e.to_string())?;
            clients.push(Hooked {
                client_id: c.id.clone(),
                functional_addresses: c.functional_addresses.clone(),
                webhook: webhook.clone(),
                http,
            });
        }
        Ok(Self { log, records, clients, notify: std::sync::Arc::default() })
    }

    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// Whether any client has a webhook.
    pub fn any(&self) -> bool {
        !self.clients.is_empty()
    }

    fn append(&self, client_id: &str, kind: EventType, message_id: &str, status: &str) {
        match self.log.append(client_id, kind, message_id, status, OffsetDateTime::now_utc()) {
            Ok(_) => self.notify.notify_one(),
            Err(e) => tracing::error!(client = client_id, message = message_id, error = %e, "webhook event not stored"),
        }
    }

    /// Startup recovery of the gap between a state change and its event (a
    /// crash in between): an outbound message of a hooked client whose
    /// status differs from its last event's (none counts as SCHEDULED),
    /// and a NEW inbound message of a hooked client's address without any
    /// event, get their event now. Call before the workers start.
    pub fn reconcile(&self, store: &crate::node::store::Store) -> Result<usize, StoreError> {
        if self.clients.is_empty() {
            return Ok(0);
        }
        let mut added = 0;
        for item in self.records.all_sent() {
            let (message_id, sent) = item?;
            if !self.clients.iter().any(|c| c.client_id == sent.client_id) {
                continue;
            }
            let Some(entry) = store.outbox_entry(&message_id)? else { continue };
            let status = super::digg::outbound_status(&entry);
            let last = self.log.last_status(&sent.client_id, &message_id)?;
            if last.as_deref().unwrap_or("SCHEDULED") != status {
                self.append(&sent.client_id, EventType::Status, &message_id, status);
                added += 1;
            }
        }
        for c in &self.clients {
            for address in &c.functional_addresses {
                let filter = crate::node::store::InboxFilter {
                    state: Some(crate::node::outbox::InboxState::New),
                    ..Default::default()
                };
                for entry in store.inbox(address, &filter)? {
                    if self.log.last_status(&c.client_id, entry.message_id())?.is_none() {
                        self.append(&c.client_id, EventType::Received, entry.message_id(), super::digg::inbound_status(&entry, None));
                        added += 1;
                    }
                }
            }
        }
        Ok(added)
    }

    /// Delivers due events until `shutdown` flips to true.
    pub async fn run(self: std::sync::Arc<Self>, policy: RetryPolicy, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            let hooked = |id: &str| self.clients.iter().any(|c| c.client_id == id);
            let due = self.log.due(OffsetDateTime::now_utc(), 64, hooked).unwrap_or_else(|e| {
                tracing::error!(error = %e, "webhook event scan failed");
                Vec::new()
            });
            // One attempt per message at a time; messages in parallel.
            let mut attempts = tokio::task::JoinSet::new();
            for record in due {
                let (me, policy) = (self.clone(), policy.clone());
                attempts.spawn(async move { me.attempt(record, &policy).await });
            }
            while attempts.join_next().await.is_some() {}
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = self.notify.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
            }
        }
    }

    async fn attempt(&self, record: EventRecord, policy: &RetryPolicy) {
        let Some(client) = self.clients.iter().find(|c| c.client_id == record.client_id) else {
            return; // no webhook (any more): kept pending for a later configuration or replay
        };
        let outcome = deliver(client, &record.event).await;
        let now = OffsetDateTime::now_utc();
        let stored = match outcome {
            Ok(()) => self.log.delivered(record),
            Err(reason) => {
                tracing::info!(client = %client.client_id, event = %record.event.event_id, %reason, "webhook delivery failed");
                let stored = self.log.failed(record, now, &reason, policy, crate::node::sender::jitter_sample());
                if let Ok(r) = &stored {
                    if r.delivery == Delivery::Dead {
                        tracing::warn!(client = %r.client_id, event = %r.event.event_id, position = r.position, "webhook event dead after its expiry; kept for replay");
                    }
                }
                stored
            }
        };
        if let Err(e) = stored {
            tracing::error!(error = %e, "webhook delivery outcome not stored");
        }
    }
}

async fn deliver(client: &Hooked, event: &Event) -> Result<(), String> {
    let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
    let sig = signature(&client.webhook.secret, OffsetDateTime::now_utc().unix_timestamp(), &body);
    let response = client
        .http
        .post(&client.webhook.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, sig)
        .header(EVENT_ID_HEADER, &event.event_id)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("cannot reach the webhook: {e}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("webhook answered HTTP {}", response.status().as_u16()))
    }
}

impl crate::node::store::StoreObserver for Webhooks {
    fn outbox_changed(&self, entry: &crate::node::outbox::OutboxEntry) {
        if entry.document_type() != crate::node::outbox::DocumentType::Message {
            return;
        }
        let Ok(Some(sent)) = self.records.sent(entry.id()) else { return };
        if self.clients.iter().any(|c| c.client_id == sent.client_id) {
            self.append(&sent.client_id, EventType::Status, entry.id(), super::digg::outbound_status(entry));
        }
    }

    fn inbox_received(&self, entry: &crate::node::outbox::InboxEntry) {
        let status = super::digg::inbound_status(entry, None);
        for c in self.clients.iter().filter(|c| c.functional_addresses.iter().any(|a| a == entry.functional_address())) {
            self.append(&c.client_id, EventType::Received, entry.message_id(), status);
        }
    }
}

// ---------------------------------------------------------------------------
// Endpoints: GET /v1/brygga/webhook-events, POST /v1/brygga/webhook-events/replay
// ---------------------------------------------------------------------------

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::problem::{ApiProblem, Issue};
use super::scope::Scope;
use super::Api;

const LIST_LIMIT_DEFAULT: usize = 100;
const LIST_LIMIT_MAX: usize = 1000;
/// Largest `since` (2^53 - 1, exact in every JSON reader).
const SINCE_MAX: u64 = (1 << 53) - 1;

fn bad(location: &str, detail: &str) -> ApiProblem {
    ApiProblem::bad_request(vec![Issue::at(location, "Invalid parameter", detail)])
}

fn query_u64(name: &str, value: &str) -> Result<u64, ApiProblem> {
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(name, "must be a non-negative integer"));
    }
    value.parse().ok().filter(|n| *n <= SINCE_MAX).ok_or_else(|| bad(name, "must be an integer from 0 to 2^53-1"))
}

fn list_query(query: Option<&str>) -> Result<(u64, usize), ApiProblem> {
    let (mut since, mut limit) = (0u64, LIST_LIMIT_DEFAULT);
    let url = reqwest::Url::parse(&format!("http://x/?{}", query.unwrap_or(""))).map_err(|_| bad("query", "unreadable query"))?;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "since" => since = query_u64("query:since", &v)?,
            "limit" => {
                let l = query_u64("query:limit", &v)?;
                if !(1..=LIST_LIMIT_MAX as u64).contains(&l) {
                    return Err(bad("query:limit", "must be 1 to 1000"));
                }
                limit = l as usize;
            }
            other => return Err(bad(&format!("query:{other}"), "unknown query parameter")),
        }
    }
    Ok((since, limit))
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn record_json(r: &EventRecord) -> serde_json::Value {
    serde_json::json!({
        "position": r.position,
        "event": r.event,
        "delivery": r.delivery,
        "attempts": r.attempts,
        "lastError": r.last_error,
    })
}

/// `GET /v1/brygga/webhook-events?since=<position>&limit=<n>`: the
/// caller's own events after `since`, oldest first.
pub async fn list_events(State(api): State<Arc<Api>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let principal = match api.authorize(&headers, Scope::GetMessageByFilter, "listWebhookEvents").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (since, limit) = match list_query(query.as_deref()) {
        Ok(q) => q,
        Err(p) => return p.respond(&headers),
    };
    let log = api.webhooks.log().clone();
    let client = principal.client_id.clone();
    match tokio::task::spawn_blocking(move || log.list(&client, since, limit)).await {
        Ok(Ok(records)) => {
            let items: Vec<_> = records.iter().map(record_json).collect();
            json(StatusCode::OK, &serde_json::json!({ "events": items }))
        }
        _ => ApiProblem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the node could not complete the request").respond(&headers),
    }
}

/// `POST /v1/brygga/webhook-events/replay` with `{"since": <position>}`:
/// the caller's events after `since` are delivered again, in order.
pub async fn replay_events(State(api): State<Arc<Api>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let principal = match api.authorize(&headers, Scope::GetMessageByFilter, "replayWebhookEvents").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let since = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(o)) if o.keys().all(|k| k == "since") => match o.get("since") {
            None => 0,
            Some(v) => match v.as_u64().filter(|n| *n <= SINCE_MAX) {
                Some(n) => n,
                None => return bad("/since", "must be an integer from 0 to 2^53-1").respond(&headers),
            },
        },
        _ => return bad("/", "must be a JSON object {\"since\": <position>}").respond(&headers),
    };
    let log = api.webhooks.log().clone();
    let client = principal.client_id.clone();
    match tokio::task::spawn_blocking(move || log.replay(&client, since)).await {
        Ok(Ok(n)) => {
            api.webhooks.notify.notify_one();
            json(StatusCode::ACCEPTED, &serde_json::json!({ "requeued": n }))
        }
        _ => ApiProblem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the node could not complete the request").respond(&headers),
    }
}

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Brygga-Signature";
/// Header carrying the event id.
pub const EVENT_ID_HEADER: &str = "X-Brygga-Event-Id";
/// How far a receiver should accept `t` from its own clock, seconds.
pub const TOLERANCE_SECONDS: i64 = 300;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// `t=<unix>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>`.
pub fn signature(key: &[u8], unix_time: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(unix_time.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("t={unix_time},v1={}", hex(ctx.sign().as_ref()))
}

/// What a receiver does: `t` within [`TOLERANCE_SECONDS`] of `now`, and
/// the HMAC compared in constant time (`ring::hmac::verify`).
pub fn verify(key: &[u8], header: &str, body: &[u8], now_unix: i64) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = unhex(v),
            _ => {}
        }
    }
    let (Some(t), Some(mac)) = (t, v1) else { return false };
    if (now_unix - t).abs() > TOLERANCE_SECONDS {
        return false;
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut msg = t.to_string().into_bytes();
    msg.push(b'.');
    msg.extend_from_slice(body);
    hmac::verify(&key, &msg, &mac).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn log() -> (tempfile::TempDir, EventLog) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        (dir, EventLog::new(db.open_tree(TREE).unwrap()))
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 100,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: 0.2,
            expiry: Duration::from_secs(3600),
        }
    }

    #[test]
    fn signatures_verify_and_reject_tampering_and_old_times() {
        let body = br#"{"eventId":"x"}"#;
        let h = signature(b"key", 1_700_000_000, body);
        assert!(h.starts_with("t=1700000000,v1="));
        assert!(verify(b"key", &h, body, 1_700_000_100));
        assert!(!verify(b"key", &h, b"{}", 1_700_000_100));
        assert!(!verify(b"other", &h, body, 1_700_000_100));
        assert!(!verify(b"key", &h, body, 1_700_000_000 + 301));
        assert!(!verify(b"key", "t=1,v1=zz", body, 1));
    }

    #[test]
    fn events_are_sequenced_per_message_and_positioned_per_client() {
        let (_d, log) = log();
        let now = OffsetDateTime::now_utc();
        let a1 = log.append("c", EventType::Status, "m1", "SENT", now).unwrap();
        let b1 = log.append("c", EventType::Received, "m2", "RECEIVED", now).unwrap();
        let a2 = log.append("c", EventType::Status, "m1", "DELIVERED", now).unwrap();
        let other = log.append("d", EventType::Status, "m1", "SENT", now).unwrap();
        assert_eq!((a1.position, a1.event.sequence), (1, 1));
        assert_eq!((b1.position, b1.event.sequence), (2, 1));
        assert_eq!((a2.position, a2.event.sequence), (3, 2));
        assert_eq!((other.position, other.event.sequence), (1, 1));
        let json = serde_json::to_value(&a2.event).unwrap();
        assert_eq!(json["type"], "message.status");
        assert_eq!(json["messageId"], "m1");
        assert_eq!(json["sequence"], 2);
        assert_eq!(log.list("c", 1, 10).unwrap().iter().map(|r| r.position).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(log.last_status("c", "m1").unwrap().as_deref(), Some("DELIVERED"));
        assert_eq!(log.last_status("c", "m3").unwrap(), None);
    }

    #[test]
    fn a_message_waits_for_its_earlier_event_and_failures_back_off_then_die() {
        let (_d, log) = log();
        let now = OffsetDateTime::now_utc();
        log.append("c", EventType::Status, "m1", "SENT", now).unwrap();
        log.append("c", EventType::Status, "m1", "DELIVERED", now).unwrap();
        log.append("c", EventType::Received, "m2", "RECEIVED", now).unwrap();
        let due = log.due(now + time::Duration::seconds(1), 10, |_| true).unwrap();
        assert!(log.due(now + time::Duration::seconds(1), 10, |c| c != "c").unwrap().is_empty());
        assert_eq!(due.iter().map(|r| r.position).collect::<Vec<_>>(), vec![1, 3]);
        // m1's first fails: neither it nor its second event is due until the backoff passed.
        let first = log.failed(due[0].clone(), now, "503", &policy(), 0.0).unwrap();
        assert_eq!(first.delivery, Delivery::Pending);
        assert!(log.due(now + time::Duration::milliseconds(500), 10, |_| true).unwrap().iter().all(|r| r.event.message_id != "m1"));
        let later = log.due(now + time::Duration::seconds(2), 10, |_| true).unwrap();
        assert_eq!(later[0].position, 1);
        log.delivered(later[0].clone()).unwrap();
        assert_eq!(log.due(now + time::Duration::seconds(2), 10, |_| true).unwrap()[0].position, 2);
        // Past the expiry it is dead, kept, and replay brings it back.
        let second = log.list("c", 1, 1).unwrap().remove(0);
        let dead = log.failed(second, now + time::Duration::hours(2), "down", &policy(), 0.0).unwrap();
        assert_eq!(dead.delivery, Delivery::Dead);
        assert_eq!(log.list("c", 1, 1).unwrap()[0].delivery, Delivery::Dead);
        assert_eq!(log.tree.scan_prefix([b'q']).count(), 1, "only m2's event is still pending");
        assert_eq!(log.replay("c", 0).unwrap(), 3);
        assert_eq!(log.tree.scan_prefix([b'q']).count(), 3);
        assert!(log.list("c", 0, 10).unwrap().iter().all(|r| r.delivery == Delivery::Pending));
    }
}
