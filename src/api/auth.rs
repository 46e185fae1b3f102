//! OAuth2 for DIGG's message API (B1.4.2 §5): the client credentials
//! grant at the node's own token endpoint, and access tokens that are JWTs.
//!
//! - The node's tokens: HS256, signed with a 256-bit key kept in
//!   `<data_dir>/api-token.key` (made on first start, mode 0600), lifetime
//!   `api.token_lifetime_seconds` (at most 30 minutes, B1.4.2). Claims:
//!   `iss`, `aud`, `sub` = `azp` = `client_id`, `iat`, `exp`, `jti`,
//!   `scope`, and `urn:sdk.digg.se:auth_id` with the client's functional
//!   addresses (B1.4.2 §5.2). On every request the client is looked up in
//!   the configuration again: a client removed from it loses access at the
//!   next restart, and scopes and addresses are cut to what it has now.
//! - An external issuer's tokens (`[api.external_issuer]`): RS256 or ES256,
//!   keys from its JWKS URL, cached, fetched again for an unknown `kid` (at
//!   most every 30 s); `iss`, `aud` and `exp` are required.
//!
//! No refresh tokens (B1.4.2: "Refresh token: Ej tillåtet").

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};

use super::scope::{parse_scope_string, scope_string, Scope};
use crate::config::api::{ApiClient, ApiConfig, ExternalIssuer, AUTH_ID_CLAIM};

/// Who is calling, after the token checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub client_id: String,
    pub scopes: Vec<Scope>,
    /// The functional addresses of this node the client acts for.
    pub functional_addresses: Vec<String>,
}

impl Principal {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    pub fn may_use(&self, functional_address: &str) -> bool {
        self.functional_addresses.iter().any(|a| a == functional_address)
    }
}

/// Why a bearer token was refused. The text goes to the audit log and the
/// `WWW-Authenticate` header; it never contains the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRefused {
    pub reason: String,
    /// The client, when the token named one we could read.
    pub client_id: Option<String>,
}

/// The claims of a token this node issues.
#[derive(Debug, Serialize, Deserialize)]
struct OwnClaims {
    iss: String,
    aud: String,
    sub: String,
    azp: String,
    client_id: String,
    iat: u64,
    exp: u64,
    jti: String,
    scope: String,
    #[serde(rename = "urn:sdk.digg.se:auth_id")]
    auth_id: Vec<String>,
}

/// A token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
}

/// Why the token endpoint said no (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantError {
    InvalidRequest(String),
    /// Unknown client or wrong secret. `client_id` as given, if it was sane.
    InvalidClient { client_id: Option<String>, basic: bool },
    UnsupportedGrantType,
    InvalidScope { client_id: String, scope: String },
    Unavailable,
}

/// Issues and checks access tokens.
pub struct Auth {
    issuer: String,
    audience: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    lifetime: u64,
    clients: HashMap<String, ApiClient>,
    external: Option<ExternalVerifier>,
    /// Secret hashing is slow on purpose; at most two at once, so a flood
    /// of token requests cannot take every core.
    hashing: Arc<Semaphore>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("issuer", &self.issuer).field("clients", &self.clients.len()).finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The token signing key in `path`, made (32 random bytes, mode 0600) when
/// missing.
fn load_or_create_key(path: &Path) -> Result<Vec<u8>, String> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() == 32 => return Ok(bytes),
        Ok(_) => return Err(format!("{}: not a 32-byte key", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    let mut key = vec![0u8; 32];
    SystemRandom::new().fill(&mut key).map_err(|_| "no system randomness".to_owned())?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write as _;
    let mut file = options.open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(&key).and_then(|()| file.sync_all()).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(key)
}

impl Auth {
    /// `org_id` names the issuer and audience of the node's own tokens.
    pub fn new(config: &ApiConfig, org_id: &str, data_dir: &Path) -> Result<Auth, String> {
        let key = load_or_create_key(&data_dir.join("api-token.key"))?;
        let external = match &config.external_issuer {
            Some(e) => Some(ExternalVerifier::new(e.clone())?),
            None => None,
        };
        Ok(Auth {
            issuer: format!("urn:brygga:token:{org_id}"),
            audience: format!("urn:brygga:api:{org_id}"),
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            lifetime: config.token_lifetime_seconds,
            clients: config.clients.iter().map(|c| (c.id.clone(), c.clone())).collect(),
            external,
            hashing: Arc::new(Semaphore::new(2)),
        })
    }

    /// The client credentials grant: checks the client's secret and issues
    /// a token for the requested scopes (all of the client's when none are
    /// asked for).
    pub async fn grant(&self, client_id: &str, secret: &str, requested_scope: Option<&str>) -> Result<TokenResponse, GrantError> {
        let Some(client) = self.clients.get(client_id) else {
            // The same work as for a known client, so timing does not tell
            // which client ids exist.
            let _ = self.check_secret(&DUMMY_HASH, secret).await;
            return Err(GrantError::InvalidClient { client_id: sane(client_id), basic: false });
        };
        if !self.check_secret(&client.secret_hash, secret).await? {
            return Err(GrantError::InvalidClient { client_id: Some(client.id.clone()), basic: false });
        }
        let scopes = match requested_scope {
            None => client.scopes.clone(),
            Some(text) => {
                let (known, unknown) = parse_scope_string(text);
                let refused: Vec<&Scope> = known.iter().filter(|s| !client.scopes.contains(s)).collect();
                if !unknown.is_empty() || !refused.is_empty() || known.is_empty() {
                    return Err(GrantError::InvalidScope { client_id: client.id.clone(), scope: text.to_owned() });
                }
                known
            }
        };
        let now = now_secs();
        let claims = OwnClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: client.id.clone(),
            azp: client.id.clone(),
            client_id: client.id.clone(),
            iat: now,
            exp: now + self.lifetime,
            jti: uuid::Uuid::new_v4().to_string(),
            scope: scope_string(&scopes),
            auth_id: client.functional_addresses.clone(),
        };
        let access_token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| GrantError::Unavailable)?;
        Ok(TokenResponse { access_token, token_type: "Bearer", expires_in: self.lifetime, scope: claims.scope })
    }

    async fn check_secret(&self, hash: &crate::api::secret::SecretHash, secret: &str) -> Result<bool, GrantError> {
        let _permit = self.hashing.clone().acquire_owned().await.map_err(|_| GrantError::Unavailable)?;
        let (hash, secret) = (hash.clone(), secret.to_owned());
        tokio::task::spawn_blocking(move || hash.verify(&secret)).await.map_err(|_| GrantError::Unavailable)
    }

    /// Checks a bearer token: the node's own (HS256) or the external
    /// issuer's (RS256, ES256).
    pub async fn verify(&self, token: &str) -> Result<Principal, TokenRefused> {
        let refused = |reason: &str| TokenRefused { reason: reason.to_owned(), client_id: None };
        let header = jsonwebtoken::decode_header(token).map_err(|_| refused("not a JWT"))?;
        match header.alg {
            Algorithm::HS256 => self.verify_own(token),
            Algorithm::RS256 | Algorithm::ES256 => match &self.external {
                Some(external) => external.verify(token, &header).await,
                None => Err(refused("no external token issuer is configured")),
            },
            _ => Err(refused("unsupported JWT algorithm")),
        }
    }

    fn verify_own(&self, token: &str) -> Result<Principal, TokenRefused> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        let data = jsonwebtoken::decode::<OwnClaims>(token, &self.decoding, &validation).map_err(|e| TokenRefused {
            reason: token_error(&e),
            client_id: None,
        })?;
        let claims = data.claims;
        let Some(client) = self.clients.get(&claims.client_id) else {
            return Err(TokenRefused { reason: "the client is no longer configured".into(), client_id: sane(&claims.client_id) });
        };
        let (scopes, _) = parse_scope_string(&claims.scope);
        Ok(Principal {
            client_id: client.id.clone(),
            scopes: scopes.into_iter().filter(|s| client.scopes.contains(s)).collect(),
            functional_addresses: claims.auth_id.into_iter().filter(|a| client.functional_addresses.contains(a)).collect(),
        })
    }
}

/// A client id fit for the audit log (which refuses control characters and
/// more than 256 bytes), or none.
pub fn sane(client_id: &str) -> Option<String> {
    crate::config::api::check_client_id(client_id).ok().map(|()| client_id.to_owned())
}

fn token_error(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "the token has expired",
        K::InvalidSignature => "the token's signature does not verify",
        K::InvalidIssuer => "the token is from another issuer",
        K::InvalidAudience => "the token is for another audience",
        K::ImmatureSignature => "the token is not valid yet",
        K::MissingRequiredClaim(_) => "the token lacks a required claim",
        K::InvalidAlgorithm => "the token's algorithm does not match its key",
        _ => "the token is malformed",
    }
    .to_owned()
}

/// A hash to spend time on for unknown clients.
static DUMMY_HASH: std::sync::LazyLock<crate::api::secret::SecretHash> = std::sync::LazyLock::new(|| {
    crate::api::secret::SecretHash::parse(
        "$pbkdf2-sha256$i=100000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )
    .expect("a valid hash")
});

// ---------------------------------------------------------------------------
// External issuer
// ---------------------------------------------------------------------------

/// Least time between two JWKS fetches caused by unknown `kid`s.
const REFETCH_INTERVAL: Duration = Duration::from_secs(30);

struct ExternalVerifier {
    config: ExternalIssuer,
    http: reqwest::Client,
    cache: Mutex<JwksCache>,
}

#[derive(Default)]
struct JwksCache {
    keys: Vec<CachedKey>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

struct CachedKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

impl ExternalVerifier {
    fn new(config: ExternalIssuer) -> Result<Self, String> {
        let http = crate::directory::smp_http_client(&config.ca, Duration::from_secs(10)).map_err(|e| e.to_string())?;
        Ok(Self { config, http, cache: Mutex::new(JwksCache::default()) })
    }

    async fn fetch(&self) -> Result<Vec<CachedKey>, String> {
        let response = self.http.get(&self.config.jwks_url).send().await.map_err(|e| format!("JWKS fetch: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("JWKS fetch: HTTP {}", response.status()));
        }
        let bytes = response.bytes().await.map_err(|e| format!("JWKS fetch: {e}"))?;
        if bytes.len() > 1024 * 1024 {
            return Err("JWKS larger than 1 MiB".into());
        }
        let set: JwkSet = serde_json::from_slice(&bytes).map_err(|e| format!("JWKS: {e}"))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let algorithm = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == jsonwebtoken::jwk::EllipticCurve::P256 => Algorithm::ES256,
                _ => continue,
            };
            if let Some(declared) = jwk.common.key_algorithm {
                if format!("{declared:?}") != format!("{algorithm:?}") {
                    continue;
                }
            }
            if jwk.common.public_key_use.as_ref().is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature) {
                continue;
            }
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.push(CachedKey { kid: jwk.common.key_id.clone(), algorithm, key });
            }
        }
        Ok(keys)
    }

    async fn verify(&self, token: &str, header: &Header) -> Result<Principal, TokenRefused> {
        let refused = |reason: String| TokenRefused { reason, client_id: None };
        let mut cache = self.cache.lock().await;
        let ttl = Duration::from_secs(self.config.jwks_cache_seconds);
        let stale = cache.fetched_at.is_none_or(|t| t.elapsed() >= ttl);
        let known = |cache: &JwksCache| {
            cache.keys.iter().any(|k| k.algorithm == header.alg && (header.kid.is_none() || k.kid == header.kid))
        };
        let may_refetch = cache.last_attempt.is_none_or(|t| t.elapsed() >= REFETCH_INTERVAL);
        if stale || (!known(&cache) && may_refetch) {
            cache.last_attempt = Some(Instant::now());
            match self.fetch().await {
                Ok(keys) => {
                    cache.keys = keys;
                    cache.fetched_at = Some(Instant::now());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "external token issuer keys unavailable");
                    if cache.keys.is_empty() {
                        return Err(refused("the token issuer's keys are unavailable".into()));
                    }
                }
            }
        }
        let candidates: Vec<&CachedKey> = cache
            .keys
            .iter()
            .filter(|k| k.algorithm == header.alg && (header.kid.is_none() || k.kid == header.kid))
            .collect();
        if candidates.is_empty() {
            return Err(refused("no key of the issuer matches the token".into()));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 30;
        let mut last = refused("no key of the issuer matches the token".into());
        for candidate in candidates {
            match jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &candidate.key, &validation) {
                Ok(data) => return self.principal(&data.claims),
                Err(e) => last = refused(token_error(&e)),
            }
        }
        Err(last)
    }

    fn principal(&self, claims: &serde_json::Map<String, Value>) -> Result<Principal, TokenRefused> {
        let string = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let client_id = match &self.config.client_id_claim {
            Some(claim) => string(claim),
            None => string("azp").or_else(|| string("client_id")).or_else(|| string("sub")),
        };
        let Some(client_id) = client_id.and_then(|c| sane(&c)) else {
            return Err(TokenRefused { reason: "the token names no usable client id".into(), client_id: None });
        };
        let scopes = match (claims.get("scope"), claims.get("scp")) {
            (Some(Value::String(s)), _) => parse_scope_string(s).0,
            (_, Some(Value::Array(a))) => a.iter().filter_map(Value::as_str).filter_map(Scope::parse).collect(),
            (_, Some(Value::String(s))) => parse_scope_string(s).0,
            _ => Vec::new(),
        };
        let addresses = match claims.get(&self.config.functional_address_claim) {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        };
        Ok(Principal { client_id, scopes, functional_addresses: addresses })
    }
}

/// The claim the node's tokens carry the functional addresses in.
pub const FUNCTIONAL_ADDRESS_CLAIM: &str = AUTH_ID_CLAIM;
