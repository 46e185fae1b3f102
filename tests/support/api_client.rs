//! Helpers for tests of DIGG's message API: `[api]` configuration for dev
//! nodes, and a small HTTPS client.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use brygga::api::secret::{SecretHash, MIN_ITERATIONS};
use brygga::pki::Certificate;
use serde_json::{json, Value};

/// One `[[api.clients]]`.
pub struct Client<'a> {
    pub id: &'a str,
    pub secret: &'a str,
    pub scopes: &'a [&'a str],
    pub functional_addresses: &'a [&'a str],
}

pub const ALL_SCOPES: &[&str] =
    &["urn:sdk.api:sendMessages", "urn:sdk.api:getMessage", "urn:sdk.api:getMessageByFilter", "urn:sdk.api:deleteMessage"];

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn list(items: &[&str]) -> String {
    format!("[{}]", items.iter().map(|s| quoted(s)).collect::<Vec<_>>().join(", "))
}

/// `[api]` with TLS from the node's own TLS key and certificate, and the clients.
pub fn api_section(clients: &[Client], extra: &str) -> String {
    let mut text = String::from("\n[api]\ntoken_lifetime_seconds = 600\n");
    text.push_str(extra);
    text.push_str("\n[api.tls]\ncert = \"keys/tls.pem\"\nkey = \"keys/tls.key\"\n");
    for c in clients {
        let hash = SecretHash::new(c.secret, MIN_ITERATIONS).unwrap();
        text.push_str(&format!(
            "\n[[api.clients]]\nid = {}\nsecret_hash = {}\nscopes = {}\nfunctional_addresses = {}\n",
            quoted(c.id),
            quoted(&hash.to_string()),
            list(c.scopes),
            list(c.functional_addresses)
        ));
    }
    text
}

/// Appends text to a node's configuration file.
pub fn append_config(config_file: &Path, text: &str) {
    let mut current = std::fs::read_to_string(config_file).unwrap();
    current.push_str(text);
    std::fs::write(config_file, current).unwrap();
}

/// Adds a functional address to a node's configuration file.
pub fn add_functional_address(config_file: &Path, id: &str, label: &str) {
    let text = std::fs::read_to_string(config_file).unwrap();
    let added = format!("[[organisation.functional_addresses]]\nid = {}\nlabel = {}\n\n[keys]", quoted(id), quoted(label));
    std::fs::write(config_file, text.replacen("[keys]", &added, 1)).unwrap();
}

/// A response, read.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
}

/// HTTPS to a node's API listener, trusting the dev TLS CA.
pub struct ApiClient {
    pub http: reqwest::Client,
    pub base: String,
}

impl ApiClient {
    pub fn new(port: u16, tls_ca: &[Certificate]) -> ApiClient {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = brygga::directory::smp_http_client(tls_ca, Duration::from_secs(30)).unwrap();
        ApiClient { http, base: format!("https://localhost:{port}") }
    }

    /// The answer, its body read as JSON when it is JSON.
    pub async fn read(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer { status, headers, body, text }
    }

    /// The token endpoint with form credentials.
    pub async fn token_request(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Answer {
        let body: String = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut request = self
            .http
            .post(format!("{}/oauth2/token", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some((id, secret)) = basic {
            let raw = format!("{}:{}", enc(id), enc(secret));
            request = request.header("authorization", format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw)));
        }
        Self::read(request.send().await.unwrap()).await
    }

    /// An access token for `id`.
    pub async fn token(&self, id: &str, secret: &str) -> String {
        let a = self.token_request(&[("grant_type", "client_credentials")], Some((id, secret))).await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: Option<&Value>, extra: &[(&str, &str)]) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.header("content-type", "application/json").body(b.to_string());
        }
        for (k, v) in extra {
            request = request.header(*k, *v);
        }
        Self::read(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(reqwest::Method::GET, path, Some(token), None, &[]).await
    }

    pub async fn post(&self, token: &str, body: &Value, extra: &[(&str, &str)]) -> Answer {
        self.send(reqwest::Method::POST, "/v1/sdk/messages", Some(token), Some(body), extra).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.send(reqwest::Method::DELETE, path, Some(token), None, &[]).await
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A create request.
pub fn message_body(sender: (&str, &str), recipient: (&str, &str), label: &str) -> Value {
    json!({
        "data": {
            "type": "messages",
            "attributes": {
                "confidentiality": true,
                "label": label,
                "sender": sender.0,
                "senderAttention": { "subOrganization": { "extension": sender.1 } },
                "recipient": recipient.0,
                "recipientAttention": {
                    "subOrganization": { "root": "urn:riv:infrastructure:messaging:functionalAddress", "extension": recipient.1 },
                    "referenceId": [{ "root": "1.2.752.129.2.1.3.1", "extension": "19121212-1212", "label": "Tolvan Tolvansson" }]
                },
                "digitalDocument": [{
                    "documentId": "SDK-Meddelande",
                    "index": "1",
                    "contentTextBody": ["# Hej\n\nSe bifogat."],
                    "contentFiles": [{ "fileName": "underlag.pdf", "contentType": "application/pdf", "content": base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4\nhello\n") }]
                }]
            }
        }
    })
}

/// Audit entries of a node.
pub fn audit_entries(data_dir: &Path) -> Vec<brygga::audit::Entry> {
    let text = std::fs::read_to_string(data_dir.join("audit.log")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}
