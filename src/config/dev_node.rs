//! A development node on disk: keys and certificates from a development PKI
//! and a configuration [`NodeConfig::load`] accepts. `brygga init` runs
//! [`init`]; tests do too.
//!
//! The CA directory is shared: the first run creates the CAs there, later
//! runs reuse them, so every node initialised against the same directory
//! trusts the others. It holds one CA per trust purpose, as SDK separates
//! them (organisations, access points, TLS), an SMP signing key for a
//! development SMP, and `access-points.txt`, which hands out access point ids
//! (`AP0001-BRYGGA-DEV`, ...) and with them distinct listen ports.
//!
//! Nothing is ever overwritten, and private keys are written mode 0600.
//! Never for production: production keys come from the federation's CAs.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{FunctionalAddress, ListenConfig, NodeConfig};
use crate::pki::dev::{DevCa, DevIdentity, DevPkiError, DevPurpose};
use crate::sdk::xhe::FEDERATION_ID_TEST;

/// The development SMP's address, written into every development
/// configuration.
pub const DEV_SMP_URL: &str = "http://127.0.0.1:8070/";
/// Ports of the first node; the n-th node adds n − 1.
const FIRST_AS4_PORT: u16 = 8443;
const FIRST_API_PORT: u16 = 8080;
/// Enough nodes for any development federation, and the AS4 and API port
/// ranges can't meet.
const MAX_DEV_ACCESS_POINTS: usize = 300;

const ORGANISATION_CA: &str = "organisation-ca";
const ACCESS_POINT_CA: &str = "access-point-ca";
const TLS_CA: &str = "tls-ca";
const SMP_SIGNER: &str = "smp";
const REGISTRY: &str = "access-points.txt";
const CONFIG_FILE: &str = "node.toml";

/// What to initialise.
#[derive(Debug, Clone)]
pub struct DevNodeOptions {
    /// The organisation's name.
    pub organisation_name: String,
    /// `0203:` + domain.
    pub organisation_id: String,
    /// A made-up valid number is derived from the id when absent.
    pub organisation_number: Option<String>,
    /// At least one.
    pub functional_addresses: Vec<FunctionalAddress>,
    /// Taken from the CA directory's registry when absent.
    pub access_point_id: Option<String>,
    /// The node's directory: `node.toml`, `keys/`, `trust/`, `data/`.
    pub out_dir: PathBuf,
    /// The shared CA directory.
    pub ca_dir: PathBuf,
}

/// One file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    pub path: PathBuf,
    /// A private key (mode 0600).
    pub secret: bool,
}

/// What [`init`] made.
#[derive(Debug, Clone)]
pub struct DevNode {
    pub config_file: PathBuf,
    pub access_point_id: String,
    pub organisation_number: String,
    pub listen: ListenConfig,
    /// True when this run created the CAs.
    pub created_cas: bool,
    /// Every file written, in order.
    pub written: Vec<WrittenFile>,
}

#[derive(Debug, thiserror::Error)]
pub enum DevNodeError {
    #[error("{0}")]
    InvalidOption(String),
    #[error("{} already exists; init never overwrites (choose another directory or remove it)", .0.display())]
    Exists(PathBuf),
    #[error("the CA directory {} is incomplete ({} missing); remove it or restore the file", dir.display(), missing.display())]
    IncompleteCaDir { dir: PathBuf, missing: PathBuf },
    #[error("cannot write {}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
    #[error("cannot read {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    #[error(transparent)]
    Pki(#[from] DevPkiError),
    #[error("the written configuration does not load: {0}")]
    Config(Box<super::ConfigError>),
}

/// The shared development CAs.
struct DevCas {
    organisation: DevCa,
    access_point: DevCa,
    tls: DevCa,
    smp: DevIdentity,
}

/// Writes the development PKI and configuration for one organisation, and
/// checks that [`NodeConfig::load`] accepts the result.
pub fn init(options: &DevNodeOptions) -> Result<DevNode, DevNodeError> {
    super::check_organisation_id(&options.organisation_id)
        .map_err(|r| DevNodeError::InvalidOption(format!("--org-id: {r}")))?;
    let name = options.organisation_name.trim();
    if name.is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(DevNodeError::InvalidOption("--org: 1 to 256 characters without control characters".into()));
    }
    let organisation_number = match &options.organisation_number {
        Some(n) => {
            super::check_organisation_number(n)
                .map_err(|r| DevNodeError::InvalidOption(format!("--org-number: {r}")))?;
            super::normalise_organisation_number(n)
        }
        None => made_up_organisation_number(&options.organisation_id),
    };
    if options.functional_addresses.is_empty() {
        return Err(DevNodeError::InvalidOption("give at least one functional address".into()));
    }
    if let Some(id) = &options.access_point_id {
        check_access_point_id(id)?;
    }
    let config_file = options.out_dir.join(CONFIG_FILE);
    if config_file.exists() {
        return Err(DevNodeError::Exists(config_file));
    }

    let mut written = Vec::new();
    create_dir(&options.ca_dir, 0o700)?;
    let (cas, created_cas) = load_or_create_cas(&options.ca_dir, &mut written)?;
    let (access_point_id, number) = register_access_point(
        &options.ca_dir,
        &options.organisation_id,
        options.access_point_id.as_deref(),
        &mut written,
    )?;
    let offset = u16::try_from(number - 1).map_err(|_| DevNodeError::InvalidOption("too many access points".into()))?;
    let listen = ListenConfig {
        as4: std::net::SocketAddr::from(([127, 0, 0, 1], FIRST_AS4_PORT + offset)),
        api: std::net::SocketAddr::from(([127, 0, 0, 1], FIRST_API_PORT + offset)),
        metrics: None,
    };

    let out = &options.out_dir;
    create_dir(out, 0o755)?;
    create_dir(&out.join("keys"), 0o700)?;
    create_dir(&out.join("trust"), 0o755)?;
    create_dir(&out.join("data"), 0o700)?;

    let signing = cas.organisation.issue_for(name, &format!("{name} signing"), &DevPurpose::Signing)?;
    let encryption = cas.organisation.issue_for(name, &format!("{name} encryption"), &DevPurpose::Encryption)?;
    let access_point = cas.access_point.issue_for(name, &access_point_id, &DevPurpose::AccessPoint)?;
    let tls_names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let tls = cas.tls.issue_for(name, &format!("{access_point_id} TLS"), &DevPurpose::Tls(tls_names))?;
    for (stem, identity) in
        [("org-signing", &signing), ("org-encryption", &encryption), ("ap", &access_point), ("tls", &tls)]
    {
        write_new(&out.join("keys").join(format!("{stem}.key")), identity.key_pem.as_bytes(), true, &mut written)?;
        write_new(&out.join("keys").join(format!("{stem}.pem")), identity.cert_pem.as_bytes(), false, &mut written)?;
    }
    // Copies of the CA certificates, so the node's directory stands alone and
    // never needs the CA keys.
    for (stem, pem) in [
        (ORGANISATION_CA, &cas.organisation.identity.cert_pem),
        (ACCESS_POINT_CA, &cas.access_point.identity.cert_pem),
        (TLS_CA, &cas.tls.identity.cert_pem),
        (SMP_SIGNER, &cas.smp.cert_pem),
    ] {
        write_new(&out.join("trust").join(format!("{stem}.pem")), pem.as_bytes(), false, &mut written)?;
    }

    let text = config_text(options, name, &organisation_number, &access_point_id, &listen);
    write_new(&config_file, text.as_bytes(), false, &mut written)?;
    NodeConfig::load(&config_file).map_err(|e| DevNodeError::Config(Box::new(e)))?;
    Ok(DevNode { config_file, access_point_id, organisation_number, listen, created_cas, written })
}

/// A valid organisation number derived from the id, so reruns agree. It is
/// made up and may belong to a real organisation; development only.
fn made_up_organisation_number(organisation_id: &str) -> String {
    let hash = ring::digest::digest(&ring::digest::SHA256, organisation_id.as_bytes());
    let h = hash.as_ref();
    // 2: the group of state, regions and municipalities; third digit ≥ 2.
    let mut digits = vec![2, u32::from(h[0] % 10), 2 + u32::from(h[1] % 8)];
    digits.extend(h[2..8].iter().map(|b| u32::from(b % 10)));
    let check = (0..10).find(|&c| {
        let mut all = digits.clone();
        all.push(c);
        super::luhn_valid(&all)
    });
    // Exactly one check digit in 0..10 satisfies Luhn.
    digits.push(check.unwrap_or(0));
    digits.iter().map(|d| char::from(b'0' + *d as u8)).collect()
}

fn check_access_point_id(id: &str) -> Result<(), DevNodeError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(DevNodeError::InvalidOption(format!("--ap-id {id:?}: use A-Z, 0-9 and -, like AP0001-BRYGGA-DEV")))
    }
}

fn create_dir(dir: &Path, mode: u32) -> Result<(), DevNodeError> {
    let io = |e: std::io::Error| DevNodeError::Write { path: dir.to_owned(), reason: e.to_string() };
    if dir.is_dir() {
        return Ok(());
    }
    // Parents get the usual permissions; only the directory itself is narrowed.
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, mode);
    #[cfg(not(unix))]
    let _ = mode;
    builder.create(dir).map_err(io)
}

/// Writes a file that must not exist yet; private keys are mode 0600 from
/// the moment they exist.
fn write_new(path: &Path, contents: &[u8], secret: bool, written: &mut Vec<WrittenFile>) -> Result<(), DevNodeError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, if secret { 0o600 } else { 0o644 });
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => DevNodeError::Exists(path.to_owned()),
        _ => DevNodeError::Write { path: path.to_owned(), reason: e.to_string() },
    })?;
    file.write_all(contents)
        .and_then(|_| file.sync_all())
        .map_err(|e| DevNodeError::Write { path: path.to_owned(), reason: e.to_string() })?;
    written.push(WrittenFile { path: path.to_owned(), secret });
    Ok(())
}

/// Writes a secret (mode 0600) file that must not exist yet, for
/// development files made beside a node's (the dev network's client secret).
pub fn write_new_secret(path: &Path, contents: &[u8]) -> Result<(), DevNodeError> {
    write_new(path, contents, true, &mut Vec::new())
}

fn read_text(path: &Path) -> Result<String, DevNodeError> {
    std::fs::read_to_string(path).map_err(|e| DevNodeError::Read { path: path.to_owned(), reason: e.to_string() })
}

fn load_or_create_cas(dir: &Path, written: &mut Vec<WrittenFile>) -> Result<(DevCas, bool), DevNodeError> {
    let files: Vec<PathBuf> = [ORGANISATION_CA, ACCESS_POINT_CA, TLS_CA, SMP_SIGNER]
        .iter()
        .flat_map(|stem| [dir.join(format!("{stem}.pem")), dir.join(format!("{stem}.key"))])
        .collect();
    let present = files.iter().filter(|f| f.exists()).count();
    if present == files.len() {
        let load = |stem: &str| -> Result<(String, String), DevNodeError> {
            Ok((read_text(&dir.join(format!("{stem}.pem")))?, read_text(&dir.join(format!("{stem}.key")))?))
        };
        let ca = |stem: &str| -> Result<DevCa, DevNodeError> {
            let (cert, key) = load(stem)?;
            Ok(DevCa::load(&cert, &key)?)
        };
        let (smp_cert, smp_key) = load(SMP_SIGNER)?;
        let smp = DevIdentity {
            key: crate::pki::PrivateKey::from_pem(smp_key.as_bytes()).map_err(|e| DevNodeError::Read {
                path: dir.join(format!("{SMP_SIGNER}.key")),
                reason: e.to_string(),
            })?,
            certificate: crate::pki::Certificate::all_from_pem(smp_cert.as_bytes())
                .map_err(|e| DevNodeError::Read { path: dir.join(format!("{SMP_SIGNER}.pem")), reason: e.to_string() })?
                .remove(0),
            key_pem: smp_key,
            cert_pem: smp_cert,
        };
        let cas =
            DevCas { organisation: ca(ORGANISATION_CA)?, access_point: ca(ACCESS_POINT_CA)?, tls: ca(TLS_CA)?, smp };
        return Ok((cas, false));
    }
    if present > 0 {
        let missing = files.iter().find(|f| !f.exists()).cloned().unwrap_or_default();
        return Err(DevNodeError::IncompleteCaDir { dir: dir.to_owned(), missing });
    }
    let federation = "Brygga development federation";
    let organisation = DevCa::new(federation, "Brygga development organisation CA")?;
    let access_point = DevCa::new(federation, "Brygga development access point CA")?;
    let tls = DevCa::new(federation, "Brygga development TLS CA")?;
    let smp = organisation.issue_for(federation, "Brygga development SMP signer", &DevPurpose::Signing)?;
    for (stem, identity) in [
        (ORGANISATION_CA, &organisation.identity),
        (ACCESS_POINT_CA, &access_point.identity),
        (TLS_CA, &tls.identity),
        (SMP_SIGNER, &smp),
    ] {
        write_new(&dir.join(format!("{stem}.key")), identity.key_pem.as_bytes(), true, written)?;
        write_new(&dir.join(format!("{stem}.pem")), identity.cert_pem.as_bytes(), false, written)?;
    }
    Ok((DevCas { organisation, access_point, tls, smp }, true))
}

/// The access point id for this organisation and its 1-based number in the
/// registry: the organisation's existing entry, or a new one.
fn register_access_point(
    dir: &Path,
    organisation_id: &str,
    wanted: Option<&str>,
    written: &mut Vec<WrittenFile>,
) -> Result<(String, usize), DevNodeError> {
    let path = dir.join(REGISTRY);
    let text = if path.exists() { read_text(&path)? } else { String::new() };
    let mut entries: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(ap), Some(org), None) => entries.push((ap.to_owned(), org.to_owned())),
            _ => {
                return Err(DevNodeError::Read {
                    path,
                    reason: format!("line {}: expected \"ACCESS-POINT-ID 0203:domain\"", i + 1),
                })
            }
        }
    }
    if let Some(index) = entries.iter().position(|(_, org)| org == organisation_id) {
        let existing = &entries[index].0;
        if wanted.is_some_and(|w| w != existing) {
            return Err(DevNodeError::InvalidOption(format!(
                "--ap-id: {organisation_id} already has access point {existing} in {}",
                path.display()
            )));
        }
        return Ok((existing.clone(), index + 1));
    }
    if entries.len() >= MAX_DEV_ACCESS_POINTS {
        return Err(DevNodeError::InvalidOption(format!(
            "{} lists {MAX_DEV_ACCESS_POINTS} access points already",
            path.display()
        )));
    }
    let number = entries.len() + 1;
    let id = match wanted {
        Some(w) if entries.iter().any(|(ap, _)| ap == w) => {
            return Err(DevNodeError::InvalidOption(format!(
                "--ap-id {w} belongs to another organisation in {}",
                path.display()
            )))
        }
        Some(w) => w.to_owned(),
        None => format!("AP{number:04}-BRYGGA-DEV"),
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| DevNodeError::Write { path: path.clone(), reason: e.to_string() })?;
    let header =
        if text.is_empty() { "# Development access points: id, organisation. Written by brygga init.\n" } else { "" };
    writeln!(file, "{header}{id} {organisation_id}")
        .map_err(|e| DevNodeError::Write { path: path.clone(), reason: e.to_string() })?;
    if text.is_empty() {
        written.push(WrittenFile { path, secret: false });
    }
    Ok((id, number))
}

/// A TOML string literal, quoted and escaped.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn config_text(
    options: &DevNodeOptions,
    name: &str,
    organisation_number: &str,
    access_point_id: &str,
    listen: &ListenConfig,
) -> String {
    let mut addresses = String::new();
    for a in &options.functional_addresses {
        addresses.push_str(&format!(
            "\n[[organisation.functional_addresses]]\nid = {}\nlabel = {}\n",
            quoted(&a.id),
            quoted(&a.label)
        ));
    }
    format!(
        r#"# Brygga node for {name} ({org_id}), access point {access_point_id}.
# Written by `brygga init`. DEVELOPMENT ONLY: the keys come from the throw-away
# CAs in {ca_dir}. config/example-node.toml documents every key.
# Paths are relative to this file's directory.

federation_id = {federation}
data_dir = "data"

[organisation]
id = {org_id_q}
name = {name_q}
# Made up unless given with --org-number.
organisation_number = "{organisation_number}"
{addresses}
[keys]
org_signing_key = "keys/org-signing.key"
org_signing_cert = "keys/org-signing.pem"
org_encryption_key = "keys/org-encryption.key"
org_encryption_cert = "keys/org-encryption.pem"
ap_key = "keys/ap.key"
ap_cert = "keys/ap.pem"
tls_key = "keys/tls.key"
tls_cert = "keys/tls.pem"

[trust]
access_point_ca = "trust/access-point-ca.pem"
tls_ca = "trust/tls-ca.pem"
smp_certificate = "trust/smp.pem"
organisation_ca = ["trust/organisation-ca.pem"]
# crls = ["trust/tls-ca.crl"]

[smp]
# A development SMP signing with {ca_dir}/smp.key.
base_url = "{smp}"
cache_ttl_seconds = 300

[listen]
as4 = "{as4}"
api = "{api}"

[tls]
mutual = true
min_version = "1.2"
"#,
        org_id = options.organisation_id,
        ca_dir = options.ca_dir.display().to_string().replace(char::is_control, "?"),
        federation = quoted(FEDERATION_ID_TEST),
        org_id_q = quoted(&options.organisation_id),
        name_q = quoted(name),
        smp = DEV_SMP_URL,
        as4 = listen.as4,
        api = listen.api,
    )
}
