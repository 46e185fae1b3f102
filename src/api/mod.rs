//! DIGG's message API (B1.4.2, `sdk-api-restful.yml`) on the node's API
//! listener, with OAuth2 client credentials, `Idempotency-Key` on create,
//! and the node's own OpenAPI document. `docs/api.md` describes it for
//! client developers.
//!
//! - [`digg`]: `POST/GET /v1/sdk/messages`, `GET/DELETE
//!   /v1/sdk/messages/{messageId}`, statuses mapped from the outbox and
//!   inbox.
//! - [`json`]: SDK messages as the API's JSON, and create requests read.
//! - [`auth`], [`scope`], [`secret`], [`token`]: the token endpoint
//!   (`POST /oauth2/token`), JWT access tokens, scopes, client secrets.
//! - [`idempotency`], [`records`]: what the API keeps in the node's store.
//! - [`uploads`]: `POST /v1/brygga/attachments`, attachments uploaded as
//!   raw bytes for a later create request to name by `attachmentId`.
//! - [`openapi`]: `GET /v1/openapi.yaml`.
//!
//! Every refusal (401, 403, a message of another client asked for) is
//! written to the audit log as ACCESS_DENIED, with the client id as actor
//! when known and never a secret or token.

pub mod auth;
pub mod digg;
pub mod idempotency;
pub mod json;
pub mod openapi;
pub mod pilot;
pub mod problem;
pub mod records;
pub mod scope;
pub mod secret;
pub mod token;
pub mod uploads;
pub mod webhook;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use time::OffsetDateTime;

use crate::audit::{Action, NewEntry, Outcome};
use crate::node::runtime::{NodeError, Shared};
use auth::{Auth, Principal};
use idempotency::Idempotency;
use problem::ApiProblem;
use records::Records;
use scope::Scope;

/// The API's state: the node's, plus tokens, keys and records.
pub struct Api {
    pub node: Shared,
    pub auth: Auth,
    pub idempotency: Idempotency,
    pub records: Records,
    pub webhooks: Arc<webhook::Webhooks>,
    pub uploads: Arc<uploads::Uploads>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").finish_non_exhaustive()
    }
}

impl Api {
    /// Opens the API's trees in the node's store and its token key.
    pub fn open(node: &Shared) -> Result<Arc<Api>, NodeError> {
        let config = &node.config;
        let auth = Auth::new(&config.api, config.organisation.id.as_str(), &config.data_dir).map_err(NodeError::Other)?;
        let idempotency = Idempotency::new(node.store.api_tree("idempotency")?, config.api.idempotency_hours);
        let records = Records::open(&node.store, config.data_dir.join("api").join("sent-xml"))?;
        let log = webhook::EventLog::open(&node.store)?;
        let webhooks = Arc::new(webhook::Webhooks::new(log, records.clone(), &config.api).map_err(NodeError::Other)?);
        if webhooks.any() {
            node.store.set_observer(webhooks.clone());
        }
        let uploads = uploads::Uploads::open(config.data_dir.join("uploads"), node.store.api_tree("uploads")?, config.api.upload_hours)
            .map_err(|e| NodeError::Other(format!("attachment uploads: {e}")))?;
        Ok(Arc::new(Api { node: node.clone(), auth, idempotency, records, webhooks, uploads: Arc::new(uploads) }))
    }

    /// Writes a refusal to the audit log. Identifiers that the log would
    /// refuse (too long, control characters) are left out.
    pub fn audit_denied(&self, actor: Option<&str>, detail: &str, functional_address: Option<&str>, message_id: Option<&str>) {
        let fit = |s: &str| !s.is_empty() && s.len() <= 256 && !s.chars().any(char::is_control);
        let mut entry = NewEntry::new(
            OffsetDateTime::now_utc(),
            actor.filter(|a| fit(a)).unwrap_or("anonymous"),
            self.node.org_id(),
            Action::AccessDenied,
            Outcome::Denied,
        )
        .detail(detail);
        if let Some(a) = functional_address.filter(|a| fit(a)) {
            entry = entry.functional_address(a);
        }
        if let Some(m) = message_id.filter(|m| fit(m)) {
            entry = entry.message_id(m);
        }
        if let Err(e) = self.node.audit.append(entry) {
            tracing::error!(error = %e, "refusal not written to the audit log");
        }
    }

    /// The caller, if its bearer token checks out and carries `scope`:
    /// else 401 (no or bad token) or 403 (scope missing), audited.
    /// `operation` is the operationId, for the audit log.
    pub async fn authorize(&self, headers: &HeaderMap, scope: Scope, operation: &str) -> Result<Principal, Response> {
        let unauthorized = |error: Option<&str>, detail: &str| {
            let challenge = match error {
                Some(e) => format!("Bearer realm=\"brygga\", error=\"{e}\", error_description=\"{detail}\""),
                None => "Bearer realm=\"brygga\"".to_owned(),
            };
            ApiProblem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
                .with_header(header::WWW_AUTHENTICATE, &challenge)
                .respond(headers)
        };
        let Some(token) = bearer_token(headers) else {
            self.audit_denied(None, &format!("{operation}: no bearer token"), None, None);
            return Err(unauthorized(None, "a bearer access token is required"));
        };
        let mut principal = match self.auth.verify(token).await {
            Ok(p) => p,
            Err(refused) => {
                self.audit_denied(refused.client_id.as_deref(), &format!("{operation}: token refused: {}", refused.reason), None, None);
                return Err(unauthorized(Some("invalid_token"), &refused.reason));
            }
        };
        // Only this node's addresses count, whatever an issuer put in.
        principal.functional_addresses.retain(|a| self.node.config.serves_functional_address(a));
        if !principal.has(scope) {
            self.audit_denied(Some(&principal.client_id), &format!("{operation}: scope {} missing", scope.as_str()), None, None);
            let challenge = format!("Bearer realm=\"brygga\", error=\"insufficient_scope\", scope=\"{}\"", scope::scope_string(&[scope]));
            return Err(ApiProblem::new(StatusCode::FORBIDDEN, "insufficientScope", format!("the token lacks scope {}", scope.as_str()))
                .with_header(header::WWW_AUTHENTICATE, &challenge)
                .respond(headers));
        }
        Ok(principal)
    }

    /// 403 for a functional address of this node the client does not act
    /// for, audited.
    pub fn deny_address(&self, headers: &HeaderMap, principal: &Principal, operation: &str, address: &str) -> Response {
        self.audit_denied(
            Some(&principal.client_id),
            &format!("{operation}: functional address not granted to the client"),
            Some(address),
            None,
        );
        ApiProblem::new(StatusCode::FORBIDDEN, "forbiddenFunctionalAddress", format!("the client may not act for functional address {address}"))
            .respond(headers)
    }
}

/// The token of `Authorization: Bearer <token>`.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The listener's routes: the node's local API, DIGG's message API, the
/// token endpoint and the OpenAPI document.
pub fn router(node: Shared, api: Arc<Api>) -> Router {
    // A JSON create body carries the message base64-encoded: room for the
    // largest message, a third more, and the JSON around it.
    let max_json = node.config.limits.max_sdk_message_bytes / 3 * 4 + 4 * 1024 * 1024;
    let digg = Router::new()
        .route("/v1/sdk/messages", post(digg::create).get(digg::list))
        .route("/v1/sdk/messages/{messageId}", get(digg::get_by_id).delete(digg::delete))
        .layer(DefaultBodyLimit::max(max_json))
        // Streamed to the spool under limits.max_sdk_message_bytes.
        .route(uploads::BASE, post(uploads::upload))
        .route("/v1/brygga/attachments/{attachmentId}", get(uploads::get_upload).delete(uploads::delete_upload))
        .route("/v1/brygga/pilot/documents", get(pilot::list))
        .route("/v1/brygga/pilot/documents/{messageId}", get(pilot::get_document))
        .route("/v1/brygga/pilot/conversations/{conversationId}", get(pilot::thread))
        .route("/v1/brygga/pilot/{kind}", post(pilot::submit))
        .route("/v1/brygga/webhook-events", get(webhook::list_events))
        .route("/v1/brygga/webhook-events/replay", post(webhook::replay_events))
        .route("/oauth2/token", post(token::token))
        .route("/v1/openapi.yaml", get(openapi::document))
        .with_state(api);
    crate::node::api::router(node).merge(digg)
}
