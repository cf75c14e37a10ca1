//! Shard iterators and pagination tokens: opaque, authenticated, expiring.
//!
//! A token is standard base64 of
//! `kind u8 | issued ms i64 | epoch u64 | a u64 | b u64 | name length u8 | name | tag (16 bytes)`
//! where `tag` is the first 16 bytes of HMAC-SHA256 under the engine's iterator key (kept in
//! the catalog) over everything before it. A token that is edited or made up fails the tag
//! check; one older than its time to live is expired. For a shard iterator `a` is the shard
//! index and `b` the position; for a ListShards token `a` is the last shard index listed and
//! `b` the page size; for a ListStreams token `name` is the last stream name listed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    Iterator = 1,
    ListShards = 2,
    ListStreams = 3,
    ListConsumers = 4,
    ListChannels = 5,
}

/// A decoded token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub issued_ms: i64,
    pub epoch: u64,
    pub a: u64,
    pub b: u64,
    pub name: String,
}

const TAG: usize = 16;

fn tag(key: &[u8], body: &[u8]) -> [u8; TAG] {
    let mut out = [0u8; TAG];
    if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) {
        mac.update(body);
        out.copy_from_slice(&mac.finalize().into_bytes()[..TAG]);
    }
    out
}

impl Token {
    /// Encodes and signs the token.
    pub fn encode(&self, key: &[u8]) -> String {
        let name = self.name.as_bytes();
        let name = &name[..name.len().min(255)];
        let mut b = Vec::with_capacity(34 + name.len() + TAG);
        b.push(self.kind as u8);
        b.extend_from_slice(&self.issued_ms.to_le_bytes());
        b.extend_from_slice(&self.epoch.to_le_bytes());
        b.extend_from_slice(&self.a.to_le_bytes());
        b.extend_from_slice(&self.b.to_le_bytes());
        b.push(name.len() as u8);
        b.extend_from_slice(name);
        let t = tag(key, &b);
        b.extend_from_slice(&t);
        STANDARD.encode(b)
    }

    /// Decodes a token of the expected kind; `None` if it is malformed, forged or edited.
    pub fn decode(text: &str, key: &[u8], kind: Kind) -> Option<Token> {
        let b = STANDARD.decode(text.as_bytes()).ok()?;
        if b.len() < 34 + TAG {
            return None;
        }
        let (body, t) = b.split_at(b.len() - TAG);
        // Constant-time comparison through the MAC's own verifier.
        let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
        mac.update(body);
        mac.verify_truncated_left(t).ok()?;
        if body[0] != kind as u8 {
            return None;
        }
        let u = |at: usize| -> Option<u64> {
            body.get(at..at + 8)?
                .try_into()
                .ok()
                .map(u64::from_le_bytes)
        };
        let name_len = *body.get(33)? as usize;
        let name = std::str::from_utf8(body.get(34..34 + name_len)?).ok()?;
        if body.len() != 34 + name_len {
            return None;
        }
        Some(Token {
            kind,
            issued_ms: u(1)? as i64,
            epoch: u(9)?,
            a: u(17)?,
            b: u(25)?,
            name: name.to_string(),
        })
    }
}

/// The stream name a shard iterator names, read without checking the token's tag (for
/// authorization before the engine, which does check it, sees the request).
pub(crate) fn peek_name(text: &str) -> Option<String> {
    let b = STANDARD.decode(text.as_bytes()).ok()?;
    let name_len = *b.get(33)? as usize;
    std::str::from_utf8(b.get(34..34 + name_len)?)
        .ok()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_forgery() {
        let key = [3u8; 32];
        let t = Token {
            kind: Kind::Iterator,
            issued_ms: 1_700_000_000_000,
            epoch: 42,
            a: 7,
            b: 123_456,
            name: "my-stream".into(),
        };
        let s = t.encode(&key);
        assert!(s.len() <= 512);
        assert_eq!(Token::decode(&s, &key, Kind::Iterator), Some(t.clone()));
        assert_eq!(
            Token::decode(&s, &key, Kind::ListShards),
            None,
            "kind is checked"
        );
        assert_eq!(
            Token::decode(&s, &[4u8; 32], Kind::Iterator),
            None,
            "key is checked"
        );
        // Editing any byte of the decoded token breaks it.
        let raw = STANDARD.decode(&s).unwrap_or_default();
        for i in 0..raw.len() {
            let mut r = raw.clone();
            r[i] ^= 1;
            assert_eq!(
                Token::decode(&STANDARD.encode(&r), &key, Kind::Iterator),
                None,
                "byte {i}"
            );
        }
        assert_eq!(Token::decode("not a token", &key, Kind::Iterator), None);
        assert_eq!(Token::decode("", &key, Kind::Iterator), None);
    }
}
