//! DIGG's message API: the four operations of `sdk-api-restful.yml` under
//! `/v1`, over the node's outbox and inbox.
//!
//! ## Status (`messageStatus`) from the node's states
//!
//! Outgoing (the outbox entry of a message created through the API):
//!
//! | outbox | API |
//! |---|---|
//! | SCHEDULED, SUBMITTED, SCHEDULED_FOR_RESEND, WAITING_FOR_RECEIPT, ACCEPTED, REJECTED, MESSAGE_EXCHANGE_ERROR | the same |
//!
//! ACKNOWLEDGE ("transport receipt received") is the instant the node
//! moves from SUBMITTED to WAITING_FOR_RECEIPT: a message is never *in*
//! it, so it appears in `events` (between SUBMITTED and
//! WAITING_FOR_RECEIPT), not as a status. (The node's outbox uses
//! ACKNOWLEDGE as the final state of the receipts it sends.)
//!
//! Incoming (an inbox entry, with the outbox entry of our receipt for it):
//!
//! | inbox | our receipt | API |
//! |---|---|---|
//! | NEW or RETRIEVED (stored, receipt not yet queued) | — | RETRIEVED |
//! | RECEIPT_SENT | being delivered | RECEIPT_SENT |
//! | RECEIPT_SENT | ACKNOWLEDGE (its transport receipt came) | NEW |
//! | RECEIPT_SENT | MESSAGE_EXCHANGE_ERROR | MESSAGE_EXCHANGE_ERROR |
//! | ERROR | | ERROR |
//!
//! That is B1.4.2's incoming flow: RETRIEVED (received, validated, will be
//! receipted), RECEIPT_SENT (receipted), NEW (final: ready for the client).
//! Reading a message does not change its API status (the node notes the
//! first read for itself).

use std::io::Write as _;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::auth::Principal;
use super::idempotency::{self, Begin, StoredAnswer};
use super::json::{self, DocumentParts};
use super::problem::{ApiProblem, Issue};
use super::records::{SentRecord, Tombstone};
use super::scope::Scope;
use super::token::form_urlencoded_pairs;
use super::uploads::Claim;
use super::Api;
use crate::audit::{Action, NewEntry, Outcome};
use crate::directory::DirectoryError;
use crate::node::outbox::{InboxEntry, InboxState, OutboxEntry, OutboxState};
use crate::node::runtime::SubmitError;
use crate::node::store::StoreError;
use crate::sdk::message::{MessageHeader, SdkMessage};
use crate::spool::{Blob, TooLarge};

/// `meta.version` (the schema's `versionDef` enum).
pub const VERSION: &str = "sdk api 1.0.0";
/// Where the resources are.
pub const BASE: &str = "/v1/sdk/messages";
/// Default and largest page.
const PAGE_SIZE_DEFAULT: usize = 100;
const PAGE_SIZE_MAX: usize = 1000;

/// Every status of the schema's `messageStatusDef`.
pub const STATUSES: [&str; 12] = [
    "SCHEDULED",
    "SUBMITTED",
    "SCHEDULED_FOR_RESEND",
    "ACKNOWLEDGE",
    "WAITING_FOR_RECEIPT",
    "MESSAGE_EXCHANGE_ERROR",
    "ACCEPTED",
    "REJECTED",
    "RETRIEVED",
    "RECEIPT_SENT",
    "NEW",
    "ERROR",
];

// ---------------------------------------------------------------------------
// Status and events
// ---------------------------------------------------------------------------

/// The API status of an outgoing message.
pub fn outbound_status(entry: &OutboxEntry) -> &'static str {
    entry.state().as_str()
}

/// The API status of an incoming message, given the outbox entry of our
/// receipt for it.
pub fn inbound_status(entry: &InboxEntry, receipt: Option<&OutboxEntry>) -> &'static str {
    match entry.state() {
        InboxState::New | InboxState::Retrieved => "RETRIEVED",
        InboxState::Error => "ERROR",
        InboxState::ReceiptSent => match receipt.map(OutboxEntry::state) {
            Some(OutboxState::Acknowledge) => "NEW",
            Some(OutboxState::MessageExchangeError) => "MESSAGE_EXCHANGE_ERROR",
            _ => "RECEIPT_SENT",
        },
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn event(type_code: &str, title: &str, detail: Option<&str>, at: Option<OffsetDateTime>) -> Value {
    let mut e = json!({ "typeCode": type_code, "title": title });
    if let Some(d) = detail {
        e["detail"] = json!(d);
    }
    if let Some(t) = at {
        e["dateTime"] = json!(rfc3339(t));
    }
    e
}

fn events_object(message_id: &str, status: &str, issues: Vec<Value>) -> Value {
    json!({
        "type": "urn:event-type:sdk:message",
        "title": status,
        "detail": status,
        "instance": format!("urn:uuid:{message_id}"),
        "eventIssues": issues,
    })
}

/// What happened to an outgoing message, latest first (B1.4.2: "ORDER BY
/// dateTime DESC"). The outbox keeps the latest times only, so earlier
/// steps may lack `dateTime`.
pub fn outbound_events(entry: &OutboxEntry) -> Value {
    let state = entry.state();
    let mut issues = Vec::new();
    let delivered = matches!(state, OutboxState::WaitingForReceipt | OutboxState::Accepted | OutboxState::Rejected);
    match state {
        OutboxState::Accepted | OutboxState::Rejected => {
            let receipt = entry.receipt();
            let at = receipt.map(|r| r.received_at);
            if state == OutboxState::Rejected {
                for line in receipt.map(|r| r.lines.as_slice()).unwrap_or(&[]) {
                    let mut e = event(&line.reason_code, line.detail_code.as_deref().unwrap_or("NA"), Some(&line.text), at);
                    e["in"] = json!(line.line_id);
                    issues.push(e);
                }
                issues.insert(0, event("REJECTED", "Message REJECTED by receiver", None, at));
            } else {
                issues.push(event("ACCEPTED", "Message accepted by receiver", None, at));
            }
        }
        OutboxState::MessageExchangeError => {
            issues.push(event("MESSAGE_EXCHANGE_ERROR", "Message not delivered", entry.last_error(), Some(entry.updated_at())));
        }
        OutboxState::ScheduledForResend => {
            let detail = format!("next attempt at {}; {}", rfc3339(entry.next_attempt_at()), entry.last_error().unwrap_or(""));
            issues.push(event("SCHEDULED_FOR_RESEND", "Delivery to the recipient's access point failed", Some(&detail), Some(entry.updated_at())));
        }
        _ => {}
    }
    if delivered {
        let at = (state == OutboxState::WaitingForReceipt).then(|| entry.updated_at());
        issues.push(event("WAITING_FOR_RECEIPT", "Waiting for receipt from remote party", None, at));
        issues.push(event("ACKNOWLEDGE", "Transport receipt received from the recipient's access point", None, at));
    }
    if entry.attempts() > 0 {
        let detail = format!("attempt {}", entry.attempts());
        issues.push(event("SUBMITTED", "Message sent to the recipient's access point", Some(&detail), entry.last_attempt_at()));
    }
    issues.push(event("SCHEDULED", "Message scheduled for sending to local Access Point", None, Some(entry.created_at())));
    events_object(entry.id(), outbound_status(entry), issues)
}

/// What happened to an incoming message, latest first.
pub fn inbound_events(entry: &InboxEntry, receipt: Option<&OutboxEntry>) -> Value {
    let status = inbound_status(entry, receipt);
    let mut issues = Vec::new();
    match status {
        "ERROR" => issues.push(event("ERROR", "Processing the message failed", entry.error(), Some(entry.updated_at()))),
        "MESSAGE_EXCHANGE_ERROR" => issues.push(event(
            "MESSAGE_EXCHANGE_ERROR",
            "The message receipt could not be delivered",
            receipt.and_then(OutboxEntry::last_error),
            receipt.map(OutboxEntry::updated_at),
        )),
        "NEW" => issues.push(event("NEW", "Message receipted and ready", None, receipt.map(OutboxEntry::updated_at))),
        _ => {}
    }
    if entry.state() == InboxState::ReceiptSent {
        let detail = entry.receipt_id().map(|r| format!("receipt {r}"));
        issues.push(event("RECEIPT_SENT", "Message receipt sent", detail.as_deref(), receipt.map(OutboxEntry::created_at)));
    }
    issues.push(event("RETRIEVED", "Message received and validated", None, Some(entry.received_at())));
    events_object(entry.message_id(), status, issues)
}

fn item(id: &str, mut attributes: Map<String, Value>, status: &str, events: Value) -> Value {
    attributes.insert("messageStatus".into(), json!(status));
    attributes.insert("events".into(), events);
    json!({ "type": "messages", "id": id, "attributes": attributes })
}

fn single(self_link: &str, data: Value) -> Value {
    json!({ "meta": { "version": VERSION }, "links": { "self": self_link }, "data": data })
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

pub(super) fn internal(headers: &HeaderMap, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "message API failure");
    ApiProblem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the node could not complete the request").respond(headers)
}

/// Runs blocking work (store, XML, audit fsync) off the async threads.
pub(super) async fn blocking(headers: &HeaderMap, f: impl FnOnce() -> Response + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => internal(headers, e),
    }
}

// ---------------------------------------------------------------------------
// Finding messages
// ---------------------------------------------------------------------------

/// A message the client may see.
enum Found {
    Outbound { record: SentRecord, entry: OutboxEntry },
    Inbound { entry: InboxEntry, receipt: Option<OutboxEntry> },
}

impl Found {
    fn status(&self) -> &'static str {
        match self {
            Found::Outbound { entry, .. } => outbound_status(entry),
            Found::Inbound { entry, receipt } => inbound_status(entry, receipt.as_ref()),
        }
    }

    fn events(&self) -> Value {
        match self {
            Found::Outbound { entry, .. } => outbound_events(entry),
            Found::Inbound { entry, receipt } => inbound_events(entry, receipt.as_ref()),
        }
    }

    /// `data.id`.
    fn resource_id<'a>(&'a self, message_id: &'a str) -> &'a str {
        match self {
            Found::Outbound { record, .. } => record.resource_id.as_deref().unwrap_or(message_id),
            Found::Inbound { .. } => message_id,
        }
    }

    fn functional_address(&self) -> &str {
        match self {
            Found::Outbound { record, .. } => &record.sender_functional_address,
            Found::Inbound { entry, .. } => entry.functional_address(),
        }
    }
}

pub(super) fn receipt_of(api: &Api, entry: &InboxEntry) -> Result<Option<OutboxEntry>, StoreError> {
    match entry.receipt_id() {
        Some(id) => api.node.store.outbox_entry(id),
        None => Ok(None),
    }
}

/// The message `id` among those `principal` may see.
fn find(api: &Api, principal: &Principal, id: &str) -> Result<Option<Found>, StoreError> {
    if api.records.is_deleted(id)? {
        return Ok(None);
    }
    for address in &principal.functional_addresses {
        if let Some(entry) = api.node.store.inbox_entry(address, id)? {
            let receipt = receipt_of(api, &entry)?;
            return Ok(Some(Found::Inbound { entry, receipt }));
        }
    }
    if let Some(record) = api.records.sent(id)? {
        if principal.may_use(&record.sender_functional_address) {
            if let Some(entry) = api.node.store.outbox_entry(id)? {
                return Ok(Some(Found::Outbound { record, entry }));
            }
        }
    }
    Ok(None)
}

/// Whether `id` is a message of this node the client may not see.
fn held_for_others(api: &Api, id: &str) -> bool {
    if api.records.is_deleted(id).unwrap_or(true) {
        return false;
    }
    let inbound = api.node.config.organisation.functional_addresses.iter().any(|a| matches!(api.node.store.inbox_entry(&a.id, id), Ok(Some(_))));
    inbound || matches!(api.records.sent(id), Ok(Some(_)))
}

/// Largest stored message read back into memory.
fn max_read(api: &Api) -> u64 {
    api.node.config.limits.max_sdk_message_bytes as u64 + 1024 * 1024
}

/// The header of an incoming message as JSON: cached, or read from its
/// stored XML (without decoding attachments). `None` once deleted.
fn inbound_header(api: &Api, entry: &InboxEntry) -> Result<Option<Value>, String> {
    if let Some(h) = api.records.inbound_header(entry.message_id()).map_err(|e| e.to_string())? {
        return Ok(Some(h));
    }
    let Some(payload) = api.node.store.load_inbound_payload(entry.functional_address(), entry.message_id()).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let bytes = payload.to_vec(max_read(api)).map_err(|e| e.to_string())?;
    let doc = crate::xml::parse(&bytes, &api.node.config.limits.xml_limits()).map_err(|e| e.to_string())?;
    let header = MessageHeader::read(&doc, crate::xml::NodeId::DOCUMENT).map_err(|p| p.text)?;
    let header = json::header_json(&header);
    let _ = api.records.put_inbound_header(entry.message_id(), &header);
    Ok(Some(header))
}

/// The whole message.
fn load_message(api: &Api, found: &Found) -> Result<Option<SdkMessage>, String> {
    let bytes = match found {
        Found::Outbound { entry, .. } => match api.records.sent_xml(entry.id()).map_err(|e| e.to_string())? {
            Some(blob) => Some(blob.to_vec(max_read(api)).map_err(|e| e.to_string())?),
            None => None,
        },
        Found::Inbound { entry, .. } => match api.node.store.load_inbound_payload(entry.functional_address(), entry.message_id()) {
            Ok(Some(p)) => Some(p.to_vec(max_read(api)).map_err(|e| e.to_string())?),
            Ok(None) => None,
            Err(e) => return Err(e.to_string()),
        },
    };
    let Some(bytes) = bytes else { return Ok(None) };
    SdkMessage::from_xml(&bytes, &api.node.config.limits.xml_limits())
        .map(Some)
        .map_err(|v| v.problems.first().map(|p| p.text.clone()).unwrap_or_default())
}

// ---------------------------------------------------------------------------
// Query parameters
// ---------------------------------------------------------------------------

type Pairs = Vec<(String, String)>;

/// `filter[attribute]=value` pairs (the attribute as written), and the
/// other parameters.
///
/// DIGG's document declares `filter` as a list of strings and gives
/// `?filter[recipientAttention.subOrganization.extension]=…` as its
/// example value, so a bare `filter` value is read as such an expression
/// (`filter[a]=v`, with or without the `?`, or `a=v`), several joined by
/// `&`; an empty one is nothing, and anything else is a 400.
fn query_params(raw: Option<&str>) -> (Pairs, Pairs, Vec<Issue>) {
    let mut filters = Vec::new();
    let mut others = Vec::new();
    let mut issues = Vec::new();
    let attribute = |k: &str| k.strip_prefix("filter[").and_then(|r| r.strip_suffix(']')).map(str::to_owned);
    for (k, v) in form_urlencoded_pairs(raw.unwrap_or("").as_bytes()) {
        if let Some(attr) = attribute(&k) {
            filters.push((attr, v));
        } else if k == "filter" {
            let expression = v.trim().trim_start_matches('?');
            if expression.is_empty() {
                continue;
            }
            for (ek, ev) in form_urlencoded_pairs(expression.as_bytes()) {
                if !expression.contains('=') || ek.is_empty() {
                    issues.push(Issue::at(
                        "query:filter",
                        "Invalid filter",
                        "filters are written filter[attribute]=value, e.g. filter[messageStatus]=NEW (B1.4.2)",
                    ));
                    break;
                }
                filters.push((attribute(&ek).unwrap_or(ek), ev));
            }
        } else {
            others.push((k, v));
        }
    }
    (filters, others, issues)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// The filters of B1.4.2, read.
#[derive(Debug)]
struct Filter {
    statuses: Vec<String>,
    recipient_address: Option<String>,
    sender_address: Option<String>,
    start: Option<OffsetDateTime>,
    stop: Option<OffsetDateTime>,
    page: usize,
    size: usize,
    /// GET by id: what of the documents to include.
    parts: DocumentParts,
}

/// Reads the query. The list filters apply to both operations (on GET by
/// id, a message that does not match is not found); the document parts
/// (`contentBodyText`, `contentFiles`, `digitalDocument`: true or false)
/// only to GET by id.
fn read_filter(raw: Option<&str>, by_id: bool) -> Result<Filter, Vec<Issue>> {
    let (filters, others, mut issues) = query_params(raw);
    let mut f = Filter {
        statuses: Vec::new(),
        recipient_address: None,
        sender_address: None,
        start: None,
        stop: None,
        page: 1,
        size: PAGE_SIZE_DEFAULT,
        parts: DocumentParts { texts: true, files: true },
    };
    let number = |at: &str, v: &str, issues: &mut Vec<Issue>, max: usize| -> Option<usize> {
        match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Some(n),
            _ => {
                issues.push(Issue::at(at, "Invalid value", format!("must be a whole number from 1 to {max}")));
                None
            }
        }
    };
    let time = |at: &str, v: &str, issues: &mut Vec<Issue>| -> Option<OffsetDateTime> {
        match OffsetDateTime::parse(v, &Rfc3339) {
            Ok(t) => Some(t),
            Err(_) => {
                issues.push(Issue::at(at, "Invalid value", "must be an ISO 8601 / RFC 3339 date-time in UTC, e.g. 2026-11-25T10:00:00Z"));
                None
            }
        }
    };
    let part = |at: &str, v: &str, issues: &mut Vec<Issue>| -> Option<bool> {
        let b = parse_bool(v);
        if b.is_none() {
            issues.push(Issue::at(at, "Invalid value", "must be true or false"));
        }
        b
    };
    for (attr, v) in &filters {
        let at = format!("query:filter[{attr}]");
        match attr.to_ascii_lowercase().as_str() {
            "messagestatus" | "status" => {
                for s in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if STATUSES.contains(&s) {
                        f.statuses.push(s.to_owned());
                    } else {
                        issues.push(Issue::at(&at, "Invalid value", format!("{s:?} is not a messageStatus")));
                    }
                }
            }
            "recipientattention.suborganization.extension" | "handlingserviceid" => f.recipient_address = Some(v.clone()),
            "senderattention.suborganization.extension" => f.sender_address = Some(v.clone()),
            "creationdatetimestart" => f.start = time(&at, v, &mut issues),
            "creationdatetimestop" => f.stop = time(&at, v, &mut issues),
            "pagenumber" => f.page = number(&at, v, &mut issues, usize::MAX).unwrap_or(1),
            "size" => f.size = number(&at, v, &mut issues, PAGE_SIZE_MAX).unwrap_or(PAGE_SIZE_DEFAULT),
            "contentbodytext" if by_id => f.parts.texts = part(&at, v, &mut issues).unwrap_or(true),
            "contentfiles" if by_id => f.parts.files = part(&at, v, &mut issues).unwrap_or(true),
            "digitaldocument" if by_id => {
                let include = part(&at, v, &mut issues).unwrap_or(true);
                f.parts = DocumentParts { texts: include, files: include };
            }
            _ => issues.push(Issue::at(&at, "Unknown filter", "not a filter of this operation (see docs/api.md)")),
        }
    }
    for (k, v) in &others {
        match k.as_str() {
            "page[number]" => f.page = number(&format!("query:{k}"), v, &mut issues, usize::MAX).unwrap_or(1),
            "page[size]" => f.size = number(&format!("query:{k}"), v, &mut issues, PAGE_SIZE_MAX).unwrap_or(PAGE_SIZE_DEFAULT),
            // Paging has exactly these two members.
            other if other.starts_with("page[") || other == "page" => {
                issues.push(Issue::at("query:page", "Unknown paging parameter", "paging is page[number] and page[size]"))
            }
            _ => {}
        }
    }
    if issues.is_empty() {
        Ok(f)
    } else {
        Err(issues)
    }
}

impl Filter {
    /// A functional address of this node named in the filter that the
    /// client does not act for.
    fn forbidden_address<'a>(&'a self, api: &Api, principal: &Principal) -> Option<&'a str> {
        [&self.recipient_address, &self.sender_address]
            .into_iter()
            .flatten()
            .find(|a| api.node.config.serves_functional_address(a) && !principal.may_use(a))
            .map(String::as_str)
    }

    /// Whether a message (`item` JSON, created at `at`) passes.
    fn matches(&self, at: OffsetDateTime, item: &Value) -> bool {
        let a = &item["attributes"];
        (self.statuses.is_empty() || self.statuses.iter().any(|s| a["messageStatus"] == *s))
            && self.recipient_address.as_ref().is_none_or(|r| json::attention_address(a, "recipientAttention").as_ref() == Some(r))
            && self.sender_address.as_ref().is_none_or(|s| json::attention_address(a, "senderAttention").as_ref() == Some(s))
            && self.start.is_none_or(|s| at >= s)
            && self.stop.is_none_or(|s| at <= s)
    }
}

// ---------------------------------------------------------------------------
// POST /sdk/messages
// ---------------------------------------------------------------------------

pub async fn create(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    let principal = match api.authorize(&headers, Scope::SendMessage, "sendMessage").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(r) = require_json(&headers) {
        return r;
    }
    let idempotency_key = match idempotency_key(&headers) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let h = headers.clone();
    blocking(&headers, move || create_blocking(&api, &h, &principal, &body, idempotency_key)).await
}

fn create_blocking(api: &Api, headers: &HeaderMap, principal: &Principal, body: &[u8], key: Option<String>) -> Response {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return ApiProblem::bad_request(vec![Issue::at("", "Not JSON", format!("the body is not JSON: {e}"))]).respond(headers),
    };
    idempotent(api, headers, principal, &value, key, |message_id, resuming, now| {
        create_message(api, headers, principal, &value, message_id, resuming, now)
    })
}

/// Runs `create` (given the message id to use, whether an earlier request
/// with the same `Idempotency-Key` got as far as choosing it, and the
/// time) at most once per key and body: a repeated request gets the first
/// answer again, another body under the same key 422, a concurrent one 409.
/// Runs on a blocking thread.
pub(super) fn idempotent<'a>(
    api: &'a Api,
    headers: &HeaderMap,
    principal: &Principal,
    body: &Value,
    key: Option<String>,
    create: impl FnOnce(&str, bool, OffsetDateTime) -> Result<(StoredAnswer, Option<Claim<'a>>), Response>,
) -> Response {
    let now = OffsetDateTime::now_utc();
    let fresh_id = uuid::Uuid::new_v4().to_string();
    // Idempotency first: a replay must not depend on anything that changed
    // since (and a resumed request must reuse its message id).
    let hash = idempotency::body_hash(body);
    let (message_id, resuming) = match &key {
        None => (fresh_id, false),
        Some(k) => match api.idempotency.begin(&principal.client_id, k, &hash, &fresh_id, now) {
            Err(e) => return internal(headers, e),
            Ok(Begin::New { message_id }) => (message_id, false),
            Ok(Begin::Resume { message_id }) => (message_id, true),
            Ok(Begin::Replay(answer)) => return replay(answer),
            Ok(Begin::Mismatch) => {
                return ApiProblem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotencyKeyReused",
                    "this Idempotency-Key was used with another request body",
                )
                .respond(headers)
            }
            Ok(Begin::InProgress) => {
                return ApiProblem::new(StatusCode::CONFLICT, "idempotencyKeyInProgress", "a request with this Idempotency-Key is being handled")
                    .respond(headers)
            }
        },
    };
    let outcome = create(&message_id, resuming, now);
    if let Some(k) = &key {
        match &outcome {
            Ok((answer, _)) => {
                if let Err(e) = api.idempotency.complete(&principal.client_id, k, answer.clone()) {
                    tracing::error!(error = %e, "idempotency answer not stored");
                }
            }
            Err(_) => api.idempotency.abandon(&principal.client_id, k),
        }
    }
    match outcome {
        Ok((answer, claim)) => {
            // Used: the uploads go once the answer is kept (a replay does
            // not need them).
            if let Some(claim) = claim {
                for id in claim.ids() {
                    if let Err(e) = api.uploads.remove(id) {
                        tracing::warn!(error = %e, "a used attachment upload was not removed; it expires");
                    }
                }
            }
            replay(answer)
        }
        Err(response) => response,
    }
}

/// The `Idempotency-Key` header of a create request, checked.
#[allow(clippy::result_large_err)]
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Response> {
    match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => Ok(None),
        Some(Ok(k)) if idempotency::check_key(k).is_ok() => Ok(Some(k.to_owned())),
        Some(_) => Err(ApiProblem::bad_request(vec![Issue::at("header:Idempotency-Key", "Invalid value", "must be 1 to 255 printable ASCII characters")])
            .respond(headers)),
    }
}

/// Refuses a body that is not JSON by its `Content-Type`.
#[allow(clippy::result_large_err)]
pub(super) fn require_json(headers: &HeaderMap) -> Result<(), Response> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiProblem::bad_request(vec![Issue::at("header:Content-Type", "Unsupported media type", "the body must be application/json")])
            .respond(headers))
    }
}

fn replay(answer: StoredAnswer) -> Response {
    let mut response = (
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::CREATED),
        [(header::CONTENT_TYPE, "application/json")],
        answer.body,
    )
        .into_response();
    if let Some(location) = answer.location.and_then(|l| header::HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

// A refusal is a finished response, built once per request.
#[allow(clippy::result_large_err)]
fn create_message<'a>(
    api: &'a Api,
    headers: &HeaderMap,
    principal: &Principal,
    value: &Value,
    message_id: &str,
    resuming: bool,
    now: OffsetDateTime,
) -> Result<(StoredAnswer, Option<Claim<'a>>), Response> {
    let config = &api.node.config;
    let default_sender = match principal.functional_addresses.as_slice() {
        [only] => Some(only.as_str()),
        _ => None,
    };
    let bad = |issues: Vec<Issue>| ApiProblem::bad_request(issues).respond(headers);
    let lookup = |id: &str| match api.uploads.get(&principal.client_id, id, now) {
        Ok(upload) => upload.map(|u| json::UploadInfo { content_type: u.content_type, file_name: u.file_name }),
        Err(e) => {
            tracing::error!(error = %e, "attachment upload record unreadable");
            None
        }
    };
    let request =
        json::read_create(value, message_id, now, default_sender, Some(&config.organisation.name), &lookup).map_err(bad)?;
    let resource_id = request.resource_id.clone();
    let (sent, claim) = send_message(api, headers, principal, request.message, &request.uploads, resource_id.clone(), resuming, now, None)?;
    let location = format!("{BASE}/{}", sent.message_id);
    let Value::Object(attributes) = sent.header else { return Err(internal(headers, "header is not an object")) };
    let resource_id = resource_id.unwrap_or_else(|| sent.message_id.clone());
    let data = item(&resource_id, attributes, outbound_status(&sent.entry), outbound_events(&sent.entry));
    Ok((StoredAnswer { status: 201, location: Some(location.clone()), body: single(&location, data).to_string() }, claim))
}

/// A message [`send_message`] put in the outbox.
pub(super) struct Sent {
    pub message_id: String,
    pub entry: OutboxEntry,
    /// The message's attributes as JSON (DIGG's shape, no status).
    pub header: Value,
}

/// Sends `message` for `principal`: the sender must be this organisation
/// and one of the client's functional addresses; the message is recorded
/// for the API (so it can be listed and read back) and submitted to the
/// outbox, with the content of `uploads` streamed in where the message
/// holds their placeholders. Shared by every create endpoint. Runs on a
/// blocking thread. The claim on the uploads is released by the caller
/// once its answer is kept.
// A refusal is a finished response, built once per request.
#[allow(clippy::result_large_err, clippy::too_many_arguments)]
pub(super) fn send_message<'a>(
    api: &'a Api,
    headers: &HeaderMap,
    principal: &Principal,
    mut message: SdkMessage,
    uploads: &[json::UploadedFile],
    resource_id: Option<String>,
    resuming: bool,
    now: OffsetDateTime,
    audit_detail: Option<&str>,
) -> Result<(Sent, Option<Claim<'a>>), Response> {
    let config = &api.node.config;
    let bad = |issues: Vec<Issue>| ApiProblem::bad_request(issues).respond(headers);
    let header = &message.header;
    if header.sender_org_id() != config.organisation.id {
        return Err(bad(vec![Issue::at(
            "/data/attributes/sender",
            "BV invariant",
            format!("Wrong or unknown sender-id: this node sends for {}", config.organisation.id),
        )]));
    }
    let sender_address = header.sender_functional_address().unwrap_or_default().to_owned();
    if !config.serves_functional_address(&sender_address) {
        return Err(bad(vec![Issue::at(
            "/data/attributes/senderAttention/subOrganization/extension",
            "BV not-found",
            "not a functional address of this node",
        )]));
    }
    if !principal.may_use(&sender_address) {
        return Err(api.deny_address(headers, principal, "sendMessage", &sender_address));
    }
    // The sender's functional address gets its configured name unless the
    // client gave one.
    if let Some(attention) = message.header.sender.attention.as_mut() {
        if attention.sub_organization.label.is_none() {
            attention.sub_organization.label =
                config.organisation.functional_addresses.iter().find(|a| a.id == sender_address).map(|a| a.label.clone());
        }
    }
    let message_id = message.header.message_id.as_str().to_owned();
    let known = api.records.sent(&message_id).ok().flatten().is_some() || api.node.store.outbox_entry(&message_id).ok().flatten().is_some();
    if known && !resuming {
        return Err(bad(vec![Issue::at("/data/attributes/messageId", "BV duplicate", "a message with this messageId was created before")]));
    }
    let header_value = json::header_json(&message.header);
    let record = SentRecord {
        client_id: principal.client_id.clone(),
        resource_id,
        sender_functional_address: sender_address,
        recipient_functional_address: message.header.recipient_functional_address().to_owned(),
        created_at: now.unix_timestamp(),
        header: header_value.clone(),
    };
    let (xml, claim) = if uploads.is_empty() {
        (Blob::from(message.to_xml()), None)
    } else {
        let ids: Vec<String> = uploads.iter().map(|u| u.attachment_id.clone()).collect();
        let Some(claim) = api.uploads.claim(&ids) else {
            return Err(ApiProblem::new(StatusCode::CONFLICT, "attachmentInUse", "another create request is using one of these attachments")
                .respond(headers));
        };
        let xml = write_with_uploads(api, &message, uploads).map_err(|e| match e {
            BuildError::Invalid(issues) => bad(issues),
            BuildError::Internal(e) => internal(headers, e),
        })?;
        (xml, Some(claim))
    };
    drop(message);
    // The record first: no message in the outbox without it.
    api.records.put_sent(&message_id, &record, &xml).map_err(|e| internal(headers, e))?;
    let runtime = tokio::runtime::Handle::current();
    let submitted = runtime.block_on(api.node.submit_described(&principal.client_id, xml, audit_detail));
    let entry = match submitted {
        Ok(entry) => entry,
        Err(SubmitError::AlreadySubmitted(entry)) if resuming => *entry,
        Err(e) => {
            let _ = api.records.remove_sent(&message_id);
            return Err(submit_error(headers, e, uploads));
        }
    };
    Ok((Sent { message_id, entry, header: header_value }, claim))
}

/// Why the message of a request naming uploads could not be written.
enum BuildError {
    Invalid(Vec<Issue>),
    Internal(String),
}

/// The message XML with each upload's base64 streamed from its file into
/// the spool, under `limits.max_sdk_message_bytes`: the message is
/// serialised with each upload's placeholder (see [`json::UploadedFile`]),
/// and written as the text around the placeholders with the uploads'
/// base64 in their place. Never more than a buffer of an upload is in
/// memory.
fn write_with_uploads(api: &Api, message: &SdkMessage, uploads: &[json::UploadedFile]) -> Result<Blob, BuildError> {
    let limit = api.node.config.limits.max_sdk_message_bytes as u64;
    let skeleton = message.to_xml();
    let find = |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).position(|w| w == needle);
    let mut writer = api.node.spool.writer(limit);
    let mut rest: &[u8] = &skeleton;
    for upload in uploads {
        let needle = upload.placeholder.as_bytes();
        let count = skeleton.windows(needle.len()).filter(|w| *w == needle).count();
        let Some(at) = find(rest, needle).filter(|_| count == 1) else {
            return Err(BuildError::Internal(format!("placeholder of an upload found {count} times")));
        };
        let content = match api.uploads.content(&upload.attachment_id) {
            Ok(blob) => blob,
            Err(super::uploads::UploadError::File(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BuildError::Invalid(vec![Issue::at(
                    format!("{}/attachmentId", upload.pointer),
                    "BV not-found",
                    "no upload with this attachmentId (unknown, expired or used)",
                )]));
            }
            Err(e) => return Err(BuildError::Internal(e.to_string())),
        };
        let written = (|| -> std::io::Result<()> {
            writer.write_all(&rest[..at])?;
            let mut encoder = crate::xmlsec::stream::base64_text_encoder(&mut writer);
            std::io::copy(&mut content.reader()?, &mut encoder)?;
            encoder.finish()?;
            Ok(())
        })();
        written.map_err(|e| too_large_or(e, limit))?;
        rest = &rest[at + needle.len()..];
    }
    writer.write_all(rest).map_err(|e| too_large_or(e, limit))?;
    writer.finish().map_err(|e| BuildError::Internal(e.to_string()))
}

/// A message over the size limit is BV too-long, as the submit path says
/// for an inline one.
fn too_large_or(e: std::io::Error, limit: u64) -> BuildError {
    if TooLarge::is(&e) {
        let problem = crate::sdk::Problem::bv(crate::sdk::DetailCode::TooLong, "NA", crate::sdk::message_rules::TOO_LARGE_TEXT);
        let mut issue = json::rule_issue(&problem);
        issue.location = Some("/data/attributes/digitalDocument".into());
        issue.detail = Some(format!("{} (the message would be over {limit} bytes with its attachments in base64)", problem.text));
        BuildError::Invalid(vec![issue])
    } else {
        BuildError::Internal(e.to_string())
    }
}

fn submit_error(headers: &HeaderMap, e: SubmitError, uploads: &[json::UploadedFile]) -> Response {
    match e {
        SubmitError::Invalid(v) => {
            ApiProblem::bad_request(json::upload_issues(v.problems.iter().map(json::rule_issue).collect(), uploads)).respond(headers)
        }
        SubmitError::NotOurAddress(a) => ApiProblem::bad_request(vec![Issue::at(
            "/data/attributes/senderAttention/subOrganization/extension",
            "BV not-found",
            format!("{a} is not a functional address of this node"),
        )])
        .respond(headers),
        SubmitError::AlreadySubmitted(_) => ApiProblem::bad_request(vec![Issue::at(
            "/data/attributes/messageId",
            "BV duplicate",
            "a message with this messageId was created before",
        )])
        .respond(headers),
        SubmitError::Directory(DirectoryError::NotFound { .. }) | SubmitError::NoEncryptionCertificate(_) => {
            ApiProblem::bad_request(vec![Issue::at(
                "/data/attributes/recipient",
                "BV not-found",
                "the recipient is not in the address book (SMP) for this message type, or publishes no encryption certificate",
            )])
            .respond(headers)
        }
        SubmitError::Directory(e) => {
            tracing::warn!(error = %e, "address book lookup failed");
            ApiProblem::new(StatusCode::SERVICE_UNAVAILABLE, "addressBookUnavailable", "the address book (SMP) could not be consulted; try again")
                .with_header(header::RETRY_AFTER, "30")
                .respond(headers)
        }
        other => internal(headers, other),
    }
}

// ---------------------------------------------------------------------------
// GET /sdk/messages
// ---------------------------------------------------------------------------

pub async fn list(State(api): State<Arc<Api>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let principal = match api.authorize(&headers, Scope::GetMessageByFilter, "getMessageByFilter").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let h = headers.clone();
    blocking(&headers, move || list_blocking(&api, &h, &principal, query.as_deref())).await
}

fn list_blocking(api: &Api, headers: &HeaderMap, principal: &Principal, query: Option<&str>) -> Response {
    let filter = match read_filter(query, false) {
        Ok(f) => f,
        Err(issues) => return ApiProblem::bad_request(issues).respond(headers),
    };
    // A functional address of this node that is not the client's: refused.
    if let Some(address) = filter.forbidden_address(api, principal) {
        return api.deny_address(headers, principal, "getMessageByFilter", address);
    }
    let mut items: Vec<(OffsetDateTime, String, Value)> = Vec::new();
    for address in &principal.functional_addresses {
        let entries = match api.node.store.inbox(address, &Default::default()) {
            Ok(e) => e,
            Err(e) => return internal(headers, e),
        };
        for entry in entries {
            if api.records.is_deleted(entry.message_id()).unwrap_or(false) {
                continue;
            }
            let header = match inbound_header(api, &entry) {
                Ok(Some(h)) => h,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(message_id = entry.message_id(), error = %e, "incoming message unreadable; left out of the list");
                    continue;
                }
            };
            let receipt = receipt_of(api, &entry).unwrap_or(None);
            let status = inbound_status(&entry, receipt.as_ref());
            items.push((
                json::creation_instant(&header).unwrap_or(entry.received_at()),
                entry.message_id().to_owned(),
                with_status(header, status, inbound_events(&entry, receipt.as_ref()), entry.message_id()),
            ));
        }
    }
    for record in api.records.all_sent() {
        let (id, record) = match record {
            Ok(r) => r,
            Err(e) => return internal(headers, e),
        };
        if !principal.may_use(&record.sender_functional_address) {
            continue;
        }
        let Ok(Some(entry)) = api.node.store.outbox_entry(&id) else { continue };
        let at = json::creation_instant(&record.header).unwrap_or(entry.created_at());
        let resource_id = record.resource_id.clone().unwrap_or_else(|| id.clone());
        items.push((at, id.clone(), with_status(record.header, outbound_status(&entry), outbound_events(&entry), &resource_id)));
    }
    items.retain(|(at, _, v)| filter.matches(*at, v));
    items.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let total = items.len();
    let skip = (filter.page - 1).saturating_mul(filter.size);
    let page: Vec<Value> = items.into_iter().skip(skip).take(filter.size).map(|(_, _, v)| v).collect();
    let self_link = match query {
        Some(q) if !q.is_empty() => format!("{BASE}?{q}"),
        _ => BASE.to_owned(),
    };
    let mut links = json!({ "self": self_link });
    if skip.saturating_add(filter.size) < total {
        links["next"] = json!(page_link(query, filter.page + 1, filter.size));
    }
    if filter.page > 1 {
        links["prev"] = json!(page_link(query, filter.page - 1, filter.size));
    }
    let body = json!({
        "meta": { "version": VERSION, "totalCount": total, "pageNumber": filter.page, "pageSize": filter.size },
        "links": links,
        "data": page,
    });
    json_response(StatusCode::OK, &body)
}

fn with_status(header: Value, status: &str, events: Value, id: &str) -> Value {
    let attributes = match header {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    item(id, attributes, status, events)
}

/// The list's link to another page, the other parameters kept.
fn page_link(query: Option<&str>, page: usize, size: usize) -> String {
    let kept: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let k = p.split('=').next().unwrap_or("").to_ascii_lowercase();
            !["page[number]", "page%5bnumber%5d", "page[size]", "page%5bsize%5d", "filter[pagenumber]", "filter%5bpagenumber%5d", "filter[size]", "filter%5bsize%5d"]
                .contains(&k.as_str())
        })
        .collect();
    let mut q = kept.join("&");
    if !q.is_empty() {
        q.push('&');
    }
    format!("{BASE}?{q}page%5Bnumber%5D={page}&page%5Bsize%5D={size}")
}

// ---------------------------------------------------------------------------
// GET /sdk/messages/{messageId}
// ---------------------------------------------------------------------------

fn not_found(api: &Api, headers: &HeaderMap, principal: &Principal, operation: &str, id: &str) -> Response {
    if held_for_others(api, id) {
        api.audit_denied(Some(&principal.client_id), &format!("{operation}: message of another functional address"), None, Some(id));
    }
    ApiProblem::new(StatusCode::NOT_FOUND, "notFound", "no such message").respond(headers)
}

pub async fn get_by_id(State(api): State<Arc<Api>>, headers: HeaderMap, Path(id): Path<String>, RawQuery(query): RawQuery) -> Response {
    let principal = match api.authorize(&headers, Scope::GetMessage, "getMessageById").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let h = headers.clone();
    blocking(&headers, move || get_blocking(&api, &h, &principal, &id, query.as_deref())).await
}

fn get_blocking(api: &Api, headers: &HeaderMap, principal: &Principal, id: &str, query: Option<&str>) -> Response {
    let filter = match read_filter(query, true) {
        Ok(f) => f,
        Err(issues) => return ApiProblem::bad_request(issues).respond(headers),
    };
    if let Some(address) = filter.forbidden_address(api, principal) {
        return api.deny_address(headers, principal, "getMessageById", address);
    }
    let parts = filter.parts;
    let found = match find(api, principal, id) {
        Ok(Some(f)) => f,
        Ok(None) => return not_found(api, headers, principal, "getMessageById", id),
        Err(e) => return internal(headers, e),
    };
    let message = match load_message(api, &found) {
        Ok(Some(m)) => m,
        Ok(None) => return not_found(api, headers, principal, "getMessageById", id),
        Err(e) => return internal(headers, e),
    };
    let now = OffsetDateTime::now_utc();
    if let Found::Inbound { entry, .. } = &found {
        // The node's own note of the first read; not an API status.
        let _ = api.node.store.mark_retrieved(entry.functional_address(), entry.message_id(), now);
    }
    let mut audit = NewEntry::new(now, &principal.client_id, api.node.org_id(), Action::Read, Outcome::Ok)
        .functional_address(found.functional_address())
        .message_id(id)
        .conversation_id(message.header.conversation_id());
    // The person the header names, else the one its pilot document is about.
    if let Some(person) = crate::node::runtime::referenced_person(&message.header).or_else(|| api.node.conversations.person_of(id)) {
        audit = audit.person(person);
    }
    if let Err(e) = api.node.audit.append(audit) {
        // Reading without an audit trail is not allowed (patient data law).
        return internal(headers, e);
    }
    let Value::Object(mut attributes) = json::header_json(&message.header) else { return internal(headers, "header") };
    if parts.texts || parts.files {
        attributes.insert("digitalDocument".into(), json::documents_json(&message.documents, parts));
    }
    let data = item(found.resource_id(id), attributes, found.status(), found.events());
    if !filter.matches(message.header.creation_date_time.instant(), &data) {
        return ApiProblem::new(StatusCode::NOT_FOUND, "notFound", "no such message matches the filter").respond(headers);
    }
    json_response(StatusCode::OK, &single(&format!("{BASE}/{id}"), data))
}

// ---------------------------------------------------------------------------
// DELETE /sdk/messages/{messageId}
// ---------------------------------------------------------------------------

/// Statuses in which a message may be deleted: B1.4.2's final statuses
/// (NEW, ACCEPTED, MESSAGE_EXCHANGE_ERROR), plus REJECTED and ERROR, which
/// are final in this node too.
pub const DELETABLE: [&str; 5] = ["NEW", "ACCEPTED", "MESSAGE_EXCHANGE_ERROR", "REJECTED", "ERROR"];

pub async fn delete(State(api): State<Arc<Api>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let principal = match api.authorize(&headers, Scope::DeleteMessage, "deleteMessageById").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let h = headers.clone();
    blocking(&headers, move || delete_blocking(&api, &h, &principal, &id)).await
}

fn delete_blocking(api: &Api, headers: &HeaderMap, principal: &Principal, id: &str) -> Response {
    let found = match find(api, principal, id) {
        Ok(Some(f)) => f,
        Ok(None) => return not_found(api, headers, principal, "deleteMessageById", id),
        Err(e) => return internal(headers, e),
    };
    let status = found.status();
    if !DELETABLE.contains(&status) {
        return ApiProblem::bad_request(vec![Issue::at(
            "path:messageId",
            "Not in a final status",
            format!("the message is {status}; only messages in {} can be deleted", DELETABLE.join(", ")),
        )])
        .respond(headers);
    }
    let now = OffsetDateTime::now_utc();
    let removed = match &found {
        Found::Inbound { entry, .. } => api.node.store.purge_inbound_payload(entry.functional_address(), entry.message_id()).map(|_| ()),
        Found::Outbound { .. } => api.records.remove_sent(id),
    };
    let tombstone = Tombstone { client_id: principal.client_id.clone(), deleted_at: now.unix_timestamp() };
    if let Err(e) = removed.and_then(|()| api.records.mark_deleted(id, &tombstone)) {
        return internal(headers, e);
    }
    let audit = NewEntry::new(now, &principal.client_id, api.node.org_id(), Action::Delete, Outcome::Ok)
        .functional_address(found.functional_address())
        .message_id(id)
        .detail(format!("deleted in status {status}"));
    if let Err(e) = api.node.audit.append(audit) {
        tracing::error!(error = %e, "deletion not written to the audit log");
    }
    StatusCode::ACCEPTED.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_filters_are_read() {
        let f = read_filter(Some(
            "filter%5BmessageStatus%5D=NEW,ACCEPTED&filter[recipientAttention.subOrganization.extension]=fa&page[size]=5&page[number]=2",
        ), false)
        .unwrap();
        assert_eq!(f.statuses, vec!["NEW", "ACCEPTED"]);
        assert_eq!(f.recipient_address.as_deref(), Some("fa"));
        assert_eq!((f.page, f.size), (2, 5));
        let issues = read_filter(Some("filter=abc&filter[messageStatus]=NOPE&filter[colour]=red&page[size]=0"), false).unwrap_err();
        assert_eq!(issues.len(), 4, "{issues:?}");
        let issues = read_filter(Some("page%5B%0D%5D=1&page[number]=1"), false).unwrap_err();
        assert_eq!(issues[0].location.as_deref(), Some("query:page"), "{issues:?}");
        // DIGG's example value of the bare `filter` parameter.
        let f = read_filter(Some("filter=%3Ffilter%5BsenderAttention.subOrganization.extension%5D%3Dsdk%3Autkorg%3A0203%3Ainera.se&filter="), true).unwrap();
        assert_eq!(f.sender_address.as_deref(), Some("sdk:utkorg:0203:inera.se"));
        let f = read_filter(Some("filter=messageStatus%3DNEW&filter%5BcontentFiles%5D=false"), true).unwrap();
        assert_eq!((f.statuses.len(), f.parts.files, f.parts.texts), (1, false, true));
        assert!(read_filter(Some("filter%5BcontentFiles%5D=false"), false).is_err());
        assert_eq!(
            page_link(Some("filter[messageStatus]=NEW&page[number]=1"), 2, 5),
            "/v1/sdk/messages?filter[messageStatus]=NEW&page%5Bnumber%5D=2&page%5Bsize%5D=5"
        );
    }
}
