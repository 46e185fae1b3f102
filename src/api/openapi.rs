//! `GET /v1/openapi.yaml`: the node's own OpenAPI document — DIGG's
//! message API as this node implements it, plus the token endpoint and the
//! local endpoints. Kept in the repository (`api/brygga-openapi.yaml`) and
//! built into the binary.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The document.
pub const DOCUMENT: &str = include_str!("../../api/brygga-openapi.yaml");

pub async fn document() -> Response {
    ([(header::CONTENT_TYPE, "application/yaml"), (header::CACHE_CONTROL, "max-age=3600")], DOCUMENT).into_response()
}
