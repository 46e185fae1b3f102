//! `brygga audit verify|export`: check a log's chain, extract one person's
//! entries.
//!
//! Both read the log only; neither writes an entry. An export made for a
//! patient should itself be logged (action EXPORT) by the node, which is
//! the log's only writer.

use std::path::PathBuf;

use clap::Subcommand;

use super::{write_stdout, CmdResult, Failure, EXIT_VERIFY_FAILED};
use crate::audit::{self, PersonId, PersonKey, VerifyError};

#[derive(Subcommand)]
pub(super) enum AuditCommand {
    /// Check every entry's hash and its link to the one before; prints
    /// `OK <n> entries, head <hash>`, or names the first broken line (exit 1).
    Verify {
        /// The audit log (JSON lines).
        #[arg(long, value_name = "FILE")]
        log: PathBuf,
    },
    /// Every entry about one person, as JSON lines, from a log that verifies.
    Export {
        /// The audit log (JSON lines).
        #[arg(long, value_name = "FILE")]
        log: PathBuf,
        /// The node's person key (32 bytes, mode 0600); never created here.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Personnummer or samordningsnummer, 12 digits (YYYYMMDD-NNNC or
        /// YYYYMMDDNNNC), or a reserve number as OID:value.
        #[arg(long, value_name = "ID")]
        person: String,
    },
}

pub(super) fn run(cmd: AuditCommand) -> CmdResult {
    match cmd {
        AuditCommand::Verify { log } => {
            let report = audit::verify(&log).map_err(verify_failure)?;
            write_stdout(format!("{report}\n").as_bytes())
        }
        AuditCommand::Export { log, key, person } => {
            // The error never echoes the value: it is a person identifier.
            let person = PersonId::parse(&person).map_err(|e| Failure::usage(format!("--person: {e}")))?;
            let key = PersonKey::load(&key).map_err(|e| Failure::usage(e.to_string()))?;
            let entries = audit::export_person(&log, &key, &person).map_err(verify_failure)?;
            let mut out = String::new();
            for entry in &entries {
                out.push_str(&entry.to_line());
                out.push('\n');
            }
            write_stdout(out.as_bytes())
        }
    }
}

/// A broken chain is a verification failure (exit 1); an unreadable file is
/// a usage error (exit 2).
fn verify_failure(e: VerifyError) -> Failure {
    match e {
        VerifyError::Broken { path, link } => Failure {
            code: EXIT_VERIFY_FAILED,
            lines: vec![format!(
                "audit log verification failed: {}: line {}: {}",
                path.display(),
                link.line,
                link.reason
            )],
        },
        e @ VerifyError::Io { .. } => Failure::usage(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Action, AuditLog, NewEntry, Outcome};
    use time::macros::datetime;

    fn log_with_two_entries(dir: &std::path::Path) -> (PathBuf, PathBuf) {
        let (log_path, key_path) = (dir.join("audit.jsonl"), dir.join("person.key"));
        let log = AuditLog::open(&log_path, PersonKey::load_or_create(&key_path).unwrap()).unwrap();
        for _ in 0..2 {
            let entry =
                NewEntry::new(datetime!(2026-11-25 10:00 UTC), "node", "0203:bup.regionstockholm.se", Action::Read, Outcome::Ok)
                    .person(PersonId::parse("191212121212").unwrap());
            log.append(entry).unwrap();
        }
        (log_path, key_path)
    }

    #[test]
    fn verify_and_export_succeed_on_a_good_log() {
        let dir = tempfile::tempdir().unwrap();
        let (log, key) = log_with_two_entries(dir.path());
        assert!(run(AuditCommand::Verify { log: log.clone() }).is_ok());
        assert!(run(AuditCommand::Export { log, key, person: "19121212-1212".into() }).is_ok());
    }

    #[test]
    fn a_broken_chain_exits_1_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = log_with_two_entries(dir.path());
        let text = std::fs::read_to_string(&log).unwrap();
        let first_line_end = text.find('\n').unwrap() + 1;
        std::fs::write(&log, &text[first_line_end..]).unwrap();
        let failure = run(AuditCommand::Verify { log }).err().unwrap();
        assert_eq!(failure.code, EXIT_VERIFY_FAILED);
        assert!(failure.lines[0].contains("line 1: prev does not match"), "{}", failure.lines[0]);
    }

    #[test]
    fn missing_files_and_bad_person_ids_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let failure = run(AuditCommand::Verify { log: dir.path().join("none") }).err().unwrap();
        assert_eq!(failure.code, super::super::EXIT_USAGE);
        let (log, key) = log_with_two_entries(dir.path());
        let failure = run(AuditCommand::Export { log, key, person: "121212-1212".into() }).err().unwrap();
        assert_eq!(failure.code, super::super::EXIT_USAGE);
        assert!(!failure.lines[0].contains("1212"), "the id must not be echoed: {}", failure.lines[0]);
    }

    #[test]
    fn export_never_creates_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = log_with_two_entries(dir.path());
        let missing = dir.path().join("other.key");
        let failure =
            run(AuditCommand::Export { log, key: missing.clone(), person: "191212121212".into() }).err().unwrap();
        assert_eq!(failure.code, super::super::EXIT_USAGE);
        assert!(!missing.exists());
    }
}
