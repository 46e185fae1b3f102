//! `brygga xhe seal`, `brygga xhe open` and `brygga validate`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{
    check_time, load_cert, load_key, read_file, trust_policy, write_stdout, CmdResult, Failure, TrustArgs,
    EXIT_REJECTED,
};
use crate::limits::XmlLimits;
use crate::sdk::envelope::{self, OpenOptions, ReceiptDecision, SealOptions};
use crate::sdk::message_rules::{validate_message_with, SupportedContentTypes};
use crate::sdk::{receipt, xhe, Problem, Validation};
use crate::xml;
use crate::xmlsec::cipher::{BlockCipher, KeyTransport};
use crate::xmlsec::encrypt::EncryptionOptions;
use crate::xmlsec::SigningOptions;

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum CipherArg {
    #[value(name = "aes256-cbc")]
    Aes256Cbc,
    #[value(name = "aes128-gcm")]
    Aes128Gcm,
    #[value(name = "aes256-gcm")]
    Aes256Gcm,
}

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum KeyTransportArg {
    #[value(name = "rsa-oaep-mgf1p")]
    RsaOaepMgf1p,
    #[value(name = "rsa-oaep-sha256")]
    RsaOaepSha256,
}

#[derive(Args)]
pub(super) struct SealArgs {
    /// The SDK message (MessageWithAttachments 3) to seal.
    #[arg(long, value_name = "MSG.xml")]
    message: PathBuf,
    /// The sending organisation's signing key (PEM).
    #[arg(long, value_name = "KEY.pem")]
    sign_key: PathBuf,
    /// The sending organisation's signing certificate (PEM).
    #[arg(long, value_name = "CERT.pem")]
    sign_cert: PathBuf,
    /// The receiving organisation's encryption certificate (PEM).
    #[arg(long, value_name = "CERT.pem")]
    recipient_cert: PathBuf,
    /// Leave the payload in clear (receivers following SDK reject this).
    #[arg(long)]
    no_encrypt: bool,
    /// Payload cipher; DIGG's profile mandates aes256-cbc.
    #[arg(long, value_enum, default_value = "aes256-cbc")]
    cipher: CipherArg,
    /// Session key transport; DIGG's profile mandates rsa-oaep-mgf1p.
    #[arg(long, value_enum, default_value = "rsa-oaep-mgf1p")]
    key_transport: KeyTransportArg,
    /// FEDERATIONID business scope value.
    #[arg(long, default_value = xhe::FEDERATION_ID_SDK)]
    federation: String,
}

#[derive(Args)]
pub(super) struct OpenArgs {
    /// The receiving organisation's decryption key (PEM).
    #[arg(long, value_name = "KEY.pem")]
    decrypt_key: PathBuf,
    #[command(flatten)]
    trust: SenderTrustArgs,
    /// Check certificate validity at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// Write the signed receipt (an XHE holding the ApplicationResponse) here.
    #[arg(long, value_name = "FILE")]
    receipt_out: Option<PathBuf>,
    /// Key to sign the receipt with; defaults to --decrypt-key.
    #[arg(long, value_name = "KEY.pem")]
    receipt_key: Option<PathBuf>,
    /// Certificate for the receipt signature; defaults to the encryption
    /// certificate named in the envelope when it matches the decryption key.
    #[arg(long, value_name = "CERT.pem")]
    receipt_cert: Option<PathBuf>,
    /// Accept a payload in clear (SDK requires encryption; for tests only).
    #[arg(long)]
    allow_unencrypted: bool,
    /// FEDERATIONID this node serves.
    #[arg(long, default_value = xhe::FEDERATION_ID_SDK)]
    federation: String,
    file: PathBuf,
}

/// `xhe open` names the pinned option `--sender-cert`.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub(super) struct SenderTrustArgs {
    /// Accept exactly this sender signing certificate (PEM).
    #[arg(long, value_name = "CERT.pem")]
    sender_cert: Option<PathBuf>,
    /// Accept senders with a valid chain to these CA certificates (PEM bundle).
    #[arg(long, value_name = "CA.pem")]
    trust: Option<PathBuf>,
}

#[derive(Args)]
pub(super) struct ValidateArgs {
    /// An SDK message or an XHE envelope.
    file: PathBuf,
}

fn rejected(validation: &Validation) -> Failure {
    Failure { code: EXIT_REJECTED, lines: validation.problems.iter().map(Problem::to_string).collect() }
}

pub(super) fn seal(args: SealArgs) -> CmdResult {
    let message = read_file(&args.message)?;
    let sign_key = load_key(&args.sign_key)?;
    let sign_cert = load_cert(&args.sign_cert)?;
    let recipient = load_cert(&args.recipient_cert)?;
    let encryption = (!args.no_encrypt).then(|| EncryptionOptions {
        cipher: match args.cipher {
            CipherArg::Aes256Cbc => BlockCipher::Aes256Cbc,
            CipherArg::Aes128Gcm => BlockCipher::Aes128Gcm,
            CipherArg::Aes256Gcm => BlockCipher::Aes256Gcm,
        },
        key_transport: match args.key_transport {
            KeyTransportArg::RsaOaepMgf1p => KeyTransport::RsaOaepMgf1p,
            KeyTransportArg::RsaOaepSha256 => KeyTransport::RsaOaepSha256,
        },
    });
    let options = SealOptions { encryption, federation_id: args.federation, ..SealOptions::default() };
    match envelope::seal(&message, &sign_key, &sign_cert, &recipient, &options, time::OffsetDateTime::now_utc()) {
        Ok(sealed) => write_stdout(&sealed),
        Err(envelope::SealError::InvalidMessage(v)) => Err(rejected(&v)),
        Err(e) => Err(Failure::usage(e.to_string())),
    }
}

pub(super) fn open(args: OpenArgs) -> CmdResult {
    let decrypt_key = load_key(&args.decrypt_key)?;
    let trust = trust_policy(&TrustArgs { cert: args.trust.sender_cert.clone(), trust: args.trust.trust.clone() })?;
    let at = check_time(&args.at)?;
    let receipt_key = match &args.receipt_key {
        Some(path) => load_key(path)?,
        None => decrypt_key.clone(),
    };
    let receipt_cert = args.receipt_cert.as_deref().map(load_cert).transpose()?;
    let bytes = read_file(&args.file)?;

    let mut options = OpenOptions::new(&decrypt_key, &trust, at);
    options.require_encryption = !args.allow_unencrypted;
    options.federation_id = args.federation.clone();
    let now = time::OffsetDateTime::now_utc();
    let receipt_id = uuid::Uuid::new_v4().to_string();
    let outcome = envelope::open(bytes, &options);

    let write_receipt = |facts: &envelope::EnvelopeFacts, validation: &Validation| -> CmdResult {
        let Some(path) = &args.receipt_out else { return Ok(()) };
        let named = facts.named_recipient_certificate.clone().filter(|c| receipt_key.matches(c));
        let cert = receipt_cert.clone().or(named).ok_or_else(|| {
            Failure::usage("receipt not written: give --receipt-cert (the envelope names no certificate for our key)")
        })?;
        let receipt = envelope::receipt_for(facts, receipt_id.clone(), now, validation);
        let sealed = envelope::seal_receipt(&receipt, facts, &receipt_key, &cert, &SigningOptions::default(), now)
            .map_err(|e| Failure::usage(format!("receipt not written: {e}")))?;
        std::fs::write(path, sealed).map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))
    };

    match outcome {
        Ok(opened) => {
            write_receipt(&opened.facts, &Validation::default())?;
            let xml = opened.message_xml.to_vec(u64::MAX).map_err(|e| Failure::usage(format!("reading the message: {e}")))?;
            write_stdout(&xml)
        }
        Err(rejection) => {
            let mut failure = rejected(&rejection.validation);
            match (&rejection.facts, rejection.receipt) {
                (Some(facts), ReceiptDecision::Send) => {
                    if let Err(e) = write_receipt(facts, &rejection.validation) {
                        failure.lines.extend(e.lines);
                    }
                }
                _ if args.receipt_out.is_some() => failure.lines.push(
                    "no receipt written: DIGG's receipt specification sends none for this failure (log and escalate)"
                        .to_owned(),
                ),
                _ => {}
            }
            Err(failure)
        }
    }
}

/// Validates a message, an envelope (and its clear payload), or a receipt
/// without any keys: structure and rules only, no signature check.
pub(super) fn validate(args: ValidateArgs) -> CmdResult {
    let bytes = read_file(&args.file)?;
    let doc = xml::parse(&bytes, &XmlLimits::default()).map_err(|e| {
        rejected(&Validation { problems: vec![Problem::sv_structure("NA", format!("not well-formed XML: {e}"))] })
    })?;
    let root = doc.document_element().expect("parse guarantees a root");
    let element = doc.element(root).expect("root is an element");
    let policy = SupportedContentTypes::default();
    let validation = if element.is(xhe::XHE_NS, "XHE") {
        let mut v = xhe::validate_xhe(&doc);
        if let Ok(parsed) = xhe::parse_xhe(&doc) {
            if let Some(payload) = doc.child_elements(parsed.payload_content).next() {
                let payload_element = doc.element(payload).expect("child_elements yields elements");
                if payload_element.is(receipt::APPLICATION_RESPONSE_NS, "ApplicationResponse") {
                    v.extend(receipt::validate_receipt_at(&doc, payload));
                } else if !payload_element.is(crate::xmlsec::encrypt::XENC_NS, "EncryptedData") {
                    v.extend(validate_message_with(&doc, payload, &policy));
                }
            }
        }
        v
    } else if element.is(receipt::APPLICATION_RESPONSE_NS, "ApplicationResponse") {
        receipt::validate_receipt(&doc)
    } else {
        validate_message_with(&doc, root, &policy)
    };
    if validation.is_accepted() {
        write_stdout(b"ACCEPTED\n")
    } else {
        Err(rejected(&validation))
    }
}
