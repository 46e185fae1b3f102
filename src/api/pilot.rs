//! The pilots' endpoints beside DIGG's message API, with its security,
//! problem responses and idempotency:
//!
//! | method and path | scope | |
//! |---|---|---|
//! | `POST /v1/brygga/pilot/{kind}` | sendMessage | submit a concern report, acknowledgement, feedback, referral or referral reply |
//! | `GET /v1/brygga/pilot/documents` | getMessageByFilter | the documents sent and received for the client's addresses, without content |
//! | `GET /v1/brygga/pilot/documents/{messageId}` | getMessage | one document, parsed (audited as a read of the person's data) |
//! | `GET /v1/brygga/pilot/conversations/{conversationId}` | getMessage | a conversation's thread with statuses and receipts |
//!
//! A document is checked completely before anything is sent: its own rules
//! (field-level 400s), its common part against this node and the client,
//! and for a reply the document it answers on the same conversation.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::auth::Principal;
use super::digg::{self, blocking, internal, send_message};
use super::idempotency::StoredAnswer;
use super::uploads::Claim;
use super::problem::{ApiProblem, Issue};
use super::scope::Scope;
use super::token::form_urlencoded_pairs;
use super::Api;
use crate::audit::{Action, NewEntry, Outcome};
use crate::node::conversations::{answered, Answered, Direction, ThreadEntry};
use crate::pilot::{self, DocumentKind, FieldIssue, PilotDocument};
use crate::sdk::message::{ContentFile, Ii, OrgAddress, Person, SdkMessage};

/// Where the pilots' endpoints live.
pub const BASE: &str = "/v1/brygga/pilot";

/// The collection name of each kind in the submit path.
pub fn collection(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::ConcernReport => "concern-reports",
        DocumentKind::ConcernAcknowledgement => "concern-acknowledgements",
        DocumentKind::ConcernFeedback => "concern-feedback",
        DocumentKind::Referral => "referrals",
        DocumentKind::ReferralReply => "referral-replies",
    }
}

fn kind_of_collection(name: &str) -> Option<DocumentKind> {
    DocumentKind::ALL.into_iter().find(|k| collection(*k) == name)
}

fn issue_of(i: &FieldIssue) -> Issue {
    Issue::at(i.pointer.clone(), i.rule.as_str(), i.text.clone())
}

fn issues_json(issues: &[FieldIssue]) -> Value {
    Value::Array(issues.iter().map(|i| json!({ "pointer": i.pointer, "rule": i.rule.as_str(), "detail": i.text })).collect())
}

// ---------------------------------------------------------------------------
// POST /v1/brygga/pilot/{kind}
// ---------------------------------------------------------------------------

pub async fn submit(State(api): State<Arc<Api>>, headers: HeaderMap, Path(kind): Path<String>, body: Bytes) -> Response {
    let principal = match api.authorize(&headers, Scope::SendMessage, "submitPilotDocument").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(kind) = kind_of_collection(&kind) else {
        return ApiProblem::new(StatusCode::NOT_FOUND, "notFound", "no such document kind").respond(&headers);
    };
    if let Err(r) = digg::require_json(&headers) {
        return r;
    }
    let key = match digg::idempotency_key(&headers) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let h = headers.clone();
    blocking(&headers, move || {
        let value: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return ApiProblem::bad_request(vec![Issue::at("", "Not JSON", format!("the body is not JSON: {e}"))]).respond(&h),
        };
        digg::idempotent(&api, &h, &principal, &value, key, |message_id, resuming, now| {
            submit_document(&api, &h, &principal, kind, &value, message_id, resuming, now)
        })
    })
    .await
}

/// Fills what the node knows and the client may leave out: ids, time,
/// and this node as the sender.
fn with_defaults(api: &Api, principal: &Principal, kind: DocumentKind, value: &Value, now: OffsetDateTime) -> Value {
    let mut value = value.clone();
    let Some(object) = value.as_object_mut() else { return value };
    let mut fill = |key: &str, v: Value| {
        object.entry(key.to_owned()).or_insert(v);
    };
    fill("documentId", json!(uuid::Uuid::new_v4().to_string()));
    fill("created", json!(now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()));
    if kind.starts_conversation() {
        fill("conversationId", json!(uuid::Uuid::new_v4().to_string()));
    }
    let sender = object.entry("sender".to_owned()).or_insert_with(|| json!({}));
    if let Some(sender) = sender.as_object_mut() {
        sender.entry("organisation".to_owned()).or_insert_with(|| json!(api.node.config.organisation.id));
        sender.entry("organisationNumber".to_owned()).or_insert_with(|| json!(api.node.config.organisation.organisation_number));
        if let [only] = principal.functional_addresses.as_slice() {
            sender.entry("functionalAddress".to_owned()).or_insert_with(|| json!(only));
        }
    }
    value
}

#[allow(clippy::too_many_arguments, clippy::result_large_err)]
fn submit_document(
    api: &Api,
    headers: &HeaderMap,
    principal: &Principal,
    kind: DocumentKind,
    value: &Value,
    message_id: &str,
    resuming: bool,
    now: OffsetDateTime,
) -> Result<(StoredAnswer, Option<Claim<'static>>), Response> {
    let bad = |issues: Vec<Issue>| ApiProblem::bad_request(issues).respond(headers);
    let checked = PilotDocument::from_json(kind, &with_defaults(api, principal, kind, value, now))
        .map_err(|issues| bad(issues.iter().map(issue_of).collect()))?;
    let document = checked.document;
    let common = document.common();
    let config = &api.node.config;
    if !common.sender.org_id().eq_ignore_ascii_case(&config.organisation.id) {
        return Err(bad(vec![Issue::at("/sender/organisation", "BV invariant", "this node sends for another organisation")]));
    }
    if common.sender.organisation_number.digits() != config.organisation.organisation_number {
        return Err(bad(vec![Issue::at("/sender/organisationNumber", "BV invariant", "not this organisation's number")]));
    }
    let sender_address = common.sender.functional_address.clone();
    if !config.serves_functional_address(&sender_address) {
        return Err(bad(vec![Issue::at("/sender/functionalAddress", "BV not-found", "not a functional address of this node")]));
    }
    if !principal.may_use(&sender_address) {
        return Err(api.deny_address(headers, principal, "submitPilotDocument", &sender_address));
    }
    // A reply answers a document received on its conversation, from the
    // organisation it replies to.
    let conversations = &api.node.conversations;
    let answering = match answered(conversations, &document, Direction::Received).map_err(|e| internal(headers, e))? {
        Answered::NothingToAnswer => None,
        Answered::NotFound(why) => return Err(bad(vec![Issue::at("/inReplyTo", "BV not-found", why)])),
        Answered::Found(entry) => Some(entry),
    };
    if let Some(original) = &answering {
        let mut issues = Vec::new();
        if !original.counterpart_org_id.eq_ignore_ascii_case(common.recipient.org_id()) {
            issues.push(Issue::at("/recipient/organisation", "BV invariant", "a reply goes to the organisation that sent the document it answers"));
        }
        if let (PilotDocument::ReferralReply(reply), Ok(PilotDocument::Referral(referral))) = (&document, original.document()) {
            issues.extend(pilot::check_reply_against_referral(reply, &referral).iter().filter(|i| i.is_error()).map(issue_of));
        }
        if !issues.is_empty() {
            return Err(bad(issues));
        }
    }

    let message = build_message(&document, message_id, answering.as_deref(), now).map_err(|v| {
        bad(v.problems.iter().map(super::json::rule_issue).collect())
    })?;
    let mut entry = ThreadEntry::new(&document, &message.header, Direction::Sent, now);
    entry.client_id = Some(principal.client_id.clone());
    // The thread entry first, like the API's sent record: a message never
    // leaves without it.
    conversations.record(&entry).map_err(|e| internal(headers, e))?;
    let detail = format!("pilot document sent: {}", entry.kind);
    let sent = match send_message(api, headers, principal, message, &[], None, resuming, now, Some(&detail)) {
        Ok((sent, _no_uploads)) => sent,
        Err(response) => {
            let _ = conversations.forget(&entry.message_id);
            return Err(response);
        }
    };
    let location = format!("{BASE}/documents/{}", sent.message_id);
    let body = json!({
        "messageId": sent.message_id,
        "documentId": entry.document_id,
        "conversationId": entry.conversation_id,
        "kind": entry.kind,
        "status": digg::outbound_status(&sent.entry),
        "refToMessageId": answering.as_ref().map(|a| a.message_id.clone()),
        "warnings": issues_json(&checked.warnings),
        "links": { "self": location, "thread": format!("{BASE}/conversations/{}", entry.conversation_id), "message": format!("{}/{}", digg::BASE, sent.message_id) },
    });
    Ok((StoredAnswer { status: 201, location: Some(location), body: body.to_string() }, None))
}

/// The SDK message that carries `document`: its Markdown for any SDK
/// client, the XML for systems that read it, confidential, the person
/// referenced by identifier only (no name in the header), and a subject
/// without personal data.
pub fn build_message(
    document: &PilotDocument,
    message_id: &str,
    answering: Option<&ThreadEntry>,
    now: OffsetDateTime,
) -> Result<SdkMessage, crate::sdk::Validation> {
    let common = document.common();
    let sender = OrgAddress::new(common.sender.org_id(), common.sender.functional_address.as_str());
    let recipient = OrgAddress::new(common.recipient.org_id(), common.recipient.functional_address.as_str());
    let file_name = format!("{}-{}.xml", document.kind().as_str(), common.document_id);
    let mut builder = SdkMessage::builder(now, sender, recipient)
        .message_id(crate::sdk::message::MessageUuid::parse(message_id).unwrap_or_else(crate::sdk::message::MessageUuid::new_v4))
        .conversation_id(crate::sdk::message::MessageUuid::parse(&common.conversation_id.to_string()).unwrap_or_else(crate::sdk::message::MessageUuid::new_v4))
        .label(document.label())
        .confidentiality(true)
        .text(document.to_markdown())
        .attachment(ContentFile::new(file_name, "application/xml", document.to_xml()));
    if let Some(original) = answering.and_then(|a| crate::sdk::message::MessageUuid::parse(&a.message_id)) {
        builder = builder.ref_to_message_id(original);
    }
    if let Some(person) = document.person() {
        builder = builder.recipient_person(Person { id: Some(Ii::new(person.oid(), person.value())), label: None });
    }
    builder.build()
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// Whether `principal` acts for the address the entry was sent from or to.
fn visible(principal: &Principal, entry: &ThreadEntry) -> bool {
    principal.may_use(&entry.functional_address)
}

/// Where a document's message stands: the outbox state and receipt of one
/// we sent, the inbox state and our receipt of one we received.
fn delivery(api: &Api, entry: &ThreadEntry) -> Value {
    let store = &api.node.store;
    match entry.direction {
        Direction::Sent => match store.outbox_entry(&entry.message_id) {
            Ok(Some(out)) => {
                let receipt = out.receipt().map(|r| {
                    json!({
                        "receiptId": r.receipt_id,
                        "response": if r.accepted { "ACCEPTED" } else { "REJECTED" },
                        "lines": r.lines.iter().map(|l| json!({ "reasonCode": l.reason_code, "detailCode": l.detail_code, "text": l.text, "lineId": l.line_id })).collect::<Vec<_>>(),
                    })
                });
                json!({ "messageStatus": digg::outbound_status(&out), "receipt": receipt })
            }
            _ => json!({ "messageStatus": "UNKNOWN" }),
        },
        Direction::Received => match store.inbox_entry(&entry.functional_address, &entry.message_id) {
            Ok(Some(inbound)) => {
                let ours = digg::receipt_of(api, &inbound).ok().flatten();
                json!({ "messageStatus": digg::inbound_status(&inbound, ours.as_ref()), "receipt": { "response": "ACCEPTED", "receiptId": inbound.receipt_id() } })
            }
            _ => json!({ "messageStatus": "UNKNOWN" }),
        },
    }
}

/// An entry without the document's content (no personal data).
fn summary(api: &Api, entry: &ThreadEntry) -> Value {
    let mut v = json!({
        "messageId": entry.message_id,
        "direction": entry.direction,
        "kind": entry.kind,
        "documentId": entry.document_id,
        "conversationId": entry.conversation_id,
        "created": entry.created,
        "recordedAt": entry.recorded_at,
        "functionalAddress": entry.functional_address,
        "counterpart": { "organisation": entry.counterpart_org_id, "functionalAddress": entry.counterpart_functional_address },
    });
    if let Some(outcome) = &entry.outcome {
        v["outcome"] = json!(outcome);
    }
    if let (Value::Object(m), Value::Object(d)) = (&mut v, delivery(api, entry)) {
        m.extend(d);
    }
    v
}

fn not_found(headers: &HeaderMap) -> Response {
    ApiProblem::new(StatusCode::NOT_FOUND, "notFound", "no such document for this client").respond(headers)
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

pub async fn list(State(api): State<Arc<Api>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let principal = match api.authorize(&headers, Scope::GetMessageByFilter, "listPilotDocuments").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let h = headers.clone();
    blocking(&headers, move || {
        let mut filter: Map<String, Value> = Map::new();
        let mut issues = Vec::new();
        for (k, v) in form_urlencoded_pairs(query.as_deref().unwrap_or("").as_bytes()) {
            match k.as_str() {
                "kind" if DocumentKind::parse(&v).is_none() => issues.push(Issue::at("query:kind", "Invalid value", "not a document kind")),
                "direction" if v != "sent" && v != "received" => issues.push(Issue::at("query:direction", "Invalid value", "sent or received")),
                "kind" | "direction" | "conversationId" => {
                    filter.insert(k, Value::String(v));
                }
                _ => issues.push(Issue::at(format!("query:{k}"), "Unknown parameter", "kind, direction and conversationId are understood")),
            }
        }
        if !issues.is_empty() {
            return ApiProblem::bad_request(issues).respond(&h);
        }
        let mut items = Vec::new();
        for entry in api.node.conversations.all() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => return internal(&h, e),
            };
            let wanted = |key: &str, actual: &str| filter.get(key).and_then(Value::as_str).is_none_or(|w| w == actual);
            let direction = if entry.direction == Direction::Sent { "sent" } else { "received" };
            if visible(&principal, &entry)
                && wanted("kind", &entry.kind)
                && wanted("direction", direction)
                && wanted("conversationId", &entry.conversation_id)
            {
                items.push(summary(&api, &entry));
            }
        }
        items.sort_by(|a, b| a["created"].as_str().cmp(&b["created"].as_str()));
        ok(json!({ "data": items }))
    })
    .await
}

pub async fn get_document(State(api): State<Arc<Api>>, headers: HeaderMap, Path(message_id): Path<String>) -> Response {
    let principal = match api.authorize(&headers, Scope::GetMessage, "getPilotDocument").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let h = headers.clone();
    blocking(&headers, move || {
        let entry = match api.node.conversations.get(&message_id) {
            Ok(Some(e)) if visible(&principal, &e) => e,
            Ok(_) => return not_found(&h),
            Err(e) => return internal(&h, e),
        };
        let document = match entry.document() {
            Ok(d) => d,
            Err(e) => return internal(&h, e),
        };
        // Reading a document is reading the person's data: audited first.
        let mut audit = NewEntry::new(OffsetDateTime::now_utc(), &principal.client_id, api.node.org_id(), Action::Read, Outcome::Ok)
            .functional_address(&entry.functional_address)
            .message_id(&entry.message_id)
            .conversation_id(&entry.conversation_id)
            .detail(format!("pilot document read: {}", entry.kind));
        if let Some(person) = document.person() {
            audit = audit.person(person.clone());
        }
        if let Err(e) = crate::node::runtime::disk_wait(|| api.node.audit.append(audit)) {
            return internal(&h, e);
        }
        let mut body = summary(&api, &entry);
        body["document"] = entry.document.clone();
        body["markdown"] = json!(document.to_markdown());
        ok(json!({ "data": body }))
    })
    .await
}

pub async fn thread(State(api): State<Arc<Api>>, headers: HeaderMap, Path(conversation_id): Path<String>) -> Response {
    let principal = match api.authorize(&headers, Scope::GetMessage, "getPilotConversation").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let h = headers.clone();
    blocking(&headers, move || {
        let entries = match api.node.conversations.thread(&conversation_id) {
            Ok(e) => e,
            Err(e) => return internal(&h, e),
        };
        let visible: Vec<_> = entries.iter().filter(|e| visible(&principal, e)).collect();
        if visible.is_empty() {
            return ApiProblem::new(StatusCode::NOT_FOUND, "notFound", "no such conversation for this client").respond(&h);
        }
        let items: Vec<Value> = visible.iter().map(|e| summary(&api, e)).collect();
        ok(json!({ "data": { "conversationId": conversation_id, "documents": items } }))
    })
    .await
}
