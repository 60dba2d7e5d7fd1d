//! The Italian codice fiscale: shape and check character (D.M. 12/03/1974).
//!
//! The sandbox rejects a malformed one with 422, the console checks it as the
//! user types, and the seed data is generated with [`FiscalCode::compute`] so
//! every seeded patient has a well-formed code.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// A well-formed codice fiscale (16 characters, upper case, valid check
/// character; omocodia substitutions accepted).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FiscalCode(String);

/// Why a string is not a codice fiscale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FiscalCodeError {
    /// Not 16 characters.
    #[error("a fiscal code has 16 characters")]
    Length,
    /// A character is not allowed at its position.
    #[error("character {0} is not allowed at that position")]
    Shape(usize),
    /// The 16th character does not match the other 15.
    #[error("the check character does not match")]
    CheckCharacter,
}

const MONTHS: &[u8; 12] = b"ABCDEHLMPRST";
const OMOCODIA: &[u8; 10] = b"LMNPQRSTUV";
// Values of characters in odd positions (1st, 3rd, ...), indexed by digit or letter.
const ODD: [u32; 26] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
];

fn odd_value(c: u8) -> u32 {
    match c {
        b'0'..=b'9' => ODD[(c - b'0') as usize],
        _ => ODD[(c - b'A') as usize],
    }
}

fn even_value(c: u8) -> u32 {
    match c {
        b'0'..=b'9' => u32::from(c - b'0'),
        _ => u32::from(c - b'A'),
    }
}

/// The check character for the first 15 characters (already upper case).
fn check_char(first15: &[u8]) -> u8 {
    let sum: u32 = first15
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if i % 2 == 0 {
                odd_value(c)
            } else {
                even_value(c)
            }
        })
        .sum();
    b'A' + (sum % 26) as u8
}

fn is_digit_or_omocodia(c: u8) -> bool {
    c.is_ascii_digit() || OMOCODIA.contains(&c)
}

impl FiscalCode {
    /// Validates `input`; surrounding spaces are ignored and letters upper-cased.
    pub fn parse(input: &str) -> Result<FiscalCode, FiscalCodeError> {
        let code = input.trim().to_ascii_uppercase();
        let b = code.as_bytes();
        if b.len() != 16 || !code.is_ascii() {
            return Err(FiscalCodeError::Length);
        }
        for (i, &c) in b.iter().enumerate() {
            let ok = match i {
                0..=5 | 11 | 15 => c.is_ascii_uppercase(),
                8 => MONTHS.contains(&c),
                6 | 7 | 9 | 10 | 12..=14 => is_digit_or_omocodia(c),
                _ => false,
            };
            if !ok {
                return Err(FiscalCodeError::Shape(i + 1));
            }
        }
        if check_char(&b[..15]) != b[15] {
            return Err(FiscalCodeError::CheckCharacter);
        }
        Ok(FiscalCode(code))
    }

    /// Computes the code of a person born on `birth` in the municipality with
    /// the cadastral code `municipality` (e.g. `F205` for Milano).
    /// Returns `None` when `municipality` is not a letter and three digits.
    pub fn compute(
        last: &str,
        first: &str,
        birth: NaiveDate,
        female: bool,
        municipality: &str,
    ) -> Option<FiscalCode> {
        let m = municipality.as_bytes();
        if m.len() != 4 || !m[0].is_ascii_uppercase() || !m[1..].iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut code = String::with_capacity(16);
        code.push_str(&name_part(last, false));
        code.push_str(&name_part(first, true));
        code.push_str(&format!("{:02}", birth.year() % 100));
        code.push(MONTHS[birth.month0() as usize] as char);
        let day = birth.day() + if female { 40 } else { 0 };
        code.push_str(&format!("{day:02}"));
        code.push_str(municipality);
        let check = check_char(code.as_bytes());
        code.push(check as char);
        Some(FiscalCode(code))
    }

    /// The code as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Three letters from a surname (`first_name == false`) or a first name.
fn name_part(name: &str, first_name: bool) -> String {
    let letters: Vec<char> = name
        .chars()
        .map(fold_accent)
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let is_vowel = |c: &char| "AEIOU".contains(*c);
    let consonants: Vec<char> = letters.iter().copied().filter(|c| !is_vowel(c)).collect();
    let vowels = letters.iter().copied().filter(is_vowel);
    let picked: Vec<char> = if first_name && consonants.len() >= 4 {
        vec![consonants[0], consonants[2], consonants[3]]
    } else {
        consonants
            .iter()
            .copied()
            .chain(vowels)
            .chain(std::iter::repeat('X'))
            .take(3)
            .collect()
    };
    picked
        .into_iter()
        .chain(std::iter::repeat('X'))
        .take(3)
        .collect()
}

fn fold_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'À' | 'Á' => 'A',
        'è' | 'é' | 'È' | 'É' => 'E',
        'ì' | 'í' | 'Ì' | 'Í' => 'I',
        'ò' | 'ó' | 'Ò' | 'Ó' => 'O',
        'ù' | 'ú' | 'Ù' | 'Ú' => 'U',
        other => other,
    }
}

impl TryFrom<String> for FiscalCode {
    type Error = FiscalCodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        FiscalCode::parse(&value)
    }
}

impl From<FiscalCode> for String {
    fn from(code: FiscalCode) -> String {
        code.0
    }
}

impl fmt::Display for FiscalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// A fiscal code is personal data: keep it out of debug logs.
impl fmt::Debug for FiscalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FiscalCode(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_validate() {
        // The Agenzia delle Entrate's textbook example.
        assert!(FiscalCode::parse("RSSMRA85T10A562S").is_ok());
        assert!(FiscalCode::parse(" rssmra85t10a562s ").is_ok());
    }

    #[test]
    fn computed_codes_match_the_textbook() {
        let birth = NaiveDate::from_ymd_opt(1985, 12, 10).unwrap();
        let code = FiscalCode::compute("Rossi", "Mario", birth, false, "A562").unwrap();
        assert_eq!(code.as_str(), "RSSMRA85T10A562S");
        let f = FiscalCode::compute(
            "Bianchi",
            "Giulia",
            NaiveDate::from_ymd_opt(1990, 3, 5).unwrap(),
            true,
            "F205",
        )
        .unwrap();
        assert_eq!(&f.as_str()[..11], "BNCGLI90C45");
        assert!(FiscalCode::parse(f.as_str()).is_ok());
    }

    #[test]
    fn malformed_codes_say_why() {
        assert_eq!(
            FiscalCode::parse("RSSMRA85T10A562"),
            Err(FiscalCodeError::Length)
        );
        assert_eq!(
            FiscalCode::parse("RSSMRA85Z10A562S"),
            Err(FiscalCodeError::Shape(9))
        );
        assert_eq!(
            FiscalCode::parse("RSSMRA85T10A562T"),
            Err(FiscalCodeError::CheckCharacter)
        );
        assert!(FiscalCode::parse("RSSMRA85T1ÀA562S").is_err());
    }

    #[test]
    fn debug_hides_the_code() {
        let code = FiscalCode::parse("RSSMRA85T10A562S").unwrap();
        assert_eq!(format!("{code:?}"), "FiscalCode(..)");
    }
}
