//! `brygga send`, `brygga inbox`, `brygga status`: a small client of a
//! node's DIGG message API, for operators who want to test or inspect a
//! node without writing code.
//!
//! Each command fetches an access token from the node's `/oauth2/token`
//! (client credentials, only the scopes it needs) and then calls
//! `/v1/sdk/messages`. The client secret is read from a file (never from
//! the command line, where the process list shows it); on unix a file that
//! group or others may read is refused.
//!
//! Exit codes (besides those of `mod.rs`): 3 the receiver REJECTED the
//! message (`send --wait`), 4 the node refused the client (401, 403, or the
//! token endpoint's `invalid_client` / `invalid_scope`), 5 the API answered
//! with another error or could not be reached, or the message ended in
//! MESSAGE_EXCHANGE_ERROR or ERROR, 6 `--wait` timed out before a final
//! status.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use clap::Args;
use serde_json::{json, Value};

use super::{write_stdout, CmdResult, Failure, EXIT_API, EXIT_REFUSED, EXIT_REJECTED, EXIT_USAGE, EXIT_WAIT_TIMEOUT};
use crate::pki::Certificate;
use crate::sdk::message::FUNCTIONAL_ADDRESS_ROOT;

const SCOPE_SEND: &str = "urn:sdk.api:sendMessages";
const SCOPE_GET: &str = "urn:sdk.api:getMessage";
const SCOPE_LIST: &str = "urn:sdk.api:getMessageByFilter";
const MESSAGES: &str = "/v1/sdk/messages";
/// Statuses after which a sent message does not change any more.
const FINAL: &[&str] = &["ACCEPTED", "REJECTED", "MESSAGE_EXCHANGE_ERROR", "ERROR"];
/// Largest page the API serves; also bounds how many pages `inbox` follows.
const PAGE_SIZE: usize = 1000;
const MAX_PAGES: usize = 1000;
/// A secret file larger than this is not a secret file.
const MAX_SECRET_BYTES: u64 = 4096;
/// The longest file name `inbox --get` writes.
const MAX_FILE_NAME_CHARS: usize = 200;

/// Where the API is and who the client is; every option also from the
/// environment.
#[derive(Args, Clone)]
pub(super) struct ConnectionArgs {
    /// The node's API (`listen.api`), http or https.
    #[arg(long, env = "BRYGGA_API_URL", default_value = "http://127.0.0.1:8080", value_name = "URL")]
    api: String,
    /// The client's id (`[[api.clients]] id`).
    #[arg(long, env = "BRYGGA_CLIENT_ID", value_name = "ID")]
    client_id: String,
    /// A file holding the client secret (one line; mode 0600 on unix).
    #[arg(long, env = "BRYGGA_CLIENT_SECRET_FILE", value_name = "FILE")]
    client_secret_file: PathBuf,
    /// PEM roots for an https API (required for https: no system roots are used).
    #[arg(long, env = "BRYGGA_CA_FILE", value_name = "CA.pem")]
    ca_file: Option<PathBuf>,
    /// Timeout of each HTTP request, seconds.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    http_timeout: u64,
}

#[derive(Args)]
pub(super) struct SendArgs {
    #[command(flatten)]
    conn: ConnectionArgs,
    /// The recipient organisation (`0203:...`).
    #[arg(long, value_name = "ORG_ID")]
    to: String,
    /// The recipient's functional address.
    #[arg(long, value_name = "ADDRESS")]
    to_address: String,
    /// The sender's functional address (needed when the client has more than one).
    #[arg(long, value_name = "ADDRESS")]
    from_address: Option<String>,
    /// The sending organisation; by default the node's, read from the token.
    #[arg(long, value_name = "ORG_ID")]
    from: Option<String>,
    /// The subject.
    #[arg(long)]
    label: String,
    /// The message text (markdown).
    #[arg(long, conflicts_with = "text_file")]
    text: Option<String>,
    /// A file with the message text (UTF-8 markdown).
    #[arg(long, value_name = "PATH")]
    text_file: Option<PathBuf>,
    /// An attachment; may be repeated.
    #[arg(long = "file", value_name = "PATH")]
    files: Vec<PathBuf>,
    /// The conversation this message belongs to (UUID).
    #[arg(long, value_name = "UUID")]
    conversation: Option<String>,
    /// The message this one answers (messageId).
    #[arg(long, value_name = "MESSAGE_ID")]
    reply_to: Option<String>,
    /// Mark the message confidential.
    #[arg(long)]
    confidential: bool,
    /// `Idempotency-Key`: sending again with the same key and message sends nothing twice.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
    /// Wait for a final status; exit 0 only when ACCEPTED.
    #[arg(long)]
    wait: bool,
    /// How long `--wait` waits, seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS", requires = "wait")]
    wait_timeout: u64,
    /// Print the API's JSON answer instead of a summary.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(super) struct InboxArgs {
    #[command(flatten)]
    conn: ConnectionArgs,
    /// Only messages to this functional address (with `--sent`: from it).
    #[arg(long, value_name = "ADDRESS")]
    address: Option<String>,
    /// Only messages in this status (e.g. NEW); comma-separated for several.
    #[arg(long)]
    status: Option<String>,
    /// Only messages created at or after this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    since: Option<String>,
    /// List the messages the client's addresses sent instead of those they received.
    #[arg(long, conflicts_with = "get")]
    sent: bool,
    /// Show one message: its texts, and its attachments (saved with `--save-dir`).
    #[arg(long, value_name = "MESSAGE_ID")]
    get: Option<String>,
    /// Where `--get` saves attachments (the directory must exist; files are not overwritten).
    #[arg(long, value_name = "DIR", requires = "get")]
    save_dir: Option<PathBuf>,
    /// Print the API's JSON instead of one line per message.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(super) struct StatusArgs {
    #[command(flatten)]
    conn: ConnectionArgs,
    /// The message's messageId.
    message_id: String,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

// ---------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------

/// An authenticated connection to one node's API.
struct Api {
    http: reqwest::Client,
    base: String,
    conn: ConnectionArgs,
    scopes: Vec<&'static str>,
    token: String,
    /// When to fetch a new token (a little before it expires: `--wait`
    /// may outlast one).
    renew_at: Instant,
    claims: Value,
}

/// A failed call: what to print and which exit code.
fn api_failure(code: i32, lines: Vec<String>) -> Failure {
    Failure { code, lines }
}

fn unreachable(base: &str, e: reqwest::Error) -> Failure {
    let mut cause = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(s) = source {
        cause.push_str(": ");
        cause.push_str(&s.to_string());
        source = s.source();
    }
    api_failure(EXIT_API, vec![format!("cannot reach the API at {base}{cause}")])
}

/// The secret in `path`: refused when others may read it, or it is empty.
fn read_secret(path: &Path) -> Result<String, Failure> {
    let meta = std::fs::metadata(path).map_err(|e| Failure::usage(format!("cannot read the client secret file {}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Failure::usage(format!(
                "the client secret file {} is accessible by group or others (mode {mode:03o}); make it private: chmod 600 {}",
                path.display(),
                path.display()
            )));
        }
    }
    if meta.len() > MAX_SECRET_BYTES {
        return Err(Failure::usage(format!("{} is too large for a client secret file", path.display())));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Failure::usage(format!("cannot read the client secret file {}: {e}", path.display())))?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.is_empty() || secret.contains(['\n', '\r']) {
        return Err(Failure::usage(format!("{} must hold the client secret on one line", path.display())));
    }
    Ok(secret.to_owned())
}

/// Form-urlencoding (RFC 6749 §2.3.1 for Basic credentials, and queries).
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The claims of a JWT, read without verifying it (the node verifies it;
/// the client only wants to know its own organisation and addresses).
fn jwt_claims(token: &str) -> Value {
    token
        .split('.')
        .nth(1)
        .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

impl Api {
    /// Connects and fetches a token for `scopes`.
    async fn connect(conn: &ConnectionArgs, scopes: &[&'static str]) -> Result<Api, Failure> {
        let base = conn.api.trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&base).map_err(|e| Failure::usage(format!("--api {base}: not a URL: {e}")))?;
        let roots = match (&conn.ca_file, url.scheme()) {
            (Some(path), _) => Certificate::all_from_pem_file(path).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?,
            (None, "https") => return Err(Failure::usage("an https API needs --ca-file (PEM roots of its TLS certificate; no system roots are used)")),
            (None, "http") => Vec::new(),
            (None, other) => return Err(Failure::usage(format!("--api {base}: scheme {other} is neither http nor https"))),
        };
        let http = crate::directory::smp_http_client(&roots, Duration::from_secs(conn.http_timeout.max(1)))
            .map_err(|e| Failure::usage(e.to_string()))?;
        let mut api = Api {
            http,
            base,
            conn: conn.clone(),
            scopes: scopes.to_vec(),
            token: String::new(),
            renew_at: Instant::now(),
            claims: Value::Null,
        };
        api.fetch_token().await?;
        Ok(api)
    }

    /// A token from the node's token endpoint (client credentials).
    async fn fetch_token(&mut self) -> Result<(), Failure> {
        let (conn, scopes, base, http) = (&self.conn, &self.scopes, &self.base, &self.http);
        let secret = read_secret(&conn.client_secret_file)?;
        let form = format!("grant_type=client_credentials&scope={}", enc(&scopes.join(" ")));
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(&conn.client_id), enc(&secret)));
        let response = http
            .post(format!("{base}/oauth2/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", format!("Basic {basic}"))
            .body(form)
            .send()
            .await
            .map_err(|e| unreachable(base, e))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| unreachable(base, e))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status != 200 {
            let error = body["error"].as_str().unwrap_or("");
            let code = if status == 401 || status == 403 || error == "invalid_client" || error == "invalid_scope" { EXIT_REFUSED } else { EXIT_API };
            let what = match error {
                "invalid_client" => format!("the node refused client {:?}: unknown client or wrong secret", conn.client_id),
                "invalid_scope" => format!("client {:?} may not use the scopes this command needs ({})", conn.client_id, scopes.join(" ")),
                _ => format!("the token request failed with HTTP {status}"),
            };
            let mut lines = vec![what];
            if let Some(d) = body["error_description"].as_str() {
                lines.push(format!("  {error}: {d}"));
            } else if body.is_null() && !text.is_empty() {
                lines.push(format!("  {}", text.chars().take(300).collect::<String>()));
            }
            return Err(api_failure(code, lines));
        }
        let Some(token) = body["access_token"].as_str() else {
            return Err(api_failure(EXIT_API, vec!["the token endpoint's answer has no access_token".into()]));
        };
        let lifetime = body["expires_in"].as_u64().unwrap_or(60);
        self.renew_at = Instant::now() + Duration::from_secs(lifetime.saturating_sub(lifetime / 4).max(1));
        self.claims = jwt_claims(token);
        self.token = token.to_owned();
        Ok(())
    }

    /// This node's organisation id, from the token's issuer.
    fn organisation(&self) -> Option<&str> {
        self.claims["iss"].as_str()?.strip_prefix("urn:brygga:token:")
    }

    /// The client's functional addresses, from the token.
    fn addresses(&self) -> Vec<String> {
        match &self.claims["urn:sdk.digg.se:auth_id"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        }
    }

    /// A call; a non-2xx answer is a failure, printed readably.
    async fn call(&mut self, method: reqwest::Method, path_and_query: &str, body: Option<&Value>, headers: &[(&str, &str)]) -> Result<Value, Failure> {
        if Instant::now() >= self.renew_at {
            self.fetch_token().await?;
        }
        let mut request = self.http.request(method, format!("{}{path_and_query}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            request = request.header("content-type", "application/json").body(b.to_string());
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.map_err(|e| unreachable(&self.base, e))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| unreachable(&self.base, e))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(value);
        }
        Err(problem_failure(status, &value, &text))
    }

    async fn message(&mut self, id: &str, with_documents: bool) -> Result<Value, Failure> {
        let query = if with_documents { String::new() } else { "?filter%5BdigitalDocument%5D=false".to_owned() };
        self.call(reqwest::Method::GET, &format!("{MESSAGES}/{}{query}", enc(id)), None, &[]).await
    }
}

/// An RFC 7807 problem (DIGG's `Events` shape), as lines for a person.
fn problem_failure(status: u16, body: &Value, text: &str) -> Failure {
    let code = if status == 401 || status == 403 { EXIT_REFUSED } else { EXIT_API };
    let title = body["title"].as_str().unwrap_or("error");
    let mut head = format!("the API answered {status} {title}");
    if let Some(d) = body["detail"].as_str().filter(|d| !d.is_empty() && *d != title) {
        head.push_str(&format!(": {d}"));
    }
    let mut lines = vec![head];
    for issue in body["eventIssues"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let at = issue["in"].as_str().unwrap_or("-");
        let title = issue["title"].as_str().unwrap_or("");
        match issue["detail"].as_str() {
            Some(d) => lines.push(format!("  at {at}: {title}: {d}")),
            None => lines.push(format!("  at {at}: {title}")),
        }
    }
    if body.is_null() && !text.trim().is_empty() {
        lines.push(format!("  {}", text.trim().chars().take(300).collect::<String>()));
    }
    match status {
        401 => lines.push("  (the token was refused; check the client's configuration on the node)".into()),
        403 => lines.push("  (the client lacks the scope, or the functional address is not the client's)".into()),
        _ => {}
    }
    api_failure(code, lines)
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| api_failure(EXIT_API, vec![format!("cannot start the async runtime: {e}")]))
}

fn print_json(value: &Value) -> CmdResult {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    write_stdout(format!("{text}\n").as_bytes())
}

fn attributes(item: &Value) -> &Value {
    &item["attributes"]
}

fn address(attrs: &Value, which: &str) -> String {
    attrs[which]["subOrganization"]["extension"].as_str().unwrap_or("").to_owned()
}

// ---------------------------------------------------------------------------
// send
// ---------------------------------------------------------------------------

/// The content type of an attachment, from its extension.
fn content_type(path: &Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "xml" => "application/xml",
        "txt" => "text/plain",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// The create request's body.
fn create_body(args: &SendArgs, sender: &str) -> Result<Value, Failure> {
    let text = match (&args.text, &args.text_file) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(path)) => {
            Some(std::fs::read_to_string(path).map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?)
        }
        (None, None) => None,
    };
    if text.is_none() && args.files.is_empty() {
        return Err(Failure::usage("a message needs a text (--text or --text-file) or an attachment (--file)"));
    }
    let mut files = Vec::new();
    for path in &args.files {
        let bytes = super::read_file(path)?;
        let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| Failure::usage(format!("{}: no usable file name", path.display())))?;
        files.push(json!({
            "fileName": name,
            "contentType": content_type(path),
            "content": base64::engine::general_purpose::STANDARD.encode(bytes),
        }));
    }
    let mut document = json!({ "documentId": "SDK-Meddelande", "index": "1" });
    if let Some(t) = text {
        document["contentTextBody"] = json!([t]);
    }
    if !files.is_empty() {
        document["contentFiles"] = Value::Array(files);
    }
    let mut attributes = json!({
        "confidentiality": args.confidential,
        "label": args.label,
        "sender": sender,
        "recipient": args.to,
        "recipientAttention": { "subOrganization": { "root": FUNCTIONAL_ADDRESS_ROOT, "extension": args.to_address } },
        "digitalDocument": [document],
    });
    if let Some(fa) = &args.from_address {
        attributes["senderAttention"] = json!({ "subOrganization": { "root": FUNCTIONAL_ADDRESS_ROOT, "extension": fa } });
    }
    if let Some(c) = &args.conversation {
        attributes["conversationId"] = json!(c);
    }
    if let Some(r) = &args.reply_to {
        attributes["refToMessageId"] = json!(r);
    }
    Ok(json!({ "data": { "type": "messages", "attributes": attributes } }))
}

fn status_of(body: &Value) -> String {
    body["data"]["attributes"]["messageStatus"].as_str().unwrap_or("?").to_owned()
}

pub(super) fn send(args: SendArgs) -> CmdResult {
    runtime()?.block_on(send_async(args))
}

async fn send_async(args: SendArgs) -> CmdResult {
    let scopes: &[&str] = if args.wait { &[SCOPE_SEND, SCOPE_GET] } else { &[SCOPE_SEND] };
    let mut api = Api::connect(&args.conn, scopes).await?;
    let sender = match (&args.from, api.organisation()) {
        (Some(f), _) => f.clone(),
        (None, Some(o)) => o.to_owned(),
        (None, None) => return Err(Failure::usage("the token does not name the node's organisation: give --from <org id>")),
    };
    let body = create_body(&args, &sender)?;
    let headers: Vec<(&str, &str)> = args.idempotency_key.as_deref().map(|k| ("idempotency-key", k)).into_iter().collect();
    let created = api.call(reqwest::Method::POST, MESSAGES, Some(&body), &headers).await?;
    let id = created["data"]["attributes"]["messageId"].as_str().or(created["data"]["id"].as_str()).unwrap_or("").to_owned();
    if args.json && !args.wait {
        return print_json(&created);
    }
    let mut status = status_of(&created);
    if !args.json {
        write_stdout(format!("{id} {status}\n").as_bytes())?;
    }
    if !args.wait {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(args.wait_timeout);
    let mut last = created;
    let mut delay = Duration::from_millis(250);
    while !FINAL.contains(&status.as_str()) {
        if Instant::now() >= deadline {
            return Err(api_failure(EXIT_WAIT_TIMEOUT, vec![format!("{id}: still {status} after {} s", args.wait_timeout)]));
        }
        tokio::time::sleep(delay.min(deadline.saturating_duration_since(Instant::now()))).await;
        delay = (delay * 2).min(Duration::from_secs(2));
        last = api.message(&id, false).await?;
        let now = status_of(&last);
        if now != status && !args.json {
            write_stdout(format!("{id} {now}\n").as_bytes())?;
        }
        status = now;
    }
    if args.json {
        print_json(&last)?;
    }
    match status.as_str() {
        "ACCEPTED" => Ok(()),
        other => {
            let mut lines = vec![format!("{id}: {other}")];
            lines.extend(event_lines(&last["data"]["attributes"]["events"]).into_iter().map(|l| format!("  {l}")));
            Err(api_failure(if other == "REJECTED" { EXIT_REJECTED } else { EXIT_API }, lines))
        }
    }
}

// ---------------------------------------------------------------------------
// status
// ---------------------------------------------------------------------------

/// One line per event issue, as the API lists them (latest first).
fn event_lines(events: &Value) -> Vec<String> {
    events["eventIssues"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .map(|e| {
            let mut line = format!(
                "{:<29} {:<22} {}",
                e["dateTime"].as_str().unwrap_or("-"),
                e["typeCode"].as_str().unwrap_or(""),
                e["title"].as_str().unwrap_or("")
            );
            if let Some(d) = e["detail"].as_str() {
                line.push_str(&format!(": {d}"));
            }
            if let Some(at) = e["in"].as_str() {
                line.push_str(&format!(" (at {at})"));
            }
            line
        })
        .collect()
}

pub(super) fn status(args: StatusArgs) -> CmdResult {
    runtime()?.block_on(async {
        let mut api = Api::connect(&args.conn, &[SCOPE_GET]).await?;
        let body = api.message(&args.message_id, false).await?;
        if args.json {
            return print_json(&body);
        }
        let a = attributes(&body["data"]);
        let mut out = format!(
            "{} {}\n  {} {} -> {} {}\n  label: {}\n  created: {}\n",
            a["messageId"].as_str().unwrap_or(&args.message_id),
            a["messageStatus"].as_str().unwrap_or("?"),
            a["sender"].as_str().unwrap_or(""),
            address(a, "senderAttention"),
            a["recipient"].as_str().unwrap_or(""),
            address(a, "recipientAttention"),
            a["label"].as_str().unwrap_or(""),
            a["creationDateTime"].as_str().unwrap_or(""),
        );
        out.push_str("  events (latest first):\n");
        for line in event_lines(&a["events"]) {
            out.push_str(&format!("    {line}\n"));
        }
        write_stdout(out.as_bytes())
    })
}

// ---------------------------------------------------------------------------
// inbox
// ---------------------------------------------------------------------------

/// A name for a received attachment that stays inside the save directory:
/// the last path component only, no control characters, no leading dot.
pub(super) fn safe_file_name(name: &str, index: usize) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|') { '_' } else { c })
        .take(MAX_FILE_NAME_CHARS)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        format!("attachment-{index}")
    } else {
        cleaned
    }
}

pub(super) fn inbox(args: InboxArgs) -> CmdResult {
    runtime()?.block_on(async {
        match &args.get {
            Some(id) => {
                let mut api = Api::connect(&args.conn, &[SCOPE_GET]).await?;
                show(&mut api, id, args.save_dir.as_deref(), args.json).await
            }
            None => list(&args).await,
        }
    })
}

async fn list(args: &InboxArgs) -> CmdResult {
    if let Some(since) = &args.since {
        time::OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339)
            .map_err(|e| Failure::usage(format!("--since {since}: not an RFC 3339 time: {e}")))?;
    }
    let mut api = Api::connect(&args.conn, &[SCOPE_LIST]).await?;
    let mut query = vec![format!("page%5Bsize%5D={PAGE_SIZE}")];
    if let Some(a) = &args.address {
        let attribute = if args.sent { "senderAttention.subOrganization.extension" } else { "recipientAttention.subOrganization.extension" };
        query.push(format!("filter%5B{attribute}%5D={}", enc(a)));
    }
    if let Some(s) = &args.status {
        query.push(format!("filter%5BmessageStatus%5D={}", enc(s)));
    }
    if let Some(s) = &args.since {
        query.push(format!("filter%5BcreationDateTimeStart%5D={}", enc(s)));
    }
    let mut next = Some(format!("{MESSAGES}?{}", query.join("&")));
    let mut items = Vec::new();
    let mut pages = 0;
    while let Some(path) = next.take() {
        pages += 1;
        if pages > MAX_PAGES {
            return Err(api_failure(EXIT_API, vec![format!("more than {MAX_PAGES} pages; narrow the listing with --since or --status")]));
        }
        let page = api.call(reqwest::Method::GET, &path, None, &[]).await?;
        items.extend(page["data"].as_array().cloned().unwrap_or_default());
        // Only links on the same API: the path part of links.next.
        next = page["links"]["next"].as_str().filter(|n| n.starts_with(MESSAGES)).map(str::to_owned);
    }
    // Received or sent: by the node's organisation and the client's addresses.
    let org = api.organisation().map(str::to_owned);
    let addresses = api.addresses();
    items.retain(|item| {
        let a = attributes(item);
        let Some(org) = &org else { return true };
        let (party, attention) = if args.sent { ("sender", "senderAttention") } else { ("recipient", "recipientAttention") };
        a[party].as_str() == Some(org.as_str()) && (addresses.is_empty() || addresses.contains(&address(a, attention)))
    });
    if args.json {
        return print_json(&json!({ "meta": { "totalCount": items.len() }, "data": items }));
    }
    let mut out = String::new();
    for item in &items {
        let a = attributes(item);
        let (party, attention) = if args.sent { ("recipient", "recipientAttention") } else { ("sender", "senderAttention") };
        out.push_str(&format!(
            "{:<26} {:<22} {}/{} {:?} {}\n",
            a["creationDateTime"].as_str().unwrap_or(""),
            a["messageStatus"].as_str().unwrap_or("?"),
            a[party].as_str().unwrap_or(""),
            address(a, attention),
            a["label"].as_str().unwrap_or(""),
            a["messageId"].as_str().or(item["id"].as_str()).unwrap_or(""),
        ));
    }
    if items.is_empty() {
        out.push_str("no messages\n");
    }
    write_stdout(out.as_bytes())
}

async fn show(api: &mut Api, id: &str, save_dir: Option<&Path>, as_json: bool) -> CmdResult {
    let body = api.message(id, true).await?;
    if as_json {
        return print_json(&body);
    }
    let a = attributes(&body["data"]);
    let mut out = format!(
        "{} {}\nfrom: {} {}\nto: {} {}\nlabel: {}\ncreated: {}\nconversation: {}\n",
        a["messageId"].as_str().unwrap_or(id),
        a["messageStatus"].as_str().unwrap_or("?"),
        a["sender"].as_str().unwrap_or(""),
        address(a, "senderAttention"),
        a["recipient"].as_str().unwrap_or(""),
        address(a, "recipientAttention"),
        a["label"].as_str().unwrap_or(""),
        a["creationDateTime"].as_str().unwrap_or(""),
        a["conversationId"].as_str().unwrap_or(""),
    );
    if let Some(r) = a["refToMessageId"].as_str() {
        out.push_str(&format!("reply to: {r}\n"));
    }
    let mut index = 0;
    for document in a["digitalDocument"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        for text in document["contentTextBody"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            out.push_str(&format!("\n{}\n", text.as_str().unwrap_or("")));
        }
        for file in document["contentFiles"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            index += 1;
            let given = file["fileName"].as_str().unwrap_or("");
            let content = base64::engine::general_purpose::STANDARD
                .decode(file["content"].as_str().unwrap_or("").as_bytes())
                .map_err(|e| api_failure(EXIT_API, vec![format!("attachment {given:?}: content is not base64: {e}")]))?;
            let kind = file["contentType"].as_str().unwrap_or("");
            match save_dir {
                Some(dir) => {
                    let path = dir.join(safe_file_name(given, index));
                    save(&path, &content)?;
                    out.push_str(&format!("\nattachment {given:?} ({kind}, {} bytes) saved as {}\n", content.len(), path.display()));
                }
                None => out.push_str(&format!("\nattachment {given:?} ({kind}, {} bytes); --save-dir <dir> saves it\n", content.len())),
            }
        }
    }
    write_stdout(out.as_bytes())
}

/// Writes a new file; an existing one is left alone and is an error.
fn save(path: &Path, content: &[u8]) -> CmdResult {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| api_failure(EXIT_USAGE, vec![format!("cannot save {}: {e} (existing files are not overwritten)", path.display())]))?;
    file.write_all(content)
        .and_then(|_| file.sync_all())
        .map_err(|e| api_failure(EXIT_USAGE, vec![format!("cannot write {}: {e}", path.display())]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_names_stay_in_the_directory() {
        assert_eq!(safe_file_name("underlag.pdf", 1), "underlag.pdf");
        assert_eq!(safe_file_name("../../etc/passwd", 1), "passwd");
        assert_eq!(safe_file_name("C:\\Windows\\evil.exe", 1), "evil.exe");
        assert_eq!(safe_file_name("..", 2), "attachment-2");
        assert_eq!(safe_file_name(".bashrc", 1), "bashrc");
        assert_eq!(safe_file_name("a\nb\u{0}.txt", 1), "ab.txt");
        assert_eq!(safe_file_name("dir/", 3), "attachment-3");
        assert_eq!(safe_file_name(&"x".repeat(500), 1).len(), MAX_FILE_NAME_CHARS);
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type(Path::new("a.PDF")), "application/pdf");
        assert_eq!(content_type(Path::new("a.jpeg")), "image/jpeg");
        assert_eq!(content_type(Path::new("a")), "application/octet-stream");
    }

    #[test]
    fn problems_print_each_issue() {
        let body = json!({"title": "Bad Request", "status": 400, "detail": "MESSAGE_EXCHANGE_ERROR",
            "eventIssues": [{"typeCode": "MESSAGE_EXCHANGE_ERROR", "title": "BV not-found", "detail": "no such recipient", "in": "/data/attributes/recipient"}]});
        let f = problem_failure(400, &body, "");
        assert_eq!(f.code, EXIT_API);
        assert!(f.lines[1].contains("/data/attributes/recipient") && f.lines[1].contains("BV not-found"), "{:?}", f.lines);
        assert_eq!(problem_failure(403, &Value::Null, "").code, EXIT_REFUSED);
    }
}
