//! The audit log on real files: the chain verifies, every kind of tampering
//! is caught at the first line it touches, the log survives a restart, and
//! person identifiers never reach the file in clear text.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use brygga::audit::{
    self, Action, AuditError, AuditLog, BreakReason, BrokenLink, Entry, KeyError, NewEntry, Outcome, PersonId,
    PersonKey, GENESIS_PREV,
};
use time::macros::datetime;
use time::Duration;

const ORG: &str = "0203:bup.regionstockholm.se";
const PERSON_A: &str = "19121212-1212";
const PERSON_A_NO_HYPHEN: &str = "191212121212";
/// Skatteverket's example samordningsnummer (day 63 = 3 + 60).
const PERSON_B: &str = "19701063-2391";

fn key() -> PersonKey {
    PersonKey::from_bytes(&[0x42; 32])
}

fn new_log() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    (dir, path)
}

fn entry(i: u64) -> NewEntry {
    NewEntry::new(
        datetime!(2026-11-25 10:00 UTC) + Duration::seconds(i as i64),
        format!("client-{i}"),
        ORG,
        Action::Read,
        Outcome::Ok,
    )
    .functional_address("bup-en-vag-in")
    .message_id(format!("msg-{i}"))
    .conversation_id("5f0c2a1e-7b3d-4c9a-8e21-0a1b2c3d4e5f")
    .detail(format!("entry {i}"))
}

/// A log of `n` entries, appended and closed.
fn write_log(path: &Path, n: u64) {
    let log = AuditLog::open(path, key()).expect("open");
    for i in 1..=n {
        assert_eq!(log.append(entry(i)).expect("append"), i);
    }
}

fn read_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("read log");
    assert!(text.ends_with('\n'));
    text.lines().map(str::to_owned).collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).expect("write log");
}

fn first_break(path: &Path) -> BrokenLink {
    match audit::verify(path) {
        Ok(report) => panic!("tampering not detected: {report}"),
        Err(e) => e.broken_link().cloned().unwrap_or_else(|| panic!("not a broken link: {e}")),
    }
}

#[test]
fn appended_entries_verify() {
    let (_dir, path) = new_log();
    write_log(&path, 20);
    let report = audit::verify(&path).expect("verify");
    assert_eq!(report.entries, 20);
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 20);
    let last: Entry = serde_json::from_str(&lines[19]).expect("json");
    assert_eq!(report.last_hash, last.hash);
    assert_eq!(report.to_string(), format!("OK 20 entries, head {}", last.hash));
    let first: Entry = serde_json::from_str(&lines[0]).expect("json");
    assert_eq!(first.prev, GENESIS_PREV);
    assert_eq!(first.seq, 1);
}

#[test]
fn an_empty_log_verifies_and_opens() {
    let (_dir, path) = new_log();
    std::fs::write(&path, b"").expect("create");
    let report = audit::verify(&path).expect("verify");
    assert_eq!((report.entries, report.last_hash.as_str()), (0, GENESIS_PREV));
    let log = AuditLog::open(&path, key()).expect("open");
    assert_eq!(log.head().expect("head").seq, 0);
}

#[test]
fn every_single_byte_edit_is_caught_at_its_line() {
    let (_dir, path) = new_log();
    write_log(&path, 6);
    let original = std::fs::read(&path).expect("read");
    for target_line in [1u64, 4, 6] {
        let start = original.split(|&b| b == b'\n').take(target_line as usize - 1).map(|l| l.len() + 1).sum::<usize>();
        let end = start + original[start..].iter().position(|&b| b == b'\n').expect("newline") + 1;
        // Every byte of the line, its newline included.
        for at in start..end {
            let mut bytes = original.clone();
            bytes[at] ^= 0x01;
            std::fs::write(&path, &bytes).expect("write");
            let link = first_break(&path);
            assert_eq!(link.line, target_line, "byte {} of line {target_line}: {link}", at - start);
        }
    }
}

#[test]
fn a_readable_edit_breaks_the_hash() {
    let (_dir, path) = new_log();
    write_log(&path, 10);
    let mut lines = read_lines(&path);
    lines[4] = lines[4].replace("\"actor\":\"client-5\"", "\"actor\":\"client-6\"");
    write_lines(&path, &lines);
    assert_eq!(first_break(&path), BrokenLink { line: 5, reason: BreakReason::HashMismatch });
}

#[test]
fn reformatting_a_line_is_caught() {
    let (_dir, path) = new_log();
    write_log(&path, 3);
    let mut lines = read_lines(&path);
    lines[1] = lines[1].replacen('{', "{ ", 1);
    write_lines(&path, &lines);
    assert_eq!(first_break(&path), BrokenLink { line: 2, reason: BreakReason::NotCanonical });
}

#[test]
fn a_deleted_entry_is_caught() {
    let (_dir, path) = new_log();
    write_log(&path, 10);
    let mut lines = read_lines(&path);
    lines.remove(3);
    write_lines(&path, &lines);
    assert_eq!(first_break(&path), BrokenLink { line: 4, reason: BreakReason::PrevMismatch });
}

#[test]
fn a_deleted_first_entry_is_caught() {
    let (_dir, path) = new_log();
    write_log(&path, 3);
    let mut lines = read_lines(&path);
    lines.remove(0);
    write_lines(&path, &lines);
    assert_eq!(first_break(&path), BrokenLink { line: 1, reason: BreakReason::PrevMismatch });
}

#[test]
fn swapped_entries_are_caught() {
    let (_dir, path) = new_log();
    write_log(&path, 10);
    let mut lines = read_lines(&path);
    lines.swap(6, 7);
    write_lines(&path, &lines);
    assert_eq!(first_break(&path), BrokenLink { line: 7, reason: BreakReason::PrevMismatch });
}

#[test]
fn a_forged_entry_with_its_own_hash_recomputed_breaks_the_next_link() {
    let (_dir, path) = new_log();
    write_log(&path, 10);
    let mut lines = read_lines(&path);
    // The forger knows the format: the forged entry links to entry 4, takes
    // sequence number 5 and carries a correct hash of its own.
    let before: Entry = serde_json::from_str(&lines[3]).expect("json");
    let mut forged: Entry = serde_json::from_str(&lines[4]).expect("json");
    forged.actor = "someone-else".into();
    forged.seq = before.seq + 1;
    forged.prev = before.hash.clone();
    forged.hash = forged.compute_hash();
    lines.insert(4, forged.to_line());
    write_lines(&path, &lines);
    // Line 5 (the forgery) is internally consistent; the genuine entry after
    // it no longer links.
    assert_eq!(first_break(&path), BrokenLink { line: 6, reason: BreakReason::PrevMismatch });

    // Without the recomputed hash it fails at once.
    let mut lines = read_lines(&path);
    lines.remove(4);
    let mut lazy = forged.clone();
    lazy.actor = "someone-else-again".into();
    lines.insert(4, lazy.to_line());
    write_lines(&path, &lines);
    assert_eq!(first_break(&path), BrokenLink { line: 5, reason: BreakReason::HashMismatch });
}

#[test]
fn a_truncated_last_line_is_reported_as_such_and_blocks_open() {
    let (_dir, path) = new_log();
    write_log(&path, 10);
    let len = std::fs::metadata(&path).expect("meta").len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).expect("open");
    file.set_len(len - 30).expect("truncate");
    drop(file);
    assert_eq!(first_break(&path), BrokenLink { line: 10, reason: BreakReason::Truncated });
    match AuditLog::open(&path, key()) {
        Err(AuditError::Broken { reason: BreakReason::Truncated, .. }) => {}
        other => panic!("open must refuse a torn log: {other:?}"),
    }
    // Only the newline missing is still a torn write.
    let file = std::fs::OpenOptions::new().write(true).open(&path).expect("open");
    let full: Vec<u8> = std::fs::read(&path).expect("read");
    let last_newline = full.iter().rposition(|&b| b == b'\n').expect("newline");
    file.set_len(last_newline as u64).expect("truncate");
    drop(file);
    assert_eq!(first_break(&path), BrokenLink { line: 9, reason: BreakReason::Truncated });
}

#[test]
fn bytes_cut_from_the_middle_are_caught() {
    let (_dir, path) = new_log();
    write_log(&path, 10);
    let bytes = std::fs::read(&path).expect("read");
    let third_end = bytes.iter().enumerate().filter(|(_, &b)| b == b'\n').nth(2).expect("3 lines").0;
    // Cut across the end of line 3 and the start of line 4.
    let mut cut = bytes[..third_end - 20].to_vec();
    cut.extend_from_slice(&bytes[third_end + 20..]);
    std::fs::write(&path, cut).expect("write");
    let link = first_break(&path);
    assert_eq!(link.line, 3);
    assert!(matches!(link.reason, BreakReason::Malformed(_)), "{link}");
}

#[test]
fn open_refuses_a_log_whose_end_does_not_link() {
    let (_dir, path) = new_log();
    write_log(&path, 10);
    let mut lines = read_lines(&path);
    lines.remove(8);
    write_lines(&path, &lines);
    match AuditLog::open(&path, key()) {
        Err(AuditError::Broken { reason: BreakReason::PrevMismatch, .. }) => {}
        other => panic!("open must refuse: {other:?}"),
    }
    std::fs::write(&path, b"not json\n").expect("write");
    assert!(matches!(AuditLog::open(&path, key()), Err(AuditError::Broken { reason: BreakReason::Malformed(_), .. })));
}

#[test]
fn reopening_continues_the_chain() {
    let (_dir, path) = new_log();
    let head = {
        let log = AuditLog::open(&path, key()).expect("open");
        for i in 1..=5 {
            log.append(entry(i)).expect("append");
        }
        log.head().expect("head")
    };
    assert_eq!(head.seq, 5);
    let log = AuditLog::open(&path, key()).expect("reopen");
    assert_eq!(log.head().expect("head"), head);
    for i in 6..=10 {
        assert_eq!(log.append(entry(i)).expect("append"), i);
    }
    let report = audit::verify(&path).expect("verify");
    assert_eq!(report.entries, 10);
    let sixth: Entry = serde_json::from_str(&read_lines(&path)[5]).expect("json");
    assert_eq!(sixth.prev, head.hash);
}

#[test]
fn a_second_writer_stops_the_first() {
    let (_dir, path) = new_log();
    let first = AuditLog::open(&path, key()).expect("open");
    first.append(entry(1)).expect("append");
    let second = AuditLog::open(&path, key()).expect("open again");
    second.append(entry(2)).expect("append");
    assert!(matches!(first.append(entry(3)), Err(AuditError::ModifiedExternally { .. })));
    assert!(matches!(first.append(entry(3)), Err(AuditError::Stopped)));
    assert_eq!(audit::verify(&path).expect("verify").entries, 2);
}

#[test]
fn person_ids_never_reach_the_file_in_clear() {
    let (_dir, path) = new_log();
    let log = AuditLog::open(&path, key()).expect("open");
    let a = PersonId::parse(PERSON_A).expect("pnr");
    let b = PersonId::parse(PERSON_B).expect("snr");
    log.append(entry(1).person(a.clone())).expect("append");
    log.append(entry(2).person(b)).expect("append");
    // A careless caller: identifiers in free text and identifier fields.
    log.append(entry(3).person(a).detail(format!("patient {PERSON_A} and 121212-1212 rejected"))).expect("append");
    log.append(entry(4).message_id(format!("msg-{PERSON_A_NO_HYPHEN}")).detail("1212121212")).expect("append");
    let bytes = std::fs::read(&path).expect("read");
    let text = String::from_utf8(bytes).expect("utf-8");
    for clear in [PERSON_A, PERSON_A_NO_HYPHEN, "121212-1212", "1212121212", PERSON_B, "197010632391", "7010632391"] {
        assert!(!text.contains(clear), "{clear} is in the log in clear text");
    }
    assert!(text.contains("patient [PERSON-ID] and [PERSON-ID] rejected"));
    assert_eq!(audit::verify(&path).expect("verify").entries, 4);
}

#[test]
fn export_returns_exactly_one_persons_entries_under_either_spelling() {
    let (_dir, path) = new_log();
    let log = AuditLog::open(&path, key()).expect("open");
    let a = PersonId::parse(PERSON_A).expect("pnr");
    let b = PersonId::parse(PERSON_B).expect("snr");
    let mut expected = Vec::new();
    for i in 1..=30u64 {
        let e = match i % 3 {
            0 => entry(i).person(a.clone()),
            1 => entry(i).person(b.clone()),
            _ => entry(i),
        };
        let seq = log.append(e).expect("append");
        if i % 3 == 0 {
            expected.push(seq);
        }
    }
    for spelling in [PERSON_A, PERSON_A_NO_HYPHEN] {
        let person = PersonId::parse(spelling).expect("pnr");
        let found = audit::export_person(&path, &key(), &person).expect("export");
        assert_eq!(found.iter().map(|e| e.seq).collect::<Vec<_>>(), expected, "{spelling}");
        let reference = log.person_ref(&a);
        assert!(found.iter().all(|e| e.person_ref.as_deref() == Some(reference.as_str())));
    }
    // The right entries need the right key.
    let other_key = PersonKey::from_bytes(&[0x43; 32]);
    assert!(audit::export_person(&path, &other_key, &a).expect("export").is_empty());
}

#[test]
fn export_refuses_a_broken_log() {
    let (_dir, path) = new_log();
    write_log(&path, 5);
    let mut lines = read_lines(&path);
    lines.remove(1);
    write_lines(&path, &lines);
    let person = PersonId::parse(PERSON_A).expect("pnr");
    let err = audit::export_person(&path, &key(), &person).expect_err("broken");
    assert_eq!(err.broken_link().map(|l| l.line), Some(2));
}

#[test]
fn concurrent_appends_keep_one_contiguous_chain() {
    let (_dir, path) = new_log();
    let log = Arc::new(AuditLog::open(&path, key()).expect("open"));
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                (0..50u64).map(|i| log.append(entry(t * 1000 + i)).expect("append")).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads.into_iter().flat_map(|t| t.join().expect("thread")).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=400).collect::<Vec<_>>());
    let report = audit::verify(&path).expect("verify");
    assert_eq!(report.entries, 400);
    assert_eq!(report.last_hash, log.head().expect("head").hash);
    let lines = read_lines(&path);
    for (i, line) in lines.iter().enumerate() {
        let e: Entry = serde_json::from_str(line).expect("json");
        assert_eq!(e.seq, i as u64 + 1);
    }
}

#[test]
fn append_all_writes_a_contiguous_run_and_refuses_a_bad_batch_whole() {
    let (_dir, path) = new_log();
    let log = AuditLog::open(&path, key()).expect("open");
    assert_eq!(log.append(entry(1)).expect("append"), 1);
    assert_eq!(log.append_all([entry(2), entry(3), entry(4)]).expect("append_all"), 4);
    assert_eq!(log.head().expect("head").seq, 4);
    // One invalid entry: none of the batch is written.
    let len = std::fs::metadata(&path).expect("meta").len();
    let bad = NewEntry { org: "232100-0016".into(), ..entry(6) };
    assert!(matches!(log.append_all([entry(5), bad]), Err(AuditError::InvalidEntry { field: "org", .. })));
    assert_eq!(std::fs::metadata(&path).expect("meta").len(), len);
    assert_eq!(log.append(entry(5)).expect("append"), 5);
    let report = audit::verify(&path).expect("verify");
    assert_eq!(report.entries, 5);
    assert_eq!(report.last_hash, log.head().expect("head").hash);
}

#[test]
fn invalid_entries_are_refused_before_anything_is_written() {
    let (_dir, path) = new_log();
    let log = AuditLog::open(&path, key()).expect("open");
    let bad = NewEntry { org: "232100-0016".into(), ..entry(1) };
    assert!(matches!(log.append(bad), Err(AuditError::InvalidEntry { field: "org", .. })));
    assert_eq!(std::fs::metadata(&path).expect("meta").len(), 0);
    // A later good entry is still number 1.
    assert_eq!(log.append(entry(1)).expect("append"), 1);
}

#[test]
fn times_are_written_in_utc() {
    let (_dir, path) = new_log();
    let log = AuditLog::open(&path, key()).expect("open");
    log.append(NewEntry { time: datetime!(2026-06-01 14:30:15.25 +02:00), ..entry(1) }).expect("append");
    let e: Entry = serde_json::from_str(&read_lines(&path)[0]).expect("json");
    assert_eq!(e.time, "2026-06-01T12:30:15.25Z");
}

#[cfg(unix)]
#[test]
fn person_key_file_is_private_and_stable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("person.key");
    let person = PersonId::parse(PERSON_A).expect("pnr");
    let first = PersonKey::load_or_create(&path).expect("create");
    let meta = std::fs::metadata(&path).expect("meta");
    assert_eq!(meta.len(), 32);
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let again = PersonKey::load_or_create(&path).expect("load");
    assert_eq!(first.person_ref(&person), again.person_ref(&person));
    assert_eq!(PersonKey::load(&path).expect("load").person_ref(&person), first.person_ref(&person));
    assert_ne!(PersonKey::generate().expect("generate").person_ref(&person), first.person_ref(&person));
    assert_eq!(format!("{first:?}"), "PersonKey(..)");
    // No stray temporary files.
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert!(matches!(PersonKey::load_or_create(&path), Err(KeyError::TooOpen { mode: 0o644, .. })));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::write(&path, [0u8; 31]).expect("write");
    assert!(matches!(PersonKey::load(&path), Err(KeyError::Length { .. })));
    assert!(matches!(PersonKey::load(&dir.path().join("missing")), Err(KeyError::Io { .. })));
}

#[cfg(unix)]
#[test]
fn a_new_log_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, path) = new_log();
    write_log(&path, 1);
    assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
}
