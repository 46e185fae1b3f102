//! `brygga bench network`: end-to-end throughput and latency of two nodes
//! in this process, over AS4 with mutual TLS on loopback.
//!
//! A [`DevNetwork`] of two organisations (fresh keys, an SMP, a node each)
//! runs in a temporary directory. For 10 kB and 1 MB messages, N messages
//! are submitted through the node's submit path (what `POST
//! /local/v1/messages` calls) with at most `--in-flight` of them between
//! submission and ACCEPTED at a time. A message counts as done when its
//! business receipt has been correlated (ACCEPTED); its latency runs from
//! the start of its submission to the moment the receipt was recorded.
//!
//! Both nodes share this process and its cores, so every message costs the
//! CPU of both ends: seal, AS4 sign/encrypt, TLS, verify/decrypt, open,
//! the receipt's seal and AS4 exchange back, and each node's disk writes.
//! Numbers are printed, never asserted; the target is printed beside them
//! with a verdict.
//!
//! Then one 100 MB message (the XHE) between two `brygga serve` processes,
//! for the peak RSS of each node (see [`super::bench_large`]); `--skip-large`
//! leaves it out, `--size 100m` runs only that.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use super::{CmdResult, Failure};
use crate::node::devnet::{DevNetwork, DevOrg};
use crate::node::metrics::Counter;
use crate::node::outbox::{OutboxEntry, OutboxState};
use crate::node::runtime::Shared;
use crate::sdk::message::{ContentFile, OrgAddress, SdkMessage};

/// Messages per second the 10 kB case should reach (2-core machine).
const TARGET_PER_SECOND_10KB: f64 = 150.0;
const DEFAULT_10KB: usize = 300;
const SMALL_LABEL: &str = "10 kB";
const DEFAULT_1MB: usize = 40;
/// How long one message may take before the run is called failed.
const MESSAGE_DEADLINE: Duration = Duration::from_secs(120);
/// How often a waiting message looks at its outbox entry. Latency comes
/// from the stored receipt time, so this only delays the next submission.
const POLL: Duration = Duration::from_millis(5);

/// Peak RSS per node for one 100 MB message, relative to the XHE.
const TARGET_RSS_PER_XHE: f64 = 1.5;

pub(super) const SENDER: &str = "0203:bup.regionstockholm.se";
pub(super) const SENDER_ADDRESS: &str = "bup.reports";
pub(super) const RECIPIENT: &str = "0203:socialtjansten.stockholm.se";
pub(super) const RECIPIENT_ADDRESS: &str = "soc.intake";

/// End-to-end throughput and latency between two nodes on loopback, and
/// peak RSS per node (separate processes) for one 100 MB message.
#[derive(Args)]
pub(super) struct NetworkBenchArgs {
    /// Messages per size (default: 300 of 10 kB, 40 of 1 MB).
    #[arg(long, value_name = "N")]
    messages: Option<usize>,
    /// Messages between submission and ACCEPTED at once.
    #[arg(long, value_name = "N", default_value_t = 32)]
    in_flight: usize,
    /// Only this size (default: all). 100m is one message between two
    /// node processes, for each node's peak RSS.
    #[arg(long, value_enum)]
    size: Option<Size>,
    /// Leave out the 100 MB message between two node processes.
    #[arg(long)]
    skip_large: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Size {
    #[value(name = "10k")]
    Small,
    #[value(name = "1m")]
    Large,
    #[value(name = "100m")]
    Huge,
}

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::usage(format!("bench network: {e}"))
}

pub(super) fn run(args: NetworkBenchArgs) -> CmdResult {
    if args.messages == Some(0) || args.in_flight == 0 {
        return Err(Failure::usage("bench network: --messages and --in-flight must be at least 1"));
    }
    let dir = std::env::temp_dir().join(format!("brygga-bench-network-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(fail)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start the runtime: {e}")))?;
    let result = runtime.block_on(run_network(&dir, &args));
    drop(runtime);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// What one size measured.
struct SizeResult {
    label: &'static str,
    count: usize,
    message_bytes: usize,
    wall: Duration,
    /// Submission start → ACCEPTED.
    latencies: Vec<Duration>,
    /// The submit call alone (validate, seal, store, audit).
    submits: Vec<Duration>,
    /// Stored → last send attempt started (waiting for the outbox worker).
    queued: Vec<Duration>,
    /// Last attempt started → business receipt recorded.
    exchanges: Vec<Duration>,
    cpu: Duration,
    attempts: u64,
    failures: u64,
}

async fn run_network(dir: &Path, args: &NetworkBenchArgs) -> CmdResult {
    if args.size != Some(Size::Huge) {
        run_in_process(dir, args).await?;
    }
    if !args.skip_large && args.size.is_none_or(|s| s == Size::Huge) {
        run_large(&dir.join("large")).await?;
    }
    Ok(())
}

async fn run_large(dir: &Path) -> CmdResult {
    println!(
        "\n100 MB message between two `brygga serve` processes (limits.max_sdk_message_bytes raised above 30 MB for this run)"
    );
    std::fs::create_dir_all(dir).map_err(fail)?;
    let r = super::bench_large::measure(dir).await?;
    let mb = |b: u64| b as f64 / 1e6;
    println!(
        "SDK message {:.1} MB, sealed XHE {:.1} MB ({:.1} MiB); submit {:.2} s, submission to ACCEPTED {:.2} s, read from the inbox {:.2} s",
        mb(r.message_bytes),
        mb(r.xhe_bytes),
        r.xhe_bytes as f64 / (1024.0 * 1024.0),
        r.submit.as_secs_f64(),
        r.delivery.as_secs_f64(),
        r.read_back.as_secs_f64()
    );
    for n in &r.nodes {
        let ratio = n.peak as f64 / r.xhe_bytes.max(1) as f64;
        println!(
            "peak RSS of the {:<8} node: {:>6.1} MB = {ratio:.2} × XHE ({:.1} MB when started) (target ≤ {TARGET_RSS_PER_XHE} × XHE: {})",
            n.role,
            mb(n.peak),
            mb(n.started),
            verdict(n.peak > 0 && ratio <= TARGET_RSS_PER_XHE)
        );
    }
    Ok(())
}

async fn run_in_process(dir: &Path, args: &NetworkBenchArgs) -> CmdResult {
    println!("Brygga network benchmark: two nodes in this process, AS4 over mutual TLS on loopback");
    println!("(release build recommended: cargo run --release -- bench network)\n");
    let orgs = [
        DevOrg::new("Region Stockholm BUP", SENDER, SENDER_ADDRESS),
        DevOrg::new("Stockholms stad socialtjänst", RECIPIENT, RECIPIENT_ADDRESS),
    ];
    let started = Instant::now();
    let net = DevNetwork::start(dir, &orgs).await.map_err(fail)?;
    println!("network up in {:.2} s (keys for 3 CAs and 2 organisations, SMP, 2 nodes)", started.elapsed().as_secs_f64());
    println!("data in {} (set TMPDIR to measure another disk)", dir.display());
    println!("fdatasync of a 300-byte append there: {}\n", fsync_probe(dir));

    let sender = net.node(SENDER).state.clone();
    let sizes = [
        (Size::Small, SMALL_LABEL, 10_000, args.messages.unwrap_or(DEFAULT_10KB)),
        (Size::Large, "1 MB", 1_000_000, args.messages.unwrap_or(DEFAULT_1MB)),
    ];
    // One message first, so SMP lookups are cached and connections warm.
    measure(&sender, "warm-up", 10_000, 1, 1).await?;
    let mut results = Vec::new();
    for (which, label, size, count) in sizes {
        if args.size.is_some_and(|only| only != which) {
            continue;
        }
        results.push(measure(&sender, label, size, count, args.in_flight).await?);
    }
    let peak = super::bench_large::peak_rss_of("self");
    net.stop().await.map_err(fail)?;

    println!(
        "{:>6} {:>5} {:>8} {:>9} {:>8} {:>8} {:>9}   {:>8} {:>8} {:>9}  {:>7}",
        "size", "n", "msg/s", "MB/s", "p50 ms", "p99 ms", "max ms", "submit", "queued", "exchange", "CPU"
    );
    for r in &results {
        let per_second = r.count as f64 / r.wall.as_secs_f64();
        println!(
            "{:>6} {:>5} {:>8.1} {:>9.1} {:>8.1} {:>8.1} {:>9.1}   {:>8.1} {:>8.1} {:>9.1}  {:>6.0}%",
            r.label,
            r.count,
            per_second,
            per_second * r.message_bytes as f64 / 1e6,
            ms(percentile(&r.latencies, 0.50)),
            ms(percentile(&r.latencies, 0.99)),
            ms(percentile(&r.latencies, 1.0)),
            ms(percentile(&r.submits, 0.50)),
            ms(percentile(&r.queued, 0.50)),
            ms(percentile(&r.exchanges, 0.50)),
            100.0 * r.cpu.as_secs_f64() / (r.wall.as_secs_f64() * cores() as f64),
        );
    }
    println!("(submit, queued, exchange: medians in ms; CPU: of all {} cores over the run)", cores());
    for r in &results {
        if r.failures > 0 {
            println!("{}: {} send attempts, {} failed and were retried", r.label, r.attempts, r.failures);
        }
        println!(
            "{}: {:.2} ms CPU per message (both nodes), {} messages in flight",
            r.label,
            ms(r.cpu) / r.count as f64,
            args.in_flight
        );
    }
    if let Some(peak) = peak {
        println!("\npeak RSS of this process (both nodes): {:.1} MB", peak as f64 / 1e6);
    }
    if let Some(small) = results.iter().find(|r| r.label == SMALL_LABEL) {
        let per_second = small.count as f64 / small.wall.as_secs_f64();
        println!(
            "10 kB throughput: {per_second:.1} messages/s, submission to ACCEPTED (target ≥ {TARGET_PER_SECOND_10KB:.0}: {})",
            verdict(per_second >= TARGET_PER_SECOND_10KB)
        );
    }
    Ok(())
}

/// Submits `count` messages of about `size` bytes, at most `in_flight`
/// unfinished at a time, and waits for every one to be ACCEPTED.
async fn measure(sender: &Shared, label: &'static str, size: usize, count: usize, in_flight: usize) -> Result<SizeResult, Failure> {
    // One message built and checked; the others are copies under fresh
    // messageIds, made as they go so the client holds little memory and
    // spends little CPU.
    let template = message(size)?;
    let template_id = template.message_id().to_owned();
    let template = String::from_utf8(template.to_xml()).map_err(fail)?;
    let message_bytes = template.len();
    let messages = (0..count).map(|_| {
        let id = uuid::Uuid::new_v4().to_string();
        let xml = template.replace(&template_id, &id).into_bytes();
        (id, xml)
    });
    let attempts_before = sender.metrics.get(Counter::SendAttempts);
    let failures_before = sender.metrics.get(Counter::SendFailures);
    let cpu_before = process_cpu();
    let permits = Arc::new(Semaphore::new(in_flight));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for (id, xml) in messages {
        let permit = permits.clone().acquire_owned().await.map_err(fail)?;
        let sender = sender.clone();
        tasks.push(tokio::spawn(async move {
            let result = one_message(&sender, &id, xml).await;
            drop(permit);
            result
        }));
    }
    let mut timings = Vec::with_capacity(count);
    for task in tasks {
        timings.push(task.await.map_err(fail)??);
    }
    let wall = start.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before);
    let pick = |f: fn(&Timing) -> Duration| -> Vec<Duration> { timings.iter().map(f).collect() };
    Ok(SizeResult {
        label,
        count,
        message_bytes,
        wall,
        latencies: pick(|t| t.latency),
        submits: pick(|t| t.submit),
        queued: pick(|t| t.queued),
        exchanges: pick(|t| t.exchange),
        cpu,
        attempts: sender.metrics.get(Counter::SendAttempts) - attempts_before,
        failures: sender.metrics.get(Counter::SendFailures) - failures_before,
    })
}

struct Timing {
    latency: Duration,
    submit: Duration,
    queued: Duration,
    exchange: Duration,
}

/// Submits one message and waits for its business receipt.
async fn one_message(sender: &Shared, id: &str, xml: Vec<u8>) -> Result<Timing, Failure> {
    let began = OffsetDateTime::now_utc();
    let clock = Instant::now();
    sender.submit("bench", xml).await.map_err(|e| fail(format!("submission of {id} refused: {e}")))?;
    let submit = clock.elapsed();
    let entry = loop {
        let entry = sender.store.outbox_entry(id).map_err(fail)?.ok_or_else(|| fail(format!("{id} not in the outbox")))?;
        match entry.state() {
            OutboxState::Accepted => break entry,
            s if s.is_final() => {
                return Err(fail(format!("{id} ended {} ({})", s.as_str(), entry.last_error().unwrap_or("no error recorded"))))
            }
            _ if clock.elapsed() > MESSAGE_DEADLINE => {
                return Err(fail(format!("{id} still {} after {MESSAGE_DEADLINE:?}", entry.state().as_str())))
            }
            _ => tokio::time::sleep(POLL).await,
        }
    };
    Ok(timings(&entry, began, submit))
}

fn timings(entry: &OutboxEntry, began: OffsetDateTime, submit: Duration) -> Timing {
    let span = |from: OffsetDateTime, to: OffsetDateTime| Duration::try_from(to - from).unwrap_or_default();
    let done = entry.receipt().map_or(entry.updated_at(), |r| r.received_at);
    let stored = began + submit;
    let attempt = entry.last_attempt_at().unwrap_or(stored);
    Timing { latency: span(began, done), submit, queued: span(stored, attempt), exchange: span(attempt, done) }
}

/// An SDK message of about `size` bytes: a text and a PDF-typed attachment.
pub(super) fn message(size: usize) -> Result<SdkMessage, Failure> {
    let attachment_len = size.saturating_sub(2_000) / 4 * 3;
    let attachment: Vec<u8> = (0..attachment_len).map(|i| (i * 7 + i / 251) as u8).collect();
    SdkMessage::builder(
        OffsetDateTime::now_utc(),
        OrgAddress::new(SENDER, SENDER_ADDRESS),
        OrgAddress::new(RECIPIENT, RECIPIENT_ADDRESS),
    )
    .label("Benchmark")
    .text("Benchmark message.")
    .attachment(ContentFile::new("bench.pdf", "application/pdf", attachment))
    .build()
    .map_err(|v| fail(format!("benchmark message invalid: {:?}", v.problems)))
}

/// `p` in [0, 1] of `values` (nearest rank).
fn percentile(values: &[Duration], p: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// User + system CPU time of this process so far, from Linux's /proc
/// (clock ticks of 1/100 s); zero elsewhere.
fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return Duration::ZERO };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return Duration::ZERO };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// The median time of appending a line and `fdatasync`, what the audit log
/// does per entry: the floor under every acknowledged step.
fn fsync_probe(dir: &Path) -> String {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let probe = || -> std::io::Result<Duration> {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        let line = [b'x'; 300];
        let mut times = Vec::new();
        for _ in 0..50 {
            let start = Instant::now();
            file.write_all(&line)?;
            file.sync_data()?;
            times.push(start.elapsed());
        }
        Ok(percentile(&times, 0.5))
    };
    let result = probe();
    let _ = std::fs::remove_file(&path);
    match result {
        Ok(t) => format!("{:.2} ms (median of 50)", ms(t)),
        Err(e) => format!("not measured ({e})"),
    }
}
