//! A development PKI: a throw-away CA that issues RSA certificates, for the
//! demo, the benchmark and `brygga init`. Never for production, where keys
//! come from the federation's CAs (SITHS).

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_RSA_SHA256,
};
use time::{Duration, OffsetDateTime};

use super::keys::{Certificate, PrivateKey};

#[derive(Debug, thiserror::Error)]
#[error("development PKI: {0}")]
pub struct DevPkiError(String);

fn err(e: impl std::fmt::Display) -> DevPkiError {
    DevPkiError(e.to_string())
}

/// A certificate, its key, and both as PEM.
#[derive(Debug, Clone)]
pub struct DevIdentity {
    pub key: PrivateKey,
    pub certificate: Certificate,
    pub key_pem: String,
    pub cert_pem: String,
}

/// A self-signed CA valid for ten years from yesterday.
pub struct DevCa {
    issuer: Issuer<'static, KeyPair>,
    pub identity: DevIdentity,
}

fn distinguished_name(organisation: &str, common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "SE");
    dn.push(DnType::OrganizationName, organisation);
    dn.push(DnType::CommonName, common_name);
    dn
}

fn identity(key: &KeyPair, cert: &rcgen::Certificate) -> Result<DevIdentity, DevPkiError> {
    let key_pem = key.serialize_pem();
    let cert_pem = cert.pem();
    Ok(DevIdentity {
        key: PrivateKey::from_pem(key_pem.as_bytes()).map_err(err)?,
        certificate: Certificate::from_der(cert.der().to_vec()).map_err(err)?,
        key_pem,
        cert_pem,
    })
}

impl DevCa {
    pub fn new(organisation: &str, common_name: &str) -> Result<Self, DevPkiError> {
        let key = KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(err)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(organisation, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = OffsetDateTime::now_utc() - Duration::days(1);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(3650);
        let cert = params.self_signed(&key).map_err(err)?;
        let identity = identity(&key, &cert)?;
        Ok(Self { issuer: Issuer::new(params, key), identity })
    }

    /// An RSA-2048 end-entity certificate valid for a year, with `dns` as its
    /// subject alternative name (TLS needs one; document keys don't mind).
    pub fn issue(&self, organisation: &str, common_name: &str, dns: &str) -> Result<DevIdentity, DevPkiError> {
        let key = KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(err)?;
        let mut params = CertificateParams::new(vec![dns.to_owned()]).map_err(err)?;
        params.distinguished_name = distinguished_name(organisation, common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.not_before = OffsetDateTime::now_utc() - Duration::days(1);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(365);
        let cert = params.signed_by(&key, &self.issuer).map_err(err)?;
        identity(&key, &cert)
    }
}
