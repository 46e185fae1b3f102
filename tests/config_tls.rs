//! The node configuration (`brygga init` output, and each kind of error it
//! must name) and TLS between access points over real sockets.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use brygga::config::dev_node::{self, DevNode, DevNodeError, DevNodeOptions};
use brygga::config::{ConfigError, FunctionalAddress, NodeConfig, Problem};
use brygga::pki::dev::{DevCa, DevIdentity, DevPurpose};
use brygga::pki::{Certificate, TrustError};
use brygga::transport::tls::{self, check_certificate_status, peer_certificate, MinTlsVersion};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

fn options(root: &Path, node: &str, name: &str, org_id: &str) -> DevNodeOptions {
    DevNodeOptions {
        organisation_name: name.into(),
        organisation_id: org_id.into(),
        organisation_number: None,
        functional_addresses: vec![FunctionalAddress { id: "intake".into(), label: "Intake".into() }],
        access_point_id: None,
        out_dir: root.join(node),
        ca_dir: root.join("ca"),
    }
}

/// One development node in a fresh directory.
fn one_node() -> (tempfile::TempDir, DevNode) {
    let dir = tempfile::tempdir().unwrap();
    let node = dev_node::init(&options(dir.path(), "habo", "Habo kommun", "0203:habo.se")).unwrap();
    (dir, node)
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn load_error(config: &Path) -> ConfigError {
    let e = NodeConfig::load(config).expect_err("configuration should be refused");
    let shown = e.to_string();
    // Every error names the file, and the key when there is one.
    assert!(shown.starts_with(&config.display().to_string()), "{shown}");
    assert!(shown.contains(&e.key), "{shown}");
    e
}

fn line_of(path: &Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn three_organisations_from_one_ca_directory_load_and_trust_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let orgs = [
        ("habo", "Habo kommun", "0203:habo.se"),
        ("bup", "Region Stockholm", "0203:regionstockholm.se"),
        ("skola", "Skolan AB", "0203:skolan.se"),
    ];
    let mut nodes = Vec::new();
    for (i, (node, name, id)) in orgs.iter().enumerate() {
        let made = dev_node::init(&options(dir.path(), node, name, id)).unwrap();
        assert_eq!(made.created_cas, i == 0);
        assert_eq!(made.access_point_id, format!("AP000{}-BRYGGA-DEV", i + 1));
        let config = NodeConfig::load(&made.config_file).unwrap();
        assert_eq!(config.organisation.id, *id);
        assert_eq!(config.keys.access_point_id, made.access_point_id);
        brygga::config::check_organisation_number(&config.organisation.organisation_number).unwrap();
        assert!(config.tls.mutual);
        config.tls_server_config().unwrap();
        config.tls_client_config().unwrap();
        nodes.push(config);
    }
    // Distinct ports, so all three run on one machine.
    assert_ne!(nodes[0].listen.as4, nodes[1].listen.as4);
    assert_ne!(nodes[1].listen.api, nodes[2].listen.api);
    // Each trusts the others' access point, organisation and TLS certificates.
    let now = UnixTime::now();
    for a in &nodes {
        for b in &nodes {
            a.trust.access_points.check(b.keys.access_point.certificate(), &[], now).unwrap();
            a.trust.organisations.check(b.keys.org_signing.certificate(), &[], now).unwrap();
            check_certificate_status(b.keys.tls.certificate(), &a.trust.tls_ca, &a.trust.crls, now).unwrap();
        }
    }
    // But purposes stay apart: an organisation certificate is no access point.
    assert!(nodes[0].trust.access_points.check(nodes[1].keys.org_signing.certificate(), &[], now).is_err());

    // Secrets are private; init never overwrites.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let made = dir.path().join("habo/keys");
        for key in ["org-signing.key", "org-encryption.key", "ap.key", "tls.key"] {
            let mode = std::fs::metadata(made.join(key)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
        let mode = std::fs::metadata(dir.path().join("ca/tls-ca.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = dev_node::init(&options(dir.path(), "habo", "Habo kommun", "0203:habo.se"));
    assert!(matches!(again, Err(DevNodeError::Exists(_))));
    // The same organisation in a new directory keeps its access point id.
    let moved = dev_node::init(&options(dir.path(), "habo2", "Habo kommun", "0203:habo.se")).unwrap();
    assert_eq!(moved.access_point_id, "AP0001-BRYGGA-DEV");
}

#[test]
fn init_refuses_bad_options() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad_id = options(dir.path(), "x", "X", "habo.se");
    assert!(matches!(dev_node::init(&bad_id), Err(DevNodeError::InvalidOption(_))));
    bad_id.organisation_id = "0203:habo.se".into();
    bad_id.organisation_number = Some("2321000017".into());
    assert!(matches!(dev_node::init(&bad_id), Err(DevNodeError::InvalidOption(m)) if m.contains("Luhn")));
    // Nothing was written for refused options.
    assert!(!dir.path().join("x").exists());
}

#[test]
fn unknown_key_is_named_with_its_table_and_line() {
    let (_dir, node) = one_node();
    edit(&node.config_file, "ap_key = ", "ap_kee = \"keys/ap.key\"\nap_key = ");
    let e = load_error(&node.config_file);
    assert_eq!(e.key, "keys.ap_kee");
    assert!(matches!(&e.problem, Problem::UnknownKey(expected) if expected.contains("ap_key")), "{e}");
    assert_eq!(e.line, Some(line_of(&node.config_file, "ap_kee")));

    // A misspelt table and a key inside an array of tables.
    let (_dir, node) = one_node();
    edit(&node.config_file, "[listen]", "[listne]");
    assert_eq!(load_error(&node.config_file).key, "listne");
    let (_dir, node) = one_node();
    edit(&node.config_file, "label = \"Intake\"", "label = \"Intake\"\nmailbox = true");
    let e = load_error(&node.config_file);
    assert_eq!(e.key, "organisation.functional_addresses[0].mailbox");
}

#[test]
fn missing_key_wrong_type_and_syntax_error_are_named() {
    let (_dir, node) = one_node();
    edit(&node.config_file, "tls_cert = \"keys/tls.pem\"", "");
    let e = load_error(&node.config_file);
    assert_eq!((e.key.as_str(), &e.problem), ("keys.tls_cert", &Problem::MissingKey));

    let (_dir, node) = one_node();
    edit(&node.config_file, "cache_ttl_seconds = 300", "cache_ttl_seconds = \"five minutes\"");
    let e = load_error(&node.config_file);
    assert_eq!(e.key, "smp.cache_ttl_seconds");
    assert!(matches!(e.problem, Problem::InvalidValue(_)));
    assert_eq!(e.line, Some(line_of(&node.config_file, "five minutes")));

    let (_dir, node) = one_node();
    edit(&node.config_file, "min_version = \"1.2\"", "min_version = \"1.1\"");
    assert_eq!(load_error(&node.config_file).key, "tls.min_version");

    let (_dir, node) = one_node();
    edit(&node.config_file, "[smp]", "[smp");
    let e = load_error(&node.config_file);
    assert!(matches!(e.problem, Problem::Syntax(_)));
    assert_eq!(e.line, Some(line_of(&node.config_file, "[smp")));
}

#[test]
fn bad_organisation_id_is_named() {
    let (_dir, node) = one_node();
    edit(&node.config_file, "id = \"0203:habo.se\"", "id = \"habo.se\"");
    let e = load_error(&node.config_file);
    assert_eq!(e.key, "organisation.id");
    assert!(matches!(&e.problem, Problem::InvalidValue(r) if r.contains("0203:")), "{e}");
    assert_eq!(e.line, Some(line_of(&node.config_file, "id = \"habo.se\"")));
}

#[test]
fn bad_organisation_number_checksum_is_named() {
    let (_dir, node) = one_node();
    let good = node.organisation_number.clone();
    let last = good.as_bytes()[9] - b'0';
    let bad = format!("{}{}", &good[..9], (last + 1) % 10);
    edit(&node.config_file, &good, &bad);
    let e = load_error(&node.config_file);
    assert_eq!(e.key, "organisation.organisation_number");
    assert!(matches!(&e.problem, Problem::InvalidValue(r) if r.contains("Luhn")), "{e}");
}

#[test]
fn duplicate_functional_address_is_named() {
    let (_dir, node) = one_node();
    edit(
        &node.config_file,
        "label = \"Intake\"",
        "label = \"Intake\"\n\n[[organisation.functional_addresses]]\nid = \"intake\"\nlabel = \"Again\"",
    );
    let e = load_error(&node.config_file);
    assert_eq!(e.key, "organisation.functional_addresses[1].id");
    assert!(matches!(&e.problem, Problem::InvalidValue(r) if r.contains("duplicate")), "{e}");
}

#[test]
fn missing_certificate_file_is_named() {
    let (dir, node) = one_node();
    let cert = dir.path().join("habo/keys/ap.pem");
    std::fs::remove_file(&cert).unwrap();
    let e = load_error(&node.config_file);
    assert_eq!(e.key, "keys.ap_cert");
    assert!(matches!(&e.problem, Problem::FileUnreadable { path, .. } if *path == cert), "{e}");
    assert_eq!(e.line, Some(line_of(&node.config_file, "ap_cert")));
}

#[test]
fn file_that_is_not_pem_is_named() {
    let (dir, node) = one_node();
    std::fs::write(dir.path().join("habo/trust/tls-ca.pem"), "not a certificate\n").unwrap();
    let e = load_error(&node.config_file);
    assert_eq!(e.key, "trust.tls_ca");
    assert!(matches!(e.problem, Problem::BadFile { .. }), "{e}");
}

#[test]
fn key_that_does_not_match_its_certificate_is_named() {
    let (dir, node) = one_node();
    let keys = dir.path().join("habo/keys");
    std::fs::copy(keys.join("tls.key"), keys.join("ap.key")).unwrap();
    let e = load_error(&node.config_file);
    assert_eq!(e.key, "keys.ap_key");
    assert!(matches!(&e.problem, Problem::KeyMismatch { cert, .. } if cert.ends_with("ap.pem")), "{e}");
}

fn dev_ca(dir: &Path, stem: &str) -> DevCa {
    let read = |ext: &str| std::fs::read_to_string(dir.join("ca").join(format!("{stem}.{ext}"))).unwrap();
    DevCa::load(&read("pem"), &read("key")).unwrap()
}

fn replace_identity(dir: &Path, stem: &str, identity: &DevIdentity) {
    let keys = dir.join("habo/keys");
    std::fs::write(keys.join(format!("{stem}.key")), &identity.key_pem).unwrap();
    std::fs::write(keys.join(format!("{stem}.pem")), &identity.cert_pem).unwrap();
}

#[test]
fn expired_and_not_yet_valid_certificates_are_named() {
    let (dir, node) = one_node();
    let ca = dev_ca(dir.path(), "access-point-ca");
    let now = time::OffsetDateTime::now_utc();
    let day = time::Duration::days(1);
    let expired = ca
        .issue_for_period("Habo kommun", "AP0001-BRYGGA-DEV", &DevPurpose::AccessPoint, now - day * 400, now - day * 35)
        .unwrap();
    replace_identity(dir.path(), "ap", &expired);
    let e = load_error(&node.config_file);
    assert_eq!(e.key, "keys.ap_cert");
    assert!(matches!(e.problem, Problem::CertificateExpired { .. }), "{e}");

    let future = ca
        .issue_for_period("Habo kommun", "AP0001-BRYGGA-DEV", &DevPurpose::AccessPoint, now + day, now + day * 30)
        .unwrap();
    replace_identity(dir.path(), "ap", &future);
    let e = load_error(&node.config_file);
    assert!(matches!(e.problem, Problem::CertificateNotYetValid { .. }), "{e}");

    // The same configuration checked at another time: load_at takes `now`.
    let in_future_time: time::OffsetDateTime = now + day * 2;
    let in_future = UnixTime::since_unix_epoch(Duration::from_secs(in_future_time.unix_timestamp() as u64));
    NodeConfig::load_at(&node.config_file, in_future).unwrap();
}

#[test]
fn certificates_from_the_wrong_ca_or_for_the_wrong_purpose_are_named() {
    // An access point certificate from the TLS CA.
    let (dir, node) = one_node();
    let tls_ca = dev_ca(dir.path(), "tls-ca");
    let wrong = tls_ca.issue_for("Habo kommun", "AP0001-BRYGGA-DEV", &DevPurpose::AccessPoint).unwrap();
    replace_identity(dir.path(), "ap", &wrong);
    let e = load_error(&node.config_file);
    assert_eq!(e.key, "keys.ap_cert");
    assert!(matches!(&e.problem, Problem::Untrusted { against, .. } if against == "trust.access_point_ca"), "{e}");

    // An encryption certificate where the signing certificate belongs.
    let (dir, node) = one_node();
    let org_ca = dev_ca(dir.path(), "organisation-ca");
    let encryption_only = org_ca.issue_for("Habo kommun", "Habo signing", &DevPurpose::Encryption).unwrap();
    replace_identity(dir.path(), "org-signing", &encryption_only);
    let e = load_error(&node.config_file);
    assert_eq!(e.key, "keys.org_signing_cert");
    assert!(matches!(e.problem, Problem::CertificateUnsuitable { .. }), "{e}");
}

#[test]
fn our_own_revoked_certificate_and_a_foreign_crl_are_refused() {
    let (dir, node) = one_node();
    let ca = dev_ca(dir.path(), "access-point-ca");
    let config = NodeConfig::load(&node.config_file).unwrap();
    let serial = brygga::pki::dev::serial_number(config.keys.access_point.certificate()).unwrap();
    std::fs::write(dir.path().join("habo/trust/ap.crl"), ca.revoke(&[serial]).unwrap()).unwrap();
    edit(&node.config_file, "# crls = [\"trust/tls-ca.crl\"]", "crls = [\"trust/ap.crl\"]");
    let e = load_error(&node.config_file);
    assert_eq!(e.key, "keys.ap_cert");
    assert!(matches!(&e.problem, Problem::Untrusted { reason, .. } if reason.contains("revoked")), "{e}");

    // A CRL from a CA the node does not trust is a configuration mistake.
    let stranger = DevCa::new("Elsewhere", "Stranger CA").unwrap();
    std::fs::write(dir.path().join("habo/trust/ap.crl"), stranger.revoke(&[]).unwrap()).unwrap();
    let e = load_error(&node.config_file);
    assert_eq!(e.key, "trust.crls[0]");
    assert!(
        matches!(&e.problem, Problem::BadFile { reason, .. } if reason.contains("none of the configured CAs")),
        "{e}"
    );

    // An empty CRL from the right CA, as PEM, loads.
    let der = ca.revoke(&[]).unwrap();
    std::fs::write(dir.path().join("habo/trust/ap.crl"), pem_crl(&der)).unwrap();
    let config = NodeConfig::load(&node.config_file).unwrap();
    assert_eq!(config.trust.crls, vec![der]);
}

fn pem_crl(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN X509 CRL-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END X509 CRL-----\n");
    pem
}

#[test]
fn values_out_of_range_are_named() {
    let cases = [
        ("[limits]\nmax_as4_message_bytes = 1000000\n", "limits.max_as4_message_bytes"),
        ("[limits]\nmax_sdk_message_bytes = 200000000\n", "limits.max_sdk_message_bytes"),
        // Raised above 30 MB, the AS4 cap must hold the larger XHE too.
        ("[limits]\nmax_sdk_message_bytes = 99999999\n", "limits.max_as4_message_bytes"),
        ("[retry]\njitter = 1.5\n", "retry.jitter"),
        ("[sml]\nzone = \"not a zone\"\n", "sml.zone"),
    ];
    for (append, key) in cases {
        let (_dir, node) = one_node();
        let mut text = std::fs::read_to_string(&node.config_file).unwrap();
        text.push('\n');
        text.push_str(append);
        std::fs::write(&node.config_file, text).unwrap();
        assert_eq!(load_error(&node.config_file).key, key);
    }
    let (_dir, node) = one_node();
    edit(&node.config_file, "base_url = \"http://127.0.0.1:8070/\"", "base_url = \"http://smp.example.se/\"");
    assert_eq!(load_error(&node.config_file).key, "smp.base_url");
    let (_dir, node) = one_node();
    edit(&node.config_file, "api = \"127.0.0.1:8080\"", "api = \"127.0.0.1:8443\"");
    assert_eq!(load_error(&node.config_file).key, "listen.api");
}

#[test]
fn the_sdk_message_limit_may_be_raised_for_tf08_with_the_as4_limit() {
    let (_dir, node) = one_node();
    let mut text = std::fs::read_to_string(&node.config_file).unwrap();
    text.push_str("\n[limits]\nmax_sdk_message_bytes = 104857600\nmax_as4_message_bytes = 150000000\n");
    std::fs::write(&node.config_file, text).unwrap();
    let config = NodeConfig::load(&node.config_file).unwrap();
    assert_eq!(config.limits.max_sdk_message_bytes, 100 << 20);
    // The XHE cap follows: base64 of the message plus the envelope.
    assert_eq!(config.limits.xml_limits().max_document_bytes, brygga::limits::xhe_max_bytes(100 << 20));
    assert!(config.limits.xml_limits().max_document_bytes > brygga::limits::XHE_MAX_BYTES);
}

#[test]
fn the_example_configuration_parses_and_names_its_missing_files() {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/example-node.toml");
    // The example refers to files that exist on a real node only; loading it
    // gets past the syntax and value checks and stops at the first file.
    let e = NodeConfig::load(&example).unwrap_err();
    assert!(matches!(e.problem, Problem::FileUnreadable { .. }), "{e}");
    assert!(e.key.starts_with("trust."), "{e}");
}

// ---------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------

struct Pki {
    ca: DevCa,
    other_ca: DevCa,
    server: DevIdentity,
    client: DevIdentity,
}

fn tls_identity(ca: &DevCa, name: &str) -> DevIdentity {
    ca.issue_for("Brygga test", name, &DevPurpose::Tls(vec!["localhost".into(), "127.0.0.1".into()])).unwrap()
}

fn pki() -> Pki {
    let ca = DevCa::new("Brygga test", "TLS CA").unwrap();
    let other_ca = DevCa::new("Elsewhere", "Other TLS CA").unwrap();
    let server = tls_identity(&ca, "server");
    let client = tls_identity(&ca, "client");
    Pki { ca, other_ca, server, client }
}

fn anchors(ca: &DevCa) -> Vec<Certificate> {
    vec![ca.identity.certificate.clone()]
}

fn mtls_server(pki: &Pki, crls: &[Vec<u8>], min: MinTlsVersion) -> Arc<ServerConfig> {
    tls::server_config(
        &pki.server.key,
        std::slice::from_ref(&pki.server.certificate),
        Some(&anchors(&pki.ca)),
        crls,
        min,
    )
    .unwrap()
}

fn client(identity: &DevIdentity, trusted: &DevCa, crls: &[Vec<u8>]) -> Arc<ClientConfig> {
    tls::client_config(
        &identity.key,
        std::slice::from_ref(&identity.certificate),
        &anchors(trusted),
        crls,
        MinTlsVersion::Tls12,
    )
    .unwrap()
}

/// A client built by hand, for what our own `client_config` won't do:
/// offer no certificate, or only TLS 1.2.
fn custom_client(
    trusted: &DevCa,
    identity: Option<&DevIdentity>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(trusted.identity.certificate.der().to_vec())).unwrap();
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some(id) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from(id.certificate.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key.pkcs8_der().to_vec())),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

#[derive(Debug)]
struct Accepted {
    peer: Option<Certificate>,
    version: Option<ProtocolVersion>,
    alpn: Option<Vec<u8>>,
}

/// One connection over 127.0.0.1: the server's view and whether the client
/// got the server's first bytes (in TLS 1.3 a client finishes its handshake
/// before the server has judged its certificate, so only data proves
/// acceptance).
async fn connect(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
) -> (Result<Accepted, String>, Result<(), String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server_side = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = TlsAcceptor::from(server).accept(tcp).await.map_err(|e| e.to_string())?;
        let (_, conn) = tls.get_ref();
        let accepted = Accepted {
            peer: peer_certificate(conn),
            version: conn.protocol_version(),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        };
        tls.write_all(b"ok").await.map_err(|e| e.to_string())?;
        tls.shutdown().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(accepted)
    });
    let client_side = async move {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = TlsConnector::from(client).connect(name, tcp).await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 2];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        if &buf == b"ok" {
            Ok(())
        } else {
            Err("unexpected bytes".to_owned())
        }
    };
    let limit = Duration::from_secs(20);
    let client_result =
        tokio::time::timeout(limit, client_side).await.unwrap_or_else(|_| Err("client timed out".into()));
    let server_result = match tokio::time::timeout(limit, server_side).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(join.to_string()),
        Err(_) => Err("server timed out".into()),
    };
    (server_result, client_result)
}

#[tokio::test]
async fn mutual_tls_succeeds_with_a_client_certificate_from_the_tls_ca() {
    let pki = pki();
    let (server, client_result) =
        connect(mtls_server(&pki, &[], MinTlsVersion::Tls12), client(&pki.client, &pki.ca, &[])).await;
    let accepted = server.expect("server accepts");
    client_result.expect("client gets data");
    // The node compares this with the certificate SMP lists for the sender.
    assert_eq!(accepted.peer.as_ref(), Some(&pki.client.certificate));
    assert_eq!(accepted.version, Some(ProtocolVersion::TLSv1_3));
    assert_eq!(accepted.alpn.as_deref(), Some(&b"h2"[..]));
}

#[tokio::test]
async fn mutual_tls_fails_without_a_client_certificate() {
    let pki = pki();
    let no_cert = custom_client(&pki.ca, None, &[&rustls::version::TLS13, &rustls::version::TLS12]);
    let (server, client_result) = connect(mtls_server(&pki, &[], MinTlsVersion::Tls12), no_cert).await;
    assert!(server.is_err(), "{server:?}");
    assert!(client_result.is_err());
}

#[tokio::test]
async fn mutual_tls_fails_with_a_client_certificate_from_another_ca() {
    let pki = pki();
    let stranger = tls_identity(&pki.other_ca, "stranger");
    let (server, client_result) =
        connect(mtls_server(&pki, &[], MinTlsVersion::Tls12), client(&stranger, &pki.ca, &[])).await;
    let error = server.expect_err("server refuses");
    assert!(error.contains("UnknownIssuer") || error.contains("issuer"), "{error}");
    assert!(client_result.is_err());
}

#[tokio::test]
async fn mutual_tls_fails_when_the_client_certificate_is_revoked() {
    let pki = pki();
    let crl = pki.ca.revoke(&[pki.client.serial().unwrap()]).unwrap();
    let server_config = mtls_server(&pki, std::slice::from_ref(&crl), MinTlsVersion::Tls12);
    let (server, client_result) = connect(server_config.clone(), client(&pki.client, &pki.ca, &[])).await;
    let error = server.expect_err("server refuses a revoked client");
    assert!(error.contains("Revoked"), "{error}");
    assert!(client_result.is_err());

    // The same CRL does not stop a client that is not on it.
    let other_client = tls_identity(&pki.ca, "other client");
    let (server, client_result) = connect(server_config, client(&other_client, &pki.ca, &[])).await;
    server.unwrap();
    client_result.unwrap();
}

#[tokio::test]
async fn client_refuses_a_server_from_another_ca() {
    let pki = pki();
    let (server, client_result) =
        connect(mtls_server(&pki, &[], MinTlsVersion::Tls12), client(&pki.client, &pki.other_ca, &[])).await;
    let error = client_result.expect_err("client refuses");
    assert!(error.contains("UnknownIssuer") || error.contains("issuer"), "{error}");
    assert!(server.is_err());
}

#[tokio::test]
async fn client_refuses_a_revoked_server() {
    let pki = pki();
    let crl = pki.ca.revoke(&[pki.server.serial().unwrap()]).unwrap();
    let (server, client_result) =
        connect(mtls_server(&pki, &[], MinTlsVersion::Tls12), client(&pki.client, &pki.ca, &[crl])).await;
    let error = client_result.expect_err("client refuses");
    assert!(error.contains("Revoked"), "{error}");
    assert!(server.is_err());
}

#[tokio::test]
async fn tls_1_2_and_1_3_both_work_and_the_minimum_holds() {
    let pki = pki();
    let tls12_only = custom_client(&pki.ca, Some(&pki.client), &[&rustls::version::TLS12]);
    let (server, client_result) = connect(mtls_server(&pki, &[], MinTlsVersion::Tls12), tls12_only.clone()).await;
    client_result.unwrap();
    let accepted = server.unwrap();
    assert_eq!(accepted.version, Some(ProtocolVersion::TLSv1_2));
    assert_eq!(accepted.peer.as_ref(), Some(&pki.client.certificate));

    let tls13 = tls::client_config(
        &pki.client.key,
        std::slice::from_ref(&pki.client.certificate),
        &anchors(&pki.ca),
        &[],
        MinTlsVersion::Tls13,
    )
    .unwrap();
    let (server, client_result) = connect(mtls_server(&pki, &[], MinTlsVersion::Tls13), tls13).await;
    client_result.unwrap();
    assert_eq!(server.unwrap().version, Some(ProtocolVersion::TLSv1_3));

    // A TLS 1.3-only server refuses a TLS 1.2 client.
    let (server, client_result) = connect(mtls_server(&pki, &[], MinTlsVersion::Tls13), tls12_only).await;
    assert!(server.is_err() && client_result.is_err());
}

#[tokio::test]
async fn one_way_tls_asks_for_no_client_certificate() {
    let pki = pki();
    let server = tls::server_config(
        &pki.server.key,
        std::slice::from_ref(&pki.server.certificate),
        None,
        &[],
        MinTlsVersion::Tls12,
    )
    .unwrap();
    let no_cert = custom_client(&pki.ca, None, &[&rustls::version::TLS13]);
    let (server, client_result) = connect(server, no_cert).await;
    client_result.unwrap();
    assert!(server.unwrap().peer.is_none());
}

#[test]
fn tls_configurations_refuse_a_key_that_is_not_the_certificates() {
    let pki = pki();
    let e = tls::server_config(
        &pki.client.key,
        std::slice::from_ref(&pki.server.certificate),
        None,
        &[],
        MinTlsVersion::Tls12,
    )
    .unwrap_err();
    assert_eq!(e, tls::TlsError::KeyMismatch);
    let e = tls::client_config(
        &pki.client.key,
        std::slice::from_ref(&pki.client.certificate),
        &[],
        &[],
        MinTlsVersion::Tls12,
    )
    .unwrap_err();
    assert_eq!(e, tls::TlsError::NoCa);
    let e = tls::client_config(
        &pki.client.key,
        std::slice::from_ref(&pki.client.certificate),
        &anchors(&pki.ca),
        &[b"junk".to_vec()],
        MinTlsVersion::Tls12,
    )
    .unwrap_err();
    assert!(matches!(e, tls::TlsError::BadCrl { index: 0, .. }));
}

#[test]
fn check_certificate_status_flags_a_revoked_access_point() {
    let ap_ca = DevCa::new("Brygga test", "Access point CA").unwrap();
    let revoked = ap_ca.issue_for("Receiver", "AP0003-TEST", &DevPurpose::AccessPoint).unwrap();
    let good = ap_ca.issue_for("Receiver", "AP0004-TEST", &DevPurpose::AccessPoint).unwrap();
    let crl = ap_ca.revoke(&[revoked.serial().unwrap()]).unwrap();
    let crls = [crl];
    let now = UnixTime::now();
    let anchors = anchors(&ap_ca);

    assert_eq!(check_certificate_status(&revoked.certificate, &anchors, &crls, now), Err(TrustError::Revoked));
    check_certificate_status(&good.certificate, &anchors, &crls, now).unwrap();
    // Without the CRL, revocation cannot be seen; with the wrong CA, nothing is trusted.
    check_certificate_status(&revoked.certificate, &anchors, &[], now).unwrap();
    let stranger = DevCa::new("Elsewhere", "Other CA").unwrap();
    assert!(matches!(
        check_certificate_status(&good.certificate, std::slice::from_ref(&stranger.identity.certificate), &crls, now),
        Err(TrustError::UntrustedChain(_))
    ));
}
