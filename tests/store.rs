//! The node's store and the outbox state machine, on real directories:
//! durability across drop and `kill -9`, AS4 duplicate elimination, the
//! retry schedule, and refused transitions.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use brygga::node::outbox::{
    BusinessReceipt, DocumentType, InboxEntry, InboxState, NewInboxEntry, NewOutboxEntry, OutboxEntry, OutboxState,
    RetryPolicy, StoredReceiptLine, TransitionError,
};
use brygga::node::store::{InboxFilter, ReceiptDirection, ReceiptOutcome, ReceiveOutcome, Store, StoreError};
use brygga::sdk::envelope::ReceivedMessages;
use time::macros::datetime;
use time::OffsetDateTime;

const T0: OffsetDateTime = datetime!(2026-03-02 09:00 UTC);
const RECIPIENT: &str = "0203:habo.se";
const INBOX: &str = "urn:riv:infrastructure:messaging:functionalAddress:socialtjansten";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn at(offset: Duration) -> OffsetDateTime {
    T0 + offset
}

fn new_entry(id: &str, document_type: DocumentType, now: OffsetDateTime, policy: &RetryPolicy) -> OutboxEntry {
    OutboxEntry::new(
        NewOutboxEntry {
            id: id.to_owned(),
            recipient_org_id: RECIPIENT.to_owned(),
            recipient_functional_address: "urn:riv:infrastructure:messaging:functionalAddress:intag".to_owned(),
            document_type,
            conversation_id: format!("conv-{id}"),
        },
        now,
        policy,
    )
}

fn message(id: &str) -> OutboxEntry {
    new_entry(id, DocumentType::Message, T0, &RetryPolicy::default())
}

/// A payload that can be rebuilt from the id alone, of a size that varies
/// with it (1 kB to about 61 kB), so a torn or swapped payload shows.
fn payload_for(id: &str) -> Vec<u8> {
    let seed = id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    let len = 1_000 + (seed % 60_000) as usize;
    let mut bytes = format!("<XHE id=\"{id}\">").into_bytes();
    bytes.extend((0..len).map(|i| (seed as usize).wrapping_add(i * 7) as u8));
    bytes.extend_from_slice(b"</XHE>");
    bytes
}

fn receipt(accepted: bool, from: &str, received_at: OffsetDateTime) -> BusinessReceipt {
    BusinessReceipt {
        receipt_id: uuid::Uuid::new_v4().to_string(),
        from_org_id: from.to_owned(),
        accepted,
        lines: if accepted {
            vec![]
        } else {
            vec![StoredReceiptLine {
                line_id: "NA".into(),
                reason_code: "BV".into(),
                detail_code: Some("invariant".into()),
                text: "recipient unknown".into(),
            }]
        },
        received_at,
    }
}

fn inbound(message_id: &str, address: &str, received_at: OffsetDateTime) -> InboxEntry {
    InboxEntry::new(
        NewInboxEntry {
            message_id: message_id.to_owned(),
            functional_address: address.to_owned(),
            sender_org_id: "0203:vetlanda.se".to_owned(),
            recipient_org_id: RECIPIENT.to_owned(),
            conversation_id: format!("conv-{message_id}"),
        },
        received_at,
    )
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

// ---------------------------------------------------------------------------
// Durability
// ---------------------------------------------------------------------------

#[test]
fn two_hundred_submissions_survive_a_drop_without_shutdown() {
    let dir = tempdir();
    let ids: Vec<String> = (0..200).map(|i| format!("msg-{i:03}")).collect();
    {
        let store = Store::open(dir.path()).unwrap();
        for id in &ids {
            store.submit(&message(id), &payload_for(id)).unwrap();
        }
        // A large one too: payloads are stored as-is, whatever their size.
        let big: Vec<u8> = (0..8 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
        store.submit(&message("big"), &big).unwrap();
    } // dropped: no flush, no close

    let store = Store::open(dir.path()).unwrap();
    for id in &ids {
        let entry = store.outbox_entry(id).unwrap().unwrap_or_else(|| panic!("{id} lost"));
        assert_eq!(entry.state(), OutboxState::Scheduled);
        assert_eq!(&store.load_payload(id).unwrap().unwrap().to_vec(u64::MAX).unwrap()[..], payload_for(id).as_slice(), "{id}");
    }
    let big = store.load_payload("big").unwrap().unwrap().to_vec(u64::MAX).unwrap();
    assert_eq!(big.len(), 8 * 1024 * 1024);
    assert!(big.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    assert_eq!(store.count_by_state().outbox[&OutboxState::Scheduled], 201);
    assert_eq!(store.due(T0, 1000).unwrap().len(), 201);
}

const CHILD_ENV: &str = "BRYGGA_STORE_CHILD";
const CHILD_TEST: &str = "child_submits_until_killed";

/// Child mode of the `kill -9` test: submits in a loop and prints each
/// acknowledged id. Does nothing in a normal test run.
#[test]
fn child_submits_until_killed() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let store = Store::open(&dir).expect("child: open");
    let mut out = std::io::stdout().lock();
    let deadline = Instant::now() + Duration::from_secs(120);
    for i in 0u64.. {
        if Instant::now() > deadline {
            break;
        }
        let id = format!("kill-{i:07}");
        store.submit(&message(&id), &payload_for(&id)).expect("child: submit");
        // Only now is the submission acknowledged; one write() per line.
        out.write_all(format!("ACK {id}\n").as_bytes()).expect("child: stdout");
        out.flush().expect("child: stdout");
    }
}

#[test]
fn every_acknowledged_submission_survives_kill_9() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for round in 0..3 {
        let dir = tempdir();
        let mut child = Command::new(&exe)
            .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                match stdout.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                // A line cut off by the kill has no newline: not acknowledged.
                let Some(text) = line.strip_suffix(b"\n") else { break };
                // The harness may have begun the line ("test … ... ").
                if let Some(at) = text.windows(4).position(|w| w == b"ACK ") {
                    let _ = tx.send(String::from_utf8_lossy(&text[at + 4..]).into_owned());
                }
            }
        });
        let first = rx.recv_timeout(Duration::from_secs(120)).expect("the child acknowledged nothing");
        let delay = Duration::from_millis(20 + (uuid::Uuid::new_v4().as_u128() % 400) as u64);
        thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        assert!(!status.success(), "the child ended on its own before the kill");
        reader.join().unwrap();
        let mut acknowledged = vec![first];
        acknowledged.extend(rx.try_iter());

        let store = Store::open(dir.path()).unwrap();
        for id in &acknowledged {
            let entry = store.outbox_entry(id).unwrap().unwrap_or_else(|| panic!("round {round}: acknowledged {id} lost"));
            assert_eq!(entry.id(), id);
            let payload = store.load_payload(id).unwrap().unwrap_or_else(|| panic!("round {round}: payload of {id} lost"));
            assert_eq!(&payload.to_vec(u64::MAX).unwrap()[..], payload_for(id).as_slice(), "round {round}: payload of {id} differs");
        }
        // At most one submission can be stored but not yet acknowledged.
        let stored = store.count_by_state().outbox[&OutboxState::Scheduled] as usize;
        assert!(stored == acknowledged.len() || stored == acknowledged.len() + 1, "{stored} vs {}", acknowledged.len());
        eprintln!("round {round}: killed after {delay:?}, {} acknowledged, all present", acknowledged.len());
    }
}

#[test]
fn a_second_open_of_the_same_directory_is_an_error() {
    let dir = tempdir();
    let _store = Store::open(dir.path()).unwrap();
    assert!(matches!(Store::open(dir.path()), Err(StoreError::Storage(_))));
}

#[test]
fn a_corrupt_record_is_a_typed_error_not_a_panic() {
    let dir = tempdir();
    {
        let store = Store::open(dir.path()).unwrap();
        store.submit(&message("good"), b"<XHE/>").unwrap();
    }
    {
        let raw = sled::open(dir.path()).unwrap();
        let outbox = raw.open_tree("outbox/entries").unwrap();
        outbox.insert("good", &b"\x01{not json"[..]).unwrap();
        raw.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.count_by_state().corrupt_records, 1);
    assert!(matches!(store.outbox_entry("good"), Err(StoreError::Corrupt { .. })));
    assert!(matches!(store.due(T0, 10), Err(StoreError::Corrupt { .. })));
}

#[test]
fn open_repairs_the_schedule_indexes_a_crash_left_behind() {
    let dir = tempdir();
    {
        let store = Store::open(dir.path()).unwrap();
        for id in ["a", "b"] {
            store.submit(&message(id), b"<XHE/>").unwrap();
        }
    }
    {
        // Entries and their index keys are written one after the other, so
        // a crash can leave an entry without its keys ("a") or a key the
        // entry no longer calls for (the one of "b" at the Unix epoch).
        let raw = sled::open(dir.path()).unwrap();
        for name in ["outbox/due", "outbox/expiry"] {
            let tree = raw.open_tree(name).unwrap();
            for key in tree.iter().keys() {
                let key = key.unwrap();
                if key.ends_with(b"a") {
                    tree.remove(key).unwrap();
                }
            }
        }
        let mut stale = vec![0x80];
        stale.extend_from_slice(&[0; 15]);
        stale.extend_from_slice(b"b");
        raw.open_tree("outbox/due").unwrap().insert(stale, &[]).unwrap();
        raw.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let ids = |entries: Vec<OutboxEntry>| entries.iter().map(|e| e.id().to_owned()).collect::<Vec<_>>();
    let mut due = ids(store.due(T0, 10).unwrap());
    due.sort();
    assert_eq!(due, ["a", "b"]);
    let mut expiring = ids(store.expired(at(secs(400 * 24 * 3600)), 10).unwrap());
    expiring.sort();
    assert_eq!(expiring, ["a", "b"]);
}

// ---------------------------------------------------------------------------
// Inbound
// ---------------------------------------------------------------------------

#[test]
fn the_same_as4_message_id_twice_is_stored_once() {
    let dir = tempdir();
    {
        let store = Store::open(dir.path()).unwrap();
        let first = store.receive_inbound("as4-1@peer", inbound("m-1", INBOX, T0), b"first").unwrap();
        assert_eq!(first, ReceiveOutcome::Inserted);
        let again = store.receive_inbound("as4-1@peer", inbound("m-1", INBOX, at(secs(5))), b"second").unwrap();
        assert_eq!(again, ReceiveOutcome::Duplicate { message_id: "m-1".into() });
        assert_eq!(store.inbox(INBOX, &InboxFilter::default()).unwrap().len(), 1);
        assert_eq!(&store.load_inbound_payload(INBOX, "m-1").unwrap().unwrap().to_vec(u64::MAX).unwrap()[..], b"first");
        assert_eq!(store.count_by_state().inbox[&InboxState::New], 1);
    }
    // The dedup record is as durable as the message.
    let store = Store::open(dir.path()).unwrap();
    let after_restart = store.receive_inbound("as4-1@peer", inbound("m-1", INBOX, at(secs(9))), b"third").unwrap();
    assert_eq!(after_restart, ReceiveOutcome::Duplicate { message_id: "m-1".into() });
    let entry = store.inbox_entry(INBOX, "m-1").unwrap().unwrap();
    assert_eq!(entry.as4_message_id(), "as4-1@peer");
    assert_eq!(entry.received_at(), T0);
    assert_eq!(store.count("m-1"), 1);
    assert_eq!(store.count("m-2"), 0);
}

#[test]
fn a_reused_message_id_under_a_new_as4_message_id_is_refused() {
    let dir = tempdir();
    let store = Store::open(dir.path()).unwrap();
    store.receive_inbound("as4-1@peer", inbound("m-1", INBOX, T0), b"first").unwrap();
    let err = store.receive_inbound("as4-2@peer", inbound("m-1", INBOX, T0), b"other").unwrap_err();
    assert!(matches!(err, StoreError::MessageIdInUse(id) if id == "m-1"));
    // Nothing of the refused call was stored, its dedup record included.
    assert_eq!(store.receive_inbound("as4-2@peer", inbound("m-2", INBOX, T0), b"x").unwrap(), ReceiveOutcome::Inserted);
    assert_eq!(store.inbox(INBOX, &InboxFilter::default()).unwrap().len(), 2);
}

#[test]
fn inboxes_are_separate_ordered_and_filterable() {
    let dir = tempdir();
    let store = Store::open(dir.path()).unwrap();
    let other = format!("{INBOX}:annan");
    for i in 0..10u64 {
        let id = format!("in-{i}");
        store.receive_inbound(&format!("{id}@peer"), inbound(&id, INBOX, at(secs(100 - i * 10))), id.as_bytes()).unwrap();
    }
    store.receive_inbound("x@peer", inbound("elsewhere", &other, T0), b"x").unwrap();

    let all = store.inbox(INBOX, &InboxFilter::default()).unwrap();
    let ids: Vec<&str> = all.iter().map(|e| e.message_id()).collect();
    assert_eq!(ids, ["in-9", "in-8", "in-7", "in-6", "in-5", "in-4", "in-3", "in-2", "in-1", "in-0"]);
    assert_eq!(store.inbox(&other, &InboxFilter::default()).unwrap().len(), 1);
    // A message in another inbox is invisible from this one.
    assert_eq!(store.inbox_entry(INBOX, "elsewhere").unwrap(), None);
    assert!(matches!(store.mark_retrieved(INBOX, "elsewhere", T0), Err(StoreError::InboxNotFound { .. })));

    let window = InboxFilter { received_from: Some(at(secs(30))), received_before: Some(at(secs(70))), ..Default::default() };
    let ids: Vec<String> = store.inbox(INBOX, &window).unwrap().iter().map(|e| e.message_id().to_owned()).collect();
    assert_eq!(ids, ["in-7", "in-6", "in-5", "in-4"]);

    store.mark_retrieved(INBOX, "in-3", at(secs(200))).unwrap();
    store.mark_retrieved(INBOX, "in-5", at(secs(200))).unwrap();
    let retrieved = InboxFilter { state: Some(InboxState::Retrieved), ..Default::default() };
    let ids: Vec<String> = store.inbox(INBOX, &retrieved).unwrap().iter().map(|e| e.message_id().to_owned()).collect();
    assert_eq!(ids, ["in-5", "in-3"]);

    let page = InboxFilter { state: Some(InboxState::New), offset: 2, limit: Some(3), ..Default::default() };
    let ids: Vec<String> = store.inbox(INBOX, &page).unwrap().iter().map(|e| e.message_id().to_owned()).collect();
    assert_eq!(ids, ["in-7", "in-6", "in-4"]);
    let counts = store.count_by_state();
    assert_eq!(counts.inbox[&InboxState::New], 9);
    assert_eq!(counts.inbox[&InboxState::Retrieved], 2);
}

#[test]
fn our_receipt_and_received_sent_commit_together_and_only_once() {
    let dir = tempdir();
    let store = Store::open(dir.path()).unwrap();
    store.receive_inbound("as4-in@peer", inbound("m-1", INBOX, T0), b"msg").unwrap();
    store.mark_retrieved(INBOX, "m-1", at(secs(1))).unwrap();

    let our_receipt = new_entry("r-1", DocumentType::Receipt, at(secs(2)), &RetryPolicy::default());
    let entry = store.submit_receipt(INBOX, "m-1", &our_receipt, b"<XHE receipt/>", at(secs(2))).unwrap();
    assert_eq!(entry.state(), InboxState::ReceiptSent);
    assert_eq!(entry.receipt_id(), Some("r-1"));
    assert_eq!(store.outbox_entry("r-1").unwrap().unwrap().document_type(), DocumentType::Receipt);
    let link = store.answered_by("r-1", ReceiptDirection::Sent).unwrap().unwrap();
    assert_eq!(link.message_id, "m-1");
    assert_eq!(link.functional_address.as_deref(), Some(INBOX));

    // A second receipt for the same message is refused, and not queued.
    let second = new_entry("r-2", DocumentType::Receipt, at(secs(3)), &RetryPolicy::default());
    let err = store.submit_receipt(INBOX, "m-1", &second, b"<XHE receipt/>", at(secs(3))).unwrap_err();
    assert!(matches!(err, StoreError::Transition(TransitionError::Illegal { from: "RECEIPT_SENT", .. })), "{err}");
    assert_eq!(store.outbox_entry("r-2").unwrap(), None);
    assert!(store.load_payload("r-2").unwrap().is_none());

    // A message is not a receipt.
    let not_a_receipt = message("r-3");
    assert!(matches!(
        store.submit_receipt(INBOX, "m-1", &not_a_receipt, b"x", T0),
        Err(StoreError::WrongDocumentType { .. })
    ));
}

#[test]
fn a_message_stored_with_its_receipt_commits_both_once() {
    let dir = tempdir();
    let our_receipt = new_entry("r-1", DocumentType::Receipt, at(secs(1)), &RetryPolicy::default());
    {
        let store = Store::open(dir.path()).unwrap();
        let outcome = store
            .receive_inbound_answered("as4-in@peer", inbound("m-1", INBOX, T0), b"msg", &our_receipt, b"<XHE receipt/>", at(secs(1)))
            .unwrap();
        assert_eq!(outcome, ReceiveOutcome::Inserted);
        // An AS4 resend: nothing more is stored, the new receipt is dropped.
        let again = new_entry("r-2", DocumentType::Receipt, at(secs(2)), &RetryPolicy::default());
        let outcome = store
            .receive_inbound_answered("as4-in@peer", inbound("m-1", INBOX, T0), b"msg", &again, b"<XHE receipt/>", at(secs(2)))
            .unwrap();
        assert_eq!(outcome, ReceiveOutcome::Duplicate { message_id: "m-1".into() });
        assert_eq!(store.outbox_entry("r-2").unwrap(), None);
        // The same messageId under another AS4 MessageId is refused.
        let err = store
            .receive_inbound_answered("as4-other@peer", inbound("m-1", INBOX, T0), b"msg", &again, b"x", at(secs(2)))
            .unwrap_err();
        assert!(matches!(err, StoreError::MessageIdInUse(_)), "{err}");
        // Only a receipt may be queued this way.
        let err = store
            .receive_inbound_answered("as4-3@peer", inbound("m-3", INBOX, T0), b"msg", &message("r-3"), b"x", T0)
            .unwrap_err();
        assert!(matches!(err, StoreError::WrongDocumentType { .. }), "{err}");
        assert_eq!(store.inbox_entry(INBOX, "m-3").unwrap(), None);
    } // dropped without a shutdown

    let store = Store::open(dir.path()).unwrap();
    let entry = store.inbox_entry(INBOX, "m-1").unwrap().unwrap();
    assert_eq!(entry.state(), InboxState::ReceiptSent);
    assert_eq!(entry.receipt_id(), Some("r-1"));
    assert_eq!(entry.as4_message_id(), "as4-in@peer");
    assert_eq!(store.load_inbound_payload(INBOX, "m-1").unwrap().unwrap().to_vec(u64::MAX).unwrap(), b"msg");
    let queued = store.outbox_entry("r-1").unwrap().unwrap();
    assert_eq!((queued.document_type(), queued.state()), (DocumentType::Receipt, OutboxState::Scheduled));
    assert_eq!(store.load_payload("r-1").unwrap().unwrap().to_vec(u64::MAX).unwrap(), b"<XHE receipt/>");
    let link = store.answered_by("r-1", ReceiptDirection::Sent).unwrap().unwrap();
    assert_eq!((link.message_id.as_str(), link.functional_address.as_deref()), ("m-1", Some(INBOX)));
    assert_eq!(store.due(at(secs(1)), 10).unwrap().len(), 1);
    let counts = store.count_by_state();
    assert_eq!((counts.inbox[&InboxState::ReceiptSent], counts.outbox[&OutboxState::Scheduled]), (1, 1));
}

// ---------------------------------------------------------------------------
// The outbox state machine, through the store
// ---------------------------------------------------------------------------

fn short_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        initial_backoff: secs(10),
        max_backoff: secs(60),
        multiplier: 3.0,
        jitter: 0.5,
        expiry: secs(3600),
    }
}

#[test]
fn retry_schedule_is_exact_capped_and_ends_in_message_exchange_error() {
    let dir = tempdir();
    let store = Store::open(dir.path()).unwrap();
    let policy = short_policy();
    let mut entry = new_entry("m-retry", DocumentType::Message, T0, &policy);
    let as4_id = entry.as4_message_id().to_owned();
    assert!(as4_id.ends_with("@brygga"));
    store.submit(&entry, b"<XHE/>").unwrap();

    // (failure time, random input, expected next attempt): delays are
    // 10 s, 30 s, then 90 s capped at 60 s, each less up to half at random.
    let steps = [
        (T0, 0.0, at(secs(10))),                                   // 10 s
        (at(secs(10)), 0.5, at(secs(10) + Duration::from_millis(22_500))), // 30 s × 0.75
        (at(secs(100)), 1.0, at(secs(130))),                       // 60 s (capped) × 0.5
    ];
    let mut now = T0;
    for (attempt, (failed_at, rng, expected_next)) in steps.into_iter().enumerate() {
        let due = store.due(now, 10).unwrap();
        assert_eq!(due.len(), 1, "attempt {}", attempt + 1);
        entry = due.into_iter().next().unwrap();
        entry.on_attempt_started(now).unwrap();
        store.update(&mut entry).unwrap();
        assert_eq!(store.outbox_entry("m-retry").unwrap().unwrap().state(), OutboxState::Submitted);
        assert!(store.due(now, 10).unwrap().is_empty(), "an attempt in progress is not due");

        entry.on_transport_failure(failed_at, true, "connection refused", &policy, rng).unwrap();
        assert_eq!(entry.state(), OutboxState::ScheduledForResend);
        assert_eq!(entry.next_attempt_at(), expected_next, "after attempt {}", attempt + 1);
        store.update(&mut entry).unwrap();
        assert!(store.due(expected_next - Duration::from_millis(1), 10).unwrap().is_empty());
        now = expected_next;
    }

    // Attempt 4 of 4 fails: the attempts are used up.
    let mut entry = store.due(now, 10).unwrap().pop().unwrap();
    entry.on_attempt_started(now).unwrap();
    store.update(&mut entry).unwrap();
    entry.on_transport_failure(now, true, "connection refused", &policy, 0.0).unwrap();
    assert_eq!(entry.state(), OutboxState::MessageExchangeError);
    assert!(entry.last_error().unwrap().contains("4 attempts"), "{:?}", entry.last_error());
    store.update(&mut entry).unwrap();

    let stored = store.outbox_entry("m-retry").unwrap().unwrap();
    assert_eq!(stored.state(), OutboxState::MessageExchangeError);
    assert_eq!(stored.attempts(), 4);
    assert_eq!(stored.as4_message_id(), as4_id, "the AS4 MessageId must not change between attempts");
    assert!(store.due(at(secs(100_000)), 10).unwrap().is_empty());
    assert!(store.expired(at(secs(100_000)), 10).unwrap().is_empty(), "a final entry does not expire again");
    assert_eq!(store.count_by_state().outbox[&OutboxState::MessageExchangeError], 1);
}

#[test]
fn a_permanent_failure_ends_at_once() {
    let policy = short_policy();
    let mut entry = new_entry("m", DocumentType::Message, T0, &policy);
    entry.on_attempt_started(T0).unwrap();
    entry.on_transport_failure(T0, false, "EBMS:0004 other", &policy, 0.0).unwrap();
    assert_eq!(entry.state(), OutboxState::MessageExchangeError);
    assert_eq!(entry.attempts(), 1);
}

#[test]
fn expiry_ends_the_exchange() {
    let dir = tempdir();
    let store = Store::open(dir.path()).unwrap();
    let policy = RetryPolicy { expiry: secs(25), ..short_policy() };

    // The next attempt would fall after the expiry: give up now.
    let mut a = new_entry("a", DocumentType::Message, T0, &policy);
    a.on_attempt_started(T0).unwrap();
    a.on_transport_failure(at(secs(10)), true, "timeout", &policy, 0.0).unwrap();
    assert_eq!(a.next_attempt_at(), at(secs(20)));
    assert_eq!(a.state(), OutboxState::ScheduledForResend);
    a.on_attempt_started(at(secs(20))).unwrap();
    a.on_transport_failure(at(secs(21)), true, "timeout", &policy, 0.0).unwrap();
    assert_eq!(a.state(), OutboxState::MessageExchangeError, "21 s + 30 s is past the 25 s expiry");

    // A due entry that expired is refused an attempt and expired instead.
    let mut b = new_entry("b", DocumentType::Message, T0, &policy);
    store.submit(&b, b"<XHE/>").unwrap();
    let late = at(secs(25));
    assert_eq!(b.on_attempt_started(late), Err(TransitionError::Expired { expires_at: late }));
    assert_eq!(b.expire(at(secs(24))), Err(TransitionError::NotExpired { expires_at: late }));

    // A message whose business receipt never comes.
    let mut c = new_entry("c", DocumentType::Message, T0, &policy);
    store.submit(&c, b"<XHE/>").unwrap();
    c.on_attempt_started(T0).unwrap();
    store.update(&mut c).unwrap();
    c.on_transport_receipt(at(secs(1))).unwrap();
    assert_eq!(c.state(), OutboxState::WaitingForReceipt);
    store.update(&mut c).unwrap();

    assert!(store.expired(at(secs(24)), 10).unwrap().is_empty());
    let expired = store.expired(late, 10).unwrap();
    assert_eq!(expired.iter().map(|e| e.id()).collect::<Vec<_>>(), ["b", "c"]);
    for mut e in expired {
        e.expire(late).unwrap();
        assert_eq!(e.state(), OutboxState::MessageExchangeError);
        store.update(&mut e).unwrap();
    }
    assert_eq!(
        store.outbox_entry("c").unwrap().unwrap().last_error(),
        Some("expired at 2026-03-02T09:00:25Z: no business receipt")
    );
    assert!(store.expired(late, 10).unwrap().is_empty());
    assert!(store.due(late, 10).unwrap().is_empty());
    // A receipt that arrives after the exchange ended does not reopen it.
    let err = store.correlate_receipt("c", receipt(true, RECIPIENT, late)).unwrap_err();
    assert!(matches!(err, StoreError::Transition(TransitionError::Illegal { from: "MESSAGE_EXCHANGE_ERROR", .. })));
    let mut c = store.outbox_entry("c").unwrap().unwrap();
    assert!(c.expire(late).is_err(), "a final state does not expire again");
}

#[test]
fn illegal_transitions_are_refused() {
    let policy = short_policy();
    let mut e = new_entry("m", DocumentType::Message, T0, &policy);
    let illegal = |r: Result<(), TransitionError>, from: &str| match r {
        Err(TransitionError::Illegal { from: f, .. }) => assert_eq!(f, from),
        other => panic!("expected an illegal transition from {from}, got {other:?}"),
    };
    illegal(e.on_transport_receipt(T0), "SCHEDULED");
    illegal(e.on_transport_failure(T0, true, "x", &policy, 0.0), "SCHEDULED");
    illegal(e.on_business_receipt(receipt(true, RECIPIENT, T0)), "SCHEDULED");
    e.on_attempt_started(T0).unwrap();
    illegal(e.on_attempt_started(T0), "SUBMITTED");
    e.on_transport_receipt(T0).unwrap();
    illegal(e.on_transport_receipt(T0), "WAITING_FOR_RECEIPT");
    illegal(e.on_attempt_started(T0), "WAITING_FOR_RECEIPT");
    illegal(e.on_transport_failure(T0, true, "x", &policy, 0.0), "WAITING_FOR_RECEIPT");
    e.on_business_receipt(receipt(false, RECIPIENT, T0)).unwrap();
    assert_eq!(e.state(), OutboxState::Rejected);
    illegal(e.on_business_receipt(receipt(true, RECIPIENT, T0)), "REJECTED");
    illegal(e.on_attempt_started(T0), "REJECTED");
    illegal(e.expire(at(secs(1_000_000))), "REJECTED");

    let mut i = inbound("m", INBOX, T0);
    i.mark_error("cannot decrypt", T0).unwrap();
    illegal(i.mark_retrieved(T0), "ERROR");
    illegal(i.mark_receipt_sent("r", T0), "ERROR");
    illegal(i.mark_error("again", T0), "ERROR");
}

#[test]
fn business_receipts_are_correlated_once_and_only_from_the_recipient() {
    let dir = tempdir();
    let store = Store::open(dir.path()).unwrap();
    for id in ["acc", "rej", "early"] {
        store.submit(&message(id), b"<XHE/>").unwrap();
    }
    for id in ["acc", "rej"] {
        let mut e = store.outbox_entry(id).unwrap().unwrap();
        e.on_attempt_started(T0).unwrap();
        store.update(&mut e).unwrap();
        e.on_transport_receipt(T0).unwrap();
        store.update(&mut e).unwrap();
    }

    // Not from the organisation we sent to: refused, nothing changes.
    let err = store.correlate_receipt("acc", receipt(true, "0203:evil.se", at(secs(1)))).unwrap_err();
    assert!(matches!(err, StoreError::Transition(TransitionError::WrongSender { .. })));
    assert_eq!(store.outbox_entry("acc").unwrap().unwrap().state(), OutboxState::WaitingForReceipt);

    let ok = receipt(true, RECIPIENT, at(secs(2)));
    let accepted = store.correlate_receipt("acc", ok.clone()).unwrap();
    assert_eq!(accepted.state(), OutboxState::Accepted);
    assert_eq!(accepted.receipt(), Some(&ok));
    assert_eq!(store.answered_by(&ok.receipt_id, ReceiptDirection::Received).unwrap().unwrap().message_id, "acc");
    let again = store.correlate_receipt("acc", ok.clone()).unwrap_err();
    assert!(matches!(again, StoreError::ReceiptAlreadyCorrelated { .. }));

    // Arriving as an AS4 user message: duplicate elimination too.
    let no = receipt(false, RECIPIENT, at(secs(3)));
    match store.receive_receipt("as4-r@peer", "rej", no.clone()).unwrap() {
        ReceiptOutcome::Correlated(e) => {
            assert_eq!(e.state(), OutboxState::Rejected);
            assert_eq!(e.receipt().unwrap().lines[0].text, "recipient unknown");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.receive_receipt("as4-r@peer", "rej", no.clone()).unwrap(),
        ReceiptOutcome::Duplicate { message_id: no.receipt_id.clone() }
    );

    // Never handed to AS4: a receipt for it is refused.
    let err = store.correlate_receipt("early", receipt(true, RECIPIENT, T0)).unwrap_err();
    assert!(matches!(err, StoreError::Transition(TransitionError::Illegal { from: "SCHEDULED", .. })));
    assert!(matches!(store.correlate_receipt("nope", receipt(true, RECIPIENT, T0)), Err(StoreError::OutboxNotFound(_))));

    let counts = store.count_by_state();
    assert_eq!(counts.outbox[&OutboxState::Accepted], 1);
    assert_eq!(counts.outbox[&OutboxState::Rejected], 1);
    assert_eq!(counts.outbox[&OutboxState::Scheduled], 1);
    assert_eq!(counts.outbox[&OutboxState::WaitingForReceipt], 0);
}

#[test]
fn a_stale_write_is_refused() {
    let dir = tempdir();
    let store = Store::open(dir.path()).unwrap();
    store.submit(&message("m"), b"<XHE/>").unwrap();
    let mut mine = store.outbox_entry("m").unwrap().unwrap();
    let mut theirs = mine.clone();
    mine.on_attempt_started(T0).unwrap();
    store.update(&mut mine).unwrap();
    assert_eq!(mine.revision(), 1);
    theirs.on_attempt_started(T0).unwrap();
    assert!(matches!(store.update(&mut theirs), Err(StoreError::Conflict { expected: 0, found: 1, .. })));
    assert_eq!(store.outbox_entry("m").unwrap().unwrap().attempts(), 1, "one attempt, not two");

    // A fresh entry under the same id cannot replace the stored one.
    assert!(matches!(store.submit(&message("m"), b"x"), Err(StoreError::AlreadyExists(_))));
    let mut impostor = message("m");
    impostor.on_attempt_started(T0).unwrap();
    assert!(matches!(store.update(&mut impostor), Err(StoreError::Conflict { .. })));
    assert!(matches!(store.update(&mut message("never-submitted")), Err(StoreError::OutboxNotFound(_))));
}

#[test]
fn an_attempt_cut_short_by_a_crash_is_retried_with_the_same_as4_message_id() {
    let dir = tempdir();
    let policy = short_policy();
    let as4_id;
    {
        let store = Store::open(dir.path()).unwrap();
        let mut e = new_entry("m", DocumentType::Message, T0, &policy);
        as4_id = e.as4_message_id().to_owned();
        store.submit(&e, b"<XHE/>").unwrap();
        e.on_attempt_started(T0).unwrap();
        store.update(&mut e).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.recover_interrupted(at(secs(5)), &policy, || 0.0).unwrap(), 1);
    let e = store.outbox_entry("m").unwrap().unwrap();
    assert_eq!(e.state(), OutboxState::ScheduledForResend);
    assert_eq!(e.next_attempt_at(), at(secs(15)));
    assert_eq!(e.as4_message_id(), as4_id);
    assert_eq!(store.due(at(secs(15)), 10).unwrap().len(), 1);
}

#[test]
fn receipts_we_send_end_in_acknowledge() {
    let dir = tempdir();
    let store = Store::open(dir.path()).unwrap();
    let mut r = new_entry("r", DocumentType::Receipt, T0, &RetryPolicy::default());
    store.submit(&r, b"<XHE/>").unwrap();
    r.on_attempt_started(T0).unwrap();
    store.update(&mut r).unwrap();
    r.on_transport_receipt(T0).unwrap();
    store.update(&mut r).unwrap();
    assert_eq!(store.outbox_entry("r").unwrap().unwrap().state(), OutboxState::Acknowledge);
    assert!(store.expired(at(secs(10_000_000)), 10).unwrap().is_empty());
}

#[test]
fn keys_are_checked() {
    let dir = tempdir();
    let store = Store::open(dir.path()).unwrap();
    assert!(matches!(store.submit(&message(""), b"x"), Err(StoreError::InvalidKey { .. })));
    assert!(matches!(store.submit(&message(&"x".repeat(513)), b"x"), Err(StoreError::InvalidKey { .. })));
    assert!(matches!(store.receive_inbound("", inbound("m", INBOX, T0), b"x"), Err(StoreError::InvalidKey { .. })));
    assert!(matches!(store.inbox("", &InboxFilter::default()), Err(StoreError::InvalidKey { .. })));
}
