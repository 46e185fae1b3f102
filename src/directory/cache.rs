//! Verified lookups, kept for a while.
//!
//! Only metadata that verified and matched the request is stored, keyed by
//! (participant, document type). A "not listed" answer may be kept for a
//! shorter time so a sender retrying an unknown recipient does not hammer
//! the SMP; every other failure (unreachable, bad signature, ...) is never
//! cached, so the next lookup asks again. The clock is the caller's `now`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;

use super::client::check_answer;
use super::{DirectoryError, DocumentTypeId, ParticipantId, ServiceMetadata, SmpClient};

/// How long lookups are kept. In a node's TOML configuration:
/// `ttl_secs = 3600`, `negative_ttl_secs = 60` (0 turns negative caching
/// off), `max_entries = 10000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    pub ttl_secs: u64,
    pub negative_ttl_secs: u64,
    pub max_entries: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self { ttl_secs: 3600, negative_ttl_secs: 60, max_entries: 10_000 }
    }
}

impl CacheConfig {
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_secs)
    }

    pub fn negative_ttl(&self) -> Option<Duration> {
        (self.negative_ttl_secs > 0).then(|| Duration::from_secs(self.negative_ttl_secs))
    }
}

/// Participant (lower case, as it compares) and document type.
type Key = (String, String);

fn key(participant: &ParticipantId, document_type: &DocumentTypeId) -> Key {
    (participant.normalized(), document_type.value().to_owned())
}

#[derive(Debug, Clone)]
struct Entry {
    value: CacheHit,
    expires: OffsetDateTime,
}

/// A bounded map of lookups with expiry.
#[derive(Debug)]
pub struct DirectoryCache {
    config: CacheConfig,
    entries: Mutex<HashMap<Key, Entry>>,
}

/// What the cache knows about a key at some time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheHit {
    Found(Arc<ServiceMetadata>),
    /// The SMP said "not listed" recently.
    NotFound,
}

fn add(now: OffsetDateTime, d: Duration) -> OffsetDateTime {
    now.checked_add(time::Duration::try_from(d).unwrap_or(time::Duration::MAX)).unwrap_or(now)
}

impl DirectoryCache {
    pub fn new(config: CacheConfig) -> Self {
        Self { config, entries: Mutex::new(HashMap::new()) }
    }

    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        // A panic elsewhere while holding the lock leaves a plain map
        // behind, still consistent; keep using it.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The entry for the key if it has not expired at `now`.
    pub fn get(
        &self,
        participant: &ParticipantId,
        document_type: &DocumentTypeId,
        now: OffsetDateTime,
    ) -> Option<CacheHit> {
        let k = key(participant, document_type);
        let mut entries = self.lock();
        match entries.get(&k) {
            Some(e) if now < e.expires => Some(e.value.clone()),
            Some(_) => {
                entries.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Keeps verified metadata for the TTL, but never past the endpoint's
    /// expiration date.
    pub fn insert(&self, metadata: &ServiceMetadata, now: OffsetDateTime) {
        let mut expires = add(now, self.config.ttl());
        if let Some(end) = metadata.endpoint.service_expiration {
            expires = expires.min(end);
        }
        self.put(
            key(&metadata.participant, &metadata.document_type),
            Entry { value: CacheHit::Found(Arc::new(metadata.clone())), expires },
            now,
        );
    }

    /// Remembers "not listed" for the negative TTL, if one is configured.
    pub fn insert_not_found(&self, participant: &ParticipantId, document_type: &DocumentTypeId, now: OffsetDateTime) {
        if let Some(ttl) = self.config.negative_ttl() {
            self.put(key(participant, document_type), Entry { value: CacheHit::NotFound, expires: add(now, ttl) }, now);
        }
    }

    /// Forgets one key (say, after the endpoint refused a message).
    pub fn invalidate(&self, participant: &ParticipantId, document_type: &DocumentTypeId) {
        self.lock().remove(&key(participant, document_type));
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn put(&self, k: Key, entry: Entry, now: OffsetDateTime) {
        if self.config.max_entries == 0 || entry.expires <= now {
            return;
        }
        let mut entries = self.lock();
        if !entries.contains_key(&k) && entries.len() >= self.config.max_entries {
            // Full: drop what has expired, then, if still full, the entry
            // closest to expiry. Linear, and only when full.
            entries.retain(|_, e| now < e.expires);
            if entries.len() >= self.config.max_entries {
                if let Some(oldest) = entries.iter().min_by_key(|(_, e)| e.expires).map(|(k, _)| k.clone()) {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(k, entry);
    }
}

/// An [`SmpClient`] in front of a [`DirectoryCache`].
#[derive(Debug)]
pub struct CachedSmpClient {
    client: SmpClient,
    cache: DirectoryCache,
}

impl CachedSmpClient {
    pub fn new(client: SmpClient, config: CacheConfig) -> Self {
        Self { client, cache: DirectoryCache::new(config) }
    }

    pub fn cache(&self) -> &DirectoryCache {
        &self.cache
    }

    pub fn client(&self) -> &SmpClient {
        &self.client
    }

    /// As [`SmpClient::lookup`], answered from the cache while fresh.
    pub async fn lookup(
        &self,
        participant: &ParticipantId,
        document_type: &DocumentTypeId,
        now: OffsetDateTime,
    ) -> Result<ServiceMetadata, DirectoryError> {
        match self.cache.get(participant, document_type, now) {
            // Cached metadata passed these checks when stored; the
            // activation period is checked again for this `now`.
            Some(CacheHit::Found(metadata)) => {
                check_answer(&metadata, participant, document_type, now)?;
                return Ok(ServiceMetadata::clone(&metadata));
            }
            Some(CacheHit::NotFound) => {
                return Err(DirectoryError::NotFound {
                    participant: participant.to_string(),
                    document_type: document_type.to_string(),
                })
            }
            None => {}
        }
        match self.client.lookup(participant, document_type, now).await {
            Ok(metadata) => {
                self.cache.insert(&metadata, now);
                Ok(metadata)
            }
            Err(e @ DirectoryError::NotFound { .. }) => {
                self.cache.insert_not_found(participant, document_type, now);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{CertPub, Endpoint, ProcessId};
    use crate::pki::dev::DevCa;

    fn metadata(participant: &str) -> ServiceMetadata {
        let ca = DevCa::new("Test", "Test CA").unwrap();
        ServiceMetadata {
            participant: ParticipantId::new(participant).unwrap(),
            document_type: DocumentTypeId::sdk_message_v3(),
            process: ProcessId::sdk(),
            endpoint: Endpoint::as4("https://ap.example.se/as4", ca.identity.certificate),
            certpub: CertPub::default(),
        }
    }

    const T0: OffsetDateTime = time::macros::datetime!(2026-06-01 12:00 UTC);

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = DirectoryCache::new(CacheConfig { ttl_secs: 60, negative_ttl_secs: 0, max_entries: 10 });
        let m = metadata("0203:habo.se");
        cache.insert(&m, T0);
        let other_case = ParticipantId::new("0203:HABO.se").unwrap();
        assert_eq!(
            cache.get(&other_case, &m.document_type, T0 + time::Duration::seconds(59)),
            Some(CacheHit::Found(Arc::new(m.clone())))
        );
        assert_eq!(cache.get(&m.participant, &m.document_type, T0 + time::Duration::seconds(60)), None);
        assert!(cache.is_empty(), "expired entries are dropped on read");
        assert_eq!(cache.get(&m.participant, &DocumentTypeId::sdk_receipt(), T0), None);
    }

    #[test]
    fn expiry_never_passes_the_endpoint_expiration() {
        let cache = DirectoryCache::new(CacheConfig::default());
        let mut m = metadata("0203:habo.se");
        m.endpoint.service_expiration = Some(T0 + time::Duration::seconds(10));
        cache.insert(&m, T0);
        assert!(cache.get(&m.participant, &m.document_type, T0 + time::Duration::seconds(9)).is_some());
        assert!(cache.get(&m.participant, &m.document_type, T0 + time::Duration::seconds(11)).is_none());
    }

    #[test]
    fn not_found_is_kept_only_when_configured() {
        let p = ParticipantId::new("0203:habo.se").unwrap();
        let d = DocumentTypeId::sdk_message_v3();
        let off = DirectoryCache::new(CacheConfig { negative_ttl_secs: 0, ..CacheConfig::default() });
        off.insert_not_found(&p, &d, T0);
        assert_eq!(off.get(&p, &d, T0), None);
        let on = DirectoryCache::new(CacheConfig { negative_ttl_secs: 30, ..CacheConfig::default() });
        on.insert_not_found(&p, &d, T0);
        assert_eq!(on.get(&p, &d, T0 + time::Duration::seconds(29)), Some(CacheHit::NotFound));
        assert_eq!(on.get(&p, &d, T0 + time::Duration::seconds(30)), None);
    }

    #[test]
    fn size_is_bounded() {
        let cache = DirectoryCache::new(CacheConfig { ttl_secs: 100, negative_ttl_secs: 0, max_entries: 2 });
        let (a, b, c) = (metadata("0203:a.se"), metadata("0203:b.se"), metadata("0203:c.se"));
        cache.insert(&a, T0);
        cache.insert(&b, T0 + time::Duration::seconds(1));
        cache.insert(&c, T0 + time::Duration::seconds(2));
        assert_eq!(cache.len(), 2);
        let at = T0 + time::Duration::seconds(3);
        assert!(cache.get(&a.participant, &a.document_type, at).is_none(), "the entry closest to expiry goes");
        assert!(cache.get(&c.participant, &c.document_type, at).is_some());
        cache.invalidate(&c.participant, &c.document_type);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn config_reads_from_toml() {
        let c: CacheConfig = toml::from_str("ttl_secs = 600\nnegative_ttl_secs = 0").unwrap();
        assert_eq!(c, CacheConfig { ttl_secs: 600, negative_ttl_secs: 0, max_entries: 10_000 });
        assert_eq!(c.negative_ttl(), None);
        assert!(toml::from_str::<CacheConfig>("ttl = 1").is_err());
    }
}
