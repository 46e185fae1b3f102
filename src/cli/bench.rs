//! `brygga bench`: seal and open throughput, C14N speed, peak memory of
//! opening a 30 MB message, and a comparison with xmlsec1.
//!
//! Numbers are measured on this machine each run, never asserted: the
//! targets (open of a 30 MB message in at most 3× its size; 10 kB open
//! faster than `xmlsec1 --verify` plus `xmlsec1 --decrypt`) are printed
//! beside the measurements with a verdict.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use super::{CmdResult, Failure};
use crate::limits::XmlLimits;
use crate::pki::dev::{DevCa, DevIdentity};
use crate::pki::{Certificate, PrivateKey, TrustPolicy};
use crate::sdk::envelope::{self, OpenOptions, SealOptions};
use crate::xml::{self, C14nMethod, Canonicalizer, NodeId};
use crate::xmlsec::algorithm::DigestAlgorithm;

#[derive(Args)]
pub(super) struct BenchArgs {
    #[command(subcommand)]
    only: Option<BenchCommand>,
    /// Skip the 30 MB case (for a quick run).
    #[arg(long)]
    quick: bool,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Opens one sealed file and prints this process's peak RSS in bytes
    /// (used by the benchmark to measure memory in a clean process).
    #[command(hide = true)]
    OpenOnce { key: PathBuf, sender_cert: PathBuf, file: PathBuf },
    /// End-to-end throughput and latency of two nodes on loopback, and peak
    /// RSS per node (two node processes) for one 100 MB message.
    Network(super::bench_network::NetworkBenchArgs),
}

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::usage(format!("bench: {e}"))
}

pub(super) fn run(args: BenchArgs) -> CmdResult {
    match args.only {
        Some(BenchCommand::OpenOnce { key, sender_cert, file }) => return open_once(&key, &sender_cert, &file),
        Some(BenchCommand::Network(a)) => return super::bench_network::run(a),
        None => {}
    }
    let dir = std::env::temp_dir().join(format!("brygga-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(fail)?;
    let result = run_all(&dir, args.quick);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

struct Parties {
    sender: DevIdentity,
    recipient: DevIdentity,
}

fn run_all(dir: &Path, quick: bool) -> CmdResult {
    let ca = DevCa::new("Brygga bench", "Bench CA").map_err(fail)?;
    let parties = Parties {
        sender: ca.issue("Region Stockholm", "bup.bench", "bup.bench").map_err(fail)?,
        recipient: ca.issue("Stockholms stad", "soc.bench", "soc.bench").map_err(fail)?,
    };
    println!("Brygga benchmark (release build recommended: cargo run --release -- bench)\n");
    println!("{:>8}  {:>10} {:>10}  {:>10} {:>10}", "message", "seal ms", "seal MB/s", "open ms", "open MB/s");
    let sizes: &[(usize, u32)] = if quick { &[(10_000, 100), (1_000_000, 10)] } else { &[(10_000, 200), (1_000_000, 20), (30_000_000, 3)] };
    let mut sealed_10k = None;
    let mut sealed_30m = None;
    for &(size, rounds) in sizes {
        let message = bench_message(size);
        let (sealed, seal_time) = time_rounds(rounds, || seal(&message, &parties))?;
        let (_, open_time) = time_rounds(rounds, || open(sealed.clone(), &parties))?;
        let mb = message.len() as f64 / 1e6;
        println!(
            "{:>8}  {:>10.2} {:>10.1}  {:>10.2} {:>10.1}",
            human(size),
            ms(seal_time),
            mb / seal_time.as_secs_f64(),
            ms(open_time),
            mb / open_time.as_secs_f64()
        );
        match size {
            10_000 => sealed_10k = Some(sealed),
            30_000_000 => sealed_30m = Some((sealed, message.len())),
            _ => {}
        }
    }

    let (probe, probe_size) = match &sealed_30m {
        Some((sealed, _)) => (sealed.clone(), "30 MB"),
        None => (seal(&bench_message(1_000_000), &parties)?, "1 MB"),
    };
    c14n_speed(&probe, probe_size)?;

    let key_path = write(dir, "recipient.key", parties.recipient.key_pem.as_bytes())?;
    let cert_path = write(dir, "recipient.pem", parties.recipient.cert_pem.as_bytes())?;
    let sender_path = write(dir, "sender.pem", parties.sender.cert_pem.as_bytes())?;
    if let Some((sealed, message_len)) = &sealed_30m {
        let file = write(dir, "sealed-30mb.xml", sealed)?;
        let peak = measure_open_peak(&key_path, &sender_path, &file)?;
        let ratio = peak as f64 / *message_len as f64;
        println!(
            "\npeak RSS opening a {} message: {:.1} MB = {:.2}× the message (target ≤ 3×: {})",
            human(*message_len),
            peak as f64 / 1e6,
            ratio,
            verdict(ratio <= 3.0)
        );
    }
    if let Some(sealed) = &sealed_10k {
        let file = write(dir, "sealed-10kb.xml", sealed)?;
        compare_with_xmlsec1(&file, &key_path, &cert_path, &sender_path, &parties)?;
    }
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, Failure> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(fail)?;
    Ok(path)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn human(size: usize) -> String {
    if size >= 1_000_000 {
        format!("{} MB", size / 1_000_000)
    } else {
        format!("{} kB", size / 1_000)
    }
}

/// Runs `f` `rounds` times; returns its last result and the mean duration.
fn time_rounds<T>(rounds: u32, mut f: impl FnMut() -> Result<T, Failure>) -> Result<(T, Duration), Failure> {
    let start = Instant::now();
    let mut last = f()?;
    for _ in 1..rounds {
        last = f()?;
    }
    Ok((last, start.elapsed() / rounds))
}

fn seal(message: &[u8], parties: &Parties) -> Result<Vec<u8>, Failure> {
    envelope::seal(
        message,
        &parties.sender.key,
        &parties.sender.certificate,
        &parties.recipient.certificate,
        &SealOptions::default(),
        time::OffsetDateTime::now_utc(),
    )
    .map_err(fail)
}

fn open(sealed: Vec<u8>, parties: &Parties) -> Result<(), Failure> {
    let trust = TrustPolicy::Pinned(parties.sender.certificate.clone());
    let options = OpenOptions::new(&parties.recipient.key, &trust, rustls_pki_types::UnixTime::now());
    envelope::open(sealed, &options).map(|_| ()).map_err(|r| fail(format!("{:?}", r.validation.problems)))
}

/// An SDK message of about `size` bytes: a text and a PDF-typed attachment.
pub fn bench_message(size: usize) -> Vec<u8> {
    let id = uuid::Uuid::new_v4();
    let attachment_len = size.saturating_sub(2_000) / 4 * 3;
    let attachment: Vec<u8> = (0..attachment_len).map(|i| (i * 7 + i / 251) as u8).collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<ns2:messagePayload xmlns:ns2="urn:riv:infrastructure:messaging:MessageWithAttachments:3"><ns2:message><ns2:messageHeader><ns2:creationDateTime>2026-11-25T10:00:00.000Z</ns2:creationDateTime><ns2:messageId>{id}</ns2:messageId><ns2:conversationId>{id}</ns2:conversationId><ns2:label>Benchmark</ns2:label><ns2:confidentiality>true</ns2:confidentiality><ns2:recipient><ns2:recipientID><ns2:root>iso6523-actorid-upis</ns2:root><ns2:extension>0203:socialtjansten.stockholm.se</ns2:extension></ns2:recipientID><ns2:attention><ns2:subOrganization><ns2:organizationId><ns2:root>urn:riv:infrastructure:messaging:functionalAddress</ns2:root><ns2:extension>soc.intake</ns2:extension></ns2:organizationId></ns2:subOrganization></ns2:attention></ns2:recipient><ns2:sender><ns2:senderID><ns2:root>iso6523-actorid-upis</ns2:root><ns2:extension>0203:bup.regionstockholm.se</ns2:extension></ns2:senderID><ns2:attention><ns2:subOrganization><ns2:organizationId><ns2:root>urn:riv:infrastructure:messaging:functionalAddress</ns2:root><ns2:extension>bup.reports</ns2:extension></ns2:organizationId></ns2:subOrganization></ns2:attention></ns2:sender></ns2:messageHeader><ns2:messageBody><ns2:documents><ns2:documentID>SDK-Meddelande</ns2:documentID><ns2:ContentFiles><ns2:fileName>bench.pdf</ns2:fileName><ns2:contentType>application/pdf</ns2:contentType><ns2:content>{}</ns2:content></ns2:ContentFiles><ns2:ContentText><ns2:characterSequence>Benchmark message.</ns2:characterSequence></ns2:ContentText></ns2:documents></ns2:messageBody></ns2:message></ns2:messagePayload>"#,
        crate::xmlsec::base64_encode(&attachment)
    )
    .into_bytes()
}

fn c14n_speed(sealed: &[u8], label: &str) -> CmdResult {
    let limits = XmlLimits::default();
    let start = Instant::now();
    let doc = xml::parse(sealed, &limits).map_err(fail)?;
    let parse_time = start.elapsed();
    for (name, method) in [("inclusive", C14nMethod::INCLUSIVE), ("exclusive", C14nMethod::EXCLUSIVE)] {
        let start = Instant::now();
        let mut hasher = DigestAlgorithm::Sha256.hasher();
        Canonicalizer::new(&doc, &method).write_to(NodeId::DOCUMENT, &mut hasher).map_err(fail)?;
        let t = start.elapsed();
        println!(
            "C14N ({name}, into SHA-256) of the sealed {label} envelope: {:.0} MB/s",
            sealed.len() as f64 / 1e6 / t.as_secs_f64()
        );
    }
    println!("XML parse of the same: {:.0} MB/s", sealed.len() as f64 / 1e6 / parse_time.as_secs_f64());
    Ok(())
}

fn open_once(key: &Path, sender_cert: &Path, file: &Path) -> CmdResult {
    let key = PrivateKey::from_pem_file(key).map_err(fail)?;
    let trust = TrustPolicy::Pinned(Certificate::from_pem_file(sender_cert).map_err(fail)?);
    let bytes = std::fs::read(file).map_err(fail)?;
    let options = OpenOptions::new(&key, &trust, rustls_pki_types::UnixTime::now());
    let opened = envelope::open(bytes, &options).map_err(|r| fail(format!("{:?}", r.validation.problems)))?;
    drop(opened);
    println!("{}", peak_rss_bytes().ok_or_else(|| fail("no /proc/self/status"))?);
    Ok(())
}

/// `VmHWM` (peak resident set) of this process, from Linux's /proc.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn measure_open_peak(key: &Path, sender: &Path, file: &Path) -> Result<u64, Failure> {
    let exe = std::env::current_exe().map_err(fail)?;
    let out = Command::new(exe)
        .args(["bench", "open-once"])
        .args([key, sender, file])
        .output()
        .map_err(fail)?;
    if !out.status.success() {
        return Err(fail(format!("open-once failed: {}", String::from_utf8_lossy(&out.stderr))));
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().map_err(fail)
}

/// Process against process: `brygga xhe open` versus `xmlsec1 --verify`
/// followed by `xmlsec1 --decrypt`, on the same 10 kB envelope.
fn compare_with_xmlsec1(file: &Path, key: &Path, cert: &Path, sender: &Path, parties: &Parties) -> CmdResult {
    let rounds = 30;
    let sealed = std::fs::read(file).map_err(fail)?;
    let (_, library) = time_rounds(200, || open(sealed.clone(), parties))?;
    println!("\nopen of a 10 kB message in-process: {:.3} ms", ms(library));
    if Command::new("xmlsec1").arg("--version").output().is_err() {
        println!("xmlsec1 not installed: comparison skipped (apt-get install -y xmlsec1)");
        return Ok(());
    }
    let exe = std::env::current_exe().map_err(fail)?;
    let (_, ours) = time_rounds(rounds, || {
        run_ok(Command::new(&exe).arg("xhe").arg("open").arg("--decrypt-key").arg(key).arg("--sender-cert").arg(sender).arg(file))
    })?;
    let (_, theirs) = time_rounds(rounds, || {
        run_ok(Command::new("xmlsec1").arg("--verify").arg("--pubkey-cert-pem").arg(sender).arg(file))?;
        run_ok(Command::new("xmlsec1").arg("--decrypt").arg("--privkey-pem").arg(format!("{},{}", key.display(), cert.display())).arg(file))
    })?;
    println!(
        "open of a 10 kB message as a process: brygga {:.2} ms, xmlsec1 --verify + --decrypt {:.2} ms (target: faster: {})",
        ms(ours),
        ms(theirs),
        verdict(ours < theirs)
    );
    Ok(())
}

fn run_ok(cmd: &mut Command) -> Result<(), Failure> {
    let out = cmd.output().map_err(fail)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(fail(format!("{:?} failed: {}", cmd.get_program(), String::from_utf8_lossy(&out.stderr))))
    }
}
