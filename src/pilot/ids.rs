//! Identifiers with a shape or check digit of their own: organisation
//! number (as the SDK `0203:` participant id), HSA-id, municipality code and
//! ICD-10-SE diagnosis code.
//!
//! Errors say what is wrong and never repeat the value: they end up in
//! receipts and logs.

use std::fmt;

/// Longest HSA-id (the HSA catalogue's limit).
pub const MAX_HSA_ID_LEN: usize = 31;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("has the wrong shape")]
    Malformed,
    #[error("check digit is wrong")]
    CheckDigit,
    #[error("is not an organisation number (third digit must be 2 or more)")]
    NotAnOrganisation,
    #[error("is longer than allowed")]
    TooLong,
}

/// An SDK organisation id: `0203:` and the organisation's domain name
/// (B1.3.3), as the SDK message's sender and recipient carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgId(String);

impl OrgId {
    pub fn parse(text: &str) -> Result<Self, IdError> {
        if text.len() > 256 {
            return Err(IdError::TooLong);
        }
        if !crate::sdk::message_rules::is_org_id(text) {
            return Err(IdError::Malformed);
        }
        Ok(Self(text.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Swedish organisation number, kept as its 10 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgNumber(String);

impl OrgNumber {
    /// Ten digits, optionally with a hyphen after the sixth (`232100-0016`).
    pub fn parse_digits(text: &str) -> Result<Self, IdError> {
        let digits: String = match text.as_bytes() {
            [head @ .., b'-', _, _, _, _] if head.len() == 6 => text.chars().filter(|c| *c != '-').collect(),
            _ => text.to_owned(),
        };
        if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::Malformed);
        }
        if !luhn_ok(digits.as_bytes()) {
            return Err(IdError::CheckDigit);
        }
        // Third digit below 2 would be a personnummer's month.
        if digits.as_bytes()[2] < b'2' {
            return Err(IdError::NotAnOrganisation);
        }
        Ok(Self(digits))
    }

    pub fn digits(&self) -> &str {
        &self.0
    }
}

/// Shown as `NNNNNN-NNNN`.
impl fmt::Display for OrgNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", &self.0[..6], &self.0[6..])
    }
}

/// An HSA-id: `SE` + the issuing organisation's number + `-` + [A-Za-z0-9]+.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HsaId(String);

impl HsaId {
    pub fn parse(text: &str) -> Result<Self, IdError> {
        if text.len() > MAX_HSA_ID_LEN {
            return Err(IdError::TooLong);
        }
        let rest = text.strip_prefix("SE").ok_or(IdError::Malformed)?;
        let (org, suffix) = rest.split_once('-').ok_or(IdError::Malformed)?;
        if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_alphanumeric()) || org.len() != 10 {
            return Err(IdError::Malformed);
        }
        OrgNumber::parse_digits(org)?;
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SCB's four-digit municipality code (kommunkod), e.g. 0184 for Solna.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MunicipalityCode(String);

impl MunicipalityCode {
    pub fn parse(text: &str) -> Result<Self, IdError> {
        if text.len() == 4 && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(IdError::Malformed)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An ICD-10-SE code in its written shape: a letter, two digits and
/// optionally a dot with one to four more characters (`F32`, `F90.0`,
/// `F84.0A`). Only the shape is checked, not the code list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icd10Code(String);

impl Icd10Code {
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let b = text.as_bytes();
        let head_ok = b.len() >= 3 && b[0].is_ascii_uppercase() && b[1].is_ascii_digit() && b[2].is_ascii_digit();
        let tail_ok = match &b.get(3..) {
            Some([]) => true,
            Some([b'.', tail @ ..]) => {
                (1..=4).contains(&tail.len()) && tail.iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            }
            _ => false,
        };
        if head_ok && tail_ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(IdError::Malformed)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Luhn over ASCII digits, weights 2,1,2,… from the left (10-digit numbers).
fn luhn_ok(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let x = u32::from(d - b'0') * if i % 2 == 0 { 2 } else { 1 };
            if x > 9 {
                x - 9
            } else {
                x
            }
        })
        .sum();
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisation_numbers() {
        assert_eq!(OrgNumber::parse_digits("2321000016").unwrap().digits(), "2321000016");
        assert_eq!(OrgNumber::parse_digits("232100-0016").unwrap().digits(), "2321000016");
        assert!(OrgNumber::parse_digits("2120000183").is_ok());
        assert_eq!(OrgNumber::parse_digits("2321000017"), Err(IdError::CheckDigit));
        assert_eq!(OrgNumber::parse_digits("0203:2321000016"), Err(IdError::Malformed));
        assert_eq!(OrgNumber::parse_digits("23210-00016"), Err(IdError::Malformed));
        // A personnummer's last ten digits pass Luhn but have a month in place 3-4.
        assert_eq!(OrgNumber::parse_digits("1212121212"), Err(IdError::NotAnOrganisation));
        assert_eq!(OrgNumber::parse_digits("2321000016").unwrap().to_string(), "232100-0016");
    }

    #[test]
    fn organisation_ids_are_sdk_domains() {
        assert_eq!(OrgId::parse("0203:bup.regionstockholm.se").unwrap().as_str(), "0203:bup.regionstockholm.se");
        assert_eq!(OrgId::parse("0203:2321000016"), Err(IdError::Malformed));
        assert_eq!(OrgId::parse("bup.regionstockholm.se"), Err(IdError::Malformed));
    }

    #[test]
    fn hsa_ids() {
        assert!(HsaId::parse("SE2321000016-B7X9").is_ok());
        assert_eq!(HsaId::parse("SE2321000017-B7X9"), Err(IdError::CheckDigit));
        assert_eq!(HsaId::parse("SE2321000016-"), Err(IdError::Malformed));
        assert_eq!(HsaId::parse("SE2321000016-ab_c"), Err(IdError::Malformed));
        assert_eq!(HsaId::parse("XX2321000016-A"), Err(IdError::Malformed));
        assert_eq!(HsaId::parse("SE2321000016-ABCDEFGHIJKLMNOPQRS"), Err(IdError::TooLong));
        assert!(HsaId::parse("SE2321000016-ABCDEFGHIJKLMNOPQR").is_ok()); // 31 characters
    }

    #[test]
    fn municipality_and_diagnosis_codes() {
        assert!(MunicipalityCode::parse("0184").is_ok());
        assert!(MunicipalityCode::parse("184").is_err());
        for ok in ["F32", "F90.0", "F84.0A", "Z03.2"] {
            assert!(Icd10Code::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["f32", "F3", "F32.", "F32.12345", "32.1", "F32-1"] {
            assert!(Icd10Code::parse(bad).is_err(), "{bad}");
        }
    }
}
