//! `brygga smp serve`, `brygga smp lookup` and `brygga smp sml-name`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use time::OffsetDateTime;

use super::{
    check_time, load_cert, load_key, write_stdout, CmdResult, Failure, EXIT_REJECTED, EXIT_USAGE, EXIT_VERIFY_FAILED,
};
use crate::directory::server::{tls_server_config, ServeError};
use crate::directory::{
    load_participants, serve, serve_tls, sml_naptr_name, smp_http_client, DirectoryError, DocumentTypeId,
    ParticipantId, SmpClient,
};
use crate::pki::Certificate;

/// The SMP: publish metadata, look it up, name a participant for the SML.
#[derive(Args)]
pub struct SmpArgs {
    #[command(subcommand)]
    command: SmpCommand,
}

#[derive(Subcommand)]
enum SmpCommand {
    /// Publish signed service metadata for the participants of a TOML file
    /// at GET /{participant}/services/{document type}. Stops on Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Look up a participant's metadata in an SMP, verify it and print it.
    /// Exit codes: 0 found, 1 signature or identity refused, 2 unreachable,
    /// malformed or usage, 3 not listed or no usable endpoint.
    Lookup(LookupArgs),
    /// Print the DNS name under which the SML lists a participant (BDXL NAPTR).
    SmlName(SmlNameArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// The participants to publish (TOML; see `src/directory/server.rs`).
    #[arg(long, value_name = "FILE")]
    participants: PathBuf,
    /// Address to listen on, e.g. 0.0.0.0:443 or 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    listen: String,
    /// The SMP's signing key (PEM).
    #[arg(long, value_name = "KEY.pem")]
    key: PathBuf,
    /// The SMP's signing certificate (PEM); clients pin it.
    #[arg(long, value_name = "CERT.pem")]
    cert: PathBuf,
    /// Serve HTTPS with this key (PEM); plain HTTP without it.
    #[arg(long, value_name = "KEY.pem", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The TLS certificate chain (PEM), server certificate first.
    #[arg(long, value_name = "CERT.pem", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
}

#[derive(Args)]
struct LookupArgs {
    /// The SMP's base URL.
    #[arg(long, value_name = "URL")]
    smp: String,
    /// The SMP's signing certificate (PEM); metadata signed by any other is refused.
    #[arg(long, value_name = "CERT.pem")]
    smp_cert: PathBuf,
    /// CA certificates (PEM bundle) trusted for the SMP's TLS certificate.
    #[arg(long, value_name = "CA.pem")]
    tls_ca: Option<PathBuf>,
    /// The participant, `0203:example.se` or `iso6523-actorid-upis::0203:example.se`.
    #[arg(long, value_name = "ID")]
    participant: String,
    /// The document type identifier (default: SDK Meddelande v3, Utökad Bas).
    #[arg(long, value_name = "ID")]
    document_type: Option<String>,
    /// Check signatures and activation at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 20)]
    timeout: u64,
}

#[derive(Args)]
struct SmlNameArgs {
    /// The SML's DNS zone, e.g. edelivery.tech.ec.europa.eu.
    #[arg(long, value_name = "ZONE")]
    zone: String,
    /// The participant, `0203:example.se`.
    participant: String,
}

pub(super) fn run(args: SmpArgs) -> CmdResult {
    match args.command {
        SmpCommand::Serve(args) => run_serve(args),
        SmpCommand::Lookup(args) => run_lookup(args),
        SmpCommand::SmlName(args) => run_sml_name(args),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("cannot start the async runtime: {e}")))
}

fn participant_arg(text: &str) -> Result<ParticipantId, Failure> {
    let parsed = if text.contains("::") { ParticipantId::from_qualified(text) } else { ParticipantId::new(text) };
    parsed.map_err(|e| Failure::usage(format!("--participant {text}: {e}")))
}

/// Resolves on Ctrl-C, and on SIGTERM where there is one (containers).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn run_serve(args: ServeArgs) -> CmdResult {
    let key = load_key(&args.key)?;
    let cert = load_cert(&args.cert)?;
    let participants = load_participants(&args.participants).map_err(|e| Failure::usage(e.to_string()))?;
    let tls = match (&args.tls_key, &args.tls_cert) {
        (Some(tls_key), Some(tls_cert)) => {
            let chain = Certificate::all_from_pem_file(tls_cert)
                .map_err(|e| Failure::usage(format!("{}: {e}", tls_cert.display())))?;
            Some(tls_server_config(&chain, &load_key(tls_key)?).map_err(|e| Failure::usage(e.to_string()))?)
        }
        _ => None,
    };
    let served = |e: ServeError| Failure::usage(format!("SMP: {e}"));
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| Failure::usage(format!("cannot listen on {}: {e}", args.listen)))?;
        let address = listener.local_addr().map_err(|e| Failure::usage(e.to_string()))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        eprintln!("SMP: publishing {} participant(s) on {scheme}://{address}/", participants.len());
        match tls {
            Some(tls) => serve_tls(listener, participants, key, cert, tls, shutdown_signal()).await.map_err(served),
            None => serve(listener, participants, key, cert, shutdown_signal()).await.map_err(served),
        }
    })
}

fn run_lookup(args: LookupArgs) -> CmdResult {
    let smp_cert = load_cert(&args.smp_cert)?;
    let roots = match &args.tls_ca {
        Some(path) => {
            Certificate::all_from_pem_file(path).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?
        }
        None => Vec::new(),
    };
    let participant = participant_arg(&args.participant)?;
    let document_type = match &args.document_type {
        Some(text) if text.contains("::") => DocumentTypeId::from_qualified(text),
        Some(text) => DocumentTypeId::new(text),
        None => Ok(DocumentTypeId::sdk_message_v3()),
    }
    .map_err(|e| Failure::usage(format!("--document-type: {e}")))?;
    let at = check_time(&args.at)?;
    let now = OffsetDateTime::from_unix_timestamp(i64::try_from(at.as_secs()).unwrap_or(i64::MAX))
        .map_err(|e| Failure::usage(format!("--at: {e}")))?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let failed = |e: DirectoryError| {
        let code = match e {
            DirectoryError::NotFound { .. } | DirectoryError::NoUsableEndpoint(_) => EXIT_REJECTED,
            DirectoryError::BadSignature(_)
            | DirectoryError::WrongParticipant { .. }
            | DirectoryError::WrongDocumentType { .. } => EXIT_VERIFY_FAILED,
            _ => EXIT_USAGE,
        };
        Failure { code, lines: vec![e.to_string()] }
    };
    let http = smp_http_client(&roots, timeout).map_err(failed)?;
    let client = SmpClient::new(&args.smp, smp_cert, http).map_err(failed)?.with_timeout(timeout);
    let metadata = runtime()?.block_on(client.lookup(&participant, &document_type, now)).map_err(failed)?;

    let date = |t: Option<OffsetDateTime>| t.map_or_else(|| "-".to_owned(), |t| t.to_string());
    let mut out = String::new();
    let mut line = |k: &str, v: &str| out.push_str(&format!("{k:<17}{v}\n"));
    line("participant", metadata.participant.value());
    line("document type", metadata.document_type.value());
    line("process", &format!("{} ({})", metadata.process.value, metadata.process.scheme));
    line("endpoint", &metadata.endpoint.url);
    line("transport", &metadata.endpoint.transport_profile);
    line("access point", &metadata.endpoint.access_point_certificate.subject());
    line("active from", &date(metadata.endpoint.service_activation));
    line("active until", &date(metadata.endpoint.service_expiration));
    for c in &metadata.certpub.signing {
        line("signing cert", &c.subject());
    }
    for c in &metadata.certpub.encryption {
        line("encryption cert", &c.subject());
    }
    write_stdout(out.as_bytes())
}

fn run_sml_name(args: SmlNameArgs) -> CmdResult {
    let participant = participant_arg(&args.participant)?;
    write_stdout(format!("{}\n", sml_naptr_name(&participant, &args.zone)).as_bytes())
}
