//! The sign-ins a browser has started and not finished: several at once
//! (two tabs that both hit an expired session), each one-time.
//!
//! The `gx_login` cookie lists up to [`MAX_PENDING`] entries
//! `{login id}.{state tag}`, joined by `~`, newest last. The login id is a
//! random secret naming the server-side record (state, PKCE verifier,
//! nonce, return_to); the tag (16 hex of SHA-256 of the `state` sent to the
//! provider) picks the entry a callback belongs to without opening the
//! others. The callback then takes that record (one time) and compares the
//! full `state`.
//!
//! # Security
//! - A record is only reachable with its login id, which only this browser's
//!   cookie holds: a callback the browser did not start is refused (login
//!   CSRF), and so is a callback whose `state` matches none of its entries.
//!   Such a callback also spends every pending sign-in of the browser, as a
//!   tampered one always did.
//! - Bounded: at most [`MAX_PENDING`] entries (the oldest is dropped and its
//!   record deleted), each record living `login_ttl`.

use sha2::{Digest as _, Sha256};

use crate::types::Secret;

/// At most this many sign-ins pending per browser.
pub const MAX_PENDING: usize = 4;

const TAG_LEN: usize = 16;
/// `Secret::random()`: 32 bytes, base64url without padding.
const ID_LEN: usize = 43;

struct Entry {
    id: Secret,
    tag: String,
}

/// The pending sign-ins of one browser, as its `gx_login` cookie lists them.
#[derive(Default)]
pub struct PendingSignIns(Vec<Entry>);

/// The tag of a `state` value.
fn tag(state: &str) -> String {
    let mut hex = hex::encode(Sha256::digest(state.as_bytes()));
    hex.truncate(TAG_LEN);
    hex
}

impl PendingSignIns {
    /// Reads a cookie value; malformed entries are ignored, and only the
    /// newest [`MAX_PENDING`] are kept.
    pub fn parse(cookie: Option<&str>) -> Self {
        let mut entries: Vec<Entry> = cookie
            .unwrap_or("")
            .split('~')
            .filter_map(|entry| {
                let (id, tag) = entry.split_once('.')?;
                let id_ok = id.len() == ID_LEN
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                let tag_ok = tag.len() == TAG_LEN
                    && tag
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                (id_ok && tag_ok).then(|| Entry {
                    id: Secret::new(id),
                    tag: tag.to_owned(),
                })
            })
            .collect();
        let excess = entries.len().saturating_sub(MAX_PENDING);
        entries.drain(..excess);
        PendingSignIns(entries)
    }

    /// Whether none is pending.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds a sign-in; returns the login ids dropped to stay within
    /// [`MAX_PENDING`] (delete their records).
    pub fn push(&mut self, id: Secret, state: &Secret) -> Vec<Secret> {
        self.0.push(Entry {
            id,
            tag: tag(state.expose()),
        });
        let excess = self.0.len().saturating_sub(MAX_PENDING);
        self.0.drain(..excess).map(|e| e.id).collect()
    }

    /// Removes and returns the login id of the entry for `state`, if any.
    pub fn remove_matching(&mut self, state: &str) -> Option<Secret> {
        let tag = tag(state);
        let at = self.0.iter().position(|e| e.tag == tag)?;
        Some(self.0.remove(at).id)
    }

    /// Removes and returns every login id.
    pub fn drain(&mut self) -> Vec<Secret> {
        self.0.drain(..).map(|e| e.id).collect()
    }

    /// The cookie value, or `None` when nothing is pending (clear it).
    pub fn cookie_value(&self) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        Some(
            self.0
                .iter()
                .map(|e| format!("{}.{}", e.id.expose(), e.tag))
                .collect::<Vec<_>>()
                .join("~"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_stay_bounded() {
        let mut pending = PendingSignIns::default();
        let states: Vec<Secret> = (0..MAX_PENDING + 2).map(|_| Secret::random()).collect();
        let ids: Vec<Secret> = (0..MAX_PENDING + 2).map(|_| Secret::random()).collect();
        let mut dropped = Vec::new();
        for (id, state) in ids.iter().zip(&states) {
            dropped.extend(pending.push(id.clone(), state));
        }
        assert_eq!(dropped.len(), 2, "the two oldest are dropped");
        assert!(dropped[0] == ids[0] && dropped[1] == ids[1]);

        let value = pending.cookie_value().unwrap();
        let mut read = PendingSignIns::parse(Some(&value));
        assert!(read.remove_matching(states[0].expose()).is_none());
        assert!(read.remove_matching(states[3].expose()) == Some(ids[3].clone()));
        assert!(
            read.remove_matching(states[3].expose()).is_none(),
            "one time"
        );
        assert!(read.remove_matching("attacker-state").is_none());
        assert_eq!(read.drain().len(), MAX_PENDING - 1);
        assert!(read.cookie_value().is_none());
    }

    #[test]
    fn malformed_cookies_give_nothing_and_long_ones_are_cut() {
        for bad in ["", "x", "a.b", "~~", &format!("{}.zz", "a".repeat(ID_LEN))] {
            assert!(PendingSignIns::parse(Some(bad)).is_empty(), "{bad}");
        }
        let one = format!("{}.{}", "a".repeat(ID_LEN), "0".repeat(TAG_LEN));
        let many = vec![one; MAX_PENDING * 3].join("~");
        assert_eq!(PendingSignIns::parse(Some(&many)).0.len(), MAX_PENDING);
    }
}
