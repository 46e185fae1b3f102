//! Shared helpers for integration tests: a throw-away PKI made with rcgen,
//! the path to DIGG's reference files, and running the `brygga` binary.
//! [`processes`] runs nodes as real processes.
//!
//! Each test binary includes this with `mod support;`; not every binary uses
//! every helper.
#![allow(dead_code)]

pub mod processes;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_RSA_SHA256,
};
use time::{Duration, OffsetDateTime};

/// A certificate and its private key, as PEM strings and as files.
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// A CA that issues RSA certificates into a directory.
pub struct TestCa {
    pub identity: Identity,
    issuer: Issuer<'static, KeyPair>,
    dir: PathBuf,
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write test PKI file");
    path
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "SE");
    dn.push(DnType::OrganizationName, "Brygga test");
    dn.push(DnType::CommonName, common_name);
    dn
}

impl TestCa {
    /// A self-signed root CA valid from a year ago for ten years.
    pub fn new(dir: &Path, name: &str) -> Self {
        let key = KeyPair::generate_for(&PKCS_RSA_SHA256).expect("generate CA key");
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        params.not_before = OffsetDateTime::now_utc() - Duration::days(365);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(3650);
        let cert = params.self_signed(&key).expect("self-sign CA");
        let identity = Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_path: write(dir, &format!("{name}-ca.pem"), &cert.pem()),
            key_path: write(dir, &format!("{name}-ca.key"), &key.serialize_pem()),
        };
        Self { identity, issuer: Issuer::new(params, key), dir: dir.to_owned() }
    }

    /// An end-entity certificate valid now (from yesterday for a year).
    pub fn issue(&self, name: &str) -> Identity {
        let now = OffsetDateTime::now_utc();
        self.issue_valid(name, now - Duration::days(1), now + Duration::days(365))
    }

    /// An end-entity RSA-2048 certificate with the given validity.
    pub fn issue_valid(&self, name: &str, not_before: OffsetDateTime, not_after: OffsetDateTime) -> Identity {
        let usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        self.issue_with(name, not_before, not_after, usages)
    }

    /// A certificate valid now whose key usage allows only key encipherment
    /// (an encryption certificate).
    pub fn issue_encryption_only(&self, name: &str) -> Identity {
        let now = OffsetDateTime::now_utc();
        self.issue_with(name, now - Duration::days(1), now + Duration::days(365), vec![KeyUsagePurpose::KeyEncipherment])
    }

    fn issue_with(&self, name: &str, not_before: OffsetDateTime, not_after: OffsetDateTime, usages: Vec<KeyUsagePurpose>) -> Identity {
        let key = KeyPair::generate_for(&PKCS_RSA_SHA256).expect("generate key");
        let mut params = CertificateParams::new(vec![format!("{name}.test")]).expect("params");
        params.distinguished_name = dn(name);
        params.key_usages = usages;
        params.not_before = not_before;
        params.not_after = not_after;
        let cert = params.signed_by(&key, &self.issuer).expect("sign certificate");
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_path: write(&self.dir, &format!("{name}.pem"), &cert.pem()),
            key_path: write(&self.dir, &format!("{name}.key"), &key.serialize_pem()),
        }
    }
}

/// DIGG's reference material beside the repository, if it is there.
/// Tests that need it call this and return early, loudly, when it is not.
pub fn sdk_reference() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/sdk-reference");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: ../shared/sdk-reference is not present; DIGG-file tests did not run");
        None
    }
}

/// True when `tool` runs; otherwise prints a loud skip line.
pub fn have_tool(tool: &str) -> bool {
    let ok = Command::new(tool).arg("--version").output().is_ok();
    if !ok {
        eprintln!("SKIPPED: {tool} is not installed; interoperability checks with it did not run");
    }
    ok
}

/// Runs the `brygga` binary with `args`.
pub fn brygga(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brygga")).args(args).output().expect("run brygga")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `len` bytes that start like a PDF and are otherwise pseudo-random
/// (xorshift from `seed`), without `/` so no PDF name (`/JavaScript`)
/// can appear by chance. Compresses badly, as real scans do.
pub fn pseudo_pdf(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(b"%PDF-1.4\n");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ seed;
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        for b in x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes() {
            out.push(if b == b'/' { b'.' } else { b });
        }
    }
    out.truncate(len);
    out
}

/// SHA-256 in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
