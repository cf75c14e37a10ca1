//! Encryption at rest for streams with `EncryptionType` KMS.
//!
//! Keys come from a local key file (`rill serve --kms-keys FILE`, [`KeyRing::load`]): one key
//! per line, `KEY_ID BASE64_OF_32_BYTES`; blank lines and `#` comments are ignored. The key id
//! is what StartStreamEncryption names and what DescribeStream echoes (`KeyId`).
//!
//! A record written while its stream's encryption is on is stored with frame flag bit 0 set
//! and its data replaced by
//!
//! ```text
//! key id length u8 | key id (UTF-8) | nonce (12 random bytes) | AES-256-GCM(data) with 16-byte tag
//! ```
//!
//! with the partition key as associated data, so the ciphertext cannot be moved to another
//! key. Partition keys stay in the clear (they route the record and are its associated
//! data); only the data is encrypted. Reading needs the key named in the record: a missing key or a failed tag check is a
//! `KMSNotFoundException` / `InternalFailure` naming the key, never garbage. Records written
//! before encryption was started, or after it was stopped, are stored in the clear.

use crate::api::Error;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use std::collections::HashMap;
use std::path::Path;

use crate::config_file::LoadError;

/// Frame flag: the record's data is encrypted.
pub(crate) const FLAG_ENCRYPTED: u8 = 1;

/// Named 256-bit keys.
#[derive(Clone, Default)]
pub struct KeyRing {
    keys: HashMap<String, Aes256Gcm>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("KeyRing")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeyRing {
    /// A key ring from (key id, 32-byte key) pairs.
    pub fn new(keys: impl IntoIterator<Item = (String, [u8; 32])>) -> KeyRing {
        KeyRing {
            keys: keys
                .into_iter()
                .map(|(id, k)| (id, Aes256Gcm::new(&k.into())))
                .collect(),
        }
    }

    /// Parses a key file's text.
    pub fn parse(text: &str) -> Result<KeyRing, KeyRingError> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(id), Some(b64), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(KeyRingError::Line { line: n + 1 });
            };
            if id.len() > 255 {
                return Err(KeyRingError::KeyIdTooLong { line: n + 1 });
            }
            let raw = STANDARD
                .decode(b64)
                .map_err(|source| KeyRingError::NotBase64 {
                    line: n + 1,
                    source,
                })?;
            let key: [u8; 32] = raw
                .try_into()
                .map_err(|raw: Vec<u8>| KeyRingError::KeyLength {
                    line: n + 1,
                    len: raw.len(),
                })?;
            keys.push((id.to_string(), key));
        }
        Ok(KeyRing::new(keys))
    }

    /// Reads a key file.
    pub fn load(path: &Path) -> Result<KeyRing, LoadError<KeyRingError>> {
        crate::config_file::load(path, KeyRing::parse)
    }

    /// Whether the ring holds `key_id`.
    pub fn contains(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }

    /// Encrypts `data` under `key_id`, bound to `partition_key`.
    pub(crate) fn seal(
        &self,
        key_id: &str,
        partition_key: &str,
        data: &[u8],
    ) -> Result<Bytes, Error> {
        let cipher = self.keys.get(key_id).ok_or_else(|| missing(key_id))?;
        let nonce: [u8; 12] = rand::random();
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: data,
                    aad: partition_key.as_bytes(),
                },
            )
            .map_err(|_| Error::Internal {
                message: "encryption failed".into(),
                source: None,
            })?;
        let id = key_id.as_bytes();
        let mut out = Vec::with_capacity(1 + id.len() + 12 + ct.len());
        out.push(id.len() as u8);
        out.extend_from_slice(id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out.into())
    }

    /// Decrypts a record stored by [`KeyRing::seal`].
    pub(crate) fn open(&self, partition_key: &str, stored: &[u8]) -> Result<Bytes, Error> {
        let bad = || Error::Internal {
            message: "an encrypted record is malformed or fails its authentication tag".into(),
            source: None,
        };
        let id_len = *stored.first().ok_or_else(bad)? as usize;
        let id = stored.get(1..1 + id_len).ok_or_else(bad)?;
        let id = std::str::from_utf8(id).map_err(|_| bad())?;
        let nonce = stored.get(1 + id_len..13 + id_len).ok_or_else(bad)?;
        let ct = stored.get(13 + id_len..).ok_or_else(bad)?;
        let cipher = self.keys.get(id).ok_or_else(|| missing(id))?;
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: partition_key.as_bytes(),
                },
            )
            .map(Bytes::from)
            .map_err(|_| bad())
    }
}

fn missing(key_id: &str) -> Error {
    Error::KmsNotFound(format!(
        "KMS key {key_id} is not available to this engine (give it in the key file, rill serve --kms-keys FILE)."
    ))
}

/// A key file whose text cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    /// A line is not one `KEY_ID BASE64_KEY` pair.
    #[error("line {line}: expected `KEY_ID BASE64_KEY`")]
    Line {
        /// The line number, from 1.
        line: usize,
    },
    /// A key id is longer than KMS allows.
    #[error("line {line}: key id longer than 255 bytes")]
    KeyIdTooLong {
        /// The line number, from 1.
        line: usize,
    },
    /// A key is not base64.
    #[error("line {line}: key is not base64: {source}")]
    NotBase64 {
        /// The line number, from 1.
        line: usize,
        /// The decoder's error.
        #[source]
        source: base64::DecodeError,
    },
    /// A key is not 32 bytes long.
    #[error("line {line}: key must be 32 bytes (AES-256), not {len}")]
    KeyLength {
        /// The line number, from 1.
        line: usize,
        /// The decoded key's length.
        len: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_failures() -> Result<(), Error> {
        let ring = KeyRing::new([("k1".to_string(), [7u8; 32])]);
        let sealed = ring.seal("k1", "pk", b"secret payload")?;
        assert!(!sealed.windows(6).any(|w| w == b"secret"), "no plaintext");
        assert_eq!(&ring.open("pk", &sealed)?[..], b"secret payload");
        assert!(
            ring.open("other-pk", &sealed).is_err(),
            "bound to its partition key"
        );
        let mut edited = sealed.to_vec();
        let last = edited.len() - 1;
        edited[last] ^= 1;
        assert!(ring.open("pk", &edited).is_err(), "tag checked");
        let empty = KeyRing::default();
        assert!(matches!(
            empty.open("pk", &sealed),
            Err(Error::KmsNotFound(_))
        ));
        assert!(matches!(
            empty.seal("k1", "pk", b"x"),
            Err(Error::KmsNotFound(_))
        ));
        let text = format!("# keys\nk2 {}\n", STANDARD.encode([1u8; 32]));
        assert!(
            KeyRing::parse(&text)
                .map(|r| r.contains("k2"))
                .unwrap_or(false)
        );
        assert!(matches!(
            KeyRing::parse("k3 AAAA"),
            Err(KeyRingError::KeyLength { line: 1, len: 3 })
        ));
        assert!(matches!(
            KeyRing::parse("\nk4 !!"),
            Err(KeyRingError::NotBase64 { line: 2, .. })
        ));
        Ok(())
    }
}
