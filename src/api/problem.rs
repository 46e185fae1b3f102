//! Error answers of DIGG's message API: RFC 7807 problem objects in the
//! shape of the specification's `Events` schema (`EventDef` plus
//! `eventIssues`, one issue per thing wrong, each naming where in `in`).
//!
//! DIGG's OpenAPI document declares these bodies as `application/json`, so
//! that is the media type unless the client's `Accept` asks for
//! `application/problem+json` (RFC 7807), which it then gets.
//! `type` and `instance` are absolute URIs, as the schema's `format: uri`
//! requires: `urn:problem-type:sdk:badRequest` (B1.4.2's KV Type) for bad
//! input, `urn:problem-type:brygga:<what>` for the rest, and
//! `urn:uuid:<random>` naming the occurrence.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value};

/// The B1.4.2 problem type of a synchronous bad request.
pub const BAD_REQUEST_TYPE: &str = "urn:problem-type:sdk:badRequest";
/// `typeCode` of the issues of a bad request (B1.4.2's BadRequest example).
pub const BAD_REQUEST_CODE: &str = "MESSAGE_EXCHANGE_ERROR";

/// One entry of `eventIssues`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    #[serde(rename = "typeCode")]
    pub type_code: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Where: a JSON pointer into the request body, `query:filter[…]`,
    /// `header:…` or `path:messageId`.
    #[serde(rename = "in", skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl Issue {
    /// A bad-request issue at `location`.
    pub fn at(location: impl Into<String>, title: impl Into<String>, detail: impl Into<String>) -> Issue {
        Issue {
            type_code: BAD_REQUEST_CODE.to_owned(),
            title: title.into(),
            detail: Some(detail.into()),
            location: Some(location.into()),
        }
    }
}

/// A problem answer.
#[derive(Debug, Clone)]
pub struct ApiProblem {
    pub status: StatusCode,
    pub problem_type: String,
    pub detail: String,
    pub issues: Vec<Issue>,
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiProblem {
    pub fn new(status: StatusCode, what: &str, detail: impl Into<String>) -> ApiProblem {
        let problem_type = if status == StatusCode::BAD_REQUEST {
            BAD_REQUEST_TYPE.to_owned()
        } else {
            format!("urn:problem-type:brygga:{what}")
        };
        ApiProblem { status, problem_type, detail: detail.into(), issues: Vec::new(), headers: Vec::new() }
    }

    /// 400 with the issues found; `detail` is B1.4.2's code.
    pub fn bad_request(issues: Vec<Issue>) -> ApiProblem {
        let mut p = ApiProblem::new(StatusCode::BAD_REQUEST, "badRequest", BAD_REQUEST_CODE);
        p.issues = issues;
        p
    }

    pub fn with_header(mut self, name: header::HeaderName, value: &str) -> ApiProblem {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    pub fn body(&self) -> Value {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let mut body = json!({
            "type": self.problem_type,
            "title": title,
            "status": self.status.as_u16(),
            "detail": self.detail,
            "instance": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        });
        if !self.issues.is_empty() {
            body["eventIssues"] = serde_json::to_value(&self.issues).unwrap_or(Value::Null);
        }
        body
    }

    /// The response, in the media type the request's `Accept` prefers.
    pub fn respond(self, request_headers: &HeaderMap) -> Response {
        let wants_problem = request_headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("application/problem+json"));
        let content_type = if wants_problem { "application/problem+json" } else { "application/json" };
        let mut response = (self.status, [(header::CONTENT_TYPE, content_type)], self.body().to_string()).into_response();
        for (name, value) in self.headers {
            response.headers_mut().append(name, value);
        }
        response
    }
}
