//! Person references: typed person identifiers, the node's HMAC key, and the
//! scrubber that keeps identifiers out of free text.
//!
//! The log never holds a person identifier in clear text. It holds
//! HMAC-SHA256(node key, "OID:normalised value"), so entries about one person
//! can be found by whoever holds the key (the node, for a patient's log
//! extract) while a copy of the log alone does not reveal who it is about.
//! A plain hash would not do: Swedish personnummer are few enough to
//! enumerate.

use std::borrow::Cow;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use super::{hex, sync_parent};

/// Personnummer (Skatteverket).
pub const OID_PERSONNUMMER: &str = "1.2.752.129.2.1.3.1";
/// Samordningsnummer: a personnummer whose day is the birth day + 60.
pub const OID_SAMORDNINGSNUMMER: &str = "1.2.752.129.2.1.3.3";

/// Region Stockholm's reserve numbers (reservnummer).
pub const OID_RESERVE_REGION_STOCKHOLM: &str = "1.2.752.97.3.1.3";

/// Length of the node's person key, in bytes.
pub const PERSON_KEY_LEN: usize = 32;

/// Longest value accepted for a reserve number (regional identifiers).
const MAX_RESERVE_VALUE_LEN: usize = 64;

/// What replaces something that looks like a personnummer in free text.
pub const PERSON_ID_PLACEHOLDER: &str = "[PERSON-ID]";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonIdError {
    #[error("not a personnummer or samordningsnummer (expected YYYYMMDDNNNC or YYYYMMDD-NNNC) nor OID:value")]
    Malformed,
    #[error("10-digit form: the century is ambiguous, give the 12-digit form YYYYMMDD-NNNC")]
    TenDigitForm,
    #[error("month or day is not a date (samordningsnummer use day + 60)")]
    InvalidDate,
    #[error("check digit is wrong")]
    CheckDigit,
    #[error("reserve number: the OID or the value is malformed")]
    InvalidReserve,
}

/// A person identifier, typed by its OID and normalised, so that every
/// spelling of one person's number gives the same reference.
///
/// `Debug` does not show the value: this type must not leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonId {
    oid: String,
    value: String,
}

impl fmt::Debug for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonId({}, ..)", self.oid)
    }
}

impl PersonId {
    /// A personnummer or samordningsnummer in the 12-digit form, with or
    /// without the hyphen (`19121212-1212`, `191212121212`), or a reserve
    /// number written `OID:value`.
    ///
    /// The 10-digit form is refused: turning it into 12 digits needs today's
    /// date (and the `+` convention), and this library does not read the
    /// clock; a guess would file entries under the wrong person.
    pub fn parse(text: &str) -> Result<Self, PersonIdError> {
        let text = text.trim();
        if let Some((oid, value)) = text.split_once(':') {
            return match oid {
                OID_PERSONNUMMER | OID_SAMORDNINGSNUMMER => {
                    let id = Self::parse(value)?;
                    if id.oid == oid {
                        Ok(id)
                    } else {
                        Err(PersonIdError::InvalidDate)
                    }
                }
                _ => Self::reserve(oid, value),
            };
        }
        let digits: String = match text.as_bytes() {
            [d @ .., b'-', _, _, _, _] if d.len() == 8 => text.chars().filter(|c| *c != '-').collect(),
            [d @ .., b'-' | b'+', _, _, _, _] if d.len() == 6 => return Err(PersonIdError::TenDigitForm),
            _ => text.to_owned(),
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PersonIdError::Malformed);
        }
        match digits.len() {
            12 => {}
            10 => return Err(PersonIdError::TenDigitForm),
            _ => return Err(PersonIdError::Malformed),
        }
        let oid = match date_kind(&digits.as_bytes()[4..8]) {
            Some(kind) => kind,
            None => return Err(PersonIdError::InvalidDate),
        };
        if !luhn_ok(&digits.as_bytes()[2..]) {
            return Err(PersonIdError::CheckDigit);
        }
        Ok(Self { oid: oid.to_owned(), value: digits })
    }

    /// A reserve number (e.g. Region Stockholm's, OID 1.2.752.97.3.1.3).
    /// The value is normalised to upper case without hyphens or spaces.
    pub fn reserve(oid: &str, value: &str) -> Result<Self, PersonIdError> {
        let oid_ok =
            !oid.is_empty() && oid.split('.').all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()));
        let value: String =
            value.trim().chars().filter(|c| *c != '-' && *c != ' ').map(|c| c.to_ascii_uppercase()).collect();
        if !oid_ok
            || value.is_empty()
            || value.len() > MAX_RESERVE_VALUE_LEN
            || !value.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(PersonIdError::InvalidReserve);
        }
        if oid == OID_PERSONNUMMER || oid == OID_SAMORDNINGSNUMMER {
            return Self::parse(&format!("{oid}:{value}"));
        }
        Ok(Self { oid: oid.to_owned(), value })
    }

    /// The OID saying what kind of identifier this is.
    pub fn oid(&self) -> &str {
        &self.oid
    }

    /// The normalised value: 12 digits for a personnummer or
    /// samordningsnummer, the upper-case value of a reserve number.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The birth date a personnummer or samordningsnummer carries (for a
    /// samordningsnummer the day less 60); `None` for reserve numbers and for
    /// a month and day that are not a calendar date (e.g. 31 February).
    pub fn birth_date(&self) -> Option<time::Date> {
        let day_offset = match self.oid.as_str() {
            OID_PERSONNUMMER => 0,
            OID_SAMORDNINGSNUMMER => 60,
            _ => return None,
        };
        let year: i32 = self.value.get(0..4)?.parse().ok()?;
        let month: u8 = self.value.get(4..6)?.parse().ok()?;
        let day: u8 = self.value.get(6..8)?.parse().ok()?;
        let month = time::Month::try_from(month).ok()?;
        time::Date::from_calendar_date(year, month, day.checked_sub(day_offset)?).ok()
    }

    /// What the HMAC covers; the OID keeps different kinds of number apart.
    fn hmac_input(&self) -> String {
        format!("{}:{}", self.oid, self.value)
    }
}

/// `Some(OID)` when `mmdd` is a plausible personnummer (day 01–31) or
/// samordningsnummer (day 61–91) month and day.
fn date_kind(mmdd: &[u8]) -> Option<&'static str> {
    let two = |i: usize| (mmdd[i] - b'0') * 10 + (mmdd[i + 1] - b'0');
    let (month, day) = (two(0), two(2));
    if !(1..=12).contains(&month) {
        return None;
    }
    match day {
        1..=31 => Some(OID_PERSONNUMMER),
        61..=91 => Some(OID_SAMORDNINGSNUMMER),
        _ => None,
    }
}

/// Luhn check over ASCII digits (the last 10 of a personnummer).
fn luhn_ok(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            // From the left over 10 digits: weights 2,1,2,1,...
            let x = if i % 2 == 0 { d * 2 } else { d };
            if x > 9 {
                x - 9
            } else {
                x
            }
        })
        .sum();
    sum % 10 == 0
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: the person key must be readable by its owner only (mode {mode:o}; chmod 600)", path.display())]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{}: a person key is exactly {PERSON_KEY_LEN} bytes, this file is not", path.display())]
    Length { path: PathBuf },
    #[error("{}: not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error("the system random generator failed")]
    Random,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyError + '_ {
    move |source| KeyError::Io { path: path.to_owned(), source }
}

/// The node secret behind person references.
///
/// Losing it makes old entries unfindable by person; leaking it makes every
/// person reference in every copy of the log reversible by enumeration. It
/// is therefore never printed: `Debug` shows nothing of it.
pub struct PersonKey {
    key: hmac::Key,
}

impl fmt::Debug for PersonKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonKey(..)")
    }
}

impl PersonKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, KeyError> {
        Ok(Self::from_bytes(&random_key()?))
    }

    pub fn from_bytes(bytes: &[u8; PERSON_KEY_LEN]) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, bytes) }
    }

    /// Loads an existing key file; never creates one (an export with a
    /// fresh key would silently find nothing).
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let file = File::open(path).map_err(io_err(path))?;
        Self::read_from(path, file)
    }

    /// Loads the key at `path`, or creates it (32 random bytes, mode 0600)
    /// when there is none. Creation is atomic: the key is written to a
    /// temporary file and linked into place, so a concurrent starter or a
    /// crash never leaves a short key behind.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        match File::open(path) {
            Ok(file) => return Self::read_from(path, file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path)(e)),
        }
        let bytes = random_key()?;
        let tmp = temp_path(path);
        let written = write_new_private(&tmp, &bytes);
        let linked = written.and_then(|()| fs::hard_link(&tmp, path));
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                sync_parent(path).map_err(io_err(path))?;
                Ok(Self::from_bytes(&bytes))
            }
            // Someone else created it first: theirs is the key.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Self::load(path),
            Err(e) => Err(io_err(path)(e)),
        }
    }

    fn read_from(path: &Path, file: File) -> Result<Self, KeyError> {
        let meta = file.metadata().map_err(io_err(path))?;
        if !meta.is_file() {
            return Err(KeyError::NotAFile { path: path.to_owned() });
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::TooOpen { path: path.to_owned(), mode });
            }
        }
        // One byte more than a key, to tell "too long" from "exact".
        let mut bytes = Vec::with_capacity(PERSON_KEY_LEN + 1);
        file.take(PERSON_KEY_LEN as u64 + 1).read_to_end(&mut bytes).map_err(io_err(path))?;
        let key: [u8; PERSON_KEY_LEN] =
            bytes.as_slice().try_into().map_err(|_| KeyError::Length { path: path.to_owned() })?;
        Ok(Self::from_bytes(&key))
    }

    /// The person reference stored in the log: hex HMAC-SHA256 over the
    /// identifier's OID and normalised value.
    pub fn person_ref(&self, person: &PersonId) -> String {
        hex(hmac::sign(&self.key, person.hmac_input().as_bytes()).as_ref())
    }
}

fn random_key() -> Result<[u8; PERSON_KEY_LEN], KeyError> {
    let mut bytes = [0u8; PERSON_KEY_LEN];
    SystemRandom::new().fill(&mut bytes).map_err(|_| KeyError::Random)?;
    Ok(bytes)
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// Writes a new file readable by its owner only, and syncs it.
fn write_new_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Replaces whatever looks like a personnummer or samordningsnummer in free
/// text (12 or 10 digits, with or without `-`, `+` or a space before the
/// last four, a plausible month and day, a valid check digit) with
/// [`PERSON_ID_PLACEHOLDER`].
///
/// Defence in depth: callers must not put person identifiers in text fields,
/// but a validation message quoting a peer's document easily does. Only
/// runs of exactly those lengths count, so UUIDs, hashes and organisation
/// numbers (month 20 or more) are left alone.
pub(crate) fn scrub_person_ids(text: &str) -> Cow<'_, str> {
    let spans = person_id_spans(text.as_bytes());
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in spans {
        // Spans cover ASCII digits and separators only, so these are char boundaries.
        out.push_str(&text[at..start]);
        out.push_str(PERSON_ID_PLACEHOLDER);
        at = end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// Byte ranges of person-identifier-like runs, in order, not overlapping.
fn person_id_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    // Maximal runs of ASCII digits.
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            runs.push((start, i));
        } else {
            i += 1;
        }
    }
    let mut spans = Vec::new();
    let mut r = 0;
    while r < runs.len() {
        let (start, end) = runs[r];
        let len = end - start;
        // "YYYYMMDD-NNNC" / "YYMMDD-NNNC": a run, one separator, four digits.
        if (len == 6 || len == 8) && r + 1 < runs.len() {
            let (next_start, next_end) = runs[r + 1];
            if next_start == end + 1 && next_end - next_start == 4 && matches!(bytes[end], b'-' | b'+' | b' ') {
                let mut digits = bytes[start..end].to_vec();
                digits.extend_from_slice(&bytes[next_start..next_end]);
                if looks_like_person_id(&digits) {
                    spans.push((start, next_end));
                    r += 2;
                    continue;
                }
            }
        }
        if (len == 10 || len == 12) && looks_like_person_id(&bytes[start..end]) {
            spans.push((start, end));
        }
        r += 1;
    }
    spans
}

fn looks_like_person_id(digits: &[u8]) -> bool {
    let last10 = match digits.len() {
        12 if matches!(&digits[..2], b"18" | b"19" | b"20") => &digits[2..],
        10 => digits,
        _ => return false,
    };
    date_kind(&last10[2..6]).is_some() && luhn_ok(last10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_normalise_to_twelve_digits() {
        let a = PersonId::parse("19121212-1212").unwrap();
        let b = PersonId::parse(" 191212121212 ").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.oid(), OID_PERSONNUMMER);
        assert_eq!(a.hmac_input(), "1.2.752.129.2.1.3.1:191212121212");
    }

    #[test]
    fn samordningsnummer_and_oid_prefixed_forms() {
        // Skatteverket's example samordningsnummer: day 63 = 3 + 60.
        let snr = PersonId::parse("19701063-2391").unwrap();
        assert_eq!(snr.oid(), OID_SAMORDNINGSNUMMER);
        assert_eq!(
            PersonId::parse("1.2.752.129.2.1.3.1:19121212-1212").unwrap(),
            PersonId::parse("191212121212").unwrap()
        );
        assert_eq!(PersonId::parse("1.2.752.129.2.1.3.3:191212121212"), Err(PersonIdError::InvalidDate));
    }

    #[test]
    fn birth_dates_of_both_number_kinds() {
        use time::macros::date;
        assert_eq!(PersonId::parse("19121212-1212").unwrap().birth_date(), Some(date!(1912 - 12 - 12)));
        assert_eq!(PersonId::parse("19701063-2391").unwrap().birth_date(), Some(date!(1970 - 10 - 03)));
        assert_eq!(PersonId::reserve(OID_RESERVE_REGION_STOCKHOLM, "AB1234").unwrap().birth_date(), None);
        assert_eq!(PersonId::parse("191212121212").unwrap().value(), "191212121212");
    }

    #[test]
    fn refuses_what_it_cannot_normalise() {
        assert_eq!(PersonId::parse("121212-1212"), Err(PersonIdError::TenDigitForm));
        assert_eq!(PersonId::parse("121212+1212"), Err(PersonIdError::TenDigitForm));
        assert_eq!(PersonId::parse("1212121212"), Err(PersonIdError::TenDigitForm));
        assert_eq!(PersonId::parse("19121212-1213"), Err(PersonIdError::CheckDigit));
        assert_eq!(PersonId::parse("19121312-1212"), Err(PersonIdError::InvalidDate));
        assert_eq!(PersonId::parse("19121212_1212"), Err(PersonIdError::Malformed));
        assert_eq!(PersonId::parse(""), Err(PersonIdError::Malformed));
        assert_eq!(PersonId::parse("1.2.x:ABC"), Err(PersonIdError::InvalidReserve));
    }

    #[test]
    fn reserve_numbers_are_normalised_and_kept_apart_by_oid() {
        let a = PersonId::parse("1.2.752.97.3.1.3:ab-123 4").unwrap();
        let b = PersonId::reserve("1.2.752.97.3.1.3", "AB1234").unwrap();
        assert_eq!(a, b);
        let key = PersonKey::from_bytes(&[7; PERSON_KEY_LEN]);
        let other = PersonId::reserve("1.2.752.97.3.1.4", "AB1234").unwrap();
        assert_ne!(key.person_ref(&a), key.person_ref(&other));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let key = PersonKey::from_bytes(&[0xAB; PERSON_KEY_LEN]);
        assert_eq!(format!("{key:?}"), "PersonKey(..)");
        let id = PersonId::parse("191212121212").unwrap();
        assert!(!format!("{id:?}").contains("1212121212"));
    }

    #[test]
    fn person_ref_is_keyed() {
        let id = PersonId::parse("191212121212").unwrap();
        let a = PersonKey::from_bytes(&[1; PERSON_KEY_LEN]).person_ref(&id);
        let b = PersonKey::from_bytes(&[2; PERSON_KEY_LEN]).person_ref(&id);
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }

    #[test]
    fn scrubs_person_ids_in_every_spelling() {
        for text in ["19121212-1212", "191212121212", "121212-1212", "121212+1212", "1212121212", "19121212 1212"] {
            let input = format!("patient {text}: bad");
            assert_eq!(scrub_person_ids(&input), "patient [PERSON-ID]: bad", "{text}");
        }
        assert_eq!(scrub_person_ids("a191212121212b"), "a[PERSON-ID]b");
    }

    #[test]
    fn leaves_other_numbers_alone() {
        for text in [
            "0203:bup.regionstockholm.se",                      // organisation number: month 21
            "SE2321000016-abc1",                    // HSA-id
            "19121212-1213",                        // wrong check digit
            "1912121212121",                        // 13 digits
            "5f0c2a1e-7b3d-4c9a-8e21-0a1b2c3d4e5f", // UUID
            "6d1f3c1f2a6e4b0f8e9d7c6b5a493827160504030201aabbccddeeff00112233",
        ] {
            assert_eq!(scrub_person_ids(text), text);
        }
    }
}
