//! `POST /oauth2/token`: the client credentials grant (RFC 6749 §4.4).
//!
//! `application/x-www-form-urlencoded` with `grant_type=client_credentials`
//! and optionally `scope`; the client authenticates with HTTP Basic
//! (`client_id:client_secret`, each form-urlencoded first, RFC 6749
//! §2.3.1) or with `client_id` and `client_secret` form fields, not both.
//! Answers per RFC 6749 §5.1/§5.2, never cached. A refused request is
//! audited (ACCESS_DENIED) without the secret.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;
use std::sync::Arc;

use super::auth::{sane, GrantError};
use super::Api;

fn no_store(status: StatusCode, body: serde_json::Value, extra: Option<(header::HeaderName, &str)>) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")],
        body.to_string(),
    )
        .into_response();
    if let Some((name, value)) = extra {
        if let Ok(v) = header::HeaderValue::from_str(value) {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

fn oauth_error(error: &str, description: &str) -> Response {
    no_store(StatusCode::BAD_REQUEST, json!({ "error": error, "error_description": description }), None)
}

/// Form fields; a field given twice is an error (RFC 6749 §3.2).
fn form_fields(body: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut fields = HashMap::new();
    for (k, v) in form_urlencoded_pairs(body) {
        if fields.insert(k.clone(), v).is_some() {
            return Err(format!("parameter {k} given more than once"));
        }
    }
    Ok(fields)
}

/// `application/x-www-form-urlencoded` pairs, decoded.
pub fn form_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    body.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Client id and secret from `Authorization: Basic`.
fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = match base64::engine::general_purpose::STANDARD.decode(rest.trim()) {
        Ok(d) => d,
        Err(_) => return Some(Err(())),
    };
    let Some(colon) = decoded.iter().position(|&b| b == b':') else { return Some(Err(())) };
    Some(Ok((percent_decode(&decoded[..colon]), percent_decode(&decoded[colon + 1..]))))
}

pub async fn token(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !form {
        return oauth_error("invalid_request", "the body must be application/x-www-form-urlencoded");
    }
    if body.len() > 16 * 1024 {
        return oauth_error("invalid_request", "the request is too large");
    }
    let fields = match form_fields(&body) {
        Ok(f) => f,
        Err(e) => return oauth_error("invalid_request", &e),
    };
    match fields.get("grant_type").map(String::as_str) {
        None => return oauth_error("invalid_request", "grant_type is required"),
        Some("client_credentials") => {}
        Some(_) => return oauth_error("unsupported_grant_type", "only client_credentials is supported"),
    }
    let basic = basic_credentials(&headers);
    let (client_id, secret, used_basic) = match (basic, fields.get("client_id"), fields.get("client_secret")) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return oauth_error("invalid_request", "use one client authentication method, not HTTP Basic and form fields both")
        }
        (Some(Ok((id, secret))), None, None) => (id, secret, true),
        (Some(Err(())), _, _) => return invalid_client(&api, None, "malformed HTTP Basic credentials", true),
        (None, Some(id), Some(secret)) => (id.clone(), secret.clone(), false),
        (None, _, _) => return invalid_client(&api, None, "no client credentials", false),
    };
    match api.auth.grant(&client_id, &secret, fields.get("scope").map(String::as_str)).await {
        Ok(response) => {
            tracing::info!(client = %client_id, "access token issued");
            no_store(StatusCode::OK, serde_json::to_value(&response).unwrap_or_default(), None)
        }
        Err(GrantError::InvalidClient { client_id: known, .. }) => {
            let detail = match &known {
                Some(id) if api.node.config.api.clients.iter().any(|c| c.id == *id) => "wrong client secret".to_owned(),
                Some(id) => format!("unknown client {id}"),
                None => "unknown client".to_owned(),
            };
            let actor = known.filter(|id| api.node.config.api.clients.iter().any(|c| c.id == *id));
            invalid_client(&api, actor.as_deref(), &detail, used_basic)
        }
        Err(GrantError::InvalidScope { client_id, scope }) => {
            let shown: String = scope.chars().take(200).collect();
            api.audit_denied(Some(&client_id), &format!("token request: scope not granted: {shown}"), None, None);
            oauth_error("invalid_scope", "the requested scope is unknown or not granted to this client")
        }
        Err(GrantError::InvalidRequest(e)) => oauth_error("invalid_request", &e),
        Err(GrantError::UnsupportedGrantType) => oauth_error("unsupported_grant_type", "only client_credentials is supported"),
        Err(GrantError::Unavailable) => no_store(StatusCode::SERVICE_UNAVAILABLE, json!({ "error": "temporarily_unavailable" }), None),
    }
}

fn invalid_client(api: &Api, actor: Option<&str>, detail: &str, basic: bool) -> Response {
    api.audit_denied(actor.and_then(sane).as_deref(), &format!("token request: {detail}"), None, None);
    let challenge = basic.then_some((header::WWW_AUTHENTICATE, "Basic realm=\"brygga\""));
    no_store(StatusCode::UNAUTHORIZED, json!({ "error": "invalid_client", "error_description": "client authentication failed" }), challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_decode() {
        let pairs = form_urlencoded_pairs(b"grant_type=client_credentials&scope=urn%3Asdk.api%3AgetMessage+x&e=&z=%zz%4");
        assert_eq!(pairs[0], ("grant_type".into(), "client_credentials".into()));
        assert_eq!(pairs[1], ("scope".into(), "urn:sdk.api:getMessage x".into()));
        assert_eq!(pairs[2], ("e".into(), "".into()));
        assert_eq!(pairs[3], ("z".into(), "%zz%4".into()));
        assert!(form_fields(b"a=1&a=2").is_err());
    }
}
