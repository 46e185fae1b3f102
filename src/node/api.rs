//! The node's local HTTP API for the organisation's own systems and
//! operators: submit a message, follow it, read the inbox, and the
//! operations endpoints (`/healthz`, `/readyz`, `/metrics`).
//!
//! It listens on loopback by default. DIGG's case-system API (with OAuth2
//! scopes per client) builds on the same node state; this API is the
//! minimum the node itself needs.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::sdk::Validation;
use crate::spool::{spool_http_body, Blob, BodyError, ReaderBody};
use serde_json::json;
use time::OffsetDateTime;

use super::runtime::{disk_wait, Shared, SubmitError};
use crate::audit::{Action, NewEntry, Outcome};

/// The routes, over the node's shared state.
pub fn router(state: Shared) -> Router {
    // No body limit layer: the one body taken (submit) is spooled under
    // the SDK message limit, streaming.
    Router::new()
        .route("/local/v1/messages", post(submit))
        .route("/local/v1/messages/{id}", get(outbox_status))
        .route("/local/v1/inbox/{address}", get(inbox_list))
        .route("/local/v1/inbox/{address}/{id}", get(inbox_read))
        .route("/metrics", get(metrics))
        // These take no token: only this machine may call them, even when
        // the listener (for DIGG's API) is reachable from elsewhere.
        .route_layer(axum::middleware::from_fn(loopback_only))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(state)
}

/// Refuses a request whose peer is not on a loopback address, or unknown.
async fn loopback_only(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let peer = request
        .extensions()
        .get::<crate::transport::server::PeerAddr>()
        .map(|p| p.0)
        .or_else(|| request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0));
    match peer {
        Some(addr) if addr.ip().is_loopback() => next.run(request).await,
        _ => problem(
            StatusCode::FORBIDDEN,
            "Loopback only",
            "the local endpoints answer this machine only; other systems use the OAuth2-protected API".into(),
            json!({}),
        ),
    }
}

/// An RFC 7807 problem response.
fn problem(status: StatusCode, title: &str, detail: String, extra: serde_json::Value) -> Response {
    let mut body = json!({ "type": "about:blank", "title": title, "status": status.as_u16(), "detail": detail });
    if let (Some(obj), serde_json::Value::Object(more)) = (body.as_object_mut(), extra) {
        obj.extend(more);
    }
    (status, [(header::CONTENT_TYPE, "application/problem+json")], body.to_string()).into_response()
}

/// 400 with every problem SDK's rules found.
fn invalid(validation: &Validation) -> Response {
    let issues: Vec<_> = validation
        .problems
        .iter()
        .map(|p| json!({ "reason": p.reason.as_str(), "detail": p.detail.as_str(), "path": p.path, "text": p.text }))
        .collect();
    problem(StatusCode::BAD_REQUEST, "Invalid SDK message", "the message breaks SDK's rules".into(), json!({ "issues": issues }))
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "local API failure");
    problem(StatusCode::INTERNAL_SERVER_ERROR, "Internal error", "the node could not complete the request".into(), json!({}))
}

async fn submit(State(state): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    // Streamed to the spool: a large message is never whole in memory.
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let limit = state.config.limits.max_sdk_message_bytes as u64;
    let message = match spool_http_body(&state.spool, declared, body, limit).await {
        Ok(blob) => blob,
        Err(BodyError::TooLarge { .. }) => {
            let problem = crate::sdk::Problem::bv(crate::sdk::DetailCode::TooLong, "NA", crate::sdk::message_rules::TOO_LARGE_TEXT);
            return invalid(&Validation { problems: vec![problem] });
        }
        Err(BodyError::Read(e)) => return problem(StatusCode::BAD_REQUEST, "Unreadable body", e, json!({})),
        Err(BodyError::Storage(e)) => return internal(e),
    };
    match state.submit("local-api", message).await {
        Ok(entry) => (
            StatusCode::ACCEPTED,
            Json(json!({ "messageId": entry.id(), "status": entry.state().as_str(), "as4MessageId": entry.as4_message_id() })),
        )
            .into_response(),
        Err(SubmitError::Invalid(validation)) => invalid(&validation),
        // Idempotent for a client that resends after a lost answer: 409 with
        // the stored entry's status, never a second message.
        Err(SubmitError::AlreadySubmitted(entry)) => problem(
            StatusCode::CONFLICT,
            "Already submitted",
            format!("message {} was submitted before and is {}", entry.id(), entry.state().as_str()),
            json!({ "messageId": entry.id(), "status": entry.state().as_str(), "as4MessageId": entry.as4_message_id() }),
        ),
        Err(SubmitError::NotOurAddress(a)) => {
            problem(StatusCode::FORBIDDEN, "Not our functional address", format!("{a} is not served by this node"), json!({}))
        }
        Err(e @ (SubmitError::Directory(_) | SubmitError::NoEncryptionCertificate(_))) => {
            problem(StatusCode::BAD_GATEWAY, "Recipient lookup failed", e.to_string(), json!({}))
        }
        Err(e) => internal(e),
    }
}

async fn outbox_status(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    match state.store.outbox_entry(&id) {
        Ok(Some(entry)) => Json(entry).into_response(),
        Ok(None) => problem(StatusCode::NOT_FOUND, "Unknown message", format!("no outgoing message {id}"), json!({})),
        Err(e) => internal(e),
    }
}

async fn inbox_list(State(state): State<Shared>, Path(address): Path<String>) -> Response {
    if !state.config.serves_functional_address(&address) {
        return problem(StatusCode::NOT_FOUND, "Unknown functional address", address, json!({}));
    }
    match state.store.inbox(&address, &Default::default()) {
        Ok(entries) => Json(entries).into_response(),
        Err(e) => internal(e),
    }
}

async fn inbox_read(State(state): State<Shared>, Path((address, id)): Path<(String, String)>) -> Response {
    let payload = match state.store.load_inbound_payload(&address, &id) {
        Ok(Some(p)) => p,
        Ok(None) => return problem(StatusCode::NOT_FOUND, "Unknown message", format!("no message {id} in {address}"), json!({})),
        Err(e) => return internal(e),
    };
    let now = OffsetDateTime::now_utc();
    let entry = match disk_wait(|| state.store.mark_retrieved(&address, &id, now)) {
        Ok(entry) => entry,
        Err(e) => return internal(e),
    };
    let mut audit = NewEntry::new(now, "local-api", state.org_id(), Action::Read, Outcome::Ok)
        .functional_address(&address)
        .message_id(&id)
        .conversation_id(entry.conversation_id());
    if let Some(person) = state.conversations.person_of(&id) {
        audit = audit.person(person);
    }
    if let Err(e) = disk_wait(|| state.audit.append(audit)) {
        // Reading without an audit trail is not allowed (patient data law).
        return internal(e);
    }
    match blob_body(payload.blob()) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/xml")], body).into_response(),
        Err(e) => internal(e),
    }
}

/// A response body for a stored blob: a file is streamed, not loaded.
fn blob_body(blob: &Blob) -> std::io::Result<Body> {
    if let Some(bytes) = blob.as_memory() {
        return Ok(Body::from(bytes.to_vec()));
    }
    Ok(Body::new(ReaderBody::new(blob.reader()?, blob.len())))
}

async fn ready(State(state): State<Shared>) -> Response {
    match state.store.due(OffsetDateTime::now_utc(), 1) {
        Ok(_) => "ready\n".into_response(),
        Err(e) => problem(StatusCode::SERVICE_UNAVAILABLE, "Not ready", e.to_string(), json!({})),
    }
}

async fn metrics(State(state): State<Shared>) -> Response {
    let counts = state.store.count_by_state();
    let mut gauges: Vec<(String, &str, u64)> = Vec::new();
    for (s, n) in &counts.outbox {
        gauges.push((format!("brygga_outbox_messages{{state=\"{}\"}}", s.as_str()), "Outgoing messages per state.", *n));
    }
    for (s, n) in &counts.inbox {
        gauges.push((format!("brygga_inbox_messages{{state=\"{}\"}}", s.as_str()), "Incoming messages per state.", *n));
    }
    gauges.push(("brygga_store_corrupt_records".to_owned(), "Records found undecodable at start.", counts.corrupt_records));
    let refs: Vec<(&str, &str, u64)> = gauges.iter().map(|(n, h, v)| (n.as_str(), *h, *v)).collect();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(&refs)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::ConnectInfo;
    use std::net::SocketAddr;
    use tower_service::Service;

    async fn status_from(peer: Option<&str>) -> StatusCode {
        let mut router: Router = Router::new()
            .route("/local/v1/x", get(|| async { "ok" }))
            .route_layer(axum::middleware::from_fn(loopback_only));
        let mut request = axum::http::Request::builder().uri("/local/v1/x").body(Body::empty()).unwrap();
        if let Some(peer) = peer {
            request.extensions_mut().insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        }
        router.call(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn local_endpoints_answer_loopback_peers_only() {
        assert_eq!(status_from(Some("127.0.0.1:5000")).await, StatusCode::OK);
        assert_eq!(status_from(Some("[::1]:5000")).await, StatusCode::OK);
        assert_eq!(status_from(Some("10.1.2.3:5000")).await, StatusCode::FORBIDDEN);
        // Unknown peer: refused, not assumed local.
        assert_eq!(status_from(None).await, StatusCode::FORBIDDEN);
    }
}
