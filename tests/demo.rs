//! The README's first command: `brygga demo` runs both pilots between
//! three nodes through their APIs and exits 0 only when every step ended
//! as expected. With `--keep` its files stay, so this test also checks
//! what the nodes wrote: no person identifier or name in clear text in any
//! audit log or in the service log, and one child's entries across all
//! three kinds of document in BUP's audit export.

mod support;

use brygga::pilot::{self, DocumentKind};

fn files_named(dir: &std::path::Path, name: &str, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_named(&path, name, found);
        } else if path.file_name().is_some_and(|n| n == name) {
            found.push(path);
        }
    }
}

#[test]
fn demo_runs_both_pilots_through_the_apis_and_logs_no_person_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("demo");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_brygga"))
        .args(["demo", "--keep", kept.to_str().unwrap()])
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let text = support::stdout(&out);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{text}\nstderr:\n{}", support::stderr(&out));

    // What a clinician sees.
    assert!(text.contains("Summary: ") && text.contains("steps ended as expected"), "{text}");
    assert!(!text.contains("NOT AS EXPECTED"), "{text}");
    assert!(text.contains("1. concern-report             sent      ACUTE      ACCEPTED"), "{text}");
    for line in ["concern-acknowledgement    received", "concern-feedback           received  OPENED"] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
    let thread: Vec<&str> = text.lines().filter(|l| l.contains("referral-reply             received")).collect();
    assert_eq!(thread.len(), 3, "{text}");
    for (line, reply) in thread.iter().zip(["RECEIVED", "ACCEPTED", "FINAL"]) {
        assert!(line.contains(reply), "{line} should be {reply}:\n{text}");
    }
    assert!(text.contains("The school's node refuses it at once (400)"), "{text}");
    assert!(text.contains("BV invariant: referral /consent/coversReply"), "{text}");
    assert!(text.contains("receipt: REJECTED (signed by the receiving organisation, verified, correlated)"), "{text}");
    assert_eq!(text.matches("audit log of").count(), 3, "{text}");

    // No person identifier or name in any log, in any spelling.
    let child = pilot::example(DocumentKind::ConcernReport).to_json()["child"].clone();
    let number = child["personId"]["extension"].as_str().unwrap().to_owned();
    assert_eq!(number.len(), 12);
    let spellings = [
        number.clone(),
        format!("{}-{}", &number[..8], &number[8..]),
        number[2..].to_owned(),
        format!("{}-{}", &number[2..8], &number[8..]),
        child["name"].as_str().unwrap().to_owned(),
    ];
    let mut logs = Vec::new();
    files_named(&kept, "audit.log", &mut logs);
    assert_eq!(logs.len(), 3, "{logs:?}");
    logs.push(kept.join("service.log"));
    let service = std::fs::read_to_string(kept.join("service.log")).unwrap();
    assert!(service.lines().count() > 20, "the service log has the nodes' debug logs:\n{service}");
    for log in &logs {
        let content = std::fs::read_to_string(log).unwrap();
        for spelling in &spellings {
            assert!(!content.contains(spelling.as_str()), "{} holds a person identifier or name", log.display());
        }
    }

    // BUP's extract for the child: the concern report it sent, the
    // referral it received, the replies it sent, and the reads.
    let bup = logs.iter().find(|l| l.to_string_lossy().contains("bup")).expect("BUP's audit log").clone();
    let key = bup.with_file_name("audit-person.key");
    let export = support::brygga(&["audit", "export", "--log", bup.to_str().unwrap(), "--key", key.to_str().unwrap(), "--person", &spellings[1]]);
    let extract = support::stdout(&export);
    assert!(export.status.success(), "{}", support::stderr(&export));
    for kind in ["pilot document sent: concern-report", "stored in inbox: pilot document referral", "pilot document sent: referral-reply", "pilot document read: referral"] {
        assert!(extract.contains(kind), "{kind} missing from the extract:\n{extract}");
    }
    assert!(!extract.contains(&number), "the extract holds the number only as a keyed hash");
}
