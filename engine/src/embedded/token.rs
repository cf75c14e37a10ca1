//! Shard iterators and pagination tokens: opaque, authenticated, expiring.
//!
//! The body of a token is
//! `kind u8 | issued ms i64 | epoch u64 | a u64 | b u64 | name length u8 | name | tag (16 bytes)`
//! where `tag` is the first 16 bytes of HMAC-SHA256 under the engine's iterator key (kept in
//! the catalog) over everything before it. A token that is edited or made up fails the tag
//! check; one older than its time to live is expired. For a shard iterator `a` is the shard
//! index and `b` the position; for a ListShards token `a` is the last shard index listed and
//! `b` the page size; for a ListStreams token `name` is the last stream name listed.
//!
//! On the wire a token looks like AWS's: standard base64 of an 8-byte version prefix
//! `00 00 00 00 00 00 00 01` and the body encrypted with AES-256-CBC (PKCS#7 padding to 16
//! bytes, a zero IV) under a key fixed in this file, not a secret: the server reads the
//! stream name of an iterator to pick the resource policy that applies before the engine
//! sees it. What makes a token unforgeable is the tag under the engine's secret key, inside
//! the encryption.

use aes_gcm::aes::Aes256;
use aes_gcm::aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit as _, generic_array::GenericArray};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// AWS's shard iterators start with these 8 bytes.
const PREFIX: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 1];
const BLOCK: usize = 16;

/// The envelope's cipher (its key is not a secret, see the module docs).
fn envelope() -> Aes256 {
    let key = Sha256::digest(b"rill: the envelope of shard iterators and pagination tokens");
    Aes256::new(&key)
}

/// The version prefix and the body encrypted (AES-256-CBC, PKCS#7, zero IV).
fn seal(body: &[u8]) -> Vec<u8> {
    let cipher = envelope();
    let pad = BLOCK - body.len() % BLOCK;
    let mut plain = body.to_vec();
    plain.resize(body.len() + pad, pad as u8);
    let mut out = PREFIX.to_vec();
    let mut prev = [0u8; BLOCK];
    for chunk in plain.chunks(BLOCK) {
        let mut block = GenericArray::clone_from_slice(chunk);
        for (b, p) in block.iter_mut().zip(prev) {
            *b ^= p;
        }
        cipher.encrypt_block(&mut block);
        prev.copy_from_slice(&block);
        out.extend_from_slice(&block);
    }
    out
}

/// The body of a sealed token, `None` when the prefix, length or padding is wrong.
fn unseal(bytes: &[u8]) -> Option<Vec<u8>> {
    let sealed = bytes.strip_prefix(&PREFIX[..])?;
    if sealed.is_empty() || sealed.len() % BLOCK != 0 {
        return None;
    }
    let cipher = envelope();
    let mut plain = Vec::with_capacity(sealed.len());
    let mut prev = [0u8; BLOCK];
    for chunk in sealed.chunks(BLOCK) {
        let mut block = GenericArray::clone_from_slice(chunk);
        cipher.decrypt_block(&mut block);
        for (b, p) in block.iter_mut().zip(prev) {
            *b ^= p;
        }
        prev.copy_from_slice(chunk);
        plain.extend_from_slice(&block);
    }
    let pad = usize::from(*plain.last()?);
    if pad == 0
        || pad > BLOCK
        || plain.len() < pad
        || plain[plain.len() - pad..]
            .iter()
            .any(|b| usize::from(*b) != pad)
    {
        return None;
    }
    plain.truncate(plain.len() - pad);
    Some(plain)
}

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
    if let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) {
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
        STANDARD.encode(seal(&b))
    }

    /// Decodes a token of the expected kind; `None` if it is malformed, forged or edited.
    pub fn decode(text: &str, key: &[u8], kind: Kind) -> Option<Token> {
        let b = unseal(&STANDARD.decode(text.as_bytes()).ok()?)?;
        if b.len() < 34 + TAG {
            return None;
        }
        let (body, t) = b.split_at(b.len() - TAG);
        // Constant-time comparison through the MAC's own verifier.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
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
    let b = unseal(&STANDARD.decode(text.as_bytes()).ok()?)?;
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
        // AWS's look: the version prefix, then whole blocks.
        assert!(s.starts_with("AAAAAAAAAA"), "{s}");
        assert_eq!(raw[..8], PREFIX);
        assert_eq!((raw.len() - 8) % 16, 0);
        assert_eq!(peek_name(&s).as_deref(), Some("my-stream"));
        assert_eq!(Token::decode("not a token", &key, Kind::Iterator), None);
        assert_eq!(Token::decode("", &key, Kind::Iterator), None);
    }
}
