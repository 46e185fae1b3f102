//! DIGG TF-08: a 100 MB message is received, and the receiving node's peak
//! memory stays far below that.
//!
//! Two nodes made by `brygga init`, `brygga smp serve` and `brygga serve`
//! for each, as real processes (so each has its own peak RSS). Both raise
//! `limits.max_sdk_message_bytes` above DIGG's 30 MB, as a federation that
//! agrees to it may. One SDK message with a ~59 MiB PDF attachment (base64
//! inside: ~79 MiB of XML) is submitted through the sender's local API; its
//! sealed XHE, the "message as an XML file" DIGG measures, is over 100 MiB.
//!
//! What must hold:
//! - the sender reaches ACCEPTED (the receiver's business receipt is back);
//! - the receiver's inbox returns exactly the submitted message;
//! - the receiver's peak RSS (`VmHWM`) is below half the XHE, the sender's at
//!   most 1.5 × the XHE (the benchmark target);
//! - both spools are empty afterwards, the payloads are files in the store.
//!
//! Sizes, timings and RSS are printed (`cargo test --test large_message --
//! --nocapture`). To see where memory goes, run the nodes under heaptrack:
//! `BRYGGA_TEST_WRAPPER=heaptrack` (its files land in the package directory;
//! RSS then includes heaptrack's own).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use brygga::sdk::message::{ContentFile, OrgAddress, SdkMessage};
use support::processes::{
    free_ports, get_json, http_with_timeout, init_node, participants_file, peak_rss_bytes, start_node, start_smp, tail,
    Children,
};
use time::OffsetDateTime;

const BUP: &str = "0203:bup.regionstockholm.se";
const BUP_ADDRESS: &str = "bup.envagin";
const SOC: &str = "0203:socialtjanst.stockholm.se";
const SOC_ADDRESS: &str = "soc.mottagning";

const MIB: u64 = 1024 * 1024;
/// The attachment, before base64: its XHE is then just over 100 MiB.
const ATTACHMENT_BYTES: usize = 59 * MIB as usize;
/// Raised for TF-08 (DIGG's content specification: 30 MB); the AS4 cap must
/// then hold the largest XHE of that, uncompressed.
const LIMITS: &str = "[limits]\nmax_sdk_message_bytes = 100663296\nmax_as4_message_bytes = 157286400\n";
/// Submission (spool, read, seal, store) and delivery (AS4 both ways,
/// verify, decrypt, store, business receipt back) each.
const DEADLINE: Duration = Duration::from_secs(300);

/// A PDF-like attachment: the PDF header, then deterministic pseudo-random
/// bytes without `/`, so no PDF name (active content) can occur by chance.


/// Files under `dir`, recursively, with their sizes.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if let Ok(meta) = entry.metadata() {
            out.push((path, meta.len()));
        }
    }
    out
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

#[test]
fn tf08_a_100_mb_message_is_delivered_between_node_processes_with_bounded_memory() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let ports = free_ports(5);
    let sender = init_node("bup", root, BUP, BUP_ADDRESS, ports[0], ports[1], ports[4]);
    let receiver = init_node("soc", root, SOC, SOC_ADDRESS, ports[2], ports[3], ports[4]);
    sender.append_config(LIMITS);
    receiver.append_config(LIMITS);

    let children = Children::default();
    let participants = participants_file(root, &[(BUP, &sender), (SOC, &receiver)]);
    start_smp(&children, root, &participants, ports[4]);
    let receiver_pid = start_node(&children, &receiver);
    let sender_pid = start_node(&children, &sender);
    let (receiver_at_start, sender_at_start) = (peak_rss_bytes(receiver_pid), peak_rss_bytes(sender_pid));
    eprintln!(
        "network up: {:?}; peak RSS at start: receiver {}, sender {}",
        started.elapsed(),
        mib(receiver_at_start),
        mib(sender_at_start)
    );

    let t = Instant::now();
    let message = SdkMessage::builder(
        OffsetDateTime::now_utc(),
        OrgAddress::new(BUP, BUP_ADDRESS),
        OrgAddress::new(SOC, SOC_ADDRESS),
    )
    .label("TF-08: ett meddelande på 100 MB")
    .text("# TF-08\n\nBilagan är en stor PDF.")
    .attachment(ContentFile::new("tf08.pdf", "application/pdf", support::pseudo_pdf(ATTACHMENT_BYTES, 0)))
    .build()
    .expect("valid message");
    let id = message.message_id().to_owned();
    let xml = message.to_xml();
    drop(message);
    let sent_digest = support::sha256_hex(&xml);
    eprintln!("SDK message: {} ({} bytes) built in {:?}", mib(xml.len() as u64), xml.len(), t.elapsed());

    // Submit: 202 once it is sealed and stored.
    let t = Instant::now();
    let r = http_with_timeout(sender.api, "POST", "/local/v1/messages", &xml, DEADLINE).expect("submission");
    assert_eq!(r.status, 202, "{}\nsender log:\n{}", r.text(), tail(&sender.log, 40));
    let submitted = t.elapsed();
    eprintln!("submitted (spooled, read, sealed, stored): {submitted:?}");
    let sender_after_submit = peak_rss_bytes(sender_pid);
    let sent_len = xml.len() as u64;
    drop(xml);

    // The sealed XHE, as the sender stores it (one payload file).
    let sender_payloads = files(&sender.dir.join("data/store/payloads"));
    let xhe_bytes = sender_payloads.iter().map(|(_, n)| *n).max().expect("the sealed XHE is a payload file");
    eprintln!("sealed XHE: {} ({xhe_bytes} bytes)", mib(xhe_bytes));
    assert!(xhe_bytes >= 100 * MIB, "TF-08 needs an XHE of at least 100 MiB, this one is {xhe_bytes} bytes");

    // Delivered: the business receipt is back at the sender.
    let t = Instant::now();
    let mut last = serde_json::Value::Null;
    loop {
        children.check_alive(sender.name, &sender.log);
        children.check_alive(receiver.name, &receiver.log);
        if let Some((200, entry)) = get_json(sender.api, &format!("/local/v1/messages/{id}")) {
            match entry["state"].as_str().unwrap_or_default() {
                "ACCEPTED" => break,
                s @ ("REJECTED" | "MESSAGE_EXCHANGE_ERROR") => panic!(
                    "{id} ended {s}: {entry}\nsender log:\n{}\nreceiver log:\n{}",
                    tail(&sender.log, 40),
                    tail(&receiver.log, 40)
                ),
                _ => last = entry,
            }
        }
        assert!(
            t.elapsed() < DEADLINE,
            "{id} not ACCEPTED after {DEADLINE:?}: {last}\nsender log:\n{}\nreceiver log:\n{}",
            tail(&sender.log, 40),
            tail(&receiver.log, 40)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let delivered = t.elapsed();
    eprintln!("delivered and ACCEPTED (AS4 there and back, business receipt): {delivered:?}");
    let receiver_after_delivery = peak_rss_bytes(receiver_pid);

    // What arrived is what was sent.
    let t = Instant::now();
    let got = http_with_timeout(receiver.api, "GET", &format!("/local/v1/inbox/{SOC_ADDRESS}/{id}"), b"", DEADLINE)
        .expect("read the message");
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.body.len() as u64, sent_len, "the inbox returns a message of another size");
    assert!(support::sha256_hex(&got.body) == sent_digest, "the inbox returns other bytes than were submitted");
    eprintln!("read from the inbox and compared: {:?}", t.elapsed());
    drop(got);

    let receiver_peak = peak_rss_bytes(receiver_pid);
    let sender_peak = peak_rss_bytes(sender_pid);
    let ratio = |rss: u64| rss as f64 / xhe_bytes as f64;
    eprintln!(
        "peak RSS (VmHWM): receiver {} = {:.2} × XHE ({} after delivery, before the inbox read); sender {} = {:.2} × XHE ({} after submission)",
        mib(receiver_peak),
        ratio(receiver_peak),
        mib(receiver_after_delivery),
        mib(sender_peak),
        ratio(sender_peak),
        mib(sender_after_submit),
    );

    // Nothing left in either spool; the payloads are files in the store.
    for node in [&sender, &receiver] {
        let left = files(&node.dir.join("data/spool"));
        assert!(left.is_empty(), "{}: spool not empty: {left:?}", node.name);
        let payloads = files(&node.dir.join("data/store/payloads"));
        assert!(
            payloads.iter().any(|(_, n)| *n >= sent_len),
            "{}: no large payload file in the store: {payloads:?}",
            node.name
        );
    }

    // TF-08: far below the message size at the receiver; the benchmark's
    // 1.5 × target at the sender. And the message itself costs either node
    // little above what it needs idle: no copy of it is held in memory.
    for (name, peak, at_start) in [("receiver", receiver_peak, receiver_at_start), ("sender", sender_peak, sender_at_start)] {
        assert!(
            (peak - at_start) * 5 < xhe_bytes,
            "{name}: the message raised peak RSS from {} to {}, 1/5 of the XHE ({}) or more",
            mib(at_start),
            mib(peak),
            mib(xhe_bytes)
        );
    }
    assert!(
        receiver_peak * 2 < xhe_bytes,
        "receiver peak RSS {} is not far below the XHE ({})",
        mib(receiver_peak),
        mib(xhe_bytes)
    );
    assert!(
        sender_peak * 2 <= xhe_bytes * 3,
        "sender peak RSS {} exceeds 1.5 × the XHE ({})",
        mib(sender_peak),
        mib(xhe_bytes)
    );
    // Both stop cleanly.
    for node in [&sender, &receiver] {
        let status = children.stop(node.name, Duration::from_secs(30));
        assert!(status.is_some_and(|s| s.success()), "{} did not stop cleanly on SIGTERM: {status:?}", node.name);
    }
    eprintln!("done in {:?}", started.elapsed());
}
