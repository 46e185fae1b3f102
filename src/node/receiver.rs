//! The inbound pipeline, one AS4 POST at a time:
//! bounded parse → is it for us (EBMS:0004 NOT_SERVICED if not) → the
//! sending access point's certificate must chain to the access point CA and
//! be the one SMP lists for the original sender → verify, decrypt,
//! decompress → open the XHE (signer must be the sender's CertPub signing
//! certificate; decrypt; validate) → store in the functional address's
//! inbox, duplicate elimination in the same transaction → audit → AS4
//! receipt. The business receipt goes back through our outbox.

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use super::conversations::{self, Answered, Direction, ThreadEntry};
use super::metrics::Counter;
use super::outbox::{BusinessReceipt, DocumentType, InboxEntry, NewInboxEntry, NewOutboxEntry, OutboxEntry, StoredReceiptLine};
use super::runtime::{disk_wait, Shared};
use super::store::{ReceiptOutcome, ReceiveOutcome};
use crate::as4::error::{LocalError, PackagingError, SecurityError};
use crate::as4::{self, Action, As4Error, As4Limits, VerifiedUserMessage};
use crate::audit::{Action as AuditAction, NewEntry, Outcome, PersonId};
use crate::pilot::PilotDocument;
use crate::directory::{DocumentTypeId, ServiceMetadata};
use crate::pki::TrustPolicy;
use crate::sdk::envelope::{self, EnvelopeFacts, OpenOptions, ReceiptDecision};
use crate::sdk::{Problem, ResponseCode, Validation};
use crate::spool::{spool_http_body, Blob, BodyError};
use crate::xmlsec::SigningOptions;

fn signal(response: as4::As4Response) -> Response {
    ([(header::CONTENT_TYPE, response.content_type)], response.body).into_response()
}

/// Answers with a signed ebMS error for `error` (what the peer may know is
/// decided in [`as4::peer_error`]).
fn refuse(state: &Shared, ref_to: Option<&str>, error: &As4Error) -> Response {
    state.metrics.bump(Counter::InboundRefusedEbms);
    tracing::info!(error = %error, "inbound AS4 message refused");
    let ap = &state.config.keys.access_point;
    match as4::build_error(ref_to, &as4::peer_error(error), ap.key(), ap.certificate(), OffsetDateTime::now_utc()) {
        Ok(response) => {
            let (parts, body) = signal(response).into_parts();
            let mut r = Response::from_parts(parts, body);
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot build an ebMS error");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The request body in the spool, under `limit`.
async fn spool_body(state: &Shared, headers: &HeaderMap, body: Body, limit: usize) -> Result<Blob, As4Error> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    spool_http_body(&state.spool, declared, body, limit as u64).await.map_err(|e| match e {
        BodyError::TooLarge { size, .. } => {
            PackagingError::TooLarge { size: usize::try_from(size).unwrap_or(usize::MAX), limit }.into()
        }
        BodyError::Read(e) => PackagingError::Malformed(format!("the request body could not be read: {e}")).into(),
        BodyError::Storage(e) => LocalError::storage(e).into(),
    })
}

/// `POST /as4`.
pub async fn inbound(State(state): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let limits = as4_limits(&state);
    let body = match spool_body(&state, &headers, body, limits.max_message_bytes).await {
        Ok(b) => b,
        Err(e) => return refuse(&state, None, &e),
    };
    let parsed = match as4::parse_inbound(&content_type, body, &limits) {
        Ok(p) => p,
        Err(e) => return refuse(&state, None, &e),
    };
    let header = parsed.unverified_header().clone();
    let ours = state.org_id().to_owned();
    let action = match as4::check_serviced(&header, |recipient, _| recipient.eq_ignore_ascii_case(&ours)) {
        Ok(a) => a,
        Err(e) => return refuse(&state, Some(&header.message_id), &e),
    };

    // The original sender must be in SMP, and its access point must be the
    // one that signed (C3.2.1; B1.3.3 §4.3.2.2).
    let sender_metadata = match state.lookup(&header.original_sender, &DocumentTypeId::sdk_receipt()).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "original sender not found in SMP: message kept out, operators alerted");
            let error = As4Error::Security(SecurityError::Policy("original sender is not registered in SMP".into()));
            return refuse(&state, Some(&header.message_id), &error);
        }
    };
    let listed_ap = sender_metadata.endpoint.access_point_certificate.clone();
    let now = OffsetDateTime::now_utc();
    if let Err(e) = state.config.trust.access_points.check(&listed_ap, &[], rustls_pki_types::UnixTime::now()) {
        let error = As4Error::Security(SecurityError::Policy(format!("sender's access point: {e}")));
        return refuse(&state, Some(&header.message_id), &error);
    }
    let ap = &state.config.keys.access_point;
    let verified = match as4::verify_and_open(parsed, &TrustPolicy::Pinned(listed_ap), ap.key(), ap.certificate(), now, &limits, &state.spool) {
        Ok(v) => v,
        Err(e) => return refuse(&state, Some(&header.message_id), &e),
    };
    let receipt = match as4::build_receipt(&verified, ap.key(), ap.certificate(), now) {
        Ok(r) => r,
        Err(e) => return refuse(&state, Some(&header.message_id), &e),
    };
    let outcome = match action {
        Action::Message => deliver_message(&state, verified, &sender_metadata).await,
        Action::Receipt => deliver_receipt(&state, verified, &sender_metadata),
    };
    match outcome {
        Ok(()) => signal(receipt),
        // Storage failed: no AS4 receipt, so the sender retries later.
        Err(e) => {
            tracing::error!(error = %e, "inbound message could not be stored");
            refuse(&state, Some(&header.message_id), &As4Error::Local(LocalError::Build("temporarily unavailable".into())))
        }
    }
}

fn as4_limits(state: &Shared) -> As4Limits {
    let defaults = As4Limits::default();
    // The decompressed payload is the XHE: never capped below the largest
    // one the configured SDK limit allows.
    let max_payload_bytes = defaults.max_payload_bytes.max(state.config.limits.xml_limits().max_document_bytes);
    As4Limits { max_message_bytes: state.config.limits.max_as4_message_bytes, max_payload_bytes, ..defaults }
}

/// The XHE of a verified message in memory, for the envelope layer, which
/// reads bytes. Capped by the AS4 layer's payload limit.
/// A received business receipt in memory: receipts are small, and one
/// that is not is refused here.
fn receipt_bytes(state: &Shared, verified: VerifiedUserMessage) -> Result<Vec<u8>, String> {
    let limit = state.config.limits.xml_limits().max_document_bytes as u64;
    verified.into_xhe().to_vec(limit).map_err(|e| format!("reading the received receipt: {e}"))
}

/// Keeps an envelope that was rejected without a receipt in
/// `<data_dir>/quarantine`: the envelope as received, and beside it what
/// was wrong (codes and texts, no content), for operators to inspect.
fn quarantine(state: &Shared, xhe: &Blob, as4_id: &str, original_sender: &str, problems: &str) -> std::io::Result<PathBuf> {
    let dir = state.config.data_dir.join("quarantine");
    std::fs::create_dir_all(&dir)?;
    let now = OffsetDateTime::now_utc();
    let stem = format!("{}-{}", now.unix_timestamp(), uuid::Uuid::new_v4().simple());
    let path = dir.join(format!("{stem}.xhe"));
    xhe.persist(&path)?;
    let facts = serde_json::json!({
        "receivedAt": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "as4MessageId": as4_id,
        "originalSender": original_sender,
        "problems": problems,
    });
    std::fs::write(dir.join(format!("{stem}.json")), facts.to_string())?;
    Ok(path)
}

fn audit(state: &Shared, action: AuditAction, outcome: Outcome, facts: Option<&EnvelopeFacts>, detail: &str) {
    let mut e = NewEntry::new(OffsetDateTime::now_utc(), "node", state.org_id(), action, outcome).detail(detail);
    if let Some(f) = facts {
        e = e.message_id(&f.header.id);
        if let Some(a) = &f.payload.handling_service_id {
            e = e.functional_address(a);
        }
    }
    if let Err(err) = disk_wait(|| state.audit.append(e)) {
        tracing::error!(error = %err, "audit append failed");
    }
}

/// An SDK message: open, store, and queue our business receipt.
async fn deliver_message(state: &Shared, verified: VerifiedUserMessage, sender: &ServiceMetadata) -> Result<(), String> {
    let as4_id = verified.message_id().to_owned();
    let (original_sender, final_recipient) = (verified.original_sender().to_owned(), verified.final_recipient().to_owned());
    let xhe = verified.into_xhe();
    let kept_for_operators = xhe.clone(); // a handle, not a copy
    let encryption = &state.config.keys.org_encryption;
    // The XHE signer must chain to an organisation CA and be exactly a
    // signing certificate the sender publishes in CertPub.
    let mut options = OpenOptions::new(encryption.key(), &state.config.trust.organisations, rustls_pki_types::UnixTime::now());
    options.received = Some(&state.store);
    options.limits = state.config.limits.xml_limits();
    options.federation_id = state.config.federation_id.clone();
    options.max_message_bytes = state.config.limits.max_sdk_message_bytes;
    options.spool = state.spool.clone();
    let now = OffsetDateTime::now_utc();
    let opened = envelope::open(xhe, &options).and_then(|opened| {
        let reject = |problem: Problem| envelope::Rejection {
            validation: Validation { problems: vec![problem] },
            facts: Some(opened.facts.clone()),
            receipt: ReceiptDecision::Send,
        };
        if !sender.certpub.is_signing_certificate(opened.signer.certificate(), now) {
            // TF-10: the XHE must be signed with the sender's published certificate.
            return Err(reject(Problem::sig_security(
                "Sender signature not validated: signer is not the sender's published signing certificate",
            )));
        }
        let address = opened.facts.payload.handling_service_id.as_deref().unwrap_or_default();
        if !state.config.serves_functional_address(address) {
            // B1.3.3 §5.3 row 9: functional address unknown here.
            return Err(reject(Problem::bv(
                crate::sdk::DetailCode::NotFound,
                "/messagePayload/message/messageHeader/recipient/attention/subOrganization/organizationId/extension",
                "Wrong or unknown ns:subOrganization/ns:organizationId",
            )));
        }
        Ok(opened)
    });
    // An AS4 resend (the same MessageId: the sender missed our AS4 receipt)
    // of a message already stored gets the AS4 receipt again and nothing
    // else: no second business receipt, least of all a REJECTED one for the
    // envelope layer's "BV duplicate" (ebMS 3 duplicate elimination).
    if let Err(rejection) = &opened {
        if is_stored_resend(state, rejection.facts.as_ref(), &as4_id) {
            state.metrics.bump(Counter::InboundDuplicates);
            return Ok(());
        }
    }
    // C3.4.6 §3.1.6 [a], [b], [d]: the envelope's parties must be the AS4
    // message's. If not, the envelope is handled as misaddressed (§3.2.1,
    // §3.2.2): logged, not stored, not receipted (a receipt would go to a
    // party that did not send it).
    let opened = match opened {
        Ok(o) => match party_mismatch(&o.facts, &original_sender, &final_recipient) {
            Some(problem) => Err(envelope::Rejection {
                validation: Validation { problems: vec![problem] },
                facts: Some(o.facts),
                receipt: ReceiptDecision::Withhold,
            }),
            None => Ok(o),
        },
        Err(mut r) => {
            if let Some(problem) = r.facts.as_ref().and_then(|f| party_mismatch(f, &original_sender, &final_recipient)) {
                r.validation.push(problem);
                r.receipt = ReceiptDecision::Withhold;
            }
            Err(r)
        }
    };
    // The pilots' structured document, if the message carries one, after
    // SDK's rules and before anything is stored.
    let opened = match opened {
        Ok(o) => match inbound_pilot(state, &o, now)? {
            Ok(pilot) => Ok((o, pilot)),
            Err(problems) => Err(envelope::Rejection {
                validation: Validation { problems },
                facts: Some(o.facts),
                receipt: ReceiptDecision::Send,
            }),
        },
        Err(r) => Err(r),
    };
    match opened {
        Ok((opened, pilot)) => {
            let facts = opened.facts;
            let address = facts.payload.handling_service_id.clone().unwrap_or_default();
            let conversation = opened.message_header.conversation_id.as_str().to_owned();
            let mut person = super::runtime::referenced_person(&opened.message_header);
            let mut stored_detail = "stored in inbox".to_owned();
            if let Some((thread_entry, document_person)) = pilot {
                stored_detail = format!("stored in inbox: pilot document {}", thread_entry.kind);
                // Recorded before the message is stored: a stored message
                // always has its thread entry (a resend rewrites it).
                disk_wait(|| state.conversations.record(&thread_entry)).map_err(|e| e.to_string())?;
                person = document_person.or(person);
            }
            let entry = InboxEntry::new(
                NewInboxEntry {
                    message_id: facts.header.id.clone(),
                    functional_address: address.clone(),
                    sender_org_id: facts.header.from_party.clone(),
                    recipient_org_id: facts.header.to_party.clone(),
                    conversation_id: conversation,
                },
                now,
            );
            // Our business receipt is sealed first, so that the message,
            // its RECEIPT_SENT mark and the receipt in our outbox are stored
            // in one transaction with one flush.
            let (receipt, sealed_receipt) = seal_business_receipt(state, &facts, &Validation::default())?;
            let stored = disk_wait(|| {
                state.store.receive_inbound_answered(&as4_id, entry, &opened.message_xml, &receipt, &sealed_receipt, now)
            });
            match stored.map_err(|e| e.to_string())? {
                ReceiveOutcome::Duplicate { .. } => {
                    state.metrics.bump(Counter::InboundDuplicates);
                    return Ok(());
                }
                ReceiveOutcome::Inserted => {}
            }
            state.metrics.bump(Counter::InboundAccepted);
            state.metrics.bump(Counter::BusinessReceiptsSent);
            let mut entry = NewEntry::new(now, "node", state.org_id(), AuditAction::InboundMessage, Outcome::Accepted)
                .message_id(&facts.header.id)
                .functional_address(&address)
                .detail(stored_detail);
            if let Some(p) = person {
                entry = entry.person(p);
            }
            let receipt_entry = receipt_audit_entry(state, Outcome::Accepted, &facts);
            // Both entries with one sync, before the AS4 receipt answers.
            disk_wait(|| state.audit.append_all([entry, receipt_entry])).map_err(|e| e.to_string())?;
            state.outbox_notify.notify_one();
            Ok(())
        }
        Err(rejection) => {
            state.metrics.bump(Counter::InboundRejected);
            let detail = rejection.validation.problems.iter().map(|p| format!("{} {}", p.reason.as_str(), p.detail.as_str())).collect::<Vec<_>>().join(", ");
            audit(state, AuditAction::ValidationResult, Outcome::Rejected, rejection.facts.as_ref(), &detail);
            match (&rejection.facts, rejection.receipt) {
                (Some(facts), ReceiptDecision::Send) => queue_rejection_receipt(state, facts, &rejection.validation, &as4_id),
                _ => {
                    // DIGG sends no receipt here (C3.2.4): the envelope is
                    // kept for operators and counted, which is the alert.
                    state.metrics.bump(Counter::Quarantined);
                    match quarantine(state, &kept_for_operators, &as4_id, &original_sender, &detail) {
                        Ok(path) => tracing::error!(
                            alert = true, problems = %detail, kept = %path.display(),
                            "inbound envelope rejected without receipt (DIGG): kept for operators"
                        ),
                        Err(e) => tracing::error!(
                            alert = true, problems = %detail, error = %e,
                            "inbound envelope rejected without receipt (DIGG) and could not be kept"
                        ),
                    }
                    Ok(())
                }
            }
        }
    }
}

/// What a pilot document in `opened` must pass: its own rules, agreement
/// with the message that carries it, and for a reply, the document it
/// answers among those we sent on the conversation. `Ok(Ok(None))`: no
/// pilot document; `Ok(Err(problems))`: rejected; `Err`: our storage
/// failed (no AS4 receipt, the sender retries).
#[allow(clippy::type_complexity)]
fn inbound_pilot(
    state: &Shared,
    opened: &envelope::OpenedMessage,
    now: OffsetDateTime,
) -> Result<Result<Option<(ThreadEntry, Option<PersonId>)>, Vec<Problem>>, String> {
    let header = &opened.message_header;
    let carried = match conversations::carried_documents(&opened.xml_attachments) {
        Ok(c) => c,
        Err(problem) => return Ok(Err(vec![problem])),
    };
    let mut carried = carried.into_iter();
    let Some(first) = carried.next() else { return Ok(Ok(None)) };
    if carried.next().is_some() {
        let problem = Problem::bv(crate::sdk::DetailCode::Invariant, "/messagePayload/message/messageBody", "a message carries at most one pilot document");
        return Ok(Err(vec![problem]));
    }
    let document = match first.checked {
        Ok(checked) => checked.document,
        Err(issues) => return Ok(Err(conversations::invariant_problems(&first.path, first.kind, &issues))),
    };
    let kind = document.kind();
    let mut issues = conversations::check_against_header(&document, header);
    if document.common().recipient.organisation_number.digits() != state.config.organisation.organisation_number {
        issues.push(crate::pilot::FieldIssue::mismatch("/recipient/organisationNumber", "this organisation's number"));
    }
    if !issues.is_empty() {
        return Ok(Err(conversations::invariant_problems(&first.path, kind, &issues)));
    }
    let not_found = |why: &str| Ok(Err(vec![Problem::bv(crate::sdk::DetailCode::NotFound, first.path.clone(), why.to_owned())]));
    match conversations::answered(&state.conversations, &document, Direction::Sent).map_err(|e| e.to_string())? {
        Answered::NothingToAnswer => {}
        Answered::NotFound(why) => return not_found(why),
        Answered::Found(original) => {
            if !original.counterpart_org_id.eq_ignore_ascii_case(header.sender_org_id()) {
                return not_found("the document this answers was not sent to the sender");
            }
            if let (PilotDocument::ReferralReply(reply), Ok(PilotDocument::Referral(referral))) = (&document, original.document()) {
                let issues = crate::pilot::check_reply_against_referral(reply, &referral);
                if issues.iter().any(|i| i.is_error()) {
                    return Ok(Err(conversations::invariant_problems(&first.path, kind, &issues)));
                }
            }
        }
    }
    let person = document.person().cloned();
    Ok(Ok(Some((ThreadEntry::new(&document, header, Direction::Received, now), person))))
}

/// Whether `facts` name a message stored in our inbox under the AS4
/// MessageId `as4_id`.
fn is_stored_resend(state: &Shared, facts: Option<&EnvelopeFacts>, as4_id: &str) -> bool {
    let Some(facts) = facts else { return false };
    let address = facts.payload.handling_service_id.as_deref().unwrap_or_default();
    matches!(state.store.inbox_entry(address, &facts.header.id), Ok(Some(stored)) if stored.as4_message_id() == as4_id)
}

/// The problem when the XHE's FromParty or ToParty is not the AS4
/// originalSender or finalRecipient.
fn party_mismatch(facts: &EnvelopeFacts, original_sender: &str, final_recipient: &str) -> Option<Problem> {
    let party = |role: &str| format!("/x:XHE/xha:Header/xha:{role}/xha:PartyIdentification/xhb:ID");
    if !facts.header.from_party.eq_ignore_ascii_case(original_sender) {
        return Some(Problem::bv(crate::sdk::DetailCode::Security, party("FromParty"), "XHE FromParty is not the AS4 originalSender"));
    }
    if !facts.header.to_party.eq_ignore_ascii_case(final_recipient) {
        return Some(Problem::bv(crate::sdk::DetailCode::Security, party("ToParty"), "XHE ToParty is not the AS4 finalRecipient"));
    }
    None
}

/// Seals our REJECTED receipt for a message that is not stored and puts it
/// in the outbox, recording the AS4 MessageId with it in one transaction so
/// that a resend is not answered twice. (Accepted messages go through
/// [`super::store::Store::receive_inbound_answered`].)
fn queue_rejection_receipt(state: &Shared, facts: &EnvelopeFacts, validation: &Validation, as4_id: &str) -> Result<(), String> {
    let (entry, sealed) = seal_business_receipt(state, facts, validation)?;
    let now = OffsetDateTime::now_utc();
    match disk_wait(|| state.store.submit_rejection(as4_id, &facts.header.id, &entry, &sealed, now)).map_err(|e| e.to_string())? {
        ReceiveOutcome::Inserted => {}
        ReceiveOutcome::Duplicate { .. } => {
            state.metrics.bump(Counter::InboundDuplicates);
            return Ok(());
        }
    }
    state.metrics.bump(Counter::BusinessReceiptsSent);
    let e = receipt_audit_entry(state, Outcome::Rejected, facts);
    if let Err(err) = disk_wait(|| state.audit.append(e)) {
        tracing::error!(error = %err, "audit append failed");
    }
    state.outbox_notify.notify_one();
    Ok(())
}

/// Our business receipt for `facts`, sealed, and its new outbox entry.
fn seal_business_receipt(state: &Shared, facts: &EnvelopeFacts, validation: &Validation) -> Result<(OutboxEntry, Vec<u8>), String> {
    let now = OffsetDateTime::now_utc();
    let receipt = envelope::receipt_for(facts, uuid::Uuid::new_v4().to_string(), now, validation);
    let signing = &state.config.keys.org_signing;
    let sealed = envelope::seal_receipt(&receipt, facts, signing.key(), signing.certificate(), &SigningOptions::default(), now)
        .map_err(|e| e.to_string())?;
    let entry = OutboxEntry::new(
        NewOutboxEntry {
            id: receipt.id.clone(),
            recipient_org_id: facts.header.from_party.clone(),
            recipient_functional_address: facts.payload.handling_service_id.clone().unwrap_or_default(),
            document_type: DocumentType::Receipt,
            conversation_id: facts.header.id.clone(),
        },
        now,
        &state.retry,
    );
    Ok((entry, sealed))
}

/// The audit entry for a business receipt we queued.
fn receipt_audit_entry(state: &Shared, outcome: Outcome, facts: &EnvelopeFacts) -> NewEntry {
    let mut e = NewEntry::new(OffsetDateTime::now_utc(), "node", state.org_id(), AuditAction::BusinessReceipt, outcome)
        .detail("receipt queued")
        .message_id(&facts.header.id);
    if let Some(a) = &facts.payload.handling_service_id {
        e = e.functional_address(a);
    }
    e
}

/// A business receipt for one of our messages: verify it came from the
/// organisation we sent to, and correlate. Receipts are never receipted.
fn deliver_receipt(state: &Shared, verified: VerifiedUserMessage, sender: &ServiceMetadata) -> Result<(), String> {
    let as4_id = verified.message_id().to_owned();
    let now = OffsetDateTime::now_utc();
    let opened = envelope::open_receipt(
        receipt_bytes(state, verified)?,
        &state.config.trust.organisations,
        rustls_pki_types::UnixTime::now(),
        &state.config.limits.xml_limits(),
    );
    let opened = match opened {
        Ok(o) if sender.certpub.is_signing_certificate(o.signer.certificate(), now) => o,
        Ok(_) => {
            audit(state, AuditAction::BusinessReceipt, Outcome::Rejected, None, "receipt signed by a certificate the sender does not publish");
            return Ok(());
        }
        Err(v) => {
            let detail = v.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ");
            audit(state, AuditAction::BusinessReceipt, Outcome::Rejected, None, &format!("invalid receipt: {detail}"));
            return Ok(());
        }
    };
    let r = &opened.receipt;
    let business = BusinessReceipt {
        receipt_id: r.id.clone(),
        from_org_id: opened.facts.header.from_party.clone(),
        accepted: r.response == ResponseCode::Accepted,
        lines: r.lines.iter().map(StoredReceiptLine::from).collect(),
        received_at: now,
    };
    match disk_wait(|| state.store.receive_receipt(&as4_id, &r.document_reference, business)) {
        Ok(ReceiptOutcome::Correlated(entry)) => {
            state.metrics.bump(Counter::BusinessReceiptsReceived);
            let outcome = if r.response == ResponseCode::Accepted { Outcome::Accepted } else { Outcome::Rejected };
            let e = NewEntry::new(now, "node", state.org_id(), AuditAction::BusinessReceipt, outcome)
                .message_id(entry.id())
                .conversation_id(entry.conversation_id())
                .detail("business receipt correlated");
            disk_wait(|| state.audit.append(e)).map_err(|e| e.to_string())?;
            Ok(())
        }
        Ok(ReceiptOutcome::Duplicate { .. }) => Ok(()),
        Err(e) => {
            // Refused correlations (unknown message, wrong sender) are
            // logged, never answered.
            tracing::warn!(error = %e, "business receipt not correlated");
            audit(state, AuditAction::BusinessReceipt, Outcome::Error, Some(&opened.facts), &format!("not correlated: {e}"));
            Ok(())
        }
    }
}
