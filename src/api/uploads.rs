//! Attachments uploaded ahead of a create request (`POST
//! /v1/brygga/attachments`), so a large file need not travel as base64
//! inside the create request's JSON.
//!
//! The body is the file's raw bytes, streamed to the spool under
//! `limits.max_sdk_message_bytes` and then kept (fsynced) as
//! `<data_dir>/uploads/<attachmentId>`; what is known about it ([`Upload`]:
//! owner, size, SHA-256, media type, file name, expiry) is in the store's
//! `api/uploads` tree, written after the file. An upload belongs to the
//! client that made it: to every other client it does not exist (404).
//!
//! A create request names an upload with `attachmentId` in place of
//! `content` (see [`super::json`]); the message XML is then written with
//! the file's base64 streamed from disk (see [`super::digg`]), and the
//! upload is removed once the message is accepted.
//!
//! Unused uploads expire after `api.upload_hours` (default 24 h): an
//! expired upload is gone for lookups at once, and its file and record are
//! removed at start-up and by [`Uploads::run`] every few minutes. Files
//! without a record (a crash between file and record) are removed at
//! start-up, and later once they are an hour old.
//!
//! Not done here: content checks. The SDK rules (media type, active
//! content) run on the message that uses the upload.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sled::Tree;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::problem::{ApiProblem, Issue};
use super::scope::Scope;
use super::Api;
use crate::node::store::StoreError;
use crate::spool::{spool_http_body, Blob, BodyError};

/// Where uploads are addressed.
pub const BASE: &str = "/v1/brygga/attachments";
const RECORD_V1: u8 = 1;
/// Longest file name, in characters.
pub const FILE_NAME_MAX_CHARS: usize = 255;
/// Longest media type, in bytes.
const CONTENT_TYPE_MAX_BYTES: usize = 255;
/// How often expired uploads are removed.
const SWEEP_INTERVAL: Duration = Duration::from_secs(300);
/// A file without a record this old is left over from a crash.
const ORPHAN_AGE: Duration = Duration::from_secs(3600);

/// What is kept about one upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    pub client_id: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    pub content_type: String,
    pub file_name: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    pub expires_at: i64,
}

impl Upload {
    fn expired(&self, now: OffsetDateTime) -> bool {
        now.unix_timestamp() >= self.expires_at
    }

    /// The upload as the API shows it.
    pub fn to_json(&self, id: &str) -> serde_json::Value {
        let expires = OffsetDateTime::from_unix_timestamp(self.expires_at).ok().and_then(|t| t.format(&Rfc3339).ok());
        let mut out = json!({
            "attachmentId": id,
            "size": self.size,
            "sha256": self.sha256,
            "contentType": self.content_type,
            "expiresAt": expires,
        });
        if let Some(name) = &self.file_name {
            out["fileName"] = json!(name);
        }
        out
    }
}

/// Why an upload could not be kept or read.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("upload file: {0}")]
    File(#[from] std::io::Error),
}

/// The uploads of the node's API.
pub struct Uploads {
    dir: PathBuf,
    tree: Tree,
    lifetime: time::Duration,
    /// Uploads a create request is using right now.
    claimed: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Uploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploads").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// Uploads held by one create request; released when dropped.
pub struct Claim<'a> {
    uploads: &'a Uploads,
    ids: Vec<String>,
}

impl Claim<'_> {
    pub fn ids(&self) -> &[String] {
        &self.ids
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut claimed = self.uploads.claimed.lock().unwrap_or_else(|e| e.into_inner());
        for id in &self.ids {
            claimed.remove(id);
        }
    }
}

fn encode(upload: &Upload) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![RECORD_V1];
    serde_json::to_writer(&mut bytes, upload).map_err(StoreError::Encode)?;
    Ok(bytes)
}

fn decode(key: &str, bytes: &[u8]) -> Result<Upload, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt { tree: "api/uploads", key: key.to_owned(), reason };
    match bytes.split_first() {
        Some((&RECORD_V1, rest)) => serde_json::from_slice(rest).map_err(|e| corrupt(e.to_string())),
        _ => Err(corrupt("unknown record version".into())),
    }
}

/// An attachment id as the API writes it: a UUID, lower case, hyphenated.
pub fn parse_id(text: &str) -> Option<String> {
    let id = uuid::Uuid::try_parse(text).ok()?.hyphenated().to_string();
    (id == text).then_some(id)
}

impl Uploads {
    /// Opens the uploads in `dir` (created if missing) with their records
    /// in `tree`, and removes what expired or was left by a crash.
    pub fn open(dir: PathBuf, tree: Tree, lifetime_hours: u64) -> Result<Uploads, UploadError> {
        std::fs::create_dir_all(&dir)?;
        let uploads = Uploads {
            dir,
            tree,
            lifetime: time::Duration::hours(lifetime_hours.min(i64::MAX as u64) as i64),
            claimed: Mutex::new(HashSet::new()),
        };
        let removed = uploads.sweep(OffsetDateTime::now_utc(), Duration::ZERO)?;
        if removed > 0 {
            tracing::info!(removed, "expired or unfinished attachment uploads removed");
        }
        Ok(uploads)
    }

    fn file(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Keeps `blob` as upload `id`: the file first (fsynced), then its record.
    pub fn put(&self, id: &str, blob: &Blob, upload: &Upload) -> Result<(), UploadError> {
        blob.persist(&self.file(id))?;
        let stored = (|| -> Result<(), StoreError> {
            self.tree.insert(id, encode(upload)?)?;
            self.tree.flush()?;
            Ok(())
        })();
        if let Err(e) = stored {
            let _ = std::fs::remove_file(self.file(id));
            return Err(e.into());
        }
        Ok(())
    }

    /// Upload `id` if `client_id` made it and it has not expired.
    pub fn get(&self, client_id: &str, id: &str, now: OffsetDateTime) -> Result<Option<Upload>, StoreError> {
        let Some(bytes) = self.tree.get(id)? else { return Ok(None) };
        let upload = decode(id, &bytes)?;
        Ok((upload.client_id == client_id && !upload.expired(now)).then_some(upload))
    }

    /// The bytes of upload `id`.
    pub fn content(&self, id: &str) -> Result<Blob, UploadError> {
        Ok(Blob::open_file(self.file(id))?)
    }

    /// Forgets upload `id`: its record, then its file.
    pub fn remove(&self, id: &str) -> Result<(), UploadError> {
        self.tree.remove(id).map_err(StoreError::from)?;
        self.tree.flush().map_err(StoreError::from)?;
        match std::fs::remove_file(self.file(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Holds `ids` for one create request; `None` when another request
    /// holds one of them.
    pub fn claim(&self, ids: &[String]) -> Option<Claim<'_>> {
        let mut claimed = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
        if ids.iter().any(|id| claimed.contains(id)) {
            return None;
        }
        claimed.extend(ids.iter().cloned());
        Some(Claim { uploads: self, ids: ids.to_vec() })
    }

    fn is_claimed(&self, id: &str) -> bool {
        self.claimed.lock().unwrap_or_else(|e| e.into_inner()).contains(id)
    }

    /// Removes expired uploads, and files without a record at least
    /// `orphan_age` old. Returns how many were removed.
    pub fn sweep(&self, now: OffsetDateTime, orphan_age: Duration) -> Result<usize, UploadError> {
        let mut removed = 0;
        let mut expired = Vec::new();
        for item in self.tree.iter() {
            let (k, v) = item.map_err(StoreError::from)?;
            let id = String::from_utf8_lossy(&k).into_owned();
            // An unreadable record is as good as expired.
            if decode(&id, &v).map_or(true, |u| u.expired(now)) {
                expired.push(id);
            }
        }
        for id in expired {
            if !self.is_claimed(&id) {
                self.remove(&id)?;
                removed += 1;
            }
        }
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let known = parse_id(&name).is_some_and(|id| self.tree.contains_key(id).unwrap_or(true));
            if known {
                continue;
            }
            let age = entry.metadata().and_then(|m| m.modified()).ok().and_then(|m| m.elapsed().ok()).unwrap_or_default();
            if age >= orphan_age && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes expired uploads every few minutes until `stop` changes.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
            }
            let me = self.clone();
            match tokio::task::spawn_blocking(move || me.sweep(OffsetDateTime::now_utc(), ORPHAN_AGE)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(removed)) => tracing::info!(removed, "expired attachment uploads removed"),
                Ok(Err(e)) => tracing::warn!(error = %e, "expired attachment uploads not removed"),
                Err(e) => tracing::warn!(error = %e, "upload sweep failed"),
            }
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

// ---------------------------------------------------------------------------
// Request headers
// ---------------------------------------------------------------------------

/// A file name the message can carry: 1 to 255 characters, no control
/// characters, no path.
pub fn check_file_name(name: &str) -> Result<(), &'static str> {
    // XML's white space: what the message rules count as empty.
    if name.trim_matches([' ', '\t', '\r', '\n']).is_empty() {
        return Err("the file name is empty");
    }
    if name.chars().count() > FILE_NAME_MAX_CHARS {
        return Err("the file name is longer than 255 characters");
    }
    if name.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
        return Err("the file name has a control character or a path separator");
    }
    Ok(())
}

/// The `filename` of `Content-Disposition` (RFC 6266): `filename*` with
/// UTF-8 preferred, else `filename` (a token or a quoted string).
/// `Err` when the header is there but cannot be read.
pub fn disposition_file_name(value: &str) -> Result<Option<String>, &'static str> {
    let mut plain = None;
    let mut extended = None;
    let mut rest = value;
    // The disposition type, then `; name=value` parameters.
    let Some(i) = rest.find(';') else { return Ok(None) };
    rest = &rest[i + 1..];
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let eq = rest.find('=').ok_or("a parameter without a value")?;
        let name = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => out.push(chars.next().ok_or("an unfinished quoted string")?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => out.push(c),
                }
            }
            rest = &quoted[end.ok_or("an unfinished quoted string")?..];
            out
        } else {
            let end = rest.find(';').unwrap_or(rest.len());
            let token = rest[..end].trim().to_owned();
            rest = &rest[end..];
            token
        };
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix(';') {
            rest = after;
        } else if !rest.is_empty() {
            return Err("text after a parameter");
        }
        match name.as_str() {
            "filename" => plain = Some(value),
            "filename*" => {
                let (charset, encoded) = value.split_once('\'').ok_or("filename* without a character set")?;
                let (_, encoded) = encoded.split_once('\'').ok_or("filename* without a language")?;
                if !charset.eq_ignore_ascii_case("utf-8") {
                    return Err("filename* is not UTF-8");
                }
                extended = Some(percent_decode(encoded).ok_or("filename* is not percent-encoded UTF-8")?);
            }
            _ => {}
        }
    }
    Ok(extended.or(plain))
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A media type: `type/subtype`, optional parameters, printable ASCII.
fn check_content_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((t, s)) = essence.split_once('/') else { return false };
    let token = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b));
    value.len() <= CONTENT_TYPE_MAX_BYTES && token(t) && token(s) && value.bytes().all(|b| (0x20..0x7f).contains(&b))
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn internal(headers: &HeaderMap, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "attachment upload failure");
    ApiProblem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the node could not complete the request").respond(headers)
}

fn too_large(headers: &HeaderMap, limit: u64) -> Response {
    ApiProblem::new(StatusCode::PAYLOAD_TOO_LARGE, "attachmentTooLarge", format!("an attachment is at most {limit} bytes (limits.max_sdk_message_bytes)"))
        .respond(headers)
}

/// `POST /v1/brygga/attachments`
pub async fn upload(State(api): State<Arc<Api>>, headers: HeaderMap, RawQuery(query): RawQuery, body: Body) -> Response {
    let principal = match api.authorize(&headers, Scope::SendMessage, "uploadAttachment").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let limit = api.node.config.limits.max_sdk_message_bytes as u64;
    let mut issues = Vec::new();
    let declared = match headers.get(header::CONTENT_LENGTH).map(|v| v.to_str().ok().and_then(|v| v.parse::<u64>().ok())) {
        None => None,
        Some(Some(n)) => Some(n),
        Some(None) => {
            issues.push(Issue::at("header:Content-Length", "Invalid value", "must be a number of bytes"));
            None
        }
    };
    // Refused before a byte is read.
    if declared.is_some_and(|n| n > limit) {
        return too_large(&headers, limit);
    }
    let content_type = match headers.get(header::CONTENT_TYPE).map(|v| v.to_str()) {
        Some(Ok(v)) if check_content_type(v.trim()) => Some(v.trim().to_owned()),
        Some(_) => {
            issues.push(Issue::at("header:Content-Type", "Invalid value", "must be the file's media type, type/subtype"));
            None
        }
        None => {
            issues.push(Issue::at("header:Content-Type", "Missing", "the file's media type is required"));
            None
        }
    };
    let mut from_query = None;
    for (k, v) in super::token::form_urlencoded_pairs(query.as_deref().unwrap_or("").as_bytes()) {
        if k == "fileName" && from_query.is_none() {
            from_query = Some(v);
        } else {
            let at = if k == "fileName" { "query:fileName".to_owned() } else { "query".to_owned() };
            issues.push(Issue::at(at, "Invalid value", "the only parameter is fileName, once"));
        }
    }
    let from_header = match headers.get(header::CONTENT_DISPOSITION).map(|v| v.to_str()) {
        None => Ok(None),
        Some(Ok(v)) => disposition_file_name(v),
        Some(Err(_)) => Err("not ASCII (use filename*=UTF-8''…)"),
    };
    let file_name = match (from_query, from_header) {
        (Some(name), _) => match check_file_name(&name) {
            Ok(()) => Some(name),
            Err(why) => {
                issues.push(Issue::at("query:fileName", "Invalid value", why));
                None
            }
        },
        (None, Ok(Some(name))) => match check_file_name(&name) {
            Ok(()) => Some(name),
            Err(why) => {
                issues.push(Issue::at("header:Content-Disposition", "Invalid value", why));
                None
            }
        },
        (None, Ok(None)) => None,
        (None, Err(why)) => {
            issues.push(Issue::at("header:Content-Disposition", "Invalid value", why));
            None
        }
    };
    if !issues.is_empty() {
        return ApiProblem::bad_request(issues).respond(&headers);
    }
    let Some(content_type) = content_type else { return internal(&headers, "content type lost") };

    // Hashed as it streams by, so the file is not read twice.
    let digest = Arc::new(Mutex::new(ring::digest::Context::new(&ring::digest::SHA256)));
    let hashing = {
        use http_body_util::BodyExt as _;
        let digest = digest.clone();
        Body::new(body.map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                digest.lock().unwrap_or_else(|e| e.into_inner()).update(data);
            }
            frame
        }))
    };
    let blob = match spool_http_body(&api.node.spool, declared, hashing, limit).await {
        Ok(blob) => blob,
        Err(BodyError::TooLarge { .. }) => return too_large(&headers, limit),
        Err(BodyError::Read(e)) => {
            return ApiProblem::bad_request(vec![Issue::at("body", "Unreadable body", e)]).respond(&headers);
        }
        Err(BodyError::Storage(e)) => return internal(&headers, e),
    };
    if blob.is_empty() {
        return ApiProblem::bad_request(vec![Issue::at("body", "Missing", "the attachment is empty")]).respond(&headers);
    }
    let sha256 = {
        let context = digest.lock().unwrap_or_else(|e| e.into_inner()).clone();
        context.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let now = OffsetDateTime::now_utc();
    let upload = Upload {
        client_id: principal.client_id.clone(),
        size: blob.len(),
        sha256,
        content_type,
        file_name,
        created_at: now.unix_timestamp(),
        expires_at: (now + api.uploads.lifetime).unix_timestamp(),
    };
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    let h = headers.clone();
    let a = api.clone();
    let stored = tokio::task::spawn_blocking(move || {
        let id_ = id.clone();
        a.uploads.put(&id_, &blob, &upload).map(|()| (id, upload))
    })
    .await;
    match stored {
        Ok(Ok((id, upload))) => {
            let mut response = json_response(StatusCode::CREATED, &upload.to_json(&id));
            if let Ok(location) = header::HeaderValue::from_str(&format!("{BASE}/{id}")) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        Ok(Err(e)) => internal(&h, e),
        Err(e) => internal(&h, e),
    }
}

fn not_found(api: &Api, headers: &HeaderMap, client_id: &str, operation: &str) -> Response {
    api.audit_denied(Some(client_id), &format!("{operation}: no such attachment upload of the client"), None, None);
    ApiProblem::new(StatusCode::NOT_FOUND, "attachmentNotFound", "no such attachment upload").respond(headers)
}

/// `GET /v1/brygga/attachments/{attachmentId}`
pub async fn get_upload(State(api): State<Arc<Api>>, headers: HeaderMap, UrlPath(id): UrlPath<String>) -> Response {
    let principal = match api.authorize(&headers, Scope::SendMessage, "getAttachment").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(id) = parse_id(&id) else { return not_found(&api, &headers, &principal.client_id, "getAttachment") };
    match api.uploads.get(&principal.client_id, &id, OffsetDateTime::now_utc()) {
        Ok(Some(upload)) => json_response(StatusCode::OK, &upload.to_json(&id)),
        Ok(None) => not_found(&api, &headers, &principal.client_id, "getAttachment"),
        Err(e) => internal(&headers, e),
    }
}

/// `DELETE /v1/brygga/attachments/{attachmentId}`
pub async fn delete_upload(State(api): State<Arc<Api>>, headers: HeaderMap, UrlPath(id): UrlPath<String>) -> Response {
    let principal = match api.authorize(&headers, Scope::SendMessage, "deleteAttachment").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(id) = parse_id(&id) else { return not_found(&api, &headers, &principal.client_id, "deleteAttachment") };
    match api.uploads.get(&principal.client_id, &id, OffsetDateTime::now_utc()) {
        Ok(Some(_)) if api.uploads.is_claimed(&id) => {
            ApiProblem::new(StatusCode::CONFLICT, "attachmentInUse", "a create request is using this attachment").respond(&headers)
        }
        Ok(Some(_)) => {
            let a = api.clone();
            let id_ = id.clone();
            match tokio::task::spawn_blocking(move || a.uploads.remove(&id_)).await {
                Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
                Ok(Err(e)) => internal(&headers, e),
                Err(e) => internal(&headers, e),
            }
        }
        Ok(None) => not_found(&api, &headers, &principal.client_id, "deleteAttachment"),
        Err(e) => internal(&headers, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_file_names_are_read() {
        assert_eq!(disposition_file_name("attachment; filename=\"x.pdf\"").unwrap().as_deref(), Some("x.pdf"));
        assert_eq!(disposition_file_name("attachment; filename=x.pdf").unwrap().as_deref(), Some("x.pdf"));
        assert_eq!(disposition_file_name("attachment").unwrap(), None);
        assert_eq!(
            disposition_file_name("attachment; filename=\"a.pdf\"; filename*=UTF-8''r%C3%A5d.pdf").unwrap().as_deref(),
            Some("råd.pdf")
        );
        assert_eq!(disposition_file_name("attachment; filename=\"a \\\"b\\\".pdf\"").unwrap().as_deref(), Some("a \"b\".pdf"));
        assert!(disposition_file_name("attachment; filename=\"open").is_err());
        assert!(disposition_file_name("attachment; filename*=latin1''x").is_err());
        assert!(check_file_name("../etc/passwd").is_err());
        assert!(check_file_name(" ").is_err());
        assert!(check_file_name("remiss.pdf").is_ok());
    }

    #[test]
    fn media_types_are_checked() {
        assert!(check_content_type("application/pdf"));
        assert!(check_content_type("text/plain; charset=utf-8"));
        assert!(!check_content_type("pdf"));
        assert!(!check_content_type("application/"));
    }

    #[test]
    fn ids_are_canonical_uuids() {
        assert!(parse_id("6f9c3cbe-1f0e-4b55-9b0b-2b0b0b0b0b0b").is_some());
        assert!(parse_id("6F9C3CBE-1F0E-4B55-9B0B-2B0B0B0B0B0B").is_none());
        assert!(parse_id("../x").is_none());
    }

    #[test]
    fn expired_and_orphaned_uploads_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let uploads = Uploads::open(dir.path().join("uploads"), db.open_tree("u").unwrap(), 24).unwrap();
        let now = OffsetDateTime::now_utc();
        let record = |expires_at| Upload {
            client_id: "c".into(),
            size: 3,
            sha256: String::new(),
            content_type: "text/plain".into(),
            file_name: None,
            created_at: now.unix_timestamp(),
            expires_at,
        };
        let live = "00000000-0000-4000-8000-000000000001";
        let old = "00000000-0000-4000-8000-000000000002";
        uploads.put(live, &Blob::from(b"abc"), &record(now.unix_timestamp() + 60)).unwrap();
        uploads.put(old, &Blob::from(b"abc"), &record(now.unix_timestamp() - 1)).unwrap();
        std::fs::write(uploads.dir().join("00000000-0000-4000-8000-000000000003"), b"x").unwrap();
        assert!(uploads.get("c", live, now).unwrap().is_some());
        assert!(uploads.get("other", live, now).unwrap().is_none());
        assert!(uploads.get("c", old, now).unwrap().is_none());
        assert_eq!(uploads.sweep(now, Duration::ZERO).unwrap(), 2);
        assert!(uploads.file(live).exists() && !uploads.file(old).exists());
        let claim = uploads.claim(&[live.to_owned()]).unwrap();
        assert!(uploads.claim(&[live.to_owned()]).is_none());
        drop(claim);
        assert!(uploads.claim(&[live.to_owned()]).is_some());
    }
}
