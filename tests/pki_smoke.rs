mod support;

use brygga::pki::{Certificate, PrivateKey, TrustError, TrustPolicy};
use rustls_pki_types::UnixTime;

#[test]
fn generated_pki_loads_and_chains() {
    let dir = tempfile::tempdir().unwrap();
    let ca = support::TestCa::new(dir.path(), "root");
    let leaf = ca.issue("org");
    PrivateKey::from_pem(leaf.key_pem.as_bytes()).expect("PKCS#8 key loads");
    let cert = Certificate::from_pem_file(&leaf.cert_path).unwrap();
    let anchors = Certificate::all_from_pem(ca.identity.cert_pem.as_bytes()).unwrap();
    let policy = TrustPolicy::anchors(anchors);
    policy.check(&cert, &[], UnixTime::now()).expect("chains to the CA");

    let other = support::TestCa::new(dir.path(), "other");
    let policy = TrustPolicy::anchors(Certificate::all_from_pem(other.identity.cert_pem.as_bytes()).unwrap());
    assert!(matches!(policy.check(&cert, &[], UnixTime::now()), Err(TrustError::UntrustedChain(_))));
}
