//! XML-DSig interoperability, through the `brygga` binary:
//!
//! - DIGG's signed example XHE (a real SITHS test signature) verifies at the
//!   time it was signed, is refused today (expired), and is refused after a
//!   one-byte change anywhere in the signed content;
//! - signatures made by `brygga xml sign` verify in xmlsec1 (pinned key and
//!   CA path), and xmlsec1 rejects them once tampered;
//! - signatures made by xmlsec1 from templates (enveloped and `#id`,
//!   inclusive and exclusive C14N, PrefixList, RSA-SHA512, ECDSA P-256, a
//!   chain in KeyInfo) verify with `brygga xml verify`, and are refused once
//!   tampered; an xmlsec1 RSA-SHA1 signature is refused.
//!
//! Tests needing xmlsec1 or DIGG's files report themselves skipped when
//! those are missing.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use brygga::xml::{parse_str, NodeId};
use brygga::xmlsec::algorithm::DSIG_NS;
use brygga::xmlsec::base64_decode;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256};
use support::{brygga, have_tool, sdk_reference, stderr, stdout, Identity, TestCa};
use time::{Duration, OffsetDateTime};

/// DIGG's example was signed on 2022-10-13; its certificate expired 2023-05-03.
const DIGG_SIGNING_TIME: &str = "2022-10-14T12:00:00Z";
const DIGG_SIGNER: &str = "CN=testb.e2e.inera.se";

// ---------------------------------------------------------------- helpers

/// The one tamper helper: a one-byte change. `before` must occur exactly
/// once in `xml`, and `after` must differ from it in exactly one byte.
fn tamper(xml: &str, before: &str, after: &str) -> String {
    assert_eq!(xml.matches(before).count(), 1, "tamper target {before:?} must occur exactly once");
    assert_eq!(before.len(), after.len(), "{before:?} -> {after:?} is not a one-byte change");
    let differing = before.bytes().zip(after.bytes()).filter(|(a, b)| a != b).count();
    assert_eq!(differing, 1, "{before:?} -> {after:?} is not a one-byte change");
    xml.replacen(before, after, 1)
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn s(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn xmlsec1(args: &[&str]) -> Output {
    Command::new("xmlsec1").args(args).output().expect("run xmlsec1")
}

fn assert_exit(output: &Output, code: i32, what: &str) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{what}: expected exit {code}\nstdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
}

/// `brygga xml verify` with `trust` (`--cert X` or `--trust X`), expecting
/// success and the signer's common name on stdout.
fn assert_brygga_verifies(file: &Path, trust: [&str; 2], cn: &str, what: &str) {
    assert_brygga_verifies_with(file, &trust, cn, what);
}

/// As [`assert_brygga_verifies`], with any extra `xml verify` arguments.
fn assert_brygga_verifies_with(file: &Path, args: &[&str], cn: &str, what: &str) {
    let mut all = vec!["xml", "verify"];
    all.extend_from_slice(args);
    all.push(s(file));
    let out = brygga(&all);
    assert_exit(&out, 0, what);
    assert!(stdout(&out).contains(&format!("CN={cn}")), "{what}: signer {cn} not reported: {}", stdout(&out));
}

/// `brygga xml verify` expecting exit 1 with `reason` in the message.
fn assert_brygga_refuses(file: &Path, trust: [&str; 2], reason: &str, what: &str) {
    let out = brygga(&["xml", "verify", trust[0], trust[1], s(file)]);
    assert_exit(&out, 1, what);
    assert!(stderr(&out).contains(reason), "{what}: expected {reason:?} in: {}", stderr(&out));
}

/// The text content of the first `ds:{local}` element.
fn dsig_text(xml: &str, local: &str) -> String {
    let doc = parse_str(xml).unwrap();
    let node = doc
        .descendants(NodeId::DOCUMENT)
        .find(|&n| doc.element(n).is_some_and(|e| e.is(DSIG_NS, local)))
        .unwrap_or_else(|| panic!("no ds:{local}"));
    doc.text_content(node)
}

/// The root CA of a [`TestCa`] as an rcgen issuer, to issue what `TestCa`
/// does not: an intermediate CA and an ECDSA leaf.
fn issuer_of(ca: &TestCa) -> Issuer<'static, KeyPair> {
    Issuer::from_ca_cert_pem(&ca.identity.cert_pem, KeyPair::from_pem(&ca.identity.key_pem).unwrap()).unwrap()
}

fn params(cn: &str, is_ca: bool) -> CertificateParams {
    let mut p = CertificateParams::new(vec![format!("{cn}.test")]).unwrap();
    p.distinguished_name.push(DnType::CountryName, "SE");
    p.distinguished_name.push(DnType::CommonName, cn);
    let now = OffsetDateTime::now_utc();
    (p.not_before, p.not_after) = (now - Duration::days(1), now + Duration::days(30));
    if is_ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    } else {
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    }
    p
}

fn identity(dir: &Path, name: &str, cert_pem: String, key_pem: String) -> Identity {
    Identity {
        cert_path: write(dir, &format!("{name}.pem"), &cert_pem),
        key_path: write(dir, &format!("{name}.key"), &key_pem),
        cert_pem,
        key_pem,
    }
}

/// root -> intermediate -> leaf; returns (intermediate, leaf).
fn chain_via_intermediate(ca: &TestCa, dir: &Path) -> (Identity, Identity) {
    let inter_key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let inter_params = params("intermediate", true);
    let inter_cert = inter_params.signed_by(&inter_key, &issuer_of(ca)).unwrap();
    let inter = identity(dir, "intermediate", inter_cert.pem(), inter_key.serialize_pem());
    let leaf_key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let leaf_cert = params("chained", false).signed_by(&leaf_key, &Issuer::new(inter_params, inter_key)).unwrap();
    (inter, identity(dir, "chained", leaf_cert.pem(), leaf_key.serialize_pem()))
}

// ------------------------------------------------------ DIGG's example

/// DIGG's signed XHE, decoded from the AS4 submit example, and the SITHS
/// test chain; `None` (skipped) without DIGG's files.
fn digg_signed_xhe() -> Option<(String, PathBuf)> {
    let reference = sdk_reference()?;
    let submit = std::fs::read_to_string(reference.join("message-v3/example-as4-submit-signed-xhe.xml")).unwrap();
    let start = submit.find("<value>").expect("<value> in the submit example") + "<value>".len();
    let end = start + submit[start..].find("</value>").unwrap();
    let xhe = String::from_utf8(base64_decode(&submit[start..end]).unwrap()).unwrap();
    assert!(xhe.contains("<dsig:Signature"), "the decoded XHE is signed");
    Some((xhe, reference.join("certs/test-siths-e-id-chain.pem")))
}

#[test]
fn digg_signed_xhe_verifies_at_signing_time() {
    let dir = tempfile::tempdir().unwrap();
    let Some((xhe, chain)) = digg_signed_xhe() else { return };
    let file = write(dir.path(), "xhe.xml", &xhe);
    let out = brygga(&["xml", "verify", "--trust", s(&chain), "--at", DIGG_SIGNING_TIME, s(&file)]);
    assert_exit(&out, 0, "DIGG's signed XHE");
    assert!(stdout(&out).contains(DIGG_SIGNER), "{}", stdout(&out));
}

#[test]
fn digg_signed_xhe_verifies_in_xmlsec1_too() {
    // Provenance: the independent implementation agrees at the same time.
    // xmlsec1 --trusted-pem reads only the first certificate of a file, so
    // the chain goes in as two files.
    let dir = tempfile::tempdir().unwrap();
    let Some((xhe, chain)) = digg_signed_xhe() else { return };
    if !have_tool("xmlsec1") {
        return;
    }
    let pem = std::fs::read_to_string(chain).unwrap();
    let certs: Vec<String> = pem.split_inclusive("-----END CERTIFICATE-----\n").map(str::to_owned).collect();
    assert_eq!(certs.len(), 2, "function CA and root CA");
    let function_ca = write(dir.path(), "function-ca.pem", &certs[0]);
    let root = write(dir.path(), "root.pem", &certs[1]);
    let file = write(dir.path(), "xhe.xml", &xhe);
    let verify = |time: &str| {
        xmlsec1(&["--verify", "--trusted-pem", s(&root), "--untrusted-pem", s(&function_ca), "--verification-gmt-time", time, s(&file)])
    };
    assert_exit(&verify("2022-10-14 12:00:00"), 0, "xmlsec1 on DIGG's XHE at signing time");
    assert_ne!(verify("2024-01-01 12:00:00").status.code(), Some(0), "xmlsec1 accepted the expired certificate");
}

#[test]
fn digg_signed_xhe_is_refused_today_because_the_certificate_expired() {
    let dir = tempfile::tempdir().unwrap();
    let Some((xhe, chain)) = digg_signed_xhe() else { return };
    let file = write(dir.path(), "xhe.xml", &xhe);
    let out = brygga(&["xml", "verify", "--trust", s(&chain), s(&file)]);
    assert_exit(&out, 1, "DIGG's signed XHE today");
    assert!(stderr(&out).contains("expired"), "{}", stderr(&out));
}

#[test]
fn digg_signed_xhe_one_byte_change_in_signed_content_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let Some((xhe, chain)) = digg_signed_xhe() else { return };
    let digest = "digest of reference '' does not match";
    // Inclusive C14N of SignedInfo carries the document element's namespace
    // declarations, so changing one breaks the signature value before any digest.
    let signed_info = "signature value does not verify";
    let changes = [
        ("payload text", "<ns6:label>En rubrik</ns6:label>", "<ns6:label>En rubrIk</ns6:label>", digest),
        ("header ID", "<ID>7bc5576a-", "<ID>8bc5576a-", digest),
        ("attribute value", "schemeID=\"iso6523-actorid-upis\">0203:testb", "schemeID=\"iso6523-actorid-upiz\">0203:testb", digest),
        (
            "namespace URI",
            "xmlns:ns6=\"urn:riv:infrastructure:messaging:MessageWithAttachments:3\"",
            "xmlns:ns6=\"urn:riv:infrastructure:messaging:MessageWithAttachments:4\"",
            signed_info,
        ),
        ("customization ID", "urn:fdc:digg.se:edelivery:xhe:1<", "urn:fdc:digg.se:edelivery:xhe:2<", digest),
    ];
    for (i, (what, before, after, reason)) in changes.into_iter().enumerate() {
        let file = write(dir.path(), &format!("tampered-{i}.xml"), &tamper(&xhe, before, after));
        let trust = ["--trust", s(&chain)];
        let out = brygga(&["xml", "verify", trust[0], trust[1], "--at", DIGG_SIGNING_TIME, s(&file)]);
        assert_exit(&out, 1, what);
        assert!(stderr(&out).contains(reason), "{what}: expected {reason:?} in: {}", stderr(&out));
    }
    // And in the signature value itself.
    let value = dsig_text(&xhe, "SignatureValue");
    let flipped = format!("{}{}", if value.starts_with('A') { 'B' } else { 'A' }, &value[1..]);
    let file = write(dir.path(), "tampered-value.xml", &tamper(&xhe, &value, &flipped));
    let out = brygga(&["xml", "verify", "--trust", s(&chain), "--at", DIGG_SIGNING_TIME, s(&file)]);
    assert_exit(&out, 1, "signature value");
    assert!(stderr(&out).contains("signature value does not verify"), "{}", stderr(&out));
}

// ------------------------------------------------------ ours -> xmlsec1

/// Documents with the features canonicalisation gets wrong first, each
/// with a one-byte change of its content: (what, xml, before, after).
fn documents() -> Vec<(&'static str, String, &'static str, &'static str)> {
    let mut docs = vec![
        (
            "default and prefixed namespaces",
            "<root xmlns=\"urn:example:default\" xmlns:p=\"urn:example:p\" xmlns:unused=\"urn:example:unused\">\
             <p:child>text 100</p:child><inner xmlns=\"urn:example:other\" xmlns:q=\"urn:example:q\"><q:leaf p:attr=\"v\"/></inner>\
             <reset xmlns=\"\"><plain/></reset></root>"
                .to_owned(),
            "text 100",
            "text 900",
        ),
        (
            "attributes in several namespaces",
            "<a:doc xmlns:a=\"urn:example:a\" xmlns:b=\"urn:example:b\" xmlns:c=\"urn:example:c\" c:z=\"3\" b:y=\"2\" a:x=\"1\" plain=\"0\" xml:lang=\"sv\">\
             <b:e a:k=\"1\" b:k=\"2\" k=\"3\">text 100</b:e><c:f xmlns:a=\"urn:example:a2\" a:k=\"redeclared\"/></a:doc>"
                .to_owned(),
            "c:z=\"3\"",
            "c:z=\"4\"",
        ),
        (
            "CR and character references",
            "<doc a=\"x&#13;y&#9;z&#10;w\" b=\"line\r\nbreak &quot;&lt;&gt;&amp;\">one&#13;&#10;two\r\nthree\rfour&#xD; &#228;&#x1F600; &lt;&gt;&amp; text 100</doc>"
                .to_owned(),
            "text 100",
            "text 900",
        ),
        (
            "comments and processing instructions",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- before -->\n<?app before?>\n<doc><!-- inside -->\
             <a>text 100</a><?app inside?><b><!--x--></b></doc>\n<!-- after -->\n"
                .to_owned(),
            "text 100",
            "text 900",
        ),
    ];
    if let Some(reference) = sdk_reference() {
        let minimal = std::fs::read_to_string(reference.join("message-v3/example-valid-minimal.xml")).unwrap();
        docs.push(("DIGG's minimal message", minimal, ">Printerpapper<", ">Printerpappex<"));
    }
    docs
}

#[test]
fn ours_signatures_verify_in_xmlsec1_and_fail_there_when_tampered() {
    if !have_tool("xmlsec1") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "root");
    let signer = ca.issue("sender");
    let (intermediate, chained) = chain_via_intermediate(&ca, dir.path());
    let mut checked = 0;
    for (i, (what, xml, before, after)) in documents().into_iter().enumerate() {
        let input = write(dir.path(), &format!("doc-{i}.xml"), &xml);
        for exclusive in [false, true] {
            let what = format!("{what} ({})", if exclusive { "exclusive" } else { "inclusive" });
            let mut args = vec!["xml", "sign", "--key", s(&signer.key_path), "--cert", s(&signer.cert_path)];
            args.extend(exclusive.then_some("--exclusive"));
            args.push(s(&input));
            let out = brygga(&args);
            assert_exit(&out, 0, &what);
            let signed_xml = stdout(&out);
            let signed = write(dir.path(), &format!("signed-{i}-{exclusive}.xml"), &signed_xml);

            let out = xmlsec1(&["--verify", "--pubkey-cert-pem", s(&signer.cert_path), s(&signed)]);
            assert_exit(&out, 0, &format!("xmlsec1 --pubkey-cert-pem, {what}"));
            let out = xmlsec1(&["--verify", "--trusted-pem", s(&ca.identity.cert_path), s(&signed)]);
            assert_exit(&out, 0, &format!("xmlsec1 --trusted-pem, {what}"));

            // One character of signed content changed: xmlsec1 must reject.
            let tampered = write(dir.path(), "tampered.xml", &tamper(&signed_xml, before, after));
            let out = xmlsec1(&["--verify", "--pubkey-cert-pem", s(&signer.cert_path), s(&tampered)]);
            assert_ne!(out.status.code(), Some(0), "xmlsec1 accepted tampered {what}");

            // Through an intermediate CA that only xmlsec1's untrusted store holds.
            let mut args = vec!["xml", "sign", "--key", s(&chained.key_path), "--cert", s(&chained.cert_path)];
            args.extend(exclusive.then_some("--exclusive"));
            args.push(s(&input));
            let out = brygga(&args);
            assert_exit(&out, 0, &what);
            let signed = write(dir.path(), "signed-chained.xml", &stdout(&out));
            let args = ["--verify", "--trusted-pem", s(&ca.identity.cert_path), "--untrusted-pem", s(&intermediate.cert_path)];
            let out = xmlsec1(&[&args[..], &[s(&signed)]].concat());
            assert_exit(&out, 0, &format!("xmlsec1 --trusted-pem --untrusted-pem, {what}"));
            let out = xmlsec1(&["--verify", "--trusted-pem", s(&ca.identity.cert_path), s(&signed)]);
            assert_ne!(out.status.code(), Some(0), "xmlsec1 built a path without the intermediate, {what}");
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} signatures checked");
}

// ------------------------------------------------------ xmlsec1 -> ours

const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

/// A `Transform` or `CanonicalizationMethod` element.
fn method(name: &str, algorithm: &str, prefix_list: Option<&str>) -> String {
    match prefix_list {
        None => format!("<dsig:{name} Algorithm=\"{algorithm}\"/>"),
        Some(list) => format!(
            "<dsig:{name} Algorithm=\"{algorithm}\"><ec:InclusiveNamespaces xmlns:ec=\"{EXC_C14N}\" PrefixList=\"{list}\"/></dsig:{name}>"
        ),
    }
}

/// An xmlsec1 signature template, indented the way people write them.
fn template(c14n: &str, signature_method: &str, uri: &str, transforms: &[String], digest: &str) -> String {
    format!(
        "<dsig:Signature xmlns:dsig=\"http://www.w3.org/2000/09/xmldsig#\">\n  <dsig:SignedInfo>\n    {c14n}\n    \
         <dsig:SignatureMethod Algorithm=\"{signature_method}\"/>\n    <dsig:Reference URI=\"{uri}\">\n      \
         <dsig:Transforms>{}</dsig:Transforms>\n      <dsig:DigestMethod Algorithm=\"{digest}\"/>\n      \
         <dsig:DigestValue/>\n    </dsig:Reference>\n  </dsig:SignedInfo>\n  <dsig:SignatureValue/>\n  \
         <dsig:KeyInfo><dsig:X509Data/></dsig:KeyInfo>\n</dsig:Signature>",
        transforms.concat()
    )
}

/// The document xmlsec1 signs: namespaces in scope that are not visibly
/// used (what PrefixList is for), the payload element carrying `id_attr`.
fn body(id_attr: &str, signature: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<m:Message xmlns:m=\"urn:example:message\" xmlns=\"urn:example:default\" \
         xmlns:x=\"urn:example:extra\">\n  <m:Header><m:ID>msg-1</m:ID></m:Header>\n  \
         <m:Payload {id_attr}=\"payload-1\"><Amount x:currency=\"SEK\">100</Amount><!-- note --><To>alice</To></m:Payload>\n  \
         {signature}\n</m:Message>\n"
    )
}

/// Signs `tpl` with xmlsec1 using `key` and the certificates `certs`
/// (first the signer's); returns the signed document.
fn xmlsec1_sign(dir: &Path, name: &str, tpl: &str, key: &Path, certs: &[&Path], extra: &[&str]) -> String {
    let input = write(dir, &format!("{name}.tpl.xml"), tpl);
    let output = dir.join(format!("{name}.xml"));
    let key_and_certs = std::iter::once(s(key)).chain(certs.iter().map(|c| s(c))).collect::<Vec<_>>().join(",");
    let mut args = vec!["--sign", "--privkey-pem", &key_and_certs];
    args.extend_from_slice(extra);
    args.extend(["--output", s(&output), s(&input)]);
    let out = xmlsec1(&args);
    assert_exit(&out, 0, &format!("xmlsec1 --sign {name}"));
    std::fs::read_to_string(output).unwrap()
}

#[test]
fn xmlsec1_signatures_verify_in_brygga_and_fail_when_tampered() {
    if !have_tool("xmlsec1") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "root");
    let signer = ca.issue("sender");
    let enveloped = |c14n: &str| vec![method("Transform", ENVELOPED, None), method("Transform", c14n, None)];
    let sha512 = ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha512", "http://www.w3.org/2001/04/xmlenc#sha512");
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "enveloped-inclusive",
            body("Id", &template(&method("CanonicalizationMethod", C14N, None), RSA_SHA256, "", &enveloped(C14N), SHA256)),
            vec![],
        ),
        (
            "enveloped-exclusive",
            body("Id", &template(&method("CanonicalizationMethod", EXC_C14N, None), RSA_SHA256, "", &enveloped(EXC_C14N), SHA256)),
            vec![],
        ),
        (
            "enveloped-exclusive-prefixlist",
            body(
                "Id",
                &template(
                    &method("CanonicalizationMethod", EXC_C14N, Some("m #default")),
                    RSA_SHA256,
                    "",
                    &[method("Transform", ENVELOPED, None), method("Transform", EXC_C14N, Some("x #default"))],
                    SHA256,
                ),
            ),
            vec![],
        ),
        (
            "id-reference-Id",
            body(
                "Id",
                &template(
                    &method("CanonicalizationMethod", EXC_C14N, None),
                    RSA_SHA256,
                    "#payload-1",
                    &[method("Transform", EXC_C14N, None)],
                    SHA256,
                ),
            ),
            vec!["--id-attr:Id", "urn:example:message:Payload"],
        ),
        (
            "id-reference-ID-inclusive",
            body("ID", &template(&method("CanonicalizationMethod", C14N, None), RSA_SHA256, "#payload-1", &[method("Transform", C14N, None)], SHA256)),
            vec!["--id-attr:ID", "urn:example:message:Payload"],
        ),
        (
            "enveloped-rsa-sha512",
            body("Id", &template(&method("CanonicalizationMethod", C14N, None), sha512.0, "", &enveloped(C14N), sha512.1)),
            vec![],
        ),
    ];
    for (name, tpl, extra) in cases {
        let signed = xmlsec1_sign(dir.path(), name, &tpl, &signer.key_path, &[&signer.cert_path], &extra);
        assert!(!dsig_text(&signed, "SignatureValue").trim().is_empty(), "{name}: xmlsec1 left the template unsigned");
        let file = write(dir.path(), &format!("{name}.signed.xml"), &signed);
        let tampered = write(dir.path(), &format!("{name}.tampered.xml"), &tamper(&signed, ">100<", ">900<"));
        assert_brygga_refuses(&tampered, ["--cert", s(&signer.cert_path)], "does not match", name);
        if name.starts_with("id-reference") {
            // Only the Payload element is signed: refused unless the caller
            // says partial coverage is acceptable.
            assert_brygga_refuses(&file, ["--cert", s(&signer.cert_path)], "covers only #payload-1", name);
            assert_brygga_verifies_with(&file, &["--allow-partial", "--cert", s(&signer.cert_path)], "sender", name);
            assert_brygga_verifies_with(&file, &["--allow-partial", "--trust", s(&ca.identity.cert_path)], "sender", name);
            continue;
        }
        assert_brygga_verifies(&file, ["--cert", s(&signer.cert_path)], "sender", name);
        assert_brygga_verifies(&file, ["--trust", s(&ca.identity.cert_path)], "sender", name);
    }
}

#[test]
fn xmlsec1_signature_with_chain_in_key_info_verifies_against_the_root() {
    if !have_tool("xmlsec1") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "root");
    let (intermediate, chained) = chain_via_intermediate(&ca, dir.path());
    let tpl = body("Id", &template(&method("CanonicalizationMethod", C14N, None), RSA_SHA256, "", &[method("Transform", ENVELOPED, None)], SHA256));
    let signed = xmlsec1_sign(dir.path(), "chain", &tpl, &chained.key_path, &[&chained.cert_path, &intermediate.cert_path], &[]);
    assert_eq!(signed.matches("<dsig:X509Certificate>").count(), 2, "xmlsec1 put both certificates in KeyInfo");
    let file = write(dir.path(), "chain.signed.xml", &signed);
    assert_brygga_verifies(&file, ["--trust", s(&ca.identity.cert_path)], "chained", "chain in KeyInfo");
    let other = TestCa::new(dir.path(), "other");
    assert_brygga_refuses(&file, ["--trust", s(&other.identity.cert_path)], "does not chain to a trusted CA", "other root");
}

#[test]
fn xmlsec1_rsa_sha1_signature_is_refused() {
    // A genuine, valid RSA-SHA1 / SHA-1 signature: refused by algorithm.
    if !have_tool("xmlsec1") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "root");
    let signer = ca.issue("sender");
    let tpl = body(
        "Id",
        &template(
            &method("CanonicalizationMethod", C14N, None),
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            "",
            &[method("Transform", ENVELOPED, None)],
            "http://www.w3.org/2000/09/xmldsig#sha1",
        ),
    );
    let signed = xmlsec1_sign(dir.path(), "sha1", &tpl, &signer.key_path, &[&signer.cert_path], &[]);
    let file = write(dir.path(), "sha1.signed.xml", &signed);
    assert_exit(&xmlsec1(&["--verify", "--pubkey-cert-pem", s(&signer.cert_path), s(&file)]), 0, "xmlsec1 on its own SHA-1");
    assert_brygga_refuses(&file, ["--cert", s(&signer.cert_path)], "unsupported algorithm", "RSA-SHA1");
}

#[test]
fn xmlsec1_ecdsa_p256_signature_verifies_in_brygga() {
    if !have_tool("xmlsec1") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "root");
    // The key comes from OpenSSL when it is installed; the certificate for
    // it is issued by the test CA.
    let key_pem = if have_tool("openssl") {
        let out = Command::new("openssl")
            .args(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
            .output()
            .unwrap();
        assert_exit(&out, 0, "openssl genpkey");
        stdout(&out)
    } else {
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap().serialize_pem()
    };
    let key = KeyPair::from_pem(&key_pem).unwrap();
    assert!(key.is_compatible(&PKCS_ECDSA_P256_SHA256), "a P-256 key");
    let cert = params("ec-sender", false).signed_by(&key, &issuer_of(&ca)).unwrap();
    let ec = identity(dir.path(), "ec-sender", cert.pem(), key_pem);

    let tpl = body(
        "Id",
        &template(
            &method("CanonicalizationMethod", EXC_C14N, None),
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
            "",
            &[method("Transform", ENVELOPED, None), method("Transform", EXC_C14N, None)],
            SHA256,
        ),
    );
    let signed = xmlsec1_sign(dir.path(), "ecdsa", &tpl, &ec.key_path, &[&ec.cert_path], &[]);
    // XML-DSig's ECDSA value is r || s (RFC 4050 / XML-DSig 1.1), not DER:
    // 64 bytes for P-256, where DER would start with 0x30 and run 70-72.
    let value = base64_decode(&dsig_text(&signed, "SignatureValue")).unwrap();
    assert_eq!(value.len(), 64, "xmlsec1 emitted {} bytes: {value:02x?}", value.len());
    let file = write(dir.path(), "ecdsa.signed.xml", &signed);
    assert_brygga_verifies(&file, ["--cert", s(&ec.cert_path)], "ec-sender", "ECDSA P-256, pinned");
    assert_brygga_verifies(&file, ["--trust", s(&ca.identity.cert_path)], "ec-sender", "ECDSA P-256, CA");
    let tampered = write(dir.path(), "ecdsa.tampered.xml", &tamper(&signed, ">100<", ">900<"));
    assert_brygga_refuses(&tampered, ["--cert", s(&ec.cert_path)], "does not match", "ECDSA P-256, tampered");
}

#[test]
fn ecdsa_p384_certificate_is_not_taken_for_p256() {
    // FAILS today (bug report): Certificate::public_key() labels every
    // id-ecPublicKey certificate EcdsaP256 without reading the curve. The
    // visible effect: a valid xmlsec1 ecdsa-sha256 signature made with a
    // P-384 key (legal in XML-DSig 1.1) is reported by `brygga xml verify`
    // as "signature value does not verify" instead of an unsupported key.
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let der = params("p384", false).self_signed(&key).unwrap().der().to_vec();
    let cert = brygga::pki::Certificate::from_der(der).unwrap();
    let algorithm = cert.public_key().map(|(algorithm, _)| algorithm);
    assert_ne!(algorithm, Ok(brygga::pki::PublicKeyAlgorithm::EcdsaP256), "a P-384 key is labelled P-256");
}
