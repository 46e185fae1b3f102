//! `[api]`: DIGG's message API on the node's API listener (`listen.api`):
//! who may call it (OAuth2 clients of the node's own token endpoint, or
//! tokens of an external issuer), with which scopes and for which
//! functional addresses, and optional TLS.

use std::path::PathBuf;

use serde::Deserialize;

use super::{Loader, Problem};
use crate::api::scope::Scope;
use crate::api::secret::SecretHash;
use crate::pki::{Certificate, PrivateKey};
use crate::config::ConfigError;

/// Longest access token lifetime: B1.4.2 §5 ("Access token lifetime: max 30 min").
pub const TOKEN_LIFETIME_MAX_SECONDS: u64 = 30 * 60;
const TOKEN_LIFETIME_DEFAULT_SECONDS: u64 = 15 * 60;
const IDEMPOTENCY_DEFAULT_HOURS: u64 = 24;
const IDEMPOTENCY_MAX_HOURS: u64 = 7 * 24;
const UPLOAD_DEFAULT_HOURS: u64 = 24;
const UPLOAD_MAX_HOURS: u64 = 7 * 24;

/// `[api]`, as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiFile {
    /// Lifetime of the access tokens the node issues, seconds: 60 to 1800.
    pub token_lifetime_seconds: u64,
    /// How long an `Idempotency-Key` is remembered, hours: 1 to 168.
    pub idempotency_hours: u64,
    /// How long an unused attachment upload is kept, hours: 1 to 168.
    pub upload_hours: u64,
    /// Serve the API over TLS with this certificate and key.
    pub tls: Option<ApiTlsFile>,
    /// Clients of the node's token endpoint.
    pub clients: Vec<ApiClientFile>,
    /// Accept access tokens (JWT) of this issuer too.
    pub external_issuer: Option<ExternalIssuerFile>,
}

impl Default for ApiFile {
    fn default() -> Self {
        Self {
            token_lifetime_seconds: TOKEN_LIFETIME_DEFAULT_SECONDS,
            idempotency_hours: IDEMPOTENCY_DEFAULT_HOURS,
            upload_hours: UPLOAD_DEFAULT_HOURS,
            tls: None,
            clients: Vec::new(),
            external_issuer: None,
        }
    }
}

/// `[api.tls]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTlsFile {
    /// PEM: the certificate first, then intermediates.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// One `[[api.clients]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiClientFile {
    /// The OAuth2 client id.
    pub id: String,
    /// `brygga api hash-secret` output: `$pbkdf2-sha256$i=…$salt$hash`.
    pub secret_hash: String,
    /// `urn:sdk.api:…` scopes the client may be given.
    pub scopes: Vec<String>,
    /// Functional addresses of this node the client sends and reads for.
    pub functional_addresses: Vec<String>,
    /// Where the node posts the client's webhook events.
    #[serde(default)]
    pub webhook: Option<WebhookFile>,
}

/// `webhook = { url = "https://…", secret_file = "…" }` of a client.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFile {
    /// https, or http to a loopback address (tests, development).
    pub url: String,
    /// File holding the signing secret (the HMAC key, at least 32
    /// characters after trimming), shared with the receiver.
    pub secret_file: PathBuf,
    /// PEM CA bundle for the URL's TLS; required for https.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// `[api.external_issuer]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalIssuerFile {
    /// The `iss` the tokens carry.
    pub issuer: String,
    /// The `aud` the tokens must carry (this node's API).
    pub audience: String,
    /// Where the issuer publishes its signing keys (JWKS): https, or http to
    /// a loopback address.
    pub jwks_url: String,
    /// PEM CA bundle for the JWKS URL's TLS; required for https.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Claim naming the client. Default `azp` (B1.4.2 §5.2), then
    /// `client_id`, then `sub`.
    #[serde(default)]
    pub client_id_claim: Option<String>,
    /// Claim listing the client's functional addresses. Default
    /// `urn:sdk.digg.se:auth_id` (B1.4.2 §5.2).
    #[serde(default)]
    pub functional_address_claim: Option<String>,
    /// How long fetched keys are used before fetching again, seconds.
    #[serde(default = "default_jwks_cache_seconds")]
    pub jwks_cache_seconds: u64,
}

fn default_jwks_cache_seconds() -> u64 {
    600
}

/// `[api]`, checked and loaded.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub token_lifetime_seconds: u64,
    pub idempotency_hours: u64,
    pub upload_hours: u64,
    pub tls: Option<ApiTls>,
    pub clients: Vec<ApiClient>,
    pub external_issuer: Option<ExternalIssuer>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            token_lifetime_seconds: TOKEN_LIFETIME_DEFAULT_SECONDS,
            idempotency_hours: IDEMPOTENCY_DEFAULT_HOURS,
            upload_hours: UPLOAD_DEFAULT_HOURS,
            tls: None,
            clients: Vec::new(),
            external_issuer: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiTls {
    pub key: PrivateKey,
    pub chain: Vec<Certificate>,
}

#[derive(Debug, Clone)]
pub struct ApiClient {
    pub id: String,
    pub secret_hash: SecretHash,
    pub scopes: Vec<Scope>,
    pub functional_addresses: Vec<String>,
    pub webhook: Option<Webhook>,
}

/// A client's webhook, loaded.
#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    /// The HMAC-SHA256 key.
    pub secret: Vec<u8>,
    pub ca: Vec<Certificate>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook").field("url", &self.url).finish_non_exhaustive()
    }
}

/// Shortest webhook secret accepted, bytes.
pub const WEBHOOK_SECRET_MIN_BYTES: usize = 32;

/// `url` is https, or http to a loopback address.
fn https_or_loopback(url: &str) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let loopback = parsed.host_str().is_some_and(|h| {
        let h = h.trim_start_matches('[').trim_end_matches(']');
        h.eq_ignore_ascii_case("localhost") || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    });
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err("must be https (http only to a loopback address)".into()),
    }
}

#[derive(Debug, Clone)]
pub struct ExternalIssuer {
    pub issuer: String,
    pub audience: String,
    pub jwks_url: String,
    pub ca: Vec<Certificate>,
    pub client_id_claim: Option<String>,
    pub functional_address_claim: String,
    pub jwks_cache_seconds: u64,
}

/// The claim B1.4.2 §5.2 names for authorisation attributes.
pub const AUTH_ID_CLAIM: &str = "urn:sdk.digg.se:auth_id";

/// An OAuth2 client id (RFC 6749 VSCHAR), without ':' so HTTP Basic works
/// unencoded, at most 128 bytes.
pub fn check_client_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 128 {
        return Err("must be 1 to 128 characters".into());
    }
    if !id.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b':') {
        return Err(format!("{id:?} must be printable ASCII without spaces or ':'"));
    }
    Ok(())
}

impl Loader<'_> {
    pub(super) fn load_api(&self, raw: &ApiFile, org: &super::OrganisationConfig) -> Result<ApiConfig, ConfigError> {
        if !(60..=TOKEN_LIFETIME_MAX_SECONDS).contains(&raw.token_lifetime_seconds) {
            return Err(self.invalid(
                "api.token_lifetime_seconds",
                format!("{} is outside 60..={TOKEN_LIFETIME_MAX_SECONDS} (B1.4.2: at most 30 minutes)", raw.token_lifetime_seconds),
            ));
        }
        if !(1..=IDEMPOTENCY_MAX_HOURS).contains(&raw.idempotency_hours) {
            return Err(self.invalid("api.idempotency_hours", format!("{} is outside 1..={IDEMPOTENCY_MAX_HOURS}", raw.idempotency_hours)));
        }
        if !(1..=UPLOAD_MAX_HOURS).contains(&raw.upload_hours) {
            return Err(self.invalid("api.upload_hours", format!("{} is outside 1..={UPLOAD_MAX_HOURS}", raw.upload_hours)));
        }
        let tls = match &raw.tls {
            None => None,
            Some(t) => Some(self.load_api_tls(t)?),
        };
        let mut clients: Vec<ApiClient> = Vec::new();
        for (i, c) in raw.clients.iter().enumerate() {
            let key = format!("api.clients[{i}]");
            check_client_id(&c.id).map_err(|r| self.invalid(&format!("{key}.id"), r))?;
            if let Some(first) = clients.iter().position(|o| o.id == c.id) {
                return Err(self.invalid(&format!("{key}.id"), format!("duplicate client id {:?} (also api.clients[{first}])", c.id)));
            }
            let secret_hash =
                SecretHash::parse(&c.secret_hash).map_err(|r| self.invalid(&format!("{key}.secret_hash"), r))?;
            if c.scopes.is_empty() {
                return Err(self.invalid(&format!("{key}.scopes"), "list at least one scope"));
            }
            let mut scopes = Vec::new();
            for (j, s) in c.scopes.iter().enumerate() {
                let scope = Scope::parse(s).ok_or_else(|| {
                    self.invalid(&format!("{key}.scopes[{j}]"), format!("{s:?} is not one of {}", Scope::all_names().join(", ")))
                })?;
                if !scopes.contains(&scope) {
                    scopes.push(scope);
                }
            }
            if c.functional_addresses.is_empty() {
                return Err(self.invalid(&format!("{key}.functional_addresses"), "list at least one functional address"));
            }
            for (j, a) in c.functional_addresses.iter().enumerate() {
                if !org.functional_addresses.iter().any(|f| f.id == *a) {
                    return Err(self.invalid(
                        &format!("{key}.functional_addresses[{j}]"),
                        format!("{a:?} is not one of organisation.functional_addresses"),
                    ));
                }
            }
            clients.push(ApiClient {
                id: c.id.clone(),
                secret_hash,
                scopes,
                functional_addresses: c.functional_addresses.clone(),
                webhook: match &c.webhook {
                    None => None,
                    Some(w) => Some(self.load_webhook(&format!("{key}.webhook"), w)?),
                },
            });
        }
        let external_issuer = match &raw.external_issuer {
            None => None,
            Some(e) => Some(self.load_external_issuer(e)?),
        };
        Ok(ApiConfig {
            token_lifetime_seconds: raw.token_lifetime_seconds,
            idempotency_hours: raw.idempotency_hours,
            upload_hours: raw.upload_hours,
            tls,
            clients,
            external_issuer,
        })
    }

    fn load_webhook(&self, k: &str, w: &WebhookFile) -> Result<Webhook, ConfigError> {
        let url = https_or_loopback(&w.url).map_err(|r| self.invalid(&format!("{k}.url"), r))?;
        let path = self.resolve(&w.secret_file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| self.error(&format!("{k}.secret_file"), Problem::BadFile { path: path.clone(), reason: e.to_string() }))?;
        let secret = text.trim().as_bytes().to_vec();
        if secret.len() < WEBHOOK_SECRET_MIN_BYTES {
            return Err(self.error(
                &format!("{k}.secret_file"),
                Problem::BadFile { path, reason: format!("the secret must be at least {WEBHOOK_SECRET_MIN_BYTES} characters") },
            ));
        }
        let ca = match &w.ca_file {
            Some(p) => self.certificates(&format!("{k}.ca_file"), &self.resolve(p))?,
            None if url.scheme() == "https" => return Err(self.error(&format!("{k}.ca_file"), Problem::MissingKey)),
            None => Vec::new(),
        };
        Ok(Webhook { url: w.url.clone(), secret, ca })
    }

    fn load_api_tls(&self, t: &ApiTlsFile) -> Result<ApiTls, ConfigError> {
        let cert_path = self.resolve(&t.cert);
        let key_path = self.resolve(&t.key);
        let chain = self.certificates("api.tls.cert", &cert_path)?;
        let key = PrivateKey::from_pem_file(&key_path).map_err(|e| self.key_error("api.tls.key", &key_path, e))?;
        if !key.matches(&chain[0]) {
            return Err(self.error("api.tls.key", Problem::KeyMismatch { key: key_path, cert: cert_path }));
        }
        crate::transport::tls::server_config(&key, &chain, None, &[], crate::transport::tls::MinTlsVersion::Tls12)
            .map_err(|e| self.error("api.tls.cert", Problem::BadFile { path: cert_path.clone(), reason: e.to_string() }))?;
        Ok(ApiTls { key, chain })
    }

    fn load_external_issuer(&self, e: &ExternalIssuerFile) -> Result<ExternalIssuer, ConfigError> {
        let k = "api.external_issuer";
        if e.issuer.trim().is_empty() || e.issuer.chars().any(char::is_control) {
            return Err(self.invalid(&format!("{k}.issuer"), "must name the issuer (the tokens' iss)"));
        }
        if e.audience.trim().is_empty() || e.audience.chars().any(char::is_control) {
            return Err(self.invalid(&format!("{k}.audience"), "must name this API (the tokens' aud)"));
        }
        let url = reqwest::Url::parse(&e.jwks_url)
            .map_err(|err| self.invalid(&format!("{k}.jwks_url"), format!("{:?} is not a URL: {err}", e.jwks_url)))?;
        let loopback = url.host_str().is_some_and(|h| {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            h.eq_ignore_ascii_case("localhost") || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        });
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err(self.invalid(&format!("{k}.jwks_url"), "must be https (http only to a loopback address)")),
        }
        let ca = match &e.ca_file {
            Some(p) => self.certificates(&format!("{k}.ca_file"), &self.resolve(p))?,
            None if url.scheme() == "https" => {
                return Err(self.error(&format!("{k}.ca_file"), Problem::MissingKey));
            }
            None => Vec::new(),
        };
        if !(10..=86_400).contains(&e.jwks_cache_seconds) {
            return Err(self.invalid(&format!("{k}.jwks_cache_seconds"), "must be 10 to 86400"));
        }
        for (name, claim) in [("client_id_claim", &e.client_id_claim), ("functional_address_claim", &e.functional_address_claim)] {
            if claim.as_deref().is_some_and(|c| c.is_empty()) {
                return Err(self.invalid(&format!("{k}.{name}"), "must not be empty"));
            }
        }
        Ok(ExternalIssuer {
            issuer: e.issuer.clone(),
            audience: e.audience.clone(),
            jwks_url: e.jwks_url.clone(),
            ca,
            client_id_claim: e.client_id_claim.clone(),
            functional_address_claim: e.functional_address_claim.clone().unwrap_or_else(|| AUTH_ID_CLAIM.to_owned()),
            jwks_cache_seconds: e.jwks_cache_seconds,
        })
    }
}
