//! The `brygga` command line.
//!
//! Exit codes: 0 success, 1 a signature or trust check failed, 2 usage error
//! or unreadable input, 3 the input was rejected under SDK's rules (or, for
//! `send --wait`, the receiver rejected the message), 4 the node's API
//! refused the client (401, 403, a refused token request), 5 the API
//! answered with another error or could not be reached, or the message
//! could not be delivered, 6 `send --wait` timed out.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

mod api;
mod audit;
mod bench;
mod bench_large;
mod bench_network;
mod client;
mod demo;
mod envelope;
mod init;
mod serve;
mod smp;

use crate::limits::XmlLimits;
use crate::xml::{self, C14nMethod, Canonicalizer, NodeId};
use crate::pki::{Certificate, PrivateKey, TrustPolicy};
use crate::xmlsec::algorithm::DSIG_NS;
use crate::xmlsec::reference::IdRegistry;
use crate::xmlsec::{self as xmlsec, SigningOptions};

pub const EXIT_OK: i32 = 0;
pub const EXIT_VERIFY_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_REJECTED: i32 = 3;
pub const EXIT_REFUSED: i32 = 4;
pub const EXIT_API: i32 = 5;
pub const EXIT_WAIT_TIMEOUT: i32 = 6;

#[derive(Parser)]
#[command(name = "brygga", version, about = "Secure message gateway for SDK (Säker digital kommunikation)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// XML canonicalisation and signatures.
    #[command(subcommand)]
    Xml(XmlCommand),
    /// SDK envelopes (XHE): seal and open.
    #[command(subcommand)]
    Xhe(XheCommand),
    /// Validate an SDK message, an XHE envelope or a receipt against DIGG's rules.
    Validate(envelope::ValidateArgs),
    /// Measure seal/open throughput, C14N speed and memory.
    Bench(bench::BenchArgs),
    /// Run both pilots between three nodes on this machine (fresh keys, no setup).
    Demo(demo::DemoArgs),
    /// Check the audit log's hash chain, or export one person's entries.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Make a development node: PKI (shared CA directory) and configuration.
    Init(init::InitArgs),
    /// Publish or look up signed service metadata (SMP 1.0 with CertPub).
    Smp(smp::SmpArgs),
    /// Run a node: AS4 over mutual TLS, outbox, inbox, local API.
    Serve(serve::ServeArgs),
    /// DIGG's message API: client secrets.
    #[command(subcommand)]
    Api(api::ApiCommand),
    /// Send a message through a node's message API (operator client).
    Send(client::SendArgs),
    /// List the messages a client received, or show one and save its attachments.
    Inbox(client::InboxArgs),
    /// The status and events of one message.
    Status(client::StatusArgs),
}

#[derive(Subcommand)]
enum XheCommand {
    /// Wrap an SDK message in a signed (and by default encrypted) XHE; to stdout.
    Seal(envelope::SealArgs),
    /// Verify, decrypt and validate an XHE; the SDK message to stdout.
    Open(envelope::OpenArgs),
}

#[derive(Subcommand)]
enum XmlCommand {
    /// Canonical bytes of a document (or one element of it) to stdout.
    C14n(C14nArgs),
    /// Sign the whole document with an enveloped signature; signed XML to stdout.
    Sign(SignArgs),
    /// Verify the document's signature; the signer's subject to stdout.
    Verify(VerifyArgs),
}

#[derive(Args)]
struct SignArgs {
    /// Signing key, PEM (PKCS#8 or PKCS#1 RSA).
    #[arg(long, value_name = "KEY.pem")]
    key: PathBuf,
    /// Signer certificate, PEM; goes into KeyInfo/X509Data.
    #[arg(long, value_name = "CERT.pem")]
    cert: PathBuf,
    /// Exclusive C14N instead of Canonical XML 1.0.
    #[arg(long)]
    exclusive: bool,
    file: PathBuf,
}

/// Whose signatures to accept: one pinned certificate or a CA bundle.
#[derive(Args)]
#[group(required = true, multiple = false)]
struct TrustArgs {
    /// Accept exactly this signer certificate (PEM).
    #[arg(long, value_name = "CERT.pem")]
    cert: Option<PathBuf>,
    /// Accept signers with a valid chain to these CA certificates (PEM bundle).
    #[arg(long, value_name = "CA.pem")]
    trust: Option<PathBuf>,
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    trust: TrustArgs,
    /// Check certificate validity at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// Accept a signature that covers only parts of the document (`#id`
    /// references); the signed references are listed on stderr.
    #[arg(long)]
    allow_partial: bool,
    file: PathBuf,
}

#[derive(Args)]
struct C14nArgs {
    /// Exclusive XML Canonicalization 1.0 instead of Canonical XML 1.0.
    #[arg(long)]
    exclusive: bool,
    /// Keep comments.
    #[arg(long)]
    with_comments: bool,
    /// InclusiveNamespaces PrefixList for exclusive canonicalisation ("#default" for the default namespace).
    #[arg(long, value_name = "PREFIXES", requires = "exclusive")]
    inclusive_prefixes: Option<String>,
    /// Canonicalise only the element with this ID (Id, ID, id, wsu:Id or xml:id).
    #[arg(long, value_name = "ID")]
    subtree_id: Option<String>,
    file: PathBuf,
}

/// A command's failure: what to print and which exit code to use.
pub struct Failure {
    pub code: i32,
    pub lines: Vec<String>,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Self { code: EXIT_USAGE, lines: vec![message.into()] }
    }
}

type CmdResult = Result<(), Failure>;

/// Runs the command line; returns the process exit code.
pub fn run() -> i32 {
    // One crypto provider for every rustls user in the process (ring, as
    // everywhere else in Brygga); clients built without one would panic.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    let result = match cli.command {
        Command::Xml(XmlCommand::C14n(args)) => c14n(args),
        Command::Xml(XmlCommand::Sign(args)) => sign(args),
        Command::Xml(XmlCommand::Verify(args)) => verify(args),
        Command::Xhe(XheCommand::Seal(args)) => envelope::seal(args),
        Command::Xhe(XheCommand::Open(args)) => envelope::open(args),
        Command::Validate(args) => envelope::validate(args),
        Command::Bench(args) => bench::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Init(args) => init::run(args),
        Command::Smp(args) => smp::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Api(cmd) => api::run(cmd),
        Command::Send(args) => client::send(args),
        Command::Inbox(args) => client::inbox(args),
        Command::Status(args) => client::status(args),
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(failure) => {
            let mut stderr = std::io::stderr().lock();
            for line in failure.lines {
                let _ = writeln!(stderr, "{line}");
            }
            failure.code
        }
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))
}

fn parse_file(path: &Path) -> Result<xml::Document, Failure> {
    let bytes = read_file(path)?;
    xml::parse(&bytes, &XmlLimits::default()).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

fn write_stdout(bytes: &[u8]) -> CmdResult {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|_| out.flush()).map_err(|e| Failure::usage(format!("cannot write output: {e}")))
}

fn c14n(args: C14nArgs) -> CmdResult {
    let doc = parse_file(&args.file)?;
    let mut method = C14nMethod { exclusive: args.exclusive, with_comments: args.with_comments, ..Default::default() };
    if let Some(list) = &args.inclusive_prefixes {
        method = method.with_prefix_list(list);
    }
    let apex = match &args.subtree_id {
        None => NodeId::DOCUMENT,
        Some(id) => IdRegistry::build(&doc)
            .and_then(|r| r.get(id))
            .map_err(|e| Failure::usage(format!("{}: {e}", args.file.display())))?,
    };
    write_stdout(&Canonicalizer::new(&doc, &method).to_vec(apex))
}

fn load_key(path: &Path) -> Result<PrivateKey, Failure> {
    PrivateKey::from_pem_file(path).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

fn load_cert(path: &Path) -> Result<Certificate, Failure> {
    Certificate::from_pem_file(path).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

fn trust_policy(args: &TrustArgs) -> Result<TrustPolicy, Failure> {
    match (&args.cert, &args.trust) {
        (Some(cert), _) => Ok(TrustPolicy::Pinned(load_cert(cert)?)),
        (None, Some(bundle)) => Certificate::all_from_pem_file(bundle)
            .map(TrustPolicy::anchors)
            .map_err(|e| Failure::usage(format!("{}: {e}", bundle.display()))),
        (None, None) => Err(Failure::usage("give --cert or --trust")),
    }
}

/// `--at` as a Unix time; now when absent.
fn check_time(at: &Option<String>) -> Result<rustls_pki_types::UnixTime, Failure> {
    match at {
        None => Ok(rustls_pki_types::UnixTime::now()),
        Some(text) => {
            let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map_err(|e| Failure::usage(format!("--at {text}: not an RFC 3339 time: {e}")))?;
            let secs = u64::try_from(t.unix_timestamp()).map_err(|_| Failure::usage("--at is before 1970"))?;
            Ok(rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs)))
        }
    }
}

fn sign(args: SignArgs) -> CmdResult {
    let key = load_key(&args.key)?;
    let cert = load_cert(&args.cert)?;
    let mut doc = parse_file(&args.file)?;
    let options = SigningOptions {
        c14n: if args.exclusive { C14nMethod::EXCLUSIVE } else { C14nMethod::INCLUSIVE },
        ..SigningOptions::default()
    };
    xmlsec::sign_enveloped(&mut doc, &key, &cert, &options).map_err(|e| Failure::usage(e.to_string()))?;
    write_stdout(&xml::serialize(&doc, NodeId::DOCUMENT))
}

fn verify(args: VerifyArgs) -> CmdResult {
    let policy = trust_policy(&args.trust)?;
    let at = check_time(&args.at)?;
    let doc = parse_file(&args.file)?;
    let failed = |e: String| Failure { code: EXIT_VERIFY_FAILED, lines: vec![format!("signature verification failed: {e}")] };
    // One signature, wherever it is; more than one is ambiguous and refused.
    let signatures: Vec<NodeId> = doc
        .descendants(NodeId::DOCUMENT)
        .filter(|&n| doc.element(n).is_some_and(|e| e.is(DSIG_NS, "Signature")))
        .collect();
    let signature = match signatures.as_slice() {
        [one] => *one,
        [] => return Err(failed(xmlsec::VerifyError::NoSignature.to_string())),
        many => return Err(failed(xmlsec::VerifyError::MultipleSignatures(many.len()).to_string())),
    };
    let verified = xmlsec::verify_signature(&doc, signature, &policy, at).map_err(|e| failed(e.to_string()))?;
    if !verified.covers_whole_document() {
        let uris: Vec<&str> = verified.references().iter().map(|(u, _)| u.as_str()).collect();
        if !args.allow_partial {
            return Err(failed(format!(
                "the signature covers only {} and the rest of the document is unsigned (use --allow-partial to accept)",
                uris.join(", ")
            )));
        }
        eprintln!("signed parts: {}", uris.join(", "));
    }
    write_stdout(format!("{}\n", verified.signer().certificate().subject()).as_bytes())
}
