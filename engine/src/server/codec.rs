//! Request and response bodies: `application/x-amz-json-1.1` and `application/x-amz-cbor-1.1`.
//!
//! JSON bodies map directly onto the serde types of [`crate::api`]: blobs are base64 strings
//! and timestamps are epoch seconds (numbers). CBOR bodies carry the same members with blobs
//! as byte strings and timestamps as epoch seconds under tag 1, as the AWS SDKs for Java send
//! and expect them. CBOR is translated to and from the JSON value tree: a byte string becomes
//! a base64 string and back for the `Data` member; a tag-1 number becomes a plain number and
//! back for members whose name ends in `Timestamp`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ciborium::Value as Cbor;
use serde_json::Value as Json;

/// The body encoding of a request, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// `application/x-amz-json-1.1` (also 1.0 and `application/json`).
    Json,
    /// `application/x-amz-cbor-1.1`.
    Cbor,
}

impl Codec {
    /// Picks the codec for a `Content-Type` header value; JSON when absent or unknown.
    pub fn from_content_type(ct: Option<&str>) -> Codec {
        match ct {
            Some(ct)
                if ct
                    .trim()
                    .to_ascii_lowercase()
                    .starts_with("application/x-amz-cbor") =>
            {
                Codec::Cbor
            }
            _ => Codec::Json,
        }
    }

    /// The `Content-Type` of responses in this codec.
    pub fn content_type(self) -> &'static str {
        match self {
            Codec::Json => "application/x-amz-json-1.1",
            Codec::Cbor => "application/x-amz-cbor-1.1",
        }
    }

    /// Decodes a request body into the JSON value tree (an empty body is `{}`).
    pub fn decode(self, body: &[u8]) -> Result<Json, DecodeError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Json::Object(Default::default()));
        }
        match self {
            Codec::Json => serde_json::from_slice(body).map_err(DecodeError::Json),
            Codec::Cbor => {
                let v: Cbor = ciborium::de::from_reader(body).map_err(DecodeError::Cbor)?;
                cbor_to_json(v)
            }
        }
    }

    /// Encodes a response value tree.
    pub fn encode(self, value: &Json) -> Vec<u8> {
        match self {
            Codec::Json => serde_json::to_vec(value).unwrap_or_default(),
            Codec::Cbor => {
                let mut out = Vec::new();
                // Writing into a Vec cannot fail.
                let _ = ciborium::ser::into_writer(&json_to_cbor(value, None), &mut out);
                out
            }
        }
    }
}

/// A request body that is not a value of its codec.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON.
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    /// Not CBOR.
    #[error("{0}")]
    Cbor(#[source] ciborium::de::Error<std::io::Error>),
    /// A CBOR map key that is not text (the JSON value tree has only text keys).
    #[error("CBOR map keys must be text")]
    CborMapKey,
    /// A CBOR value with no JSON counterpart.
    #[error("unsupported CBOR value")]
    CborUnsupported,
}

fn cbor_to_json(v: Cbor) -> Result<Json, DecodeError> {
    Ok(match v {
        Cbor::Null => Json::Null,
        Cbor::Bool(b) => Json::Bool(b),
        Cbor::Integer(i) => {
            let i: i128 = i.into();
            match i64::try_from(i) {
                Ok(n) => Json::from(n),
                Err(_) => Json::from(i as f64),
            }
        }
        Cbor::Float(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        Cbor::Text(s) => Json::String(s),
        Cbor::Bytes(b) => Json::String(STANDARD.encode(b)),
        // Tag 1: epoch time; other tags: their content.
        Cbor::Tag(_, inner) => cbor_to_json(*inner)?,
        Cbor::Array(items) => Json::Array(
            items
                .into_iter()
                .map(cbor_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Cbor::Map(entries) => {
            let mut m = serde_json::Map::new();
            for (k, v) in entries {
                let Cbor::Text(k) = k else {
                    return Err(DecodeError::CborMapKey);
                };
                m.insert(k, cbor_to_json(v)?);
            }
            Json::Object(m)
        }
        _ => return Err(DecodeError::CborUnsupported),
    })
}

fn json_to_cbor(v: &Json, key: Option<&str>) -> Cbor {
    match v {
        Json::Null => Cbor::Null,
        Json::Bool(b) => Cbor::Bool(*b),
        Json::Number(n) => {
            let plain = if let Some(i) = n.as_i64() {
                Cbor::Integer(i.into())
            } else if let Some(u) = n.as_u64() {
                Cbor::Integer(u.into())
            } else {
                Cbor::Float(n.as_f64().unwrap_or(0.0))
            };
            if key.is_some_and(|k| k.ends_with("Timestamp")) {
                Cbor::Tag(1, Box::new(plain))
            } else {
                plain
            }
        }
        Json::String(s) => {
            if key == Some("Data")
                && let Ok(bytes) = STANDARD.decode(s)
            {
                return Cbor::Bytes(bytes);
            }
            Cbor::Text(s.clone())
        }
        Json::Array(items) => Cbor::Array(items.iter().map(|i| json_to_cbor(i, key)).collect()),
        Json::Object(m) => Cbor::Map(
            m.iter()
                .map(|(k, v)| (Cbor::Text(k.clone()), json_to_cbor(v, Some(k))))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbor_round_trip_maps_blobs_and_timestamps() -> Result<(), Box<dyn std::error::Error>> {
        let json = serde_json::json!({
            "Records": [{"Data": "aGk=", "PartitionKey": "k", "ApproximateArrivalTimestamp": 1700000000.5,
                         "SequenceNumber": "1"}],
            "MillisBehindLatest": 0
        });
        let bytes = Codec::Cbor.encode(&json);
        let raw: Cbor = ciborium::de::from_reader(&bytes[..])?;
        let text = format!("{raw:?}");
        assert!(
            text.contains("Bytes([104, 105])"),
            "Data is a byte string: {text}"
        );
        assert!(
            text.contains("Tag(1, Float(1700000000.5))"),
            "timestamp is tag 1: {text}"
        );
        assert_eq!(Codec::Cbor.decode(&bytes)?, json);
        assert_eq!(Codec::Json.decode(b"")?, serde_json::json!({}));
        assert!(matches!(
            Codec::Json.decode(b"{"),
            Err(DecodeError::Json(_))
        ));
        assert!(matches!(
            Codec::Cbor.decode(&[0xff, 0x00]),
            Err(DecodeError::Cbor(_))
        ));
        // {1: 2}: an integer key.
        assert!(matches!(
            Codec::Cbor.decode(&[0xa1, 0x01, 0x02]),
            Err(DecodeError::CborMapKey)
        ));
        assert_eq!(
            Codec::from_content_type(Some("application/x-amz-cbor-1.1")),
            Codec::Cbor
        );
        assert_eq!(
            Codec::from_content_type(Some("application/x-amz-json-1.1")),
            Codec::Json
        );
        Ok(())
    }
}
