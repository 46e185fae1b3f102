//! The outbox worker: picks due entries and makes one send attempt each.
//!
//! An attempt looks the recipient up in SMP for the entry's document type
//! (never sending a type the recipient does not list), refuses an access
//! point whose certificate does not chain to the access point CA or is
//! revoked (DIGG TF-02/TF-03), builds the AS4 user message with the entry's
//! fixed AS4 MessageId, posts it over mutual TLS and verifies the signed
//! receipt. Every state change is stored before the next step and audited.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Semaphore;

use super::metrics::Counter;
use super::outbox::{DocumentType, OutboxEntry, OutboxState};
use super::runtime::{disk_wait, Shared};
use crate::as4::{self, Action, As4Limits, UserMessageParams};
use crate::audit::{Action as AuditAction, NewEntry, Outcome};
use crate::directory::{DirectoryError, DocumentTypeId};
use crate::pki::TrustPolicy;
use crate::spool::ReaderBody;

/// How often the worker looks for due entries when idle.
const POLL: Duration = Duration::from_millis(200);
/// Attempts in flight at once.
const CONCURRENT_ATTEMPTS: usize = 32;

/// Runs until `shutdown` flips to true; attempts in flight finish first.
pub async fn run(state: Shared, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let permits = std::sync::Arc::new(Semaphore::new(CONCURRENT_ATTEMPTS));
    let notify = state.outbox_notify.clone();
    loop {
        if *shutdown.borrow() {
            break;
        }
        expire_overdue(&state);
        let now = OffsetDateTime::now_utc();
        let due = match state.store.due(now, CONCURRENT_ATTEMPTS) {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "outbox scan failed");
                Vec::new()
            }
        };
        for entry in due {
            let Ok(permit) = permits.clone().acquire_owned().await else { break };
            let state = state.clone();
            tokio::spawn(async move {
                attempt(&state, entry).await;
                drop(permit);
            });
        }
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = notify.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
    let _ = permits.acquire_many(CONCURRENT_ATTEMPTS as u32).await;
}

/// Moves entries whose exchange time ran out to MESSAGE_EXCHANGE_ERROR.
fn expire_overdue(state: &Shared) {
    let now = OffsetDateTime::now_utc();
    let Ok(expired) = state.store.expired(now, 256) else { return };
    for mut entry in expired {
        if entry.expire(now).is_ok() && disk_wait(|| state.store.update(&mut entry)).is_ok() {
            state.metrics.bump(Counter::ExchangeErrors);
            audit(state, &entry, AuditAction::SendAttempt, Outcome::Error, "exchange expired: MESSAGE_EXCHANGE_ERROR");
        }
    }
}

fn audit(state: &Shared, entry: &OutboxEntry, action: AuditAction, outcome: Outcome, detail: &str) {
    let e = NewEntry::new(OffsetDateTime::now_utc(), "node", state.org_id(), action, outcome)
        .message_id(entry.id())
        .conversation_id(entry.conversation_id())
        .detail(detail);
    if let Err(err) = disk_wait(|| state.audit.append(e)) {
        tracing::error!(error = %err, "audit append failed");
    }
}

/// A failed attempt: whether trying again can help, and why.
struct Failure {
    retryable: bool,
    reason: String,
}

fn permanent(reason: impl Into<String>) -> Failure {
    Failure { retryable: false, reason: reason.into() }
}

fn transient(reason: impl Into<String>) -> Failure {
    Failure { retryable: true, reason: reason.into() }
}

/// One attempt for `entry`, its outcome stored and audited.
pub async fn attempt(state: &Shared, mut entry: OutboxEntry) {
    let now = OffsetDateTime::now_utc();
    if entry.on_attempt_started(now).is_err() || disk_wait(|| state.store.update(&mut entry)).is_err() {
        return; // someone else moved it (a receipt arrived, or another worker)
    }
    state.metrics.bump(Counter::SendAttempts);
    let result = send(state, &entry).await;
    let now = OffsetDateTime::now_utc();
    match result {
        Ok(()) => {
            if entry.on_transport_receipt(now).is_ok() {
                state.metrics.bump(Counter::TransportReceipts);
                audit(state, &entry, AuditAction::TransportReceipt, Outcome::Ok, entry.state().as_str());
            }
        }
        Err(failure) => {
            state.metrics.bump(Counter::SendFailures);
            tracing::warn!(message = entry.id(), reason = %failure.reason, retryable = failure.retryable, "send attempt failed");
            let _ = entry.on_transport_failure(now, failure.retryable, &failure.reason, &state.retry, jitter_sample());
            if entry.state() == OutboxState::MessageExchangeError {
                state.metrics.bump(Counter::ExchangeErrors);
            }
            audit(state, &entry, AuditAction::SendAttempt, Outcome::Error, &failure.reason);
        }
    }
    if let Err(e) = disk_wait(|| state.store.update(&mut entry)) {
        // A receipt may have moved it meanwhile; the stored state wins.
        tracing::info!(message = entry.id(), error = %e, "outbox entry changed during the attempt");
    }
}

async fn send(state: &Shared, entry: &OutboxEntry) -> Result<(), Failure> {
    let (document_type, action) = match entry.document_type() {
        DocumentType::Message => (DocumentTypeId::sdk_message_v3(), Action::Message),
        DocumentType::Receipt => (DocumentTypeId::sdk_receipt(), Action::Receipt),
    };
    let metadata = state.lookup(entry.recipient_org_id(), &document_type).await.map_err(|e| match e {
        DirectoryError::NotFound { .. } => permanent(format!("recipient does not list this document type in SMP: {e}")),
        DirectoryError::Unreachable(_) => transient(format!("SMP unreachable: {e}")),
        other => permanent(format!("SMP lookup refused: {other}")),
    })?;
    let ap_certificate = &metadata.endpoint.access_point_certificate;
    // TF-02, TF-03: the receiving access point must belong to our federation
    // and not be revoked before anything is sent to it.
    let trusted_ap = state
        .config
        .trust
        .access_points
        .check(ap_certificate, &[], rustls_pki_types::UnixTime::now())
        .map_err(|e| permanent(format!("receiving access point certificate refused: {e}")))?;

    let payload = match state.store.load_payload(entry.id()) {
        Ok(Some(p)) => p,
        Ok(None) => return Err(permanent("sealed payload missing from the store")),
        Err(e) => return Err(transient(format!("store: {e}"))),
    };
    let params = UserMessageParams {
        message_id: Some(entry.as4_message_id().to_owned()),
        action,
        conversation_id: entry.conversation_id(),
        original_sender: state.org_id(),
        final_recipient: entry.recipient_org_id(),
    };
    let xhe = payload.blob().clone();
    drop(payload);
    let ap = &state.config.keys.access_point;
    let now = OffsetDateTime::now_utc();
    let request = as4::build_user_message(&params, &xhe, &state.spool, ap.key(), ap.certificate(), &trusted_ap, now)
        .map_err(|e| match e {
            as4::As4Error::Local(as4::error::LocalError::Storage(_)) => {
                transient(format!("cannot build the AS4 message: {e}"))
            }
            _ => permanent(format!("cannot build the AS4 message: {e}")),
        })?;
    drop(xhe);

    // A message held in memory goes as it is; a large one is streamed from
    // the spool (a blocking reader feeding the connection), with
    // Content-Length either way.
    let body = if request.body.pieces().iter().all(|p| p.as_memory().is_some()) {
        reqwest::Body::from(request.body.to_vec(u64::MAX).map_err(|e| transient(format!("spool: {e}")))?)
    } else {
        reqwest::Body::wrap(ReaderBody::new(request.body.reader(), request.body.len()))
    };
    let response = state
        .as4_http
        .post(&metadata.endpoint.url)
        .header(reqwest::header::CONTENT_TYPE, &request.content_type)
        .header(reqwest::header::CONTENT_LENGTH, request.body.len())
        .body(body)
        .send()
        .await
        .map_err(|e| transient(format!("cannot reach the receiving access point: {e}")))?;
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let status = response.status();
    let body = response.bytes().await.map_err(|e| transient(format!("response cut off: {e}")))?.to_vec();
    let limits = As4Limits::default();
    let receipt_trust = TrustPolicy::Pinned(ap_certificate.clone());
    match as4::parse_and_verify_receipt(&content_type, body.clone(), &request.sent, &receipt_trust, now, &limits) {
        Ok(_) => Ok(()),
        Err(receipt_error) => {
            let errors = as4::unverified_errors(&content_type, body, &limits);
            if errors.iter().any(|e| e.detail.as_deref() == Some(as4::NOT_SERVICED)) {
                return Err(permanent("receiving access point answered EBMS:0004 NOT_SERVICED"));
            }
            let codes: Vec<String> = errors.iter().map(|e| e.code.clone()).collect();
            Err(transient(format!("no valid receipt (HTTP {status}; {receipt_error}; errors {codes:?})")))
        }
    }
}

/// A uniform value in [0, 1) for retry jitter.
pub fn jitter_sample() -> f64 {
    let mut bytes = [0u8; 8];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}
