//! The node's configuration: one TOML file, checked completely before
//! anything starts.
//!
//! [`NodeConfig::load`] reads the file ([`ConfigFile`] is its exact shape,
//! documented field by field, with unknown keys refused), checks every value,
//! and loads every key, certificate and CRL it names. A node that loaded its
//! configuration therefore holds keys that match their certificates,
//! certificates that are valid now and chain to the configured CAs, and CRLs
//! that parse. Every failure is a [`ConfigError`] naming the file, the line
//! when known, the dotted key (`keys.ap_cert`) and the reason.
//!
//! Relative paths in the file are relative to the directory the file is in.
//! `config/example-node.toml` is a commented example; `brygga init` writes a
//! working development configuration ([`dev_node`]).
//!
//! What this module does not do: fetch CRLs or metadata, open sockets, or
//! watch the file for changes. The configuration is read once, at start-up.

// A ConfigError is built at most once, at start-up; kept flat so callers
// and tests can match on it directly.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod dev_node;

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::UnixTime;
use serde::Deserialize;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::limits::{xhe_max_bytes, XmlLimits, SDK_MESSAGE_CONFIGURABLE_MAX_BYTES, SDK_MESSAGE_MAX_BYTES};
use crate::pki::{Certificate, KeyError, PrivateKey, TrustError, TrustPolicy};
use crate::transport::tls::{self, MinTlsVersion, TlsError};

// ---------------------------------------------------------------------------
// Limits the configuration may choose between
// ---------------------------------------------------------------------------

const MIB: usize = 1024 * 1024;

/// DIGG's AS4 transport profile (§2.8 rule a): an access point must send and
/// receive messages (the XHE with its payload, as an XML file) of at least
/// 100 MB. The AS4 cap may not be set lower.
pub const AS4_MESSAGE_MIN_BYTES: usize = 100 * MIB;
/// The AS4 cap's ceiling: a request body is held while it is checked, so an
/// unbounded cap would be a memory exhaustion switch.
pub const AS4_MESSAGE_MAX_BYTES: usize = 1024 * MIB;
/// An SDK message cap below this would refuse ordinary messages with a PDF.
const SDK_MESSAGE_FLOOR_BYTES: usize = MIB;
/// XML caps may be tightened, not loosened, and not below what SDK's own
/// documents need (XHE + signature + message nest about a dozen deep).
const XML_DEPTH_FLOOR: usize = 16;
const XML_ATTRIBUTES_FLOOR: usize = 16;
const XML_NODES_FLOOR: usize = 10_000;
/// Longest SMP cache lifetime: a certificate withdrawn from SMP stops being
/// used within a day.
const SMP_CACHE_TTL_MAX_SECONDS: u64 = 24 * 60 * 60;

// ---------------------------------------------------------------------------
// The file, as written
// ---------------------------------------------------------------------------

/// The configuration file, exactly as written. Unknown keys anywhere are an
/// error, so a misspelt key never silently falls back to a default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The federation this node serves: the XHE `FEDERATIONID` it writes and
    /// requires, e.g. `urn:fdc:digg.se:edelivery:federation:sdk` (production)
    /// or `urn:fdc:digg.se:edelivery:federation:test`. Required, so a test
    /// node never ends up in production by default.
    pub federation_id: String,
    /// Where the node keeps its state (message store, audit log). Relative to
    /// the configuration file's directory; created by the node if missing.
    pub data_dir: PathBuf,
    /// The organisation this node serves.
    pub organisation: OrganisationConfig,
    /// Our keys and certificates (PEM files).
    pub keys: KeyPaths,
    /// Whom we trust, per purpose (PEM files), and the CRLs.
    pub trust: TrustPaths,
    /// The SMP where participants' endpoints and certificates are looked up.
    pub smp: SmpConfig,
    /// Optional SML: find each participant's SMP by DNS instead of using
    /// `smp.base_url` for all.
    #[serde(default)]
    pub sml: Option<SmlConfig>,
    /// Addresses to listen on.
    #[serde(default)]
    pub listen: ListenConfig,
    /// TLS settings for AS4 between access points.
    #[serde(default)]
    pub tls: TlsConfig,
    /// Resending outgoing messages.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Caps on what peers may send.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// DIGG's message API: clients, token issuer, TLS.
    #[serde(default)]
    pub api: api::ApiFile,
}

/// `[organisation]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganisationConfig {
    /// The participant id, `0203:` followed by the organisation's domain in
    /// lower case (`0203:habo.se`), scheme `iso6523-actorid-upis`. It must be
    /// the id registered in SMP: receivers compare it with the AS4, XHE and
    /// message sender ids.
    pub id: String,
    /// The organisation's name, for people (logs, the API).
    pub name: String,
    /// Swedish organisation number: 10 digits (a hyphen after the sixth is
    /// allowed and dropped), Luhn check digit, third digit at least 2.
    pub organisation_number: String,
    /// The functional addresses (mailboxes) this node receives for. At least
    /// one; ids are unique. A message to any other is refused (BV not-found).
    pub functional_addresses: Vec<FunctionalAddress>,
}

/// One `[[organisation.functional_addresses]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionalAddress {
    /// The address as it appears in messages (the extension under
    /// `urn:riv:infrastructure:messaging:functionalAddress`); no whitespace.
    pub id: String,
    /// A name for people, e.g. "Socialtjänstens mottagning".
    pub label: String,
}

/// `[keys]`: PEM files, relative to the configuration file's directory. Each
/// certificate file holds the certificate first, then any intermediates.
/// Private keys are RSA, PKCS#8 or PKCS#1.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPaths {
    /// Signs our XHE envelopes and message receipts.
    pub org_signing_key: PathBuf,
    /// The organisation signing certificate, as published in SMP (CertPub
    /// `signing-cert`); must chain to `trust.organisation_ca`.
    pub org_signing_cert: PathBuf,
    /// Decrypts payloads sent to us.
    pub org_encryption_key: PathBuf,
    /// The organisation encryption certificate, as published in SMP (CertPub
    /// `encryption-cert`); must chain to `trust.organisation_ca`.
    pub org_encryption_cert: PathBuf,
    /// Signs AS4 messages and receipts; decrypts AS4 attachments.
    pub ap_key: PathBuf,
    /// The access point certificate; its common name is our AS4 PartyId
    /// (e.g. `AP0040-SDK-PROD`). Must chain to `trust.access_point_ca`.
    pub ap_cert: PathBuf,
    /// TLS key, server and client side.
    pub tls_key: PathBuf,
    /// TLS certificate; must chain to `trust.tls_ca` and, if it lists
    /// extended key usages, allow TLS server and client authentication.
    pub tls_cert: PathBuf,
}

/// `[trust]`: separate trust per purpose, as DIGG's profile asks. PEM files,
/// relative to the configuration file's directory.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustPaths {
    /// CA certificates (a bundle) that issue access point certificates: other
    /// access points' AS4 signatures, and the receiving access point before
    /// we send (TF-02).
    pub access_point_ca: PathBuf,
    /// CA certificates that issue TLS certificates of access points.
    pub tls_ca: PathBuf,
    /// The SMP's signing certificate, pinned: metadata signed by anything
    /// else is refused.
    pub smp_certificate: PathBuf,
    /// CA certificate bundles that issue organisation (O2O) certificates:
    /// XHE and receipt signatures, encryption certificates.
    pub organisation_ca: Vec<PathBuf>,
    /// CRLs (PEM or DER), each issued by one of the CAs above. Optional; a
    /// CA without a CRL here is not revocation-checked.
    #[serde(default)]
    pub crls: Vec<PathBuf>,
}

/// `[smp]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmpConfig {
    /// The SMP's base URL; `https`, or `http` to a loopback address for
    /// development.
    pub base_url: String,
    /// How long a verified SMP answer is reused, in seconds; at most a day.
    #[serde(default = "default_cache_ttl_seconds")]
    pub cache_ttl_seconds: u64,
}

fn default_cache_ttl_seconds() -> u64 {
    3600
}

/// `[sml]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmlConfig {
    /// The SML's DNS zone: participants are looked up as
    /// `base32(sha256(id)).iso6523-actorid-upis.<zone>`.
    pub zone: String,
}

/// `[listen]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenConfig {
    /// AS4 from other access points (TLS). Default `0.0.0.0:8443`; DIGG's
    /// profile expects port 443 in front of it.
    pub as4: SocketAddr,
    /// The case-system API. Default `127.0.0.1:8080`.
    pub api: SocketAddr,
    /// Prometheus metrics; off when absent.
    pub metrics: Option<SocketAddr>,
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self {
            as4: SocketAddr::from(([0, 0, 0, 0], 8443)),
            api: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics: None,
        }
    }
}

/// `[tls]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Require a client certificate chaining to `trust.tls_ca` from access
    /// points that connect to us. Default true (SDK uses mutual TLS, DIGG's
    /// adaptation A2 of the eDelivery default).
    pub mutual: bool,
    /// `"1.2"` (default: TLS 1.2 and 1.3) or `"1.3"`.
    pub min_version: MinTlsVersion,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self { mutual: true, min_version: MinTlsVersion::Tls12 }
    }
}

/// `[retry]`: resending an outgoing message whose transport failed. The
/// delay after attempt n is `min(initial × multiplierⁿ⁻¹, max)`, shortened
/// by up to `jitter` of itself at random.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in all, the first included. Default 12.
    pub max_attempts: u32,
    /// Delay after the first failure, seconds. Default 30.
    pub initial_backoff_seconds: u64,
    /// Longest delay, seconds. Default 1800.
    pub max_backoff_seconds: u64,
    /// Growth per attempt, at least 1 (1 is a constant interval). Default 2.
    pub multiplier: f64,
    /// Share of a delay taken off at random, 0 to 1. Default 0.2.
    pub jitter: f64,
    /// Hours after which an unfinished exchange is given up. Default 24.
    pub expiry_hours: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 12,
            initial_backoff_seconds: 30,
            max_backoff_seconds: 30 * 60,
            multiplier: 2.0,
            jitter: 0.2,
            expiry_hours: 24,
        }
    }
}

/// `[limits]`: caps on peer input. XML caps may only be tightened from
/// [`XmlLimits::default`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest SDK message (attachments included, before the envelope).
    /// Default DIGG's 30 MB (30 × 2²⁰ bytes); lower values refuse messages
    /// other nodes may send. Up to
    /// [`SDK_MESSAGE_CONFIGURABLE_MAX_BYTES`] (128 MiB) only in a federation
    /// whose members agree to larger messages, or for DIGG's TF-08 (a
    /// 100 MB XHE): nodes keeping the default refuse them.
    pub max_sdk_message_bytes: usize,
    /// Largest AS4 request body (MIME, SOAP and the XHE with its payload).
    /// DIGG's transport profile requires at least 100 MB (100 × 2²⁰ bytes,
    /// the default); at most 1 GB. Must hold the largest XHE an SDK message
    /// of `max_sdk_message_bytes` makes, uncompressed (a peer's gzip may
    /// not shrink it), plus 1 MiB.
    pub max_as4_message_bytes: usize,
    /// Deepest XML element nesting. 16 to 64, default 64.
    pub max_xml_depth: usize,
    /// Most attributes on one XML element. 16 to 64, default 64.
    pub max_xml_attributes: usize,
    /// Most XML nodes in one document. 10 000 to 1 000 000, default 1 000 000.
    pub max_xml_nodes: usize,
    /// Most AS4 connections served at once; more wait. 1 to 10 000, default 256.
    pub max_inbound_connections: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let xml = XmlLimits::default();
        Self {
            max_sdk_message_bytes: SDK_MESSAGE_MAX_BYTES,
            max_as4_message_bytes: AS4_MESSAGE_MIN_BYTES,
            max_xml_depth: xml.max_depth,
            max_xml_attributes: xml.max_attributes,
            max_xml_nodes: xml.max_nodes,
            max_inbound_connections: 256,
        }
    }
}

impl LimitsConfig {
    /// The XML reader's caps: an XHE may be as large as a base64-encoded
    /// message of `max_sdk_message_bytes` plus the envelope (as
    /// [`crate::limits::XHE_MAX_BYTES`] is for the default).
    pub fn xml_limits(&self) -> XmlLimits {
        XmlLimits {
            max_document_bytes: xhe_max_bytes(self.max_sdk_message_bytes),
            max_depth: self.max_xml_depth,
            max_attributes: self.max_xml_attributes,
            max_nodes: self.max_xml_nodes,
            ..XmlLimits::default()
        }
    }
}

// ---------------------------------------------------------------------------
// The loaded configuration
// ---------------------------------------------------------------------------

/// A private key with its certificate chain, loaded and checked to belong
/// together.
#[derive(Debug, Clone)]
pub struct KeyWithCertificate {
    key: PrivateKey,
    chain: Vec<Certificate>,
    key_file: PathBuf,
    cert_file: PathBuf,
}

impl KeyWithCertificate {
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }
    /// The end-entity certificate.
    pub fn certificate(&self) -> &Certificate {
        // Never empty: `Certificate::all_from_pem` refuses a file without one.
        &self.chain[0]
    }
    /// The certificate followed by the intermediates from the same file.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }
    pub fn cert_file(&self) -> &Path {
        &self.cert_file
    }
}

/// Our keys, ready to use.
#[derive(Debug, Clone)]
pub struct LoadedKeys {
    pub org_signing: KeyWithCertificate,
    pub org_encryption: KeyWithCertificate,
    pub access_point: KeyWithCertificate,
    pub tls: KeyWithCertificate,
    /// Our access point id: the access point certificate's common name, the
    /// AS4 PartyId.
    pub access_point_id: String,
}

/// Whom we trust, ready to use.
#[derive(Debug, Clone)]
pub struct LoadedTrust {
    /// Access points: AS4 signatures, and receivers before sending. Carries
    /// the CRLs.
    pub access_points: TrustPolicy,
    /// Organisations: XHE and receipt signatures, encryption certificates.
    /// Carries the CRLs.
    pub organisations: TrustPolicy,
    /// The SMP signer, pinned.
    pub smp: TrustPolicy,
    /// The access point CA certificates, for
    /// [`tls::check_certificate_status`].
    pub access_point_ca: Vec<Certificate>,
    /// The TLS CA certificates, for [`tls::server_config`] and
    /// [`tls::client_config`].
    pub tls_ca: Vec<Certificate>,
    /// The SMP signer's certificate.
    pub smp_certificate: Certificate,
    /// Every configured CRL, DER.
    pub crls: Vec<Vec<u8>>,
}

/// The node's configuration, checked, with keys and trust loaded. Paths are
/// resolved against the configuration file's directory.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The file this was loaded from.
    pub source: PathBuf,
    pub federation_id: String,
    pub data_dir: PathBuf,
    /// The organisation; `organisation_number` is normalised to 10 digits.
    pub organisation: OrganisationConfig,
    /// The key and certificate files, resolved.
    pub key_paths: KeyPaths,
    /// The trust files, resolved.
    pub trust_paths: TrustPaths,
    pub keys: LoadedKeys,
    pub trust: LoadedTrust,
    pub smp: SmpConfig,
    pub sml: Option<SmlConfig>,
    pub listen: ListenConfig,
    pub tls: TlsConfig,
    pub retry: RetryConfig,
    pub limits: LimitsConfig,
    pub api: api::ApiConfig,
}

impl NodeConfig {
    /// Reads and checks the configuration at `path`, and everything it
    /// names, with certificates checked at the current time.
    pub fn load(path: impl AsRef<Path>) -> Result<NodeConfig, ConfigError> {
        Self::load_at(path, UnixTime::now())
    }

    /// [`NodeConfig::load`] with certificates checked at `now`.
    pub fn load_at(path: impl AsRef<Path>, now: UnixTime) -> Result<NodeConfig, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path, None, "", Problem::Unreadable(e.to_string())))?;
        let base = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        Loader { file: path, text: &text, base: &base, map: None, now }.load()
    }

    /// Whether the organisation receives for this functional address.
    pub fn serves_functional_address(&self, id: &str) -> bool {
        self.organisation.functional_addresses.iter().any(|a| a.id == id)
    }

    /// The TLS server configuration for the AS4 listener: mutual TLS against
    /// `trust.tls_ca` when `tls.mutual`.
    pub fn tls_server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let client_ca = self.tls.mutual.then_some(self.trust.tls_ca.as_slice());
        tls::server_config(
            self.keys.tls.key(),
            self.keys.tls.chain(),
            client_ca,
            &self.trust.crls,
            self.tls.min_version,
        )
    }

    /// The TLS client configuration for sending to other access points.
    pub fn tls_client_config(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        tls::client_config(
            self.keys.tls.key(),
            self.keys.tls.chain(),
            &self.trust.tls_ca,
            &self.trust.crls,
            self.tls.min_version,
        )
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// A configuration that cannot be used: which file, where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The configuration file.
    pub file: PathBuf,
    /// 1-based line in the configuration file, when known.
    pub line: Option<usize>,
    /// Dotted key (`keys.ap_cert`, `organisation.functional_addresses[1].id`);
    /// empty for the file as a whole.
    pub key: String,
    pub problem: Problem,
}

impl ConfigError {
    fn new(file: &Path, line: Option<usize>, key: impl Into<String>, problem: Problem) -> Self {
        Self { file: file.to_owned(), line, key: key.into(), problem }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// What is wrong, by kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("cannot read the configuration file: {0}")]
    Unreadable(String),
    #[error("TOML syntax error: {0}")]
    Syntax(String),
    /// With the keys allowed there, as serde lists them.
    #[error("unknown key{}", if .0.is_empty() { String::new() } else { format!(" ({})", .0) })]
    UnknownKey(String),
    #[error("missing key")]
    MissingKey,
    #[error("{0}")]
    InvalidValue(String),
    #[error("cannot read {}: {reason}", path.display())]
    FileUnreadable { path: PathBuf, reason: String },
    #[error("{}: {reason}", path.display())]
    BadFile { path: PathBuf, reason: String },
    #[error("the key in {} does not belong to the certificate in {}", key.display(), cert.display())]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    #[error("certificate {subject} in {} expired at {not_after}", path.display())]
    CertificateExpired { path: PathBuf, subject: String, not_after: String },
    #[error("certificate {subject} in {} is not valid until {not_before}", path.display())]
    CertificateNotYetValid { path: PathBuf, subject: String, not_before: String },
    #[error("certificate in {} cannot serve here: {reason}", path.display())]
    CertificateUnsuitable { path: PathBuf, reason: String },
    #[error("certificate in {} is not trusted by {against}: {reason}", path.display())]
    Untrusted { path: PathBuf, against: String, reason: String },
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

struct Loader<'a> {
    file: &'a Path,
    text: &'a str,
    base: &'a Path,
    map: Option<source_map::Item>,
    now: UnixTime,
}

impl Loader<'_> {
    fn error(&self, key: &str, problem: Problem) -> ConfigError {
        let line = self.map.as_ref().and_then(|m| m.find(key)).and_then(|span| span).map(|s| self.line_at(s.start));
        ConfigError::new(self.file, line, key, problem)
    }

    fn invalid(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        self.error(key, Problem::InvalidValue(reason.into()))
    }

    fn line_at(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
    }

    fn load(mut self) -> Result<NodeConfig, ConfigError> {
        if let Err(e) = toml::from_str::<toml::Table>(self.text) {
            let line = e.span().map(|s| self.line_at(s.start));
            let message = e.message().trim().replace('\n', "; ");
            return Err(ConfigError::new(self.file, line, "", Problem::Syntax(message)));
        }
        // Spans let errors name the dotted key; without them (an exotic
        // TOML form) errors still carry the line.
        self.map = toml::from_str::<source_map::Item>(self.text).ok();
        let raw: ConfigFile = toml::from_str(self.text).map_err(|e| self.serde_error(&e))?;
        self.check_values(&raw)?;

        let keys_paths = self.resolve_keys(&raw.keys);
        let trust_paths = self.resolve_trust(&raw.trust);
        let trust = self.load_trust(&trust_paths)?;
        let keys = self.load_keys(&keys_paths, &trust, &raw.tls)?;
        let api = self.load_api(&raw.api, &raw.organisation)?;

        let mut organisation = raw.organisation.clone();
        organisation.organisation_number = normalise_organisation_number(&organisation.organisation_number);
        let data_dir = self.base.join(&raw.data_dir);
        if data_dir.exists() && !data_dir.is_dir() {
            return Err(self.invalid("data_dir", format!("{} exists and is not a directory", data_dir.display())));
        }
        Ok(NodeConfig {
            source: self.file.to_owned(),
            federation_id: raw.federation_id,
            data_dir,
            organisation,
            key_paths: keys_paths,
            trust_paths,
            keys,
            trust,
            smp: raw.smp,
            sml: raw.sml,
            listen: raw.listen,
            tls: raw.tls,
            retry: raw.retry,
            limits: raw.limits,
            api,
        })
    }

    /// Turns serde's message and span into a key and a kind.
    fn serde_error(&self, e: &toml::de::Error) -> ConfigError {
        let message = e.message().trim().to_owned();
        let line = e.span().map(|s| self.line_at(s.start));
        let at = match (&self.map, e.span()) {
            (Some(map), Some(span)) => map.path_at(span.start),
            _ => String::new(),
        };
        let join = |field: &str| {
            // An unknown table header's span is the table itself, already named.
            if at.is_empty() {
                field.to_owned()
            } else if at == field || at.ends_with(&format!(".{field}")) {
                at.clone()
            } else {
                format!("{at}.{field}")
            }
        };
        let (key, problem) = if let Some(field) = backticked_after(&message, "unknown field ") {
            let expected = message.split_once(", ").map(|(_, rest)| rest.to_owned()).unwrap_or_default();
            (join(field), Problem::UnknownKey(expected))
        } else if let Some(field) = backticked_after(&message, "missing field ") {
            (join(field), Problem::MissingKey)
        } else {
            (at, Problem::InvalidValue(message))
        };
        ConfigError::new(self.file, line, key, problem)
    }

    fn check_values(&self, raw: &ConfigFile) -> Result<(), ConfigError> {
        let fed = &raw.federation_id;
        if !fed.starts_with("urn:") || fed.len() < 5 || fed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(self.invalid("federation_id", format!("{fed:?} is not a URN (urn:...) without spaces")));
        }
        if raw.data_dir.as_os_str().is_empty() {
            return Err(self.invalid("data_dir", "must name a directory"));
        }
        self.check_organisation(&raw.organisation)?;
        self.check_smp(&raw.smp, raw.sml.as_ref())?;
        self.check_listen(&raw.listen)?;
        self.check_retry(&raw.retry)?;
        self.check_limits(&raw.limits)?;
        if raw.trust.organisation_ca.is_empty() {
            return Err(self.invalid("trust.organisation_ca", "list at least one CA certificate file"));
        }
        Ok(())
    }

    fn check_organisation(&self, org: &OrganisationConfig) -> Result<(), ConfigError> {
        check_organisation_id(&org.id).map_err(|reason| self.invalid("organisation.id", reason))?;
        if org.name.trim().is_empty() || org.name.chars().count() > 256 || org.name.chars().any(char::is_control) {
            return Err(self.invalid("organisation.name", "must be 1 to 256 characters without control characters"));
        }
        check_organisation_number(&org.organisation_number)
            .map_err(|reason| self.invalid("organisation.organisation_number", reason))?;
        if org.functional_addresses.is_empty() {
            return Err(self.invalid("organisation.functional_addresses", "list at least one functional address"));
        }
        for (i, address) in org.functional_addresses.iter().enumerate() {
            let key = format!("organisation.functional_addresses[{i}]");
            let id = &address.id;
            if id.is_empty() || id.len() > 256 || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(self.invalid(
                    &format!("{key}.id"),
                    format!("{id:?} must be 1 to 256 bytes without whitespace or control characters"),
                ));
            }
            if let Some(first) = org.functional_addresses[..i].iter().position(|a| a.id == *id) {
                return Err(self.invalid(
                    &format!("{key}.id"),
                    format!("duplicate functional address {id:?} (also organisation.functional_addresses[{first}])"),
                ));
            }
            let label = &address.label;
            if label.trim().is_empty() || label.chars().count() > 256 || label.chars().any(char::is_control) {
                return Err(
                    self.invalid(&format!("{key}.label"), "must be 1 to 256 characters without control characters")
                );
            }
        }
        Ok(())
    }

    fn check_smp(&self, smp: &SmpConfig, sml: Option<&SmlConfig>) -> Result<(), ConfigError> {
        let url = reqwest::Url::parse(&smp.base_url)
            .map_err(|e| self.invalid("smp.base_url", format!("{:?} is not a URL: {e}", smp.base_url)))?;
        let loopback = match url.host_str() {
            Some(host) => {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                host.eq_ignore_ascii_case("localhost")
                    || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
            }
            None => false,
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(
                    self.invalid("smp.base_url", "must be https (http only to a loopback address, for development)")
                )
            }
            other => return Err(self.invalid("smp.base_url", format!("scheme {other:?} is not https"))),
        }
        if url.host().is_none() || url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(
                self.invalid("smp.base_url", "must be a plain base URL: a host, no credentials, query or fragment")
            );
        }
        if smp.cache_ttl_seconds > SMP_CACHE_TTL_MAX_SECONDS {
            return Err(self.invalid(
                "smp.cache_ttl_seconds",
                format!("{} is more than a day ({SMP_CACHE_TTL_MAX_SECONDS})", smp.cache_ttl_seconds),
            ));
        }
        if let Some(sml) = sml {
            check_domain(&sml.zone).map_err(|reason| self.invalid("sml.zone", reason))?;
        }
        Ok(())
    }

    fn check_listen(&self, listen: &ListenConfig) -> Result<(), ConfigError> {
        let mut named = vec![("listen.as4", listen.as4), ("listen.api", listen.api)];
        if let Some(metrics) = listen.metrics {
            named.push(("listen.metrics", metrics));
        }
        for (i, (key, addr)) in named.iter().enumerate() {
            if addr.port() == 0 {
                return Err(self.invalid(key, "port 0 would pick a random port; name one"));
            }
            for (other_key, other) in &named[..i] {
                let overlap = addr.ip() == other.ip() || addr.ip().is_unspecified() || other.ip().is_unspecified();
                if addr.port() == other.port() && overlap {
                    return Err(self.invalid(key, format!("{addr} collides with {other_key} ({other})")));
                }
            }
        }
        Ok(())
    }

    fn check_retry(&self, retry: &RetryConfig) -> Result<(), ConfigError> {
        if retry.max_attempts == 0 {
            return Err(self.invalid("retry.max_attempts", "must be at least 1"));
        }
        if retry.initial_backoff_seconds == 0 {
            return Err(self.invalid("retry.initial_backoff_seconds", "must be at least 1"));
        }
        if retry.initial_backoff_seconds > retry.max_backoff_seconds {
            return Err(self.invalid(
                "retry.max_backoff_seconds",
                format!(
                    "{} is shorter than retry.initial_backoff_seconds ({})",
                    retry.max_backoff_seconds, retry.initial_backoff_seconds
                ),
            ));
        }
        if !(retry.multiplier.is_finite() && retry.multiplier >= 1.0) {
            return Err(self.invalid("retry.multiplier", format!("{} must be a number ≥ 1", retry.multiplier)));
        }
        if !(0.0..=1.0).contains(&retry.jitter) {
            return Err(self.invalid("retry.jitter", format!("{} must be between 0 and 1", retry.jitter)));
        }
        if retry.expiry_hours == 0 {
            return Err(self.invalid("retry.expiry_hours", "must be at least 1"));
        }
        Ok(())
    }

    fn check_limits(&self, limits: &LimitsConfig) -> Result<(), ConfigError> {
        let xml = XmlLimits::default();
        let ranges: [(&str, usize, usize, usize); 6] = [
            (
                "limits.max_sdk_message_bytes",
                limits.max_sdk_message_bytes,
                SDK_MESSAGE_FLOOR_BYTES,
                SDK_MESSAGE_CONFIGURABLE_MAX_BYTES,
            ),
            (
                "limits.max_as4_message_bytes",
                limits.max_as4_message_bytes,
                AS4_MESSAGE_MIN_BYTES,
                AS4_MESSAGE_MAX_BYTES,
            ),
            ("limits.max_xml_depth", limits.max_xml_depth, XML_DEPTH_FLOOR, xml.max_depth),
            ("limits.max_xml_attributes", limits.max_xml_attributes, XML_ATTRIBUTES_FLOOR, xml.max_attributes),
            ("limits.max_xml_nodes", limits.max_xml_nodes, XML_NODES_FLOOR, xml.max_nodes),
            ("limits.max_inbound_connections", limits.max_inbound_connections, 1, 10_000),
        ];
        for (key, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                let why = match key {
                    "limits.max_sdk_message_bytes" => {
                        " (DIGG's content specification allows 30 MB; more only where a federation agrees)"
                    }
                    "limits.max_as4_message_bytes" => " (DIGG's AS4 profile requires at least 100 MB)",
                    _ => "",
                };
                return Err(self.invalid(key, format!("{value} is outside {min}..={max}{why}")));
            }
        }
        // The AS4 body carries the XHE gzipped, but a peer's gzip may not
        // shrink it: the largest XHE must fit uncompressed, with MIME and SOAP.
        let needed = xhe_max_bytes(limits.max_sdk_message_bytes) + MIB;
        if limits.max_as4_message_bytes < needed {
            return Err(self.invalid(
                "limits.max_as4_message_bytes",
                format!(
                    "{} cannot carry an SDK message of limits.max_sdk_message_bytes ({}): at least {needed} needed",
                    limits.max_as4_message_bytes, limits.max_sdk_message_bytes
                ),
            ));
        }
        Ok(())
    }

    fn resolve(&self, path: &Path) -> PathBuf {
        self.base.join(path)
    }

    fn resolve_keys(&self, k: &KeyPaths) -> KeyPaths {
        KeyPaths {
            org_signing_key: self.resolve(&k.org_signing_key),
            org_signing_cert: self.resolve(&k.org_signing_cert),
            org_encryption_key: self.resolve(&k.org_encryption_key),
            org_encryption_cert: self.resolve(&k.org_encryption_cert),
            ap_key: self.resolve(&k.ap_key),
            ap_cert: self.resolve(&k.ap_cert),
            tls_key: self.resolve(&k.tls_key),
            tls_cert: self.resolve(&k.tls_cert),
        }
    }

    fn resolve_trust(&self, t: &TrustPaths) -> TrustPaths {
        TrustPaths {
            access_point_ca: self.resolve(&t.access_point_ca),
            tls_ca: self.resolve(&t.tls_ca),
            smp_certificate: self.resolve(&t.smp_certificate),
            organisation_ca: t.organisation_ca.iter().map(|p| self.resolve(p)).collect(),
            crls: t.crls.iter().map(|p| self.resolve(p)).collect(),
        }
    }

    fn key_error(&self, key: &str, path: &Path, e: KeyError) -> ConfigError {
        let problem = match e {
            KeyError::Unreadable { reason, .. } => Problem::FileUnreadable { path: path.to_owned(), reason },
            other => Problem::BadFile { path: path.to_owned(), reason: other.to_string() },
        };
        self.error(key, problem)
    }

    /// Every certificate in a PEM file, each valid at `now`.
    fn certificates(&self, key: &str, path: &Path) -> Result<Vec<Certificate>, ConfigError> {
        let certs = Certificate::all_from_pem_file(path).map_err(|e| self.key_error(key, path, e))?;
        for cert in &certs {
            self.check_validity(key, path, cert)?;
        }
        Ok(certs)
    }

    fn check_validity(&self, key: &str, path: &Path, cert: &Certificate) -> Result<(), ConfigError> {
        let now = self.now.as_secs() as i64;
        let (not_before, not_after) = cert.validity();
        if now > not_after {
            return Err(self.error(
                key,
                Problem::CertificateExpired {
                    path: path.to_owned(),
                    subject: cert.subject(),
                    not_after: rfc3339(not_after),
                },
            ));
        }
        if now < not_before {
            return Err(self.error(
                key,
                Problem::CertificateNotYetValid {
                    path: path.to_owned(),
                    subject: cert.subject(),
                    not_before: rfc3339(not_before),
                },
            ));
        }
        Ok(())
    }

    fn load_trust(&self, t: &TrustPaths) -> Result<LoadedTrust, ConfigError> {
        let access_point_ca = self.certificates("trust.access_point_ca", &t.access_point_ca)?;
        let tls_ca = self.certificates("trust.tls_ca", &t.tls_ca)?;
        let smp_certificate = self.certificates("trust.smp_certificate", &t.smp_certificate)?.remove(0);
        let mut organisation_ca = Vec::new();
        for (i, path) in t.organisation_ca.iter().enumerate() {
            organisation_ca.extend(self.certificates(&format!("trust.organisation_ca[{i}]"), path)?);
        }
        let issuers: Vec<&Certificate> = access_point_ca.iter().chain(&tls_ca).chain(&organisation_ca).collect();
        let mut crls = Vec::new();
        for (i, path) in t.crls.iter().enumerate() {
            crls.push(self.load_crl(&format!("trust.crls[{i}]"), path, &issuers)?);
        }
        Ok(LoadedTrust {
            access_points: TrustPolicy::Anchors { anchors: access_point_ca.clone(), crls: crls.clone() },
            organisations: TrustPolicy::Anchors { anchors: organisation_ca.clone(), crls: crls.clone() },
            smp: TrustPolicy::Pinned(smp_certificate.clone()),
            access_point_ca,
            tls_ca,
            smp_certificate,
            crls,
        })
    }

    /// A CRL (PEM or DER) that webpki accepts, issued by one of the
    /// configured CAs, and not past its next update: a stale list would
    /// silently miss recent revocations.
    fn load_crl(&self, key: &str, path: &Path, issuers: &[&Certificate]) -> Result<Vec<u8>, ConfigError> {
        use rustls_pki_types::pem::PemObject;
        let bad = |reason: String| self.error(key, Problem::BadFile { path: path.to_owned(), reason });
        let bytes = std::fs::read(path)
            .map_err(|e| self.error(key, Problem::FileUnreadable { path: path.to_owned(), reason: e.to_string() }))?;
        let der = if bytes.windows(10).any(|w| w == b"-----BEGIN") {
            rustls_pki_types::CertificateRevocationListDer::from_pem_slice(&bytes)
                .map_err(|e| bad(format!("no PEM X509 CRL found: {e}")))?
                .to_vec()
        } else {
            bytes
        };
        webpki::OwnedCertRevocationList::from_der(&der).map_err(|e| bad(format!("not a usable CRL: {e:?}")))?;
        let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(&der)
            .map_err(|e| bad(format!("not a usable CRL: {e}")))?;
        let issued_by_configured_ca = issuers.iter().any(|ca| {
            X509Certificate::from_der(ca.der()).is_ok_and(|(_, c)| c.subject().as_raw() == crl.issuer().as_raw())
        });
        if !issued_by_configured_ca {
            return Err(bad(format!("issuer {} is none of the configured CAs", crl.issuer())));
        }
        if let Some(next) = crl.next_update() {
            if next.timestamp() < self.now.as_secs() as i64 {
                return Err(bad(format!("out of date: its next update was due {}", rfc3339(next.timestamp()))));
            }
        }
        Ok(der)
    }

    fn load_keys(
        &self,
        k: &KeyPaths,
        trust: &LoadedTrust,
        tls_settings: &TlsConfig,
    ) -> Result<LoadedKeys, ConfigError> {
        let org_signing = self.key_with_certificate(
            ("keys.org_signing_key", &k.org_signing_key),
            ("keys.org_signing_cert", &k.org_signing_cert),
            ("trust.organisation_ca", &trust.organisations),
        )?;
        if !org_signing.certificate().allows_signing() {
            return Err(self.unsuitable(
                "keys.org_signing_cert",
                &k.org_signing_cert,
                "its key usage does not allow signing",
            ));
        }
        let org_encryption = self.key_with_certificate(
            ("keys.org_encryption_key", &k.org_encryption_key),
            ("keys.org_encryption_cert", &k.org_encryption_cert),
            ("trust.organisation_ca", &trust.organisations),
        )?;
        let allows_key_transport = parsed(org_encryption.certificate())
            .map(|x| {
                matches!(x.key_usage(), Ok(None))
                    || matches!(x.key_usage(), Ok(Some(ku)) if ku.value.key_encipherment())
            })
            .unwrap_or(false);
        if !allows_key_transport {
            return Err(self.unsuitable(
                "keys.org_encryption_cert",
                &k.org_encryption_cert,
                "its key usage does not allow key encipherment",
            ));
        }
        let access_point = self.key_with_certificate(
            ("keys.ap_key", &k.ap_key),
            ("keys.ap_cert", &k.ap_cert),
            ("trust.access_point_ca", &trust.access_points),
        )?;
        let access_point_id = match access_point.certificate().common_name() {
            Some(cn) if !cn.trim().is_empty() => cn,
            _ => {
                return Err(self.unsuitable(
                    "keys.ap_cert",
                    &k.ap_cert,
                    "it has no common name, and the common name is the AS4 PartyId",
                ))
            }
        };
        if !access_point.certificate().allows_signing() {
            return Err(self.unsuitable("keys.ap_cert", &k.ap_cert, "its key usage does not allow signing"));
        }
        let tls_policy = TrustPolicy::Anchors { anchors: trust.tls_ca.clone(), crls: trust.crls.clone() };
        let tls = self.key_with_certificate(
            ("keys.tls_key", &k.tls_key),
            ("keys.tls_cert", &k.tls_cert),
            ("trust.tls_ca", &tls_policy),
        )?;
        // webpki requires these purposes when the extension is present; we
        // are a server to peers and a client when we send.
        if let Some(x) = parsed(tls.certificate()) {
            if let Ok(Some(eku)) = x.extended_key_usage() {
                let eku = eku.value;
                if !(eku.any || eku.server_auth) {
                    return Err(self.unsuitable(
                        "keys.tls_cert",
                        &k.tls_cert,
                        "its extended key usage lacks TLS server authentication",
                    ));
                }
                if !(eku.any || eku.client_auth) {
                    return Err(self.unsuitable(
                        "keys.tls_cert",
                        &k.tls_cert,
                        "its extended key usage lacks TLS client authentication",
                    ));
                }
            }
        }
        // The TLS configurations are built once here so a problem rustls
        // finds surfaces now, with a key to name.
        let client_ca = tls_settings.mutual.then_some(trust.tls_ca.as_slice());
        tls::server_config(tls.key(), tls.chain(), client_ca, &trust.crls, tls_settings.min_version)
            .and_then(|_| {
                tls::client_config(tls.key(), tls.chain(), &trust.tls_ca, &trust.crls, tls_settings.min_version)
            })
            .map_err(|e| {
                self.error("keys.tls_cert", Problem::BadFile { path: k.tls_cert.clone(), reason: e.to_string() })
            })?;
        Ok(LoadedKeys { org_signing, org_encryption, access_point, tls, access_point_id })
    }

    fn unsuitable(&self, key: &str, path: &Path, reason: &str) -> ConfigError {
        self.error(key, Problem::CertificateUnsuitable { path: path.to_owned(), reason: reason.to_owned() })
    }

    /// Loads a key and its certificate chain, and checks that they belong
    /// together, that every certificate is valid now and that the
    /// certificate chains to the CAs configured for its purpose.
    fn key_with_certificate(
        &self,
        (key_name, key_path): (&str, &Path),
        (cert_name, cert_path): (&str, &Path),
        (trust_name, policy): (&str, &TrustPolicy),
    ) -> Result<KeyWithCertificate, ConfigError> {
        let chain = self.certificates(cert_name, cert_path)?;
        let key = PrivateKey::from_pem_file(key_path).map_err(|e| self.key_error(key_name, key_path, e))?;
        if !key.matches(&chain[0]) {
            return Err(
                self.error(key_name, Problem::KeyMismatch { key: key_path.to_owned(), cert: cert_path.to_owned() })
            );
        }
        policy.check(&chain[0], &chain[1..], self.now).map_err(|e| {
            let reason = match e {
                TrustError::Revoked => "revoked by a configured CRL".to_owned(),
                other => other.to_string(),
            };
            self.error(
                cert_name,
                Problem::Untrusted { path: cert_path.to_owned(), against: trust_name.to_owned(), reason },
            )
        })?;
        Ok(KeyWithCertificate { key, chain, key_file: key_path.to_owned(), cert_file: cert_path.to_owned() })
    }
}

/// The field name in serde's "unknown field `x`" / "missing field `x`".
fn backticked_after<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
    rest.split_once('`').map(|(field, _)| field)
}

fn parsed(c: &Certificate) -> Option<X509Certificate<'_>> {
    X509Certificate::from_der(c.der()).map(|(_, x)| x).ok()
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

// ---------------------------------------------------------------------------
// Value rules, usable on their own
// ---------------------------------------------------------------------------

/// `0203:` and a lower-case domain name.
pub fn check_organisation_id(id: &str) -> Result<(), String> {
    let Some(domain) = id.strip_prefix("0203:") else {
        return Err(format!("{id:?} must be 0203: followed by the organisation's domain, e.g. 0203:habo.se"));
    };
    if domain.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("{id:?} must be in lower case, as registered in SMP"));
    }
    check_domain(domain).map_err(|reason| format!("{id:?}: {reason}"))
}

/// A DNS name of at least two labels of `a-z`, `0-9` and inner hyphens.
fn check_domain(domain: &str) -> Result<(), String> {
    if domain.is_empty() || domain.len() > 253 {
        return Err("the domain must be 1 to 253 characters".into());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(format!("{domain:?} is not a domain name (it needs a dot)"));
    }
    for label in labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(format!("{domain:?} is not a domain name: label {label:?}"));
        }
    }
    Ok(())
}

/// Ten digits (`NNNNNN-NNNN` allowed), third digit at least 2 (which sets
/// organisation numbers apart from personal identity numbers), Luhn check
/// digit.
pub fn check_organisation_number(number: &str) -> Result<(), String> {
    let digits = normalise_organisation_number(number);
    let well_formed = match number.len() {
        10 => number.bytes().all(|b| b.is_ascii_digit()),
        11 => number.as_bytes()[6] == b'-' && digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()),
        _ => false,
    };
    if !well_formed {
        return Err(format!("{number:?} must be 10 digits (NNNNNNNNNN or NNNNNN-NNNN)"));
    }
    let d: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
    if d[2] < 2 {
        return Err(format!("{number:?}: the third digit must be at least 2 for an organisation number"));
    }
    if !luhn_valid(&d) {
        return Err(format!("{number:?}: the check digit is wrong (Luhn)"));
    }
    Ok(())
}

fn normalise_organisation_number(number: &str) -> String {
    number.chars().filter(|&c| c != '-').collect()
}

/// Luhn over all digits, the last being the check digit.
pub(crate) fn luhn_valid(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

// ---------------------------------------------------------------------------
// Where each value sits in the file
// ---------------------------------------------------------------------------

/// A tree of the file's tables and arrays with the byte span of each value,
/// so a span from a serde error maps back to a dotted key and a dotted key
/// to a line.
mod source_map {
    use super::Range;
    use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde::Deserialize;

    // toml 0.8 hands out spans only to a struct with serde_spanned's names
    // (what `toml::Spanned` uses). Tables written with dotted keys have no
    // span; they are still walked, and paths inside them stay exact.
    const SPANNED: &str = "$__serde_spanned_private_Spanned";
    const START: &str = "$__serde_spanned_private_start";
    const END: &str = "$__serde_spanned_private_end";
    const VALUE: &str = "$__serde_spanned_private_value";
    const DATETIME: &str = "$__toml_private_datetime";

    pub struct Item {
        span: Option<Range<usize>>,
        node: Node,
    }

    enum Node {
        Table(Vec<(String, Item)>),
        Array(Vec<Item>),
        Leaf,
    }

    impl Item {
        fn leaf() -> Self {
            Item { span: None, node: Node::Leaf }
        }

        /// Whether `offset` falls in this value. A table's own span need not
        /// cover its children: `[[a.b]]` sections come after `[a]`'s span.
        fn contains(&self, offset: usize) -> bool {
            if self.span.as_ref().is_some_and(|span| span.start <= offset && offset < span.end) {
                return true;
            }
            match &self.node {
                Node::Table(entries) => entries.iter().any(|(_, item)| item.contains(offset)),
                Node::Array(items) => items.iter().any(|item| item.contains(offset)),
                Node::Leaf => false,
            }
        }

        /// The dotted key of the innermost value at `offset`; empty for the
        /// top level.
        pub fn path_at(&self, offset: usize) -> String {
            let mut path = String::new();
            let mut item = self;
            'descend: loop {
                match &item.node {
                    Node::Table(entries) => {
                        for (key, child) in entries {
                            if child.contains(offset) {
                                if !path.is_empty() {
                                    path.push('.');
                                }
                                path.push_str(key);
                                item = child;
                                continue 'descend;
                            }
                        }
                    }
                    Node::Array(items) => {
                        for (i, child) in items.iter().enumerate() {
                            if child.contains(offset) {
                                path.push_str(&format!("[{i}]"));
                                item = child;
                                continue 'descend;
                            }
                        }
                    }
                    Node::Leaf => {}
                }
                return path;
            }
        }

        /// The span of the value at a dotted key like `a.b[2].c`, if the key
        /// exists (`Some(None)` when it has no span).
        pub fn find(&self, path: &str) -> Option<Option<Range<usize>>> {
            let mut item = self;
            if path.is_empty() {
                return Some(item.span.clone());
            }
            for part in path.split('.') {
                let (name, indexes) = match part.find('[') {
                    Some(at) => (&part[..at], &part[at..]),
                    None => (part, ""),
                };
                let Node::Table(entries) = &item.node else { return None };
                item = &entries.iter().find(|(key, _)| key == name)?.1;
                for index in indexes.split('[').filter(|s| !s.is_empty()) {
                    let i: usize = index.trim_end_matches(']').parse().ok()?;
                    let Node::Array(items) = &item.node else { return None };
                    item = items.get(i)?;
                }
            }
            Some(item.span.clone())
        }
    }

    impl<'de> Deserialize<'de> for Item {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_struct(SPANNED, &[START, END, VALUE], ItemVisitor)
        }
    }

    /// A value inside a span wrapper: asking for a span again would recurse.
    struct Unspanned(Item);

    impl<'de> Deserialize<'de> for Unspanned {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(ItemVisitor).map(Unspanned)
        }
    }

    struct ItemVisitor;

    impl<'de> Visitor<'de> for ItemVisitor {
        type Value = Item;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any TOML value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<Item, E> {
            Ok(Item::leaf())
        }
        fn visit_i64<E>(self, _: i64) -> Result<Item, E> {
            Ok(Item::leaf())
        }
        fn visit_u64<E>(self, _: u64) -> Result<Item, E> {
            Ok(Item::leaf())
        }
        fn visit_f64<E>(self, _: f64) -> Result<Item, E> {
            Ok(Item::leaf())
        }
        fn visit_str<E>(self, _: &str) -> Result<Item, E> {
            Ok(Item::leaf())
        }
        fn visit_unit<E>(self) -> Result<Item, E> {
            Ok(Item::leaf())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Item, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<Item>()? {
                items.push(item);
            }
            Ok(Item { span: None, node: Node::Array(items) })
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
            let Some(first) = map.next_key::<String>()? else {
                return Ok(Item { span: None, node: Node::Table(Vec::new()) });
            };
            match first.as_str() {
                START => {
                    let start: usize = map.next_value()?;
                    let _ = map.next_key::<String>()?;
                    let end: usize = map.next_value()?;
                    let _ = map.next_key::<String>()?;
                    let Unspanned(inner) = map.next_value()?;
                    if end < start {
                        return Err(de::Error::custom("span ends before it starts"));
                    }
                    Ok(Item { span: Some(start..end), node: inner.node })
                }
                DATETIME => {
                    map.next_value::<de::IgnoredAny>()?;
                    Ok(Item::leaf())
                }
                _ => {
                    let mut entries = vec![(first, map.next_value::<Item>()?)];
                    while let Some(key) = map.next_key::<String>()? {
                        entries.push((key, map.next_value::<Item>()?));
                    }
                    Ok(Item { span: None, node: Node::Table(entries) })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisation_numbers() {
        assert_eq!(check_organisation_number("2321000016"), Ok(()));
        assert_eq!(check_organisation_number("232100-0016"), Ok(()));
        assert!(check_organisation_number("2321000017").unwrap_err().contains("Luhn"));
        // A personal identity number shape: third digit below 2.
        assert!(check_organisation_number("8112189876").unwrap_err().contains("third digit"));
        assert!(check_organisation_number("23210-00016").is_err());
        assert!(check_organisation_number("232100001").is_err());
        assert!(check_organisation_number("23210000１6").is_err());
    }

    #[test]
    fn organisation_ids() {
        assert_eq!(check_organisation_id("0203:habo.se"), Ok(()));
        assert_eq!(check_organisation_id("0203:region-stockholm.se"), Ok(()));
        assert!(check_organisation_id("0204:habo.se").is_err());
        assert!(check_organisation_id("0203:Habo.se").unwrap_err().contains("lower case"));
        assert!(check_organisation_id("0203:habo").is_err());
        assert!(check_organisation_id("0203:ha bo.se").is_err());
        assert!(check_organisation_id("0203:-habo.se").is_err());
        assert!(check_organisation_id("0203:håbo.se").is_err());
    }

    #[test]
    fn source_map_names_keys_in_every_table_form() {
        let text = "a = 1\n[t]\nb = 2\n[[arr]]\nc = 3\n[[arr]]\nc = 4\ninline = { d = 5 }\ndotted.e = 6\nwhen = 1979-05-27\n[t2]\nf = 7\n[[t2.list]]\ng = 8\n";
        let map: source_map::Item = toml::from_str(text).unwrap();
        let offset = |needle: &str| text.find(needle).unwrap();
        assert_eq!(map.path_at(offset("2")), "t.b");
        assert_eq!(map.path_at(offset("4")), "arr[1].c");
        assert_eq!(map.path_at(offset("5")), "arr[1].inline.d");
        assert_eq!(map.path_at(offset("6")), "arr[1].dotted.e");
        assert_eq!(map.path_at(offset("8")), "t2.list[0].g");
        assert_eq!(map.path_at(offset("1979")), "arr[1].when");
        assert!(map.find("arr[0].c").unwrap().is_some());
        assert!(map.find("t.zz").is_none());
    }

    #[test]
    fn xml_limits_follow_the_message_cap() {
        assert_eq!(LimitsConfig::default().xml_limits(), XmlLimits::default());
    }
}
