//! XML Encryption at the library level: round trips through Brygga, and
//! interoperability with xmlsec1 (1.2.x, OpenSSL back end) in both
//! directions. xmlsec1 1.2 has no `xmlenc11#rsa-oaep`, so the SHA-256 key
//! transport is checked against `openssl pkeyutl` instead.

mod support;

use std::path::Path;
use std::process::Command;

use aws_lc_rs::cipher::{EncryptingKey, EncryptionContext, UnboundCipherKey, AES_256};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{
    OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1,
};
use brygga::limits::XmlLimits;
use brygga::spool::Spool;
use brygga::pki::{Certificate, PrivateKey};
use brygga::xml::{canonicalize, parse, parse_str, serialize, C14nMethod, Document, NodeId, NodeKind};
use brygga::xmlsec::cipher::{BlockCipher, KeyTransport, DSIG_NS, TYPE_CONTENT, TYPE_ELEMENT, XENC11_NS, XENC_NS};
use brygga::xmlsec::decrypt::{
    decrypt_encrypted_data, recipient_certificate, replace_with_plaintext, DecryptError, EncryptedType,
};
use brygga::xmlsec::encrypt::{encrypt_content, encrypt_element, EncryptionOptions};
use brygga::xmlsec::{base64_decode, base64_encode};

const MESSAGE_NS: &str = "urn:riv:infrastructure:messaging:MessageWithAttachments:3";
const XHE_AGG_NS: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/AggregateComponents";

/// An XHE-like envelope around an SDK-like message. The message relies on
/// prefixes declared on the envelope (`tns`, the default namespace) so the
/// tests show the encrypted element stands alone.
const ENVELOPE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<x:XHE xmlns:x="http://docs.oasis-open.org/bdxr/ns/XHE/1/ExchangeHeaderEnvelope" xmlns="http://docs.oasis-open.org/bdxr/ns/XHE/1/BasicComponents" xmlns:xha="http://docs.oasis-open.org/bdxr/ns/XHE/1/AggregateComponents" xmlns:tns="urn:riv:infrastructure:messaging:MessageWithAttachments:3">
  <XHEVersionID>1.0</XHEVersionID>
  <CustomizationID>urn:fdc:digg.se:edelivery:xhe:1</CustomizationID>
  <xha:Payloads>
    <xha:Payload>
      <ContentTypeCode>application/xml</ContentTypeCode>
      <InstanceEncryptionIndicator>true</InstanceEncryptionIndicator>
      <xha:PayloadContent>
        <tns:messagePayload xml:lang="sv">
          <tns:message>
            <tns:header>
              <tns:messageId>ff325210-0690-42fe-b86f-95ecab821223</tns:messageId>
              <tns:label>Kallelse till möte &amp; &lt;rubrik&gt; — åäö</tns:label>
              <!-- a comment inside the payload -->
              <tns:sender kind="org" note="a&quot;b">0203:myndighetA.se</tns:sender>
              <LocalNote>in the envelope's default namespace</LocalNote>
            </tns:header>
            <tns:body>
              <tns:contentFile><tns:fileName>a.pdf</tns:fileName><tns:content>JVBERi0xLjQKJcOkw7zDtsOfCg==</tns:content></tns:contentFile>
            </tns:body>
          </tns:message>
        </tns:messagePayload>
      </xha:PayloadContent>
    </xha:Payload>
  </xha:Payloads>
</x:XHE>
"#;

/// A recipient: its certificate and key, as files (for xmlsec1) and loaded.
struct Recipient {
    _dir: tempfile::TempDir,
    ca_path: std::path::PathBuf,
    cert_path: std::path::PathBuf,
    key_path: std::path::PathBuf,
    cert: Certificate,
    key: PrivateKey,
    other_key: PrivateKey,
}

fn recipient() -> Recipient {
    let dir = tempfile::tempdir().unwrap();
    let ca = support::TestCa::new(dir.path(), "root");
    let identity = ca.issue("recipient");
    let stranger = ca.issue("stranger");
    Recipient {
        ca_path: ca.identity.cert_path.clone(),
        cert_path: identity.cert_path.clone(),
        key_path: identity.key_path.clone(),
        cert: Certificate::from_pem_file(&identity.cert_path).unwrap(),
        key: PrivateKey::from_pem(identity.key_pem.as_bytes()).unwrap(),
        other_key: PrivateKey::from_pem(stranger.key_pem.as_bytes()).unwrap(),
        _dir: dir,
    }
}

fn find(doc: &Document, ns: &str, local: &str) -> NodeId {
    try_find(doc, ns, local).unwrap_or_else(|| panic!("no {{{ns}}}{local} in document"))
}

fn try_find(doc: &Document, ns: &str, local: &str) -> Option<NodeId> {
    doc.descendants(NodeId::DOCUMENT).find(|&id| doc.element(id).is_some_and(|e| e.is(ns, local)))
}

fn c14n(doc: &Document, node: NodeId) -> String {
    String::from_utf8(canonicalize(doc, node, &C14nMethod::INCLUSIVE)).unwrap()
}

fn options(cipher: BlockCipher, key_transport: KeyTransport) -> EncryptionOptions {
    EncryptionOptions { cipher, key_transport }
}

/// Encrypts the message in [`ENVELOPE`]; returns the document and the
/// canonical form of the message and of the whole document beforehand.
fn encrypted_envelope(r: &Recipient, options: &EncryptionOptions) -> (Document, String, String) {
    let mut doc = parse_str(ENVELOPE).unwrap();
    let message = find(&doc, MESSAGE_NS, "messagePayload");
    let expected_message = c14n(&doc, message);
    let expected_document = c14n(&doc, NodeId::DOCUMENT);
    let encrypted = encrypt_element(&mut doc, message, &r.cert, options, &Spool::temporary()).unwrap();
    assert_eq!(doc.element(encrypted).unwrap().attribute("Type"), Some(TYPE_ELEMENT));
    assert!(try_find(&doc, MESSAGE_NS, "messagePayload").is_none(), "plaintext left in the tree");
    (doc, expected_message, expected_document)
}

/// Decrypts every EncryptedData in `doc` with Brygga and puts the
/// plaintext back.
fn open_all(doc: &mut Document, key: &PrivateKey) -> Result<(), DecryptError> {
    while let Some(encrypted) = try_find(doc, XENC_NS, "EncryptedData") {
        let decrypted = decrypt_encrypted_data(doc, encrypted, key, &Spool::temporary())?;
        assert_eq!(decrypted.kind, EncryptedType::Element);
        replace_with_plaintext(doc, encrypted, decrypted, &XmlLimits::default(), &Spool::temporary())?;
    }
    Ok(())
}

fn run(command: &mut Command) -> std::process::Output {
    let output = command.output().expect("run external tool");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn xmlsec1_decrypt(r: &Recipient, dir: &Path, document: &[u8]) -> Document {
    let input = dir.join("encrypted.xml");
    let output = dir.join("decrypted.xml");
    std::fs::write(&input, document).unwrap();
    run(Command::new("xmlsec1")
        .arg("--decrypt")
        .arg("--privkey-pem")
        .arg(&r.key_path)
        .arg("--trusted-pem")
        .arg(&r.ca_path)
        .arg("--output")
        .arg(&output)
        .arg(&input));
    parse(&std::fs::read(&output).unwrap(), &XmlLimits::default()).unwrap()
}

fn text_child(doc: &Document, id: NodeId) -> NodeId {
    *doc.children(id).iter().find(|&&c| matches!(doc.kind(c), NodeKind::Text(_))).expect("text child")
}

fn set_text(doc: &mut Document, id: NodeId, text: String) {
    doc.clear_children(id);
    doc.append(id, NodeKind::Text(text));
}

/// The `CipherValue` of the `EncryptedKey`, and of the payload.
fn cipher_values(doc: &Document) -> (NodeId, NodeId) {
    let encrypted_key = find(doc, XENC_NS, "EncryptedKey");
    let key_value =
        doc.descendants(encrypted_key).find(|&id| doc.element(id).is_some_and(|e| e.is(XENC_NS, "CipherValue")));
    let encrypted_data = find(doc, XENC_NS, "EncryptedData");
    let cipher_data = doc.child_named(encrypted_data, XENC_NS, "CipherData").unwrap();
    (key_value.unwrap(), doc.child_named(cipher_data, XENC_NS, "CipherValue").unwrap())
}

/// Unwraps the session key of an rsa-oaep-mgf1p `EncryptedKey` at test level.
fn unwrap_session_key(doc: &Document, key: &PrivateKey) -> Vec<u8> {
    let (key_value, _) = cipher_values(doc);
    let wrapped = base64_decode(&doc.text_content(key_value)).unwrap();
    let rsa = OaepPrivateDecryptingKey::new(PrivateDecryptingKey::from_pkcs8(key.pkcs8_der()).unwrap()).unwrap();
    let mut out = vec![0u8; rsa.min_output_size()];
    rsa.decrypt(&OAEP_SHA1_MGF1SHA1, &wrapped, &mut out, None).unwrap().to_vec()
}

/// AES-256-CBC with XML-Enc padding whose filler bytes are random (as .NET
/// writes them): only the last byte is the padding length.
fn cbc_with_random_padding(session_key: &[u8], plaintext: &[u8], pad: usize) -> Vec<u8> {
    assert!((1..=16).contains(&pad) && (plaintext.len() + pad) % 16 == 0);
    let mut filler = vec![0u8; pad - 1];
    aws_lc_rs::rand::fill(&mut filler).unwrap();
    // Make sure the filler cannot pass as PKCS#7 by accident.
    if let Some(first) = filler.first_mut() {
        if usize::from(*first) == pad {
            *first ^= 0x55;
        }
    }
    let mut iv = [0u8; 16];
    aws_lc_rs::rand::fill(&mut iv).unwrap();
    let mut buffer = plaintext.to_vec();
    buffer.extend_from_slice(&filler);
    buffer.push(pad as u8);
    let key = EncryptingKey::cbc(UnboundCipherKey::new(&AES_256, session_key).unwrap()).unwrap();
    key.less_safe_encrypt(&mut buffer, EncryptionContext::Iv128(FixedLength::from(iv))).unwrap();
    let mut out = iv.to_vec();
    out.extend_from_slice(&buffer);
    out
}

// ---------------------------------------------------------------------------
// Brygga alone

#[test]
fn element_round_trips_with_every_algorithm_pair() {
    let r = recipient();
    for cipher in BlockCipher::ALL {
        for transport in [KeyTransport::RsaOaepMgf1p, KeyTransport::RsaOaepSha256] {
            let (mut doc, _, expected_document) = encrypted_envelope(&r, &options(cipher, transport));
            // Through bytes, as a peer would receive it.
            let mut received = parse(&serialize(&doc, NodeId::DOCUMENT), &XmlLimits::default()).unwrap();
            open_all(&mut received, &r.key).unwrap_or_else(|e| panic!("{cipher:?}/{transport:?}: {e}"));
            assert_eq!(c14n(&received, NodeId::DOCUMENT), expected_document, "{cipher:?}/{transport:?}");
            open_all(&mut doc, &r.key).unwrap();
            assert_eq!(c14n(&doc, NodeId::DOCUMENT), expected_document);
        }
    }
}

#[test]
fn structure_follows_diggs_envelope_profile() {
    let r = recipient();
    let (doc, _, _) = encrypted_envelope(&r, &EncryptionOptions::default());
    let ed = find(&doc, XENC_NS, "EncryptedData");
    let payload_content = doc.parent(ed).unwrap();
    assert!(doc.element(payload_content).unwrap().is(XHE_AGG_NS, "PayloadContent"));
    let names: Vec<String> = doc.child_elements(ed).map(|c| doc.element(c).unwrap().qname()).collect();
    assert_eq!(names, ["xenc:EncryptionMethod", "ds:KeyInfo", "xenc:CipherData"]);
    let method = doc.child_named(ed, XENC_NS, "EncryptionMethod").unwrap();
    assert_eq!(
        doc.element(method).unwrap().attribute("Algorithm"),
        Some("http://www.w3.org/2001/04/xmlenc#aes256-cbc")
    );
    let key_info = doc.child_named(ed, DSIG_NS, "KeyInfo").unwrap();
    let ek = doc.child_named(key_info, XENC_NS, "EncryptedKey").unwrap();
    let names: Vec<String> = doc.child_elements(ek).map(|c| doc.element(c).unwrap().qname()).collect();
    assert_eq!(names, ["xenc:EncryptionMethod", "ds:KeyInfo", "xenc:CipherData"]);
    let key_method = doc.child_named(ek, XENC_NS, "EncryptionMethod").unwrap();
    assert_eq!(
        doc.element(key_method).unwrap().attribute("Algorithm"),
        Some("http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p")
    );
    let certificate = find(&doc, DSIG_NS, "X509Certificate");
    assert_eq!(doc.text_content(certificate), r.cert.to_base64());
    assert_eq!(recipient_certificate(&doc, ed), Some(r.cert.clone()));
    let (key_value, payload_value) = cipher_values(&doc);
    for value in [key_value, payload_value] {
        assert!(!doc.text_content(value).contains(['\n', '\r', ' ']), "base64 must be unwrapped");
    }

    let (doc, _, _) = encrypted_envelope(&r, &options(BlockCipher::Aes256Gcm, KeyTransport::RsaOaepSha256));
    let digest = find(&doc, DSIG_NS, "DigestMethod");
    assert_eq!(doc.element(digest).unwrap().attribute("Algorithm"), Some("http://www.w3.org/2001/04/xmlenc#sha256"));
    let mgf = find(&doc, XENC11_NS, "MGF");
    assert_eq!(doc.element(mgf).unwrap().attribute("Algorithm"), Some("http://www.w3.org/2009/xmlenc11#mgf1sha256"));
}

#[test]
fn ten_megabyte_binary_content_round_trips() {
    let r = recipient();
    let mut blob = vec![0u8; 10 * 1024 * 1024];
    aws_lc_rs::rand::fill(&mut blob).unwrap();
    for cipher in [BlockCipher::Aes256Cbc, BlockCipher::Aes256Gcm] {
        let mut doc = parse_str(ENVELOPE).unwrap();
        let payload_content = find(&doc, XHE_AGG_NS, "PayloadContent");
        let opts = options(cipher, KeyTransport::RsaOaepMgf1p);
        let ed = encrypt_content(&mut doc, payload_content, &blob, Some("application/pdf"), &r.cert, &opts).unwrap();
        assert_eq!(doc.children(payload_content), [ed]);
        assert_eq!(doc.element(ed).unwrap().attribute("Type"), Some(TYPE_CONTENT));
        assert_eq!(doc.element(ed).unwrap().attribute("MimeType"), Some("application/pdf"));

        let mut received = parse(&serialize(&doc, NodeId::DOCUMENT), &XmlLimits::default()).unwrap();
        drop(doc);
        let ed = find(&received, XENC_NS, "EncryptedData");
        let decrypted = decrypt_encrypted_data(&mut received, ed, &r.key, &Spool::temporary()).unwrap();
        assert_eq!(decrypted.kind, EncryptedType::Content);
        assert_eq!(decrypted.mime_type.as_deref(), Some("application/pdf"));
        assert!(decrypted.plaintext.to_vec(u64::MAX).unwrap() == blob, "{cipher:?}: blob differs");
        assert_eq!(
            replace_with_plaintext(&mut received, ed, decrypted, &XmlLimits::default(), &Spool::temporary()),
            Err(DecryptError::NotAnElement)
        );
    }
}

#[test]
fn cbc_padding_with_random_filler_bytes_decrypts() {
    let r = recipient();
    for (len, pad) in [(21usize, 11usize), (29, 3), (30, 2)] {
        let plaintext: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        let mut doc = parse_str(ENVELOPE).unwrap();
        let payload_content = find(&doc, XHE_AGG_NS, "PayloadContent");
        encrypt_content(&mut doc, payload_content, b"placeholder", None, &r.cert, &EncryptionOptions::default())
            .unwrap();
        let session_key = unwrap_session_key(&doc, &r.key);
        let (_, payload_value) = cipher_values(&doc);
        set_text(&mut doc, payload_value, base64_encode(&cbc_with_random_padding(&session_key, &plaintext, pad)));
        let ed = find(&doc, XENC_NS, "EncryptedData");
        let decrypted = decrypt_encrypted_data(&mut doc, ed, &r.key, &Spool::temporary()).unwrap();
        assert_eq!(decrypted.plaintext.to_vec(u64::MAX).unwrap(), plaintext, "pad {pad}");
    }
    // A whole block of padding: 16 bytes, 15 of them random.
    let block_plaintext = [b'x'; 16];
    let mut doc = parse_str(ENVELOPE).unwrap();
    let payload_content = find(&doc, XHE_AGG_NS, "PayloadContent");
    encrypt_content(&mut doc, payload_content, b"placeholder", None, &r.cert, &EncryptionOptions::default()).unwrap();
    let session_key = unwrap_session_key(&doc, &r.key);
    let (_, payload_value) = cipher_values(&doc);
    set_text(&mut doc, payload_value, base64_encode(&cbc_with_random_padding(&session_key, &block_plaintext, 16)));
    let ed = find(&doc, XENC_NS, "EncryptedData");
    assert_eq!(decrypt_encrypted_data(&mut doc, ed, &r.key, &Spool::temporary()).unwrap().plaintext.to_vec(u64::MAX).unwrap(), block_plaintext);
}

/// Every tampering of the cryptography gives the same error and text.
#[test]
fn tampering_yields_one_vague_error() {
    let r = recipient();
    let vague = DecryptError::CannotDecrypt.to_string();
    let mut cases: Vec<(String, Result<(), DecryptError>)> = Vec::new();

    for (cipher, name) in [(BlockCipher::Aes256Cbc, "cbc"), (BlockCipher::Aes256Gcm, "gcm")] {
        let opts = options(cipher, KeyTransport::RsaOaepMgf1p);
        let (doc, _, _) = encrypted_envelope(&r, &opts);

        let mut wrong_key = doc.clone();
        cases.push((format!("{name}: wrong private key"), open_all(&mut wrong_key, &r.other_key)));

        // Flip a bit of the ciphertext. For CBC, the last byte of the
        // second-to-last block flips the padding-length byte.
        let mut flipped = doc.clone();
        let (_, payload_value) = cipher_values(&flipped);
        let text = text_child(&flipped, payload_value);
        let mut bytes = base64_decode(&flipped.text_content(text)).unwrap();
        let at = if cipher == BlockCipher::Aes256Cbc { bytes.len() - 17 } else { bytes.len() / 2 };
        bytes[at] ^= 0x80;
        set_text(&mut flipped, payload_value, base64_encode(&bytes));
        cases.push((format!("{name}: flipped ciphertext"), open_all(&mut flipped, &r.key)));

        if cipher == BlockCipher::Aes256Cbc {
            // Flipping an IV bit garbles the plaintext's first byte but keeps
            // the padding valid: the parse failure must look the same.
            let mut garbled = doc.clone();
            let (_, payload_value) = cipher_values(&garbled);
            let mut bytes = base64_decode(&garbled.text_content(payload_value)).unwrap();
            bytes[0] ^= 0x01;
            set_text(&mut garbled, payload_value, base64_encode(&bytes));
            cases.push((format!("{name}: garbled plaintext, valid padding"), open_all(&mut garbled, &r.key)));
        }

        let mut flipped_key = doc.clone();
        let (key_value, _) = cipher_values(&flipped_key);
        let mut wrapped = base64_decode(&flipped_key.text_content(key_value)).unwrap();
        wrapped[100] ^= 0x01;
        set_text(&mut flipped_key, key_value, base64_encode(&wrapped));
        cases.push((format!("{name}: flipped wrapped key"), open_all(&mut flipped_key, &r.key)));

        let mut short_key = doc.clone();
        let (key_value, _) = cipher_values(&short_key);
        let wrapped = base64_decode(&short_key.text_content(key_value)).unwrap();
        set_text(&mut short_key, key_value, base64_encode(&wrapped[..wrapped.len() - 1]));
        cases.push((format!("{name}: truncated wrapped key"), open_all(&mut short_key, &r.key)));

        // A validly wrapped key of the wrong length (AES-128 size for AES-256).
        let mut wrong_length = doc.clone();
        let (key_value, _) = cipher_values(&wrong_length);
        let public = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&r.cert.spki_der()).unwrap()).unwrap();
        let mut rewrapped = vec![0u8; public.ciphertext_size()];
        let len = public.encrypt(&OAEP_SHA1_MGF1SHA1, &[7u8; 16], &mut rewrapped, None).unwrap().len();
        set_text(&mut wrong_length, key_value, base64_encode(&rewrapped[..len]));
        cases.push((format!("{name}: wrong session key length"), open_all(&mut wrong_length, &r.key)));
    }

    for (name, result) in cases {
        let err = result.expect_err(&name);
        assert_eq!(err, DecryptError::CannotDecrypt, "{name}");
        assert_eq!(err.to_string(), vague, "{name}");
    }
    for word in ["padding", "tag", "oaep", "key", "length"] {
        assert!(!vague.to_lowercase().contains(word), "error text names a step: {vague}");
    }
}

// ---------------------------------------------------------------------------
// Brygga → xmlsec1

#[test]
fn xmlsec1_decrypts_what_brygga_encrypts() {
    if !support::have_tool("xmlsec1") {
        return;
    }
    let r = recipient();
    let dir = tempfile::tempdir().unwrap();
    // xmlsec1 1.2 has no xmlenc11#rsa-oaep (MGF1-SHA256): GCM is checked
    // with rsa-oaep-mgf1p in this direction.
    for cipher in BlockCipher::ALL {
        let (doc, expected_message, expected_document) =
            encrypted_envelope(&r, &options(cipher, KeyTransport::RsaOaepMgf1p));
        let opened = xmlsec1_decrypt(&r, dir.path(), &serialize(&doc, NodeId::DOCUMENT));
        let message = find(&opened, MESSAGE_NS, "messagePayload");
        assert_eq!(c14n(&opened, message), expected_message, "{cipher:?}");
        assert_eq!(c14n(&opened, NodeId::DOCUMENT), expected_document, "{cipher:?}");
    }
}

#[test]
fn xmlsec1_decrypts_random_padding_brygga_accepts() {
    if !support::have_tool("xmlsec1") {
        return;
    }
    // Cross-check that the hand-made random padding is valid XML-Enc.
    let r = recipient();
    let dir = tempfile::tempdir().unwrap();
    let (mut doc, expected_message, _) = encrypted_envelope(&r, &EncryptionOptions::default());
    let original = parse_str(ENVELOPE).unwrap();
    let plaintext = serialize(&original, find(&original, MESSAGE_NS, "messagePayload"));
    let pad = 16 - plaintext.len() % 16;
    let session_key = unwrap_session_key(&doc, &r.key);
    let (_, payload_value) = cipher_values(&doc);
    set_text(&mut doc, payload_value, base64_encode(&cbc_with_random_padding(&session_key, &plaintext, pad)));
    let opened = xmlsec1_decrypt(&r, dir.path(), &serialize(&doc, NodeId::DOCUMENT));
    assert_eq!(c14n(&opened, find(&opened, MESSAGE_NS, "messagePayload")), expected_message);
    open_all(&mut doc, &r.key).unwrap();
    assert_eq!(c14n(&doc, find(&doc, MESSAGE_NS, "messagePayload")), expected_message);
}

/// xmlsec1 1.2 cannot do `xmlenc11#rsa-oaep`; OpenSSL's pkeyutl unwraps the
/// SHA-256/MGF1-SHA256 key and `openssl enc` decrypts the CBC payload.
#[test]
fn openssl_opens_rsa_oaep_sha256_from_brygga() {
    if !support::have_tool("openssl") {
        return;
    }
    let r = recipient();
    let dir = tempfile::tempdir().unwrap();
    let mut doc = parse_str(ENVELOPE).unwrap();
    let payload_content = find(&doc, XHE_AGG_NS, "PayloadContent");
    let payload = "Hej! Ett meddelande som inte är XML.\n".repeat(50);
    let opts = options(BlockCipher::Aes256Cbc, KeyTransport::RsaOaepSha256);
    encrypt_content(&mut doc, payload_content, payload.as_bytes(), Some("text/plain"), &r.cert, &opts).unwrap();
    let (key_value, payload_value) = cipher_values(&doc);

    let wrapped_path = dir.path().join("wrapped.bin");
    let session_key_path = dir.path().join("session.key");
    std::fs::write(&wrapped_path, base64_decode(&doc.text_content(key_value)).unwrap()).unwrap();
    run(Command::new("openssl")
        .args(["pkeyutl", "-decrypt", "-inkey"])
        .arg(&r.key_path)
        .args(["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"])
        .arg("-in")
        .arg(&wrapped_path)
        .arg("-out")
        .arg(&session_key_path));
    let session_key = std::fs::read(&session_key_path).unwrap();
    assert_eq!(session_key.len(), 32);

    let data = base64_decode(&doc.text_content(payload_value)).unwrap();
    let (iv, body) = data.split_at(16);
    let body_path = dir.path().join("body.bin");
    std::fs::write(&body_path, body).unwrap();
    let out = run(Command::new("openssl")
        .args(["enc", "-d", "-aes-256-cbc", "-nopad", "-K"])
        .arg(hex(&session_key))
        .arg("-iv")
        .arg(hex(iv))
        .arg("-in")
        .arg(&body_path));
    let padded = out.stdout;
    let pad = usize::from(*padded.last().unwrap());
    assert_eq!(&padded[..padded.len() - pad], payload.as_bytes());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------
// xmlsec1 → Brygga

/// An EncryptedData template in DIGG's layout for xmlsec1 to fill.
fn template(cipher_uri: &str, type_uri: &str) -> String {
    format!(
        r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Type="{type_uri}"><xenc:EncryptionMethod Algorithm="{cipher_uri}"/><ds:KeyInfo><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"><ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/></xenc:EncryptionMethod><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>"#
    )
}

#[test]
fn brygga_decrypts_what_xmlsec1_encrypts() {
    if !support::have_tool("xmlsec1") {
        return;
    }
    let r = recipient();
    let dir = tempfile::tempdir().unwrap();
    let data_path = dir.path().join("data.xml");
    std::fs::write(&data_path, ENVELOPE).unwrap();
    let original = parse_str(ENVELOPE).unwrap();
    let expected_document = c14n(&original, NodeId::DOCUMENT);

    for (cipher, session_key) in [
        (BlockCipher::Aes256Cbc, "aes-256"),
        (BlockCipher::Aes256Gcm, "aes-256"),
        (BlockCipher::Aes128Gcm, "aes-128"),
        (BlockCipher::Aes128Cbc, "aes-128"),
    ] {
        let template_path = dir.path().join("template.xml");
        let output_path = dir.path().join("encrypted.xml");
        std::fs::write(&template_path, template(cipher.uri(), TYPE_ELEMENT)).unwrap();
        run(Command::new("xmlsec1")
            .arg("--encrypt")
            .arg("--pubkey-cert-pem")
            .arg(&r.cert_path)
            .args(["--session-key", session_key, "--xml-data"])
            .arg(&data_path)
            .args(["--node-name", &format!("{MESSAGE_NS}:messagePayload"), "--output"])
            .arg(&output_path)
            .arg(&template_path));
        let mut doc = parse(&std::fs::read(&output_path).unwrap(), &XmlLimits::default()).unwrap();
        assert!(try_find(&doc, MESSAGE_NS, "messagePayload").is_none(), "xmlsec1 did not encrypt");
        let ed = find(&doc, XENC_NS, "EncryptedData");
        assert_eq!(recipient_certificate(&doc, ed), Some(r.cert.clone()));
        open_all(&mut doc, &r.key).unwrap_or_else(|e| panic!("{cipher:?}: {e}"));
        assert_eq!(c14n(&doc, NodeId::DOCUMENT), expected_document, "{cipher:?}");
    }
}

#[test]
fn brygga_decrypts_binary_content_xmlsec1_encrypts() {
    if !support::have_tool("xmlsec1") {
        return;
    }
    let r = recipient();
    let dir = tempfile::tempdir().unwrap();
    let mut blob = vec![0u8; 100_000];
    aws_lc_rs::rand::fill(&mut blob).unwrap();
    let blob_path = dir.path().join("blob.bin");
    std::fs::write(&blob_path, &blob).unwrap();
    for (cipher, session_key) in [(BlockCipher::Aes256Cbc, "aes-256"), (BlockCipher::Aes256Gcm, "aes-256")] {
        let template_path = dir.path().join("template.xml");
        let output_path = dir.path().join("encrypted.xml");
        std::fs::write(&template_path, template(cipher.uri(), TYPE_CONTENT)).unwrap();
        run(Command::new("xmlsec1")
            .arg("--encrypt")
            .arg("--pubkey-cert-pem")
            .arg(&r.cert_path)
            .args(["--session-key", session_key, "--binary-data"])
            .arg(&blob_path)
            .arg("--output")
            .arg(&output_path)
            .arg(&template_path));
        let mut doc = parse(&std::fs::read(&output_path).unwrap(), &XmlLimits::default()).unwrap();
        let ed = find(&doc, XENC_NS, "EncryptedData");
        let decrypted = decrypt_encrypted_data(&mut doc, ed, &r.key, &Spool::temporary()).unwrap_or_else(|e| panic!("{cipher:?}: {e}"));
        assert_eq!(decrypted.kind, EncryptedType::Content);
        assert!(decrypted.plaintext.to_vec(u64::MAX).unwrap() == blob, "{cipher:?}: blob differs");
    }
}
