//! A development PKI: a throw-away CA that issues RSA certificates, for the
//! demo, the benchmark, the tests and `brygga init`. Never for production,
//! where keys come from the federation's CAs (SITHS).
//!
//! It can be kept on disk and reloaded ([`DevCa::load`]) so several
//! development nodes trust each other, and it can revoke what it issued
//! ([`DevCa::revoke`]) so revocation can be tested.

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason, RevokedCertParams,
    SerialNumber, PKCS_RSA_SHA256,
};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::keys::{Certificate, PrivateKey};

#[derive(Debug, thiserror::Error)]
#[error("development PKI: {0}")]
pub struct DevPkiError(String);

fn err(e: impl std::fmt::Display) -> DevPkiError {
    DevPkiError(e.to_string())
}

/// A certificate, its key, and both as PEM.
#[derive(Clone)]
pub struct DevIdentity {
    pub key: PrivateKey,
    pub certificate: Certificate,
    pub key_pem: String,
    pub cert_pem: String,
}

/// Leaves the key out, as [`PrivateKey`]'s own `Debug` does: even a
/// development key should not end up in a log.
impl std::fmt::Debug for DevIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIdentity").field("certificate", &self.certificate).finish_non_exhaustive()
    }
}

impl DevIdentity {
    /// The certificate's serial number, as [`DevCa::revoke`] takes it.
    pub fn serial(&self) -> Result<Vec<u8>, DevPkiError> {
        serial_number(&self.certificate)
    }
}

/// The serial number of a certificate: the content octets of its DER INTEGER.
pub fn serial_number(certificate: &Certificate) -> Result<Vec<u8>, DevPkiError> {
    let (_, cert) = X509Certificate::from_der(certificate.der()).map_err(err)?;
    Ok(cert.raw_serial().to_vec())
}

/// What a development certificate is for; decides its key usage, extended
/// key usage and names, the way SDK's federation profiles them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevPurpose {
    /// XML signatures: an organisation's signing certificate or an SMP signer.
    Signing,
    /// Receives encrypted payloads (key transport), signs nothing.
    Encryption,
    /// An access point: signs AS4 messages and receives encrypted ones. Its
    /// common name is the access point id, which AS4 uses as the PartyId.
    AccessPoint,
    /// TLS server and client (both EKUs, since access points call each
    /// other), for these DNS names or IP addresses.
    Tls(Vec<String>),
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

    /// A CA saved earlier from [`DevCa::identity`]'s `cert_pem` and `key_pem`.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Self, DevPkiError> {
        let key = KeyPair::from_pkcs8_pem_and_sign_algo(key_pem, &PKCS_RSA_SHA256).map_err(err)?;
        let identity = DevIdentity {
            key: PrivateKey::from_pem(key_pem.as_bytes()).map_err(err)?,
            certificate: Certificate::all_from_pem(cert_pem.as_bytes()).map_err(err)?.remove(0),
            key_pem: key_pem.to_owned(),
            cert_pem: cert_pem.to_owned(),
        };
        if !identity.key.matches(&identity.certificate) {
            return Err(DevPkiError("the CA key does not belong to the CA certificate".into()));
        }
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key).map_err(err)?;
        Ok(Self { issuer, identity })
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

    /// An RSA-2048 certificate for `purpose`, valid from yesterday for a year.
    pub fn issue_for(
        &self,
        organisation: &str,
        common_name: &str,
        purpose: &DevPurpose,
    ) -> Result<DevIdentity, DevPkiError> {
        let now = OffsetDateTime::now_utc();
        self.issue_for_period(organisation, common_name, purpose, now - Duration::days(1), now + Duration::days(365))
    }

    /// An RSA-2048 certificate for `purpose` with the given validity (tests
    /// use this for expired and not-yet-valid certificates).
    pub fn issue_for_period(
        &self,
        organisation: &str,
        common_name: &str,
        purpose: &DevPurpose,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<DevIdentity, DevPkiError> {
        let key = KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(err)?;
        let names = match purpose {
            DevPurpose::Tls(names) => names.clone(),
            _ => Vec::new(),
        };
        let mut params = CertificateParams::new(names).map_err(err)?;
        params.distinguished_name = distinguished_name(organisation, common_name);
        params.use_authority_key_identifier_extension = true;
        match purpose {
            DevPurpose::Signing => {
                params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::ContentCommitment];
            }
            DevPurpose::Encryption => {
                params.key_usages = vec![KeyUsagePurpose::KeyEncipherment, KeyUsagePurpose::DataEncipherment];
            }
            DevPurpose::AccessPoint => {
                params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
            }
            DevPurpose::Tls(_) => {
                params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
                params.extended_key_usages =
                    vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
            }
        }
        params.not_before = not_before;
        params.not_after = not_after;
        let cert = params.signed_by(&key, &self.issuer).map_err(err)?;
        identity(&key, &cert)
    }

    /// A CRL (DER) listing these serial numbers as revoked now, valid for a
    /// week. An empty list gives a CRL that revokes nothing.
    pub fn revoke(&self, serials: &[Vec<u8>]) -> Result<Vec<u8>, DevPkiError> {
        let now = OffsetDateTime::now_utc();
        let revoked_certs = serials
            .iter()
            .map(|serial| RevokedCertParams {
                serial_number: SerialNumber::from_slice(serial),
                revocation_time: now - Duration::minutes(1),
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect();
        let params = CertificateRevocationListParams {
            this_update: now - Duration::minutes(1),
            next_update: now + Duration::days(7),
            // CRL numbers must grow; seconds since the epoch do, for a dev CA.
            crl_number: SerialNumber::from_slice(&now.unix_timestamp().to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer).map_err(err)?.der().to_vec())
    }
}
