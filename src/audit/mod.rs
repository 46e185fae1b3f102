//! The audit log: who did what, when, for which organisation and which
//! person, as an append-only file of hash-chained JSON lines.
//!
//! Swedish patient data law asks for a log of every access to patient data,
//! kept at least five years, reviewed regularly, and extractable per patient.
//! So every send, receipt, delivery, read and export is logged here, and the
//! node acknowledges an action only after [`AuditLog::append`] has returned:
//! by then the entry is on disk (`fdatasync`; concurrent appends share one,
//! see [`AuditLog`]).
//!
//! Format (one entry per line, see [`entry`] for the canonical form):
//!
//! ```text
//! {"v":1,"seq":1,"time":"2026-11-25T10:00:00Z","actor":"node","org":"0203:bup.regionstockholm.se",
//!  "action":"INBOUND_MESSAGE","outcome":"ACCEPTED","person_ref":"<hex HMAC>","prev":"000…0","hash":"<hex SHA-256>"}
//! ```
//!
//! `prev` is the previous entry's `hash`, so any edit, removal, insertion or
//! reordering breaks the chain at the first line it touches; [`verify`]
//! names that line.
//!
//! What this module does not do: read the clock (the caller gives the time),
//! rotate or archive files, anchor the head hash outside the log (the caller
//! should: see [`AuditLog::head`]), or run async (call `append` from tokio
//! through `spawn_blocking`: it waits for the disk).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub mod entry;
pub mod person;
mod verify;

pub use entry::{Action, Entry, NewEntry, Outcome, GENESIS_PREV};
pub use person::{KeyError, PersonId, PersonIdError, PersonKey};
pub use verify::{export_person, verify, BreakReason, BrokenLink, VerifyError, VerifyReport};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// Found on open: the log's end does not check out. Appending would hide
    /// the damage behind a new, valid-looking chain, so an operator must look.
    #[error("{}: the audit log is broken at its end ({reason}); an operator must examine it (brygga audit verify) before the node writes to it again", path.display())]
    Broken { path: PathBuf, reason: BreakReason },
    /// The file is not the length this writer left it at: another process
    /// or another `AuditLog` on the same file wrote to it, or it was cut.
    #[error("{}: the audit log changed underneath this writer (a second writer?); not appending", path.display())]
    ModifiedExternally { path: PathBuf },
    /// An earlier write or sync failed, so what is on disk is unknown. A
    /// retried fsync may report success without the data being safe, so
    /// the log stops; reopening checks the tail.
    #[error("the audit log stopped after a failed write or sync; reopen it to check its end")]
    Stopped,
    #[error("audit entry field {field}: {problem}")]
    InvalidEntry { field: &'static str, problem: &'static str },
    #[error("{}: not a regular file", path.display())]
    NotAFile { path: PathBuf },
}

/// The last entry written: the value to keep outside the log (a database, a
/// peer, a printout) so that removing entries from the end is caught too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Sequence number of the last entry; 0 for an empty log.
    pub seq: u64,
    /// Its hash; [`GENESIS_PREV`] for an empty log.
    pub hash: String,
}

/// An open audit log, the only writer of its file.
///
/// `append` takes `&self` and is safe from many threads: one mutex orders the
/// entries, so the chain and the sequence numbers follow the order of
/// `append` calls that succeed.
///
/// Group commit: an entry is written under that mutex, and made durable
/// outside it. Of the callers waiting for durability, one (the leader)
/// runs `fdatasync`, which covers every line written before it started;
/// entries appended meanwhile wait for the leader's sync to finish and are
/// then covered by one further sync, done by the next of them. `append`
/// still returns only once its own entry is on disk; concurrent callers
/// (tokio's blocking pool, say) just share the cost of the syncs.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    key: PersonKey,
    state: Mutex<State>,
    sync: Mutex<SyncState>,
}

#[derive(Debug)]
struct State {
    file: File,
    /// The file's length after our last write, to notice other writers.
    len: u64,
    /// The last entry written (not necessarily synced yet).
    head: Head,
    stopped: bool,
}

#[derive(Debug)]
struct SyncState {
    /// The same open file as `State::file`, for `fdatasync` without holding
    /// the write lock.
    file: File,
    /// The last entry known to be on disk.
    durable: Head,
    /// A sync failed: what is on disk is unknown, so nothing more is
    /// reported durable.
    failed: bool,
}

impl AuditLog {
    /// Opens the log at `path`, creating it (mode 0600) when there is none.
    /// An existing log must end in a complete entry that follows the one
    /// before it; otherwise this refuses with [`AuditError::Broken`].
    pub fn open(path: impl AsRef<Path>, key: PersonKey) -> Result<Self, AuditError> {
        let path = path.as_ref().to_owned();
        let io_err = |source| AuditError::Io { path: path.clone(), source };
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        if !meta.is_file() {
            return Err(AuditError::NotAFile { path });
        }
        // The directory entry of a log created just now must survive a crash
        // as much as the entries written to it.
        sync_parent(&path).map_err(io_err)?;
        let len = meta.len();
        let head = match verify::check_tail(&mut file, len).map_err(io_err)? {
            Ok(Some(tail)) => Head { seq: tail.seq, hash: tail.hash },
            Ok(None) => Head { seq: 0, hash: GENESIS_PREV.to_owned() },
            Err(reason) => return Err(AuditError::Broken { path, reason }),
        };
        let sync_file = file.try_clone().map_err(io_err)?;
        Ok(Self {
            path,
            key,
            state: Mutex::new(State { file, len, head: head.clone(), stopped: false }),
            sync: Mutex::new(SyncState { file: sync_file, durable: head, failed: false }),
        })
    }

    /// Appends entries in order, one after the other in the chain, and
    /// returns the last one's sequence number once all are on disk (one
    /// sync for all). An invalid entry is refused before any is written.
    pub fn append_all(&self, entries: impl IntoIterator<Item = NewEntry>) -> Result<u64, AuditError> {
        let prepared = entries.into_iter().map(|e| e.prepare(&self.key)).collect::<Result<Vec<_>, _>>()?;
        let seq = self.write(prepared)?;
        self.make_durable(seq)?;
        Ok(seq)
    }

    /// Appends one entry and returns its sequence number once it is on disk.
    pub fn append(&self, new: NewEntry) -> Result<u64, AuditError> {
        let seq = self.write(vec![new.prepare(&self.key)?])?;
        self.make_durable(seq)?;
        Ok(seq)
    }

    /// Writes prepared entries (not synced) and returns the last one's
    /// sequence number (the head's when there are none).
    fn write(&self, entries: Vec<Entry>) -> Result<u64, AuditError> {
        let io_err = |source| AuditError::Io { path: self.path.clone(), source };
        // A panic while holding the lock leaves the file in an unknown state too.
        let mut state = self.state.lock().map_err(|_| AuditError::Stopped)?;
        if state.stopped {
            return Err(AuditError::Stopped);
        }
        let on_disk = state.file.metadata().map_err(io_err)?.len();
        if on_disk != state.len {
            state.stopped = true;
            return Err(AuditError::ModifiedExternally { path: self.path.clone() });
        }
        let mut head = state.head.clone();
        let mut lines = Vec::new();
        for mut entry in entries {
            entry.seq = head.seq + 1;
            entry.prev = head.hash;
            entry.hash = entry.compute_hash();
            lines.extend_from_slice(&entry.to_line_bytes());
            lines.push(b'\n');
            head = Head { seq: entry.seq, hash: entry.hash };
        }
        // One write of all the lines (O_APPEND); `make_durable` syncs them,
        // which also makes the new length durable.
        if let Err(e) = state.file.write_all(&lines) {
            state.stopped = true;
            return Err(io_err(e));
        }
        state.len += lines.len() as u64;
        state.head = head;
        Ok(state.head.seq)
    }

    /// Returns once entry `seq` (and every one before it) is on disk: at
    /// once when another caller's sync already covered it, else after one
    /// `fdatasync` covering everything written so far.
    fn make_durable(&self, seq: u64) -> Result<(), AuditError> {
        // Lock order: `sync`, then `state`; `write` never holds `state`
        // while taking `sync`.
        let mut sync = self.sync.lock().map_err(|_| AuditError::Stopped)?;
        if sync.durable.seq >= seq {
            return Ok(());
        }
        if sync.failed {
            return Err(AuditError::Stopped);
        }
        // Every line up to this head has been written (the head moves only
        // after a complete write), so the sync below covers all of them.
        let target = self.state.lock().map_err(|_| AuditError::Stopped)?.head.clone();
        if let Err(e) = sync.file.sync_data() {
            // A retried fsync may report success without the data being
            // safe, so the log stops, as after a failed write.
            sync.failed = true;
            if let Ok(mut state) = self.state.lock() {
                state.stopped = true;
            }
            return Err(AuditError::Io { path: self.path.clone(), source: e });
        }
        sync.durable = target;
        Ok(())
    }

    /// The last entry on disk (or the empty log's genesis values).
    pub fn head(&self) -> Result<Head, AuditError> {
        let sync = self.sync.lock().map_err(|_| AuditError::Stopped)?;
        Ok(sync.durable.clone())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The person reference this log writes for `person`, to look entries up
    /// elsewhere (an index, a database) without storing the identifier.
    pub fn person_ref(&self, person: &PersonId) -> String {
        self.key.person_ref(person)
    }
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Makes a new directory entry durable, not only the file's contents.
pub(crate) fn sync_parent(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}
