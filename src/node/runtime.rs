//! The running node: state shared by its tasks, and the submit path.
//!
//! A submission is validated, sealed for the recipient's published
//! encryption certificate (looked up in SMP for the message's document
//! type, which also proves the recipient accepts that document type),
//! stored durably and audited, and only then acknowledged. Sending happens
//! later, from the outbox, in [`super::sender`].

use std::sync::Arc;

use time::OffsetDateTime;

use super::metrics::{Counter, Metrics};
use super::outbox::{DocumentType, NewOutboxEntry, OutboxEntry, RetryPolicy};
use super::store::{Store, StoreError};
use crate::audit::{Action, AuditError, AuditLog, NewEntry, Outcome, PersonKey};
use crate::config::NodeConfig;
use crate::spool::Blob;
use crate::directory::{CacheConfig, CachedSmpClient, DirectoryError, DocumentTypeId, ParticipantId, ServiceMetadata, SmpClient};
use crate::sdk::envelope::{PreparedMessage, SealError, SealOptions};
use crate::sdk::message::MessageHeader;
use crate::sdk::Validation;
use crate::spool::Spool;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("audit log: {0}")]
    Audit(#[from] AuditError),
    #[error("audit person key: {0}")]
    PersonKey(#[from] crate::audit::KeyError),
    #[error("directory: {0}")]
    Directory(#[from] DirectoryError),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
    #[error("{0}")]
    Other(String),
}

/// Why a submission was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the message breaks SDK's rules")]
    Invalid(Validation),
    #[error("functional address {0} is not one of this node's")]
    NotOurAddress(String),
    /// A message with this messageId is in the outbox already: typically a
    /// client resending because a crash or a cut connection swallowed our
    /// answer. Nothing new is stored; the entry says where it is.
    #[error("message {} was submitted before", .0.id())]
    AlreadySubmitted(Box<OutboxEntry>),
    #[error("recipient lookup failed: {0}")]
    Directory(#[from] DirectoryError),
    #[error("recipient {0} publishes no valid encryption certificate")]
    NoEncryptionCertificate(String),
    #[error("sealing failed: {0}")]
    Seal(String),
    #[error("could not store the message durably: {0}")]
    Store(#[from] StoreError),
    #[error("could not write the audit entry: {0}")]
    Audit(#[from] AuditError),
}

/// What the node shares between its tasks.
pub struct NodeState {
    pub config: NodeConfig,
    pub store: Store,
    pub audit: AuditLog,
    pub metrics: Metrics,
    pub smp: CachedSmpClient,
    /// HTTPS client for AS4 with our TLS client certificate (mutual TLS).
    pub as4_http: reqwest::Client,
    pub retry: RetryPolicy,
    /// Wakes the outbox worker when something new is due now.
    pub outbox_notify: Arc<tokio::sync::Notify>,
    /// `<data_dir>/spool`: AS4 messages being received or sent, on disk
    /// when large.
    pub spool: Spool,
    /// The pilots' documents per conversation.
    pub conversations: super::conversations::Conversations,
}

pub type Shared = Arc<NodeState>;

/// Runs `f`, which waits for the disk (a store write that flushes, an audit
/// append that syncs), from async code without stalling the runtime. On a
/// multi-thread runtime the worker hands its other tasks to another thread
/// for the wait (`block_in_place`), so the CPU work of other messages goes
/// on, and concurrent waits can share one sync (the audit log's group
/// commit, sled's log buffers). On a current-thread runtime, or outside
/// tokio, `f` simply runs.
pub fn disk_wait<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

impl NodeState {
    /// Opens the store and the audit log and builds the clients. Nothing
    /// listens yet.
    pub fn open(config: NodeConfig) -> Result<Shared, NodeError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| NodeError::Other(format!("{}: {e}", config.data_dir.display())))?;
        let store = Store::open(config.data_dir.join("store"))?;
        // Leftovers of an earlier run are removed.
        let spool_dir = config.data_dir.join("spool");
        let spool = Spool::new(&spool_dir).map_err(|e| NodeError::Other(format!("{}: {e}", spool_dir.display())))?;
        let person_key = PersonKey::load_or_create(&config.data_dir.join("audit-person.key"))?;
        let audit = AuditLog::open(config.data_dir.join("audit.log"), person_key)?;
        audit_configuration(&config, &audit)?;
        let smp_http = crate::directory::smp_http_client(&config.trust.tls_ca, std::time::Duration::from_secs(20))?;
        let smp_client = SmpClient::new(&config.smp.base_url, config.trust.smp_certificate.clone(), smp_http)?;
        let cache = CacheConfig { ttl_secs: config.smp.cache_ttl_seconds, ..CacheConfig::default() };
        let smp = CachedSmpClient::new(smp_client, cache);
        let tls = config.tls_client_config().map_err(|e| NodeError::Tls(e.to_string()))?;
        let as4_http = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .timeout(std::time::Duration::from_secs(300))
            .build()
            .map_err(|e| NodeError::Tls(e.to_string()))?;
        let retry = retry_policy(&config.retry);
        let conversations = super::conversations::Conversations::open(&store)?;
        let outbox_notify = Arc::new(tokio::sync::Notify::new());
        Ok(Arc::new(NodeState { config, store, audit, metrics: Metrics::default(), smp, as4_http, retry, outbox_notify, spool, conversations }))
    }

    pub fn org_id(&self) -> &str {
        &self.config.organisation.id
    }

    /// The recipient's published metadata for `document_type`.
    pub async fn lookup(&self, participant: &str, document_type: &DocumentTypeId) -> Result<ServiceMetadata, DirectoryError> {
        let participant = ParticipantId::new(participant).map_err(|e| DirectoryError::Malformed(e.to_string()))?;
        self.smp.lookup(&participant, document_type, OffsetDateTime::now_utc()).await
    }

    fn audit(&self, entry: NewEntry) -> Result<(), AuditError> {
        disk_wait(|| self.audit.append(entry)).map(|_| ())
    }

    /// Accepts an SDK message from a local client: validate, seal for the
    /// recipient, store durably, audit; returns the outbox entry.
    pub async fn submit(&self, actor: &str, message_xml: impl Into<Blob>) -> Result<OutboxEntry, SubmitError> {
        self.submit_described(actor, message_xml, None).await
    }

    /// [`NodeState::submit`], with what was sent described in the audit
    /// entry (e.g. which pilot document).
    pub async fn submit_described(&self, actor: &str, message_xml: impl Into<Blob>, detail: Option<&str>) -> Result<OutboxEntry, SubmitError> {
        let message_xml: Blob = message_xml.into();
        let options = SealOptions {
            federation_id: self.config.federation_id.clone(),
            max_message_bytes: self.config.limits.max_sdk_message_bytes,
            spool: self.spool.clone(),
            ..SealOptions::default()
        };
        // Read once, validated, with large attachments left on disk.
        let prepared = PreparedMessage::read(&message_xml, &options).map_err(invalid_or_seal)?;
        drop(message_xml);
        let header = prepared.header().clone();
        let message_id = header.message_id().to_owned();
        let recipient_org_id = header.recipient_org_id().to_owned();
        if header.sender_org_id() != self.org_id() {
            let problem = crate::sdk::Problem::bv(crate::sdk::DetailCode::Invariant, "NA", "Wrong or unknown sender-id");
            return Err(SubmitError::Invalid(Validation { problems: vec![problem] }));
        }
        let sender_address = header.sender_functional_address().map(str::to_owned);
        if let Some(address) = &sender_address {
            if !self.config.serves_functional_address(address) {
                return Err(SubmitError::NotOurAddress(address.to_owned()));
            }
        }
        if let Some(existing) = self.store.outbox_entry(&message_id)? {
            return Err(SubmitError::AlreadySubmitted(Box::new(existing)));
        }
        let now = OffsetDateTime::now_utc();
        let metadata = self.lookup(&recipient_org_id, &DocumentTypeId::sdk_message_v3()).await?;
        let recipient_cert = metadata
            .certpub
            .encryption_certificate(now)
            .cloned()
            .ok_or_else(|| SubmitError::NoEncryptionCertificate(recipient_org_id.clone()))?;
        let signing = &self.config.keys.org_signing;
        let sealed =
            prepared.seal(signing.key(), signing.certificate(), &recipient_cert, &options, now).map_err(invalid_or_seal)?;
        let entry = OutboxEntry::new(
            NewOutboxEntry {
                id: message_id.clone(),
                recipient_org_id,
                recipient_functional_address: header.recipient_functional_address().to_owned(),
                document_type: DocumentType::Message,
                conversation_id: header.conversation_id().to_owned(),
            },
            now,
            &self.retry,
        );
        // Durable first, then audited, then acknowledged (by returning).
        match disk_wait(|| self.store.submit(&entry, sealed)) {
            Ok(()) => {}
            // The same message submitted concurrently: the other one won.
            Err(StoreError::AlreadyExists(id)) => match self.store.outbox_entry(&id)? {
                Some(existing) => return Err(SubmitError::AlreadySubmitted(Box::new(existing))),
                None => return Err(SubmitError::Store(StoreError::AlreadyExists(id))),
            },
            Err(e) => return Err(e.into()),
        }
        let mut audit = NewEntry::new(now, actor, self.org_id(), Action::Submit, Outcome::Ok)
            .message_id(&message_id)
            .conversation_id(header.conversation_id());
        if let Some(address) = &sender_address {
            audit = audit.functional_address(address);
        }
        if let Some(person) = referenced_person(&header) {
            audit = audit.person(person);
        }
        if let Some(detail) = detail {
            audit = audit.detail(detail);
        }
        self.audit(audit)?;
        self.metrics.bump(Counter::Submitted);
        self.outbox_notify.notify_one();
        Ok(entry)
    }
}

/// A sealing failure as the submitter sees it.
fn invalid_or_seal(e: SealError) -> SubmitError {
    match e {
        SealError::InvalidMessage(v) => SubmitError::Invalid(v),
        SealError::NotXml(e) => SubmitError::Invalid(Validation { problems: vec![crate::sdk::message_rules::xml_error_problem(&e)] }),
        other => SubmitError::Seal(other.to_string()),
    }
}

/// The outbox's retry policy from the `[retry]` configuration.
pub fn retry_policy(config: &crate::config::RetryConfig) -> RetryPolicy {
    use std::time::Duration;
    RetryPolicy {
        max_attempts: config.max_attempts,
        initial_backoff: Duration::from_secs(config.initial_backoff_seconds),
        max_backoff: Duration::from_secs(config.max_backoff_seconds),
        multiplier: config.multiplier,
        jitter: config.jitter,
        expiry: Duration::from_secs(config.expiry_hours * 3600),
    }
}

/// The first person a message references (recipient's attention first), as
/// a typed identifier for the audit log's keyed hash. Identifiers that are
/// not personnummer, samordningsnummer or reserve numbers are left out.
pub fn referenced_person(header: &MessageHeader) -> Option<crate::audit::PersonId> {
    let sender_persons = header.sender.attention.as_ref().map(|a| a.persons.as_slice()).unwrap_or(&[]);
    header
        .recipient
        .attention
        .persons
        .iter()
        .chain(sender_persons)
        .filter_map(|p| p.id.as_ref())
        .find_map(|ii| crate::audit::PersonId::parse(&format!("{}:{}", ii.root, ii.extension)).ok())
}

/// Records a CONFIG_CHANGE or KEY_CHANGE entry when the configuration file
/// or the node's own certificates differ from the last start (fingerprints
/// kept in the data directory).
fn audit_configuration(config: &NodeConfig, audit: &AuditLog) -> Result<(), NodeError> {
    let digest = |bytes: &[u8]| crate::xmlsec::base64_encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    let config_bytes = std::fs::read(&config.source).map_err(|e| NodeError::Other(format!("{}: {e}", config.source.display())))?;
    let keys = &config.keys;
    let mut certs = Vec::new();
    for k in [&keys.org_signing, &keys.org_encryption, &keys.access_point, &keys.tls] {
        certs.extend_from_slice(k.certificate().der());
    }
    let now_prints = [("config", digest(&config_bytes)), ("keys", digest(&certs))];
    let path = config.data_dir.join("fingerprints");
    let before = std::fs::read_to_string(&path).unwrap_or_default();
    let now = OffsetDateTime::now_utc();
    for (what, print) in &now_prints {
        let line = format!("{what} {print}");
        if before.lines().any(|l| l == line) {
            continue;
        }
        let (action, detail) = match *what {
            "config" => (Action::ConfigChange, format!("configuration {} is new or changed (sha256 {print})", config.source.display())),
            _ => (Action::KeyChange, format!("node certificates are new or changed (sha256 {print})")),
        };
        audit.append(NewEntry::new(now, "node", &config.organisation.id, action, Outcome::Ok).detail(detail))?;
    }
    let text: String = now_prints.iter().map(|(w, p)| format!("{w} {p}\n")).collect();
    std::fs::write(&path, text).map_err(|e| NodeError::Other(format!("{}: {e}", path.display())))?;
    Ok(())
}
