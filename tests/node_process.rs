//! Real processes, real crashes: two nodes made by `brygga init` (one shared
//! CA directory), a `brygga smp serve` publishing them, and `brygga serve`
//! for each, on loopback ports chosen up front. Several client threads
//! submit SDK messages through the sender's local API while the SENDING
//! node is killed with SIGKILL at random moments and restarted with the same
//! configuration.
//!
//! What must hold afterwards:
//! - every message the node acknowledged (HTTP 202) reaches ACCEPTED at the
//!   sender (its business receipt correlated);
//! - the receiver's inbox holds every acknowledged message exactly once and
//!   nothing else;
//! - both audit logs verify (`brygga audit verify`).
//!
//! A submission whose answer was lost in a crash is uncertain: the node may
//! or may not have stored it. The clients do what a real client must: send
//! the same message (same messageId) again until the node answers. 202 means
//! stored now; 409 means an earlier attempt was stored. Both count as
//! acknowledged, so "nothing else" is exact: no message the client was not
//! told about may arrive.
//!
//! The random moments come from a seed printed at the start; set
//! `BRYGGA_TEST_SEED` to replay one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brygga::directory::DocumentTypeId;
use brygga::sdk::message::{OrgAddress, SdkMessage};
use time::OffsetDateTime;

const BRYGGA: &str = env!("CARGO_BIN_EXE_brygga");

const BUP: &str = "0203:bup.regionstockholm.se";
const BUP_ADDRESS: &str = "bup.envagin";
const SOC: &str = "0203:socialtjanst.stockholm.se";
const SOC_ADDRESS: &str = "soc.mottagning";

const CLIENT_THREADS: usize = 4;
const MESSAGES_PER_CLIENT: usize = 100;
/// Kills while the clients submit; one more follows while the outbox drains.
const KILLS_DURING_SUBMISSION: usize = 8;
/// How long one message may take to get a definitive answer, crashes included.
const SUBMIT_DEADLINE: Duration = Duration::from_secs(90);
/// How long the network may take to deliver everything after the last kill.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(120);
const START_DEADLINE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// Every child process of the test; all are killed when it is dropped, so a
/// failing assertion leaves nothing running.
#[derive(Default)]
struct Children {
    running: Mutex<HashMap<&'static str, Child>>,
}

impl Children {
    fn spawn(&self, name: &'static str, mut command: Command, log: &Path) -> u32 {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let pid = child.id();
        let old = self.running.lock().unwrap().insert(name, child);
        assert!(old.is_none(), "{name} started twice");
        pid
    }

    /// SIGKILL (what `Child::kill` sends), then reap.
    fn kill(&self, name: &'static str) {
        let child = self.running.lock().unwrap().remove(name);
        if let Some(mut child) = child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and a wait for a clean stop; SIGKILL after `grace`.
    fn stop(&self, name: &'static str, grace: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.running.lock().unwrap().remove(name)?;
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let start = Instant::now();
        while start.elapsed() < grace {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Fails if a child has exited on its own (a crash we did not cause).
    fn check_alive(&self, name: &'static str, log: &Path) {
        let mut running = self.running.lock().unwrap();
        if let Some(child) = running.get_mut(name) {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited by itself with {status}; its log:\n{}", tail(log, 60));
            }
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        let running = std::mem::take(&mut *self.running.lock().unwrap_or_else(|e| e.into_inner()));
        for (_, mut child) in running {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sets its flag when dropped during a panic.
struct SetOnPanic(Arc<AtomicBool>);

impl Drop for SetOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

/// The last `lines` lines of a log, for failure messages.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Distinct free loopback ports: all bound at once, then released.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind")).collect();
    listeners.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

fn run_ok(args: &[&str]) -> String {
    let out = Command::new(BRYGGA).args(args).output().expect("run brygga");
    assert!(
        out.status.success(),
        "brygga {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---------------------------------------------------------------------------
// A small blocking HTTP/1.1 client (one request per connection)
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct HttpResponse {
    status: u16,
    body: Vec<u8>,
}

impl HttpResponse {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw).ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "incomplete HTTP response"))
}

fn parse_response(raw: &[u8]) -> Option<HttpResponse> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let rest = &raw[end + 4..];
    let body = if chunked {
        let mut body = Vec::new();
        let mut rest = rest;
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).ok()?.split(';').next()?.trim(), 16).ok()?;
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            body.extend_from_slice(rest.get(..size)?);
            rest = rest.get(size + 2..)?;
        }
        body
    } else {
        match length {
            Some(n) => rest.get(..n)?.to_vec(),
            None => rest.to_vec(),
        }
    };
    Some(HttpResponse { status, body })
}

fn get_json(addr: SocketAddr, path: &str) -> Option<(u16, serde_json::Value)> {
    let r = http(addr, "GET", path, b"").ok()?;
    let value = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
    Some((r.status, value))
}

// ---------------------------------------------------------------------------
// Randomness (reproducible from a printed seed)
// ---------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn from_env_or_clock() -> (Self, u64) {
        let seed = std::env::var("BRYGGA_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
            nanos ^ (u64::from(std::process::id()) << 32)
        });
        (Rng(seed | 1), seed)
    }

    /// xorshift64*
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

// ---------------------------------------------------------------------------
// The network on disk
// ---------------------------------------------------------------------------

struct NodeDir {
    name: &'static str,
    dir: PathBuf,
    config: PathBuf,
    api: SocketAddr,
    as4: SocketAddr,
    log: PathBuf,
}

impl NodeDir {
    fn audit_log(&self) -> PathBuf {
        self.dir.join("data").join("audit.log")
    }

    fn command(&self) -> Command {
        let mut c = Command::new(BRYGGA);
        c.arg("serve").arg("--config").arg(&self.config);
        c.env("RUST_LOG", std::env::var("BRYGGA_TEST_LOG").unwrap_or_else(|_| "info".into()));
        c
    }
}

/// `brygga init` for one organisation, then its listeners, SMP and retry
/// policy set for this test.
fn init_node(name: &'static str, root: &Path, org: &str, address: &str, as4: u16, api: u16, smp: u16) -> NodeDir {
    let dir = root.join(name);
    let ca = root.join("ca");
    run_ok(&[
        "init",
        "--org",
        name,
        "--org-id",
        org,
        "--out",
        dir.to_str().unwrap(),
        "--ca-dir",
        ca.to_str().unwrap(),
        "--functional-address",
        address,
    ]);
    let config = dir.join("node.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let mut out = String::new();
    let mut replaced = 0;
    for line in text.lines() {
        let line = if line.starts_with("as4 = ") {
            replaced += 1;
            format!("as4 = \"127.0.0.1:{as4}\"")
        } else if line.starts_with("api = ") {
            replaced += 1;
            format!("api = \"127.0.0.1:{api}\"")
        } else if line.starts_with("base_url = ") {
            replaced += 1;
            format!("base_url = \"http://127.0.0.1:{smp}/\"")
        } else {
            line.to_owned()
        };
        out.push_str(&line);
        out.push('\n');
    }
    assert_eq!(replaced, 3, "node.toml from brygga init changed shape:\n{text}");
    // Short retries, so a restarted peer is tried again within seconds;
    // enough attempts that a receipt outlives the sender's restarts.
    out.push_str(
        "\n[retry]\nmax_attempts = 60\ninitial_backoff_seconds = 1\nmax_backoff_seconds = 2\nmultiplier = 2.0\njitter = 0.2\nexpiry_hours = 1\n",
    );
    std::fs::write(&config, out).unwrap();
    NodeDir {
        name,
        config,
        api: SocketAddr::from(([127, 0, 0, 1], api)),
        as4: SocketAddr::from(([127, 0, 0, 1], as4)),
        log: root.join(format!("{name}.log")),
        dir,
    }
}

fn participants_file(root: &Path, nodes: &[(&str, &NodeDir)]) -> PathBuf {
    let mut text = String::new();
    for (org, node) in nodes {
        let keys = format!("{}/keys", node.name);
        text.push_str(&format!(
            "[[participant]]\nid = \"{org}\"\ndocument_types = [\"{}\", \"{}\"]\nendpoint_url = \"https://127.0.0.1:{}/as4\"\naccess_point_certificate = \"{keys}/ap.pem\"\nsigning_certificate = \"{keys}/org-signing.pem\"\nencryption_certificate = \"{keys}/org-encryption.pem\"\n\n",
            DocumentTypeId::sdk_message_v3().value(),
            DocumentTypeId::sdk_receipt().value(),
            node.as4.port(),
        ));
    }
    let path = root.join("participants.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn wait_for_port(addr: SocketAddr, what: &str, log: &Path) {
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(start.elapsed() < START_DEADLINE, "{what} does not listen on {addr}; its log:\n{}", tail(log, 40));
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Starts `brygga serve` for `node` and waits until its API answers.
fn start_node(children: &Children, node: &NodeDir) {
    children.spawn(node.name, node.command(), &node.log);
    let start = Instant::now();
    loop {
        if let Ok(r) = http(node.api, "GET", "/healthz", b"") {
            if r.status == 200 {
                break;
            }
        }
        children.check_alive(node.name, &node.log);
        assert!(start.elapsed() < START_DEADLINE, "{} did not start; its log:\n{}", node.name, tail(&node.log, 40));
        std::thread::sleep(Duration::from_millis(25));
    }
    wait_for_port(node.as4, node.name, &node.log);
}

// ---------------------------------------------------------------------------
// Submission
// ---------------------------------------------------------------------------

/// How a message got acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ack {
    /// 202 to this attempt.
    Accepted,
    /// 409: an earlier attempt, whose answer a crash swallowed, was stored.
    AlreadyStored,
}

struct Submitted {
    id: String,
    xml: Vec<u8>,
    ack: Ack,
    /// Attempts whose outcome was unknown (connection refused, reset, cut off).
    uncertain: u32,
}

fn message(n: usize) -> SdkMessage {
    SdkMessage::builder(OffsetDateTime::now_utc(), OrgAddress::new(BUP, BUP_ADDRESS), OrgAddress::new(SOC, SOC_ADDRESS))
        .label(format!("Orosanmälan {n}"))
        .text(format!("# Orosanmälan {n}\n\nSkickad medan noden startas om."))
        .build()
        .expect("valid message")
}

/// Sends one message until the node gives a definitive answer.
fn submit_until_answered(api: SocketAddr, xml: &[u8], id: &str, abort: &AtomicBool) -> (Ack, u32) {
    let start = Instant::now();
    let mut uncertain = 0;
    let mut last = String::new();
    while start.elapsed() < SUBMIT_DEADLINE {
        assert!(!abort.load(Ordering::SeqCst), "the sending node did not come back; giving up on {id}");
        match http(api, "POST", "/local/v1/messages", xml) {
            Ok(r) if r.status == 202 => {
                let body: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON answer");
                assert_eq!(body["messageId"], id, "{}", r.text());
                return (Ack::Accepted, uncertain);
            }
            Ok(r) if r.status == 409 => {
                assert!(uncertain > 0, "409 for a message never sent before: {}", r.text());
                return (Ack::AlreadyStored, uncertain);
            }
            // The node failed mid-request (or is starting): try again.
            Ok(r) if r.status >= 500 => {
                uncertain += 1;
                last = format!("HTTP {}: {}", r.status, r.text());
            }
            Ok(r) => panic!("submission of {id} refused: HTTP {}: {}", r.status, r.text()),
            Err(e) => {
                uncertain += 1;
                last = e.to_string();
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no definitive answer for {id} in {SUBMIT_DEADLINE:?}; last: {last}");
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

#[test]
fn sender_killed_repeatedly_while_submitting_every_acknowledged_message_arrives_exactly_once() {
    let started = Instant::now();
    let (mut rng, seed) = Rng::from_env_or_clock();
    eprintln!("seed {seed} (BRYGGA_TEST_SEED={seed} replays the kill moments)");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let ports = free_ports(5);
    let sender = init_node("bup", root, BUP, BUP_ADDRESS, ports[0], ports[1], ports[4]);
    let receiver = init_node("soc", root, SOC, SOC_ADDRESS, ports[2], ports[3], ports[4]);
    eprintln!("init: {:?}", started.elapsed());

    let children = Children::default();
    let participants = participants_file(root, &[(BUP, &sender), (SOC, &receiver)]);
    let smp_addr = SocketAddr::from(([127, 0, 0, 1], ports[4]));
    let smp_log = root.join("smp.log");
    let mut smp = Command::new(BRYGGA);
    smp.arg("smp")
        .arg("serve")
        .arg("--participants")
        .arg(&participants)
        .arg("--listen")
        .arg(smp_addr.to_string())
        .arg("--key")
        .arg(root.join("ca/smp.key"))
        .arg("--cert")
        .arg(root.join("ca/smp.pem"));
    children.spawn("smp", smp, &smp_log);
    wait_for_port(smp_addr, "smp", &smp_log);
    start_node(&children, &receiver);
    start_node(&children, &sender);
    eprintln!("network up: {:?}", started.elapsed());

    // Kill moments: after a random number of acknowledgements each, spread
    // over the submission, plus a random delay so a kill can land anywhere
    // in a request or an attempt.
    let total = CLIENT_THREADS * MESSAGES_PER_CLIENT;
    let mut thresholds: Vec<usize> =
        (0..KILLS_DURING_SUBMISSION).map(|_| total / 20 + rng.below((total * 3 / 4) as u64) as usize).collect();
    thresholds.sort_unstable();
    let delays: Vec<u64> = (0..=KILLS_DURING_SUBMISSION).map(|_| rng.below(150)).collect();

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let submitting = Arc::new(AtomicBool::new(true));
    // Set when the killer fails (the node does not come back): clients stop.
    let abort = Arc::new(AtomicBool::new(false));
    let results: Arc<Mutex<Vec<Submitted>>> = Arc::default();
    let (client_outcomes, killer_outcome) = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENT_THREADS)
            .map(|c| {
                let (acknowledged, results, abort, api) = (acknowledged.clone(), results.clone(), abort.clone(), sender.api);
                scope.spawn(move || {
                    for i in 0..MESSAGES_PER_CLIENT {
                        let msg = message(c * MESSAGES_PER_CLIENT + i);
                        let xml = msg.to_xml();
                        let (ack, uncertain) = submit_until_answered(api, &xml, msg.message_id(), &abort);
                        acknowledged.fetch_add(1, Ordering::SeqCst);
                        results.lock().unwrap().push(Submitted { id: msg.message_id().to_owned(), xml, ack, uncertain });
                    }
                })
            })
            .collect();
        let killer = {
            let (acknowledged, submitting, children, sender) = (acknowledged.clone(), submitting.clone(), &children, &sender);
            let (thresholds, delays, abort) = (thresholds.clone(), delays.clone(), abort.clone());
            scope.spawn(move || {
                let _abort_on_panic = SetOnPanic(abort);
                let mut kills = Vec::new();
                let kill_and_restart = |kills: &mut Vec<(usize, Duration)>| {
                    children.check_alive(sender.name, &sender.log);
                    let at = acknowledged.load(Ordering::SeqCst);
                    children.kill(sender.name);
                    let down = Instant::now();
                    start_node(children, sender);
                    kills.push((at, down.elapsed()));
                };
                for (threshold, delay) in thresholds.iter().zip(&delays) {
                    while acknowledged.load(Ordering::SeqCst) < *threshold && submitting.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    std::thread::sleep(Duration::from_millis(*delay));
                    kill_and_restart(&mut kills);
                }
                // One more while the outbox drains (or the last submissions run).
                while submitting.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                std::thread::sleep(Duration::from_millis(delays[KILLS_DURING_SUBMISSION]));
                kill_and_restart(&mut kills);
                kills
            })
        };
        // Joined without unwinding first, so the killer always hears that
        // submission is over and the scope can end.
        let outcomes: Vec<_> = clients.into_iter().map(|c| c.join()).collect();
        submitting.store(false, Ordering::SeqCst);
        (outcomes, killer.join())
    });
    let kills = match killer_outcome {
        Ok(kills) => kills,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    for outcome in client_outcomes {
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
    let results = std::mem::take(&mut *results.lock().unwrap());
    let during_submission = kills.iter().filter(|(at, _)| *at < total).count();
    eprintln!(
        "submitted {total} in {:?}; kills at acknowledgement counts {:?} (kill to healthy: {:?}); {} attempts without an answer, resent; {} found already stored (409)",
        started.elapsed(),
        kills.iter().map(|k| k.0).collect::<Vec<_>>(),
        kills.iter().map(|k| k.1).collect::<Vec<_>>(),
        results.iter().map(|r| r.uncertain).sum::<u32>(),
        results.iter().filter(|r| r.ack == Ack::AlreadyStored).count(),
    );
    assert_eq!(results.len(), total);
    assert!(during_submission >= 3, "only {during_submission} kills landed during submission: {kills:?}");
    let ids: HashSet<&str> = results.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), total, "message ids are unique");

    // Every acknowledged message reaches ACCEPTED at the sender.
    let deadline = Instant::now() + DELIVERY_DEADLINE;
    let mut pending: BTreeMap<&str, String> = ids.iter().map(|id| (*id, "unknown".to_owned())).collect();
    while !pending.is_empty() && Instant::now() < deadline {
        children.check_alive(sender.name, &sender.log);
        children.check_alive(receiver.name, &receiver.log);
        let ids: Vec<&str> = pending.keys().copied().collect();
        for id in ids {
            let Some((status, entry)) = get_json(sender.api, &format!("/local/v1/messages/{id}")) else { continue };
            assert_eq!(status, 200, "acknowledged message {id} unknown at the sender: {entry}");
            let state = entry["state"].as_str().unwrap_or_default().to_owned();
            match state.as_str() {
                "ACCEPTED" => {
                    pending.remove(id);
                }
                "REJECTED" | "MESSAGE_EXCHANGE_ERROR" => panic!("{id} ended {state}: {entry}"),
                _ => {
                    pending.insert(id, format!("{state} {}", entry["last_error"]));
                }
            }
        }
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    assert!(
        pending.is_empty(),
        "{} of {total} acknowledged messages not ACCEPTED after {DELIVERY_DEADLINE:?}: {:?}\nsender log:\n{}",
        pending.len(),
        pending.iter().take(10).collect::<Vec<_>>(),
        tail(&sender.log, 40)
    );
    eprintln!("all {total} ACCEPTED at the sender: {:?}", started.elapsed());

    // Submitting an acknowledged message again changes nothing: 409 with
    // where it is (the inbox check below shows no second copy went out).
    let again = http(sender.api, "POST", "/local/v1/messages", &results[0].xml).expect("resubmission");
    assert_eq!(again.status, 409, "{}", again.text());
    let body: serde_json::Value = serde_json::from_slice(&again.body).unwrap();
    assert_eq!(body["messageId"], results[0].id.as_str(), "{body}");
    assert_eq!(body["status"], "ACCEPTED", "{body}");

    // The receiver holds each exactly once, and nothing else.
    let (status, inbox) = get_json(receiver.api, &format!("/local/v1/inbox/{SOC_ADDRESS}")).expect("receiver inbox");
    assert_eq!(status, 200, "{inbox}");
    let mut counts: HashMap<String, usize> = HashMap::new();
    for entry in inbox.as_array().expect("inbox is a JSON list") {
        *counts.entry(entry["message_id"].as_str().expect("message_id").to_owned()).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let missing: Vec<_> = ids.iter().filter(|id| !counts.contains_key(**id)).collect();
    assert!(missing.is_empty(), "{} acknowledged messages missing from the inbox: {missing:?}", missing.len());
    let unexpected: Vec<_> = counts.keys().filter(|id| !ids.contains(id.as_str())).collect();
    assert!(unexpected.is_empty(), "messages nobody was told about arrived: {unexpected:?}");
    assert_eq!(counts.len(), total);

    // The receiver never rejected anything: a resend of a message it holds
    // (the sender crashed before recording the AS4 receipt) is a duplicate
    // to drop, not a new message to answer with a REJECTED receipt, which
    // could overtake the ACCEPTED one. Exactly one receipt per message.
    let metrics = http(receiver.api, "GET", "/metrics", b"").expect("receiver metrics").text();
    let metric = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no {name} in:\n{metrics}"))
    };
    eprintln!(
        "receiver: {} inbound AS4 duplicates dropped, {} rejected, {} business receipts queued",
        metric("brygga_inbound_duplicates_total"),
        metric("brygga_inbound_rejected_total"),
        metric("brygga_business_receipts_sent_total")
    );
    assert_eq!(metric("brygga_inbound_rejected_total"), 0, "{metrics}");
    assert_eq!(metric("brygga_business_receipts_sent_total"), total as u64, "{metrics}");

    // What arrived is what was sent (a sample; reading marks it RETRIEVED).
    for r in results.iter().step_by(37) {
        let got = http(receiver.api, "GET", &format!("/local/v1/inbox/{SOC_ADDRESS}/{}", r.id), b"").expect("read message");
        assert_eq!(got.status, 200, "{}", got.text());
        let limits = Default::default();
        assert_eq!(SdkMessage::from_xml(&got.body, &limits).unwrap(), SdkMessage::from_xml(&r.xml, &limits).unwrap());
    }

    // Both audit chains verify, after every crash, once the nodes stop.
    for node in [&sender, &receiver] {
        children.check_alive(node.name, &node.log);
        let status = children.stop(node.name, Duration::from_secs(15));
        assert!(status.is_some_and(|s| s.success()), "{} did not stop cleanly on SIGTERM: {status:?}", node.name);
        let out = Command::new(BRYGGA).arg("audit").arg("verify").arg("--log").arg(node.audit_log()).output().unwrap();
        assert!(
            out.status.success(),
            "{}: audit verify exited {}: {}{}",
            node.name,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("{} audit: {}", node.name, String::from_utf8_lossy(&out.stdout).trim());
    }
    children.kill("smp");
    eprintln!("done in {:?}", started.elapsed());
}
