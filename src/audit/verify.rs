//! Reading the log back: whole-chain verification, the tail check that
//! [`super::AuditLog::open`] does, and a person's extract.
//!
//! What a hash chain proves: no line was edited, removed, inserted or moved
//! without rewriting every line after it. It does not prove the end is the
//! end: dropping the last entries, or rewriting the whole chain from some
//! point on, leaves a valid chain. Catching that needs the head hash kept
//! somewhere the log's writer cannot change ([`VerifyReport::last_hash`],
//! [`super::AuditLog::head`]).

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::entry::{Entry, FORMAT_VERSION, GENESIS_PREV, MAX_LINE_BYTES};
use super::person::{PersonId, PersonKey};

/// A log whose every line checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Number of entries (the last sequence number).
    pub entries: u64,
    /// `hash` of the last entry; [`GENESIS_PREV`] for an empty log.
    pub last_hash: String,
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OK {} entries, head {}", self.entries, self.last_hash)
    }
}

/// The first line that does not check out. Lines count from 1; in an intact
/// log line n holds sequence number n.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct BrokenLink {
    pub line: u64,
    pub reason: BreakReason,
}

/// Why a line does not check out, most specific first: a line is read, then
/// parsed, then compared with its canonical form, its own hash, the link to
/// the line before, and its sequence number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BreakReason {
    /// The file ends inside a line: a write cut short by a crash, or a
    /// truncated file. Never skipped: the entry may be one that an action's
    /// acknowledgement waited for.
    #[error("the last line is incomplete (no newline): a write cut short or a truncated file")]
    Truncated,
    #[error("longer than {MAX_LINE_BYTES} bytes")]
    TooLong,
    #[error("not an audit entry: {0}")]
    Malformed(String),
    #[error("format version {0} is not one this program reads")]
    UnsupportedVersion(u32),
    /// Parses, but its bytes differ from the canonical form (whitespace,
    /// key order, escapes): the bytes were changed after writing.
    #[error("not in canonical form: the line was changed after writing")]
    NotCanonical,
    #[error("hash does not match the entry: the entry was changed")]
    HashMismatch,
    /// The line is intact but does not follow the one before: an entry was
    /// removed, inserted or moved here.
    #[error("prev does not match the previous entry's hash: an entry was removed, inserted or moved")]
    PrevMismatch,
    #[error("sequence number {found}, expected {expected}")]
    SequenceMismatch { expected: u64, found: u64 },
    #[error("field {0} is malformed")]
    InvalidField(&'static str),
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: {link}", path.display())]
    Broken { path: PathBuf, link: BrokenLink },
}

impl VerifyError {
    /// The broken link, when that is what failed.
    pub fn broken_link(&self) -> Option<&BrokenLink> {
        match self {
            VerifyError::Broken { link, .. } => Some(link),
            VerifyError::Io { .. } => None,
        }
    }
}

/// Reads the whole log and checks every link. Returns the first broken one.
pub fn verify(path: impl AsRef<Path>) -> Result<VerifyReport, VerifyError> {
    walk(path.as_ref(), |_| {})
}

/// Every entry about `person`, in order, from a log that verifies completely:
/// an extract from a broken log would not be evidence of anything.
pub fn export_person(path: impl AsRef<Path>, key: &PersonKey, person: &PersonId) -> Result<Vec<Entry>, VerifyError> {
    let wanted = key.person_ref(person);
    let mut found = Vec::new();
    walk(path.as_ref(), |entry| {
        if entry.person_ref.as_deref() == Some(wanted.as_str()) {
            found.push(entry.clone());
        }
    })?;
    Ok(found)
}

fn walk(path: &Path, mut visit: impl FnMut(&Entry)) -> Result<VerifyReport, VerifyError> {
    let io_err = |source| VerifyError::Io { path: path.to_owned(), source };
    let broken = |line, reason| VerifyError::Broken { path: path.to_owned(), link: BrokenLink { line, reason } };
    let mut reader = BufReader::with_capacity(MAX_LINE_BYTES, File::open(path).map_err(io_err)?);
    let mut buf = Vec::with_capacity(1024);
    let mut prev = GENESIS_PREV.to_owned();
    let mut line = 0u64;
    loop {
        buf.clear();
        let read = read_line(&mut reader, &mut buf).map_err(io_err)?;
        if read == LineRead::Eof {
            break;
        }
        line += 1;
        match read {
            LineRead::Eof | LineRead::Complete => {}
            LineRead::NoNewline => return Err(broken(line, BreakReason::Truncated)),
            LineRead::TooLong => return Err(broken(line, BreakReason::TooLong)),
        }
        let entry = check_line(&buf, Some((&prev, line))).map_err(|reason| broken(line, reason))?;
        visit(&entry);
        prev = entry.hash;
    }
    Ok(VerifyReport { entries: line, last_hash: prev })
}

#[derive(Debug, PartialEq, Eq)]
enum LineRead {
    Eof,
    /// A whole line, now in the buffer without its newline.
    Complete,
    NoNewline,
    TooLong,
}

/// Reads one line, never more than [`MAX_LINE_BYTES`] + 1 bytes of it.
fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<LineRead> {
    let n = reader.by_ref().take(MAX_LINE_BYTES as u64 + 1).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(LineRead::Eof);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(LineRead::Complete);
    }
    // Short of the cap without a newline means the file ended.
    Ok(if buf.len() > MAX_LINE_BYTES { LineRead::TooLong } else { LineRead::NoNewline })
}

/// Checks one line on its own and, given `(prev hash, sequence number)`,
/// its link to the line before.
pub(super) fn check_line(line: &[u8], expected: Option<(&str, u64)>) -> Result<Entry, BreakReason> {
    let entry: Entry = serde_json::from_slice(line).map_err(|e| BreakReason::Malformed(e.to_string()))?;
    if entry.v != FORMAT_VERSION {
        return Err(BreakReason::UnsupportedVersion(entry.v));
    }
    if entry.to_line_bytes() != line {
        return Err(BreakReason::NotCanonical);
    }
    if entry.compute_hash() != entry.hash {
        return Err(BreakReason::HashMismatch);
    }
    if let Some((prev, seq)) = expected {
        if entry.prev != prev {
            return Err(BreakReason::PrevMismatch);
        }
        if entry.seq != seq {
            return Err(BreakReason::SequenceMismatch { expected: seq, found: entry.seq });
        }
    }
    check_fields(&entry)?;
    Ok(entry)
}

/// What a writer guarantees about field contents, checked again on reading so
/// that a hand-made line with a matching hash is still refused.
fn check_fields(entry: &Entry) -> Result<(), BreakReason> {
    let utc = OffsetDateTime::parse(&entry.time, &Rfc3339).is_ok_and(|t| t.offset().is_utc());
    if !utc || !entry.time.ends_with('Z') {
        return Err(BreakReason::InvalidField("time"));
    }
    if !is_hex64(&entry.prev) {
        return Err(BreakReason::InvalidField("prev"));
    }
    if entry.person_ref.as_deref().is_some_and(|r| !is_hex64(r)) {
        return Err(BreakReason::InvalidField("person_ref"));
    }
    if entry.seq == 0 {
        return Err(BreakReason::InvalidField("seq"));
    }
    Ok(())
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The last entry of a log, as [`super::AuditLog::open`] needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Tail {
    pub seq: u64,
    pub hash: String,
}

/// Checks the end of a log of `len` bytes without reading all of it: the
/// file ends with a newline, the last line checks out on its own, and it
/// follows the line before (or is a proper first entry). A full check is
/// [`verify`]; at five years of entries it is too slow for every start.
pub(super) fn check_tail(file: &mut File, len: u64) -> Result<Result<Option<Tail>, BreakReason>, io::Error> {
    if len == 0 {
        return Ok(Ok(None));
    }
    // Two longest lines, their newlines and the newline before them: enough
    // to find where the second-to-last line starts.
    let window = len.min(2 * (MAX_LINE_BYTES as u64 + 1) + 1);
    let start = len - window;
    let mut bytes = Vec::with_capacity(window as usize);
    file.seek(SeekFrom::Start(start))?;
    file.by_ref().take(window).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != window {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the log shrank while being read"));
    }
    Ok(tail_of(&bytes, start == 0))
}

/// `bytes` is the end of the file; `whole` says it is all of it.
fn tail_of(bytes: &[u8], whole: bool) -> Result<Option<Tail>, BreakReason> {
    let body = match bytes.split_last() {
        Some((b'\n', body)) => body,
        _ => return Err(BreakReason::Truncated),
    };
    let (before, last) = match body.iter().rposition(|&b| b == b'\n') {
        Some(i) => (Some(&body[..i]), &body[i + 1..]),
        None if whole => (None, body),
        None => return Err(BreakReason::TooLong),
    };
    let expected = match before {
        None => (GENESIS_PREV.to_owned(), 1),
        Some(before) => {
            let second = match before.iter().rposition(|&b| b == b'\n') {
                Some(i) => &before[i + 1..],
                None if whole => before,
                None => return Err(BreakReason::TooLong),
            };
            let second = check_line(second, None)?;
            (second.hash, second.seq + 1)
        }
    };
    let last = check_line(last, Some((&expected.0, expected.1)))?;
    Ok(Some(Tail { seq: last.seq, hash: last.hash }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_line_tells_the_cases_apart() {
        let mut input: &[u8] = b"one\ntwo";
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut input, &mut buf).unwrap(), LineRead::Complete);
        assert_eq!(buf, b"one");
        buf.clear();
        assert_eq!(read_line(&mut input, &mut buf).unwrap(), LineRead::NoNewline);
        buf.clear();
        assert_eq!(read_line(&mut input, &mut buf).unwrap(), LineRead::Eof);

        let long = vec![b'x'; MAX_LINE_BYTES + 10];
        let mut input: &[u8] = &long;
        buf.clear();
        assert_eq!(read_line(&mut input, &mut buf).unwrap(), LineRead::TooLong);
    }

    #[test]
    fn tail_of_refuses_a_torn_or_garbage_end() {
        assert_eq!(tail_of(b"{\"v\":1", true), Err(BreakReason::Truncated));
        assert_eq!(tail_of(b"\0\0\0\0", true), Err(BreakReason::Truncated));
        assert!(matches!(tail_of(b"garbage\n", true), Err(BreakReason::Malformed(_))));
        assert_eq!(tail_of(b"no newline before this\n", false), Err(BreakReason::TooLong));
    }
}
