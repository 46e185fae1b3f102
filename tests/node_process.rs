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

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brygga::sdk::message::{OrgAddress, SdkMessage};
use support::processes::{
    free_ports, get_json, http, init_node, participants_file, start_node, start_smp, tail, Children, BRYGGA,
};
use time::OffsetDateTime;

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

/// Sets its flag when dropped during a panic.
struct SetOnPanic(Arc<AtomicBool>);

impl Drop for SetOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
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
    start_smp(&children, root, &participants, ports[4]);
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
