//! The request-decoding harnesses (JSON and CBOR), over every operation of the table.

use super::*;

/// Decodes a request body as the server does for an operation's input type: JSON straight
/// into the type (the fast path), else through [`Codec::decode`]'s value tree, which must be
/// an object.
pub fn decode_request<I: DeserializeOwned>(codec: Codec, body: &[u8]) -> Result<I, String> {
    if codec == Codec::Json
        && let Ok(input) = serde_json::from_slice::<I>(body)
    {
        return Ok(input);
    }
    let value = codec.decode(body).map_err(|e| e.to_string())?;
    if !value.is_object() {
        return Err("not an object".into());
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// The request harnesses' operations, from the operation table: every operation, the first
/// input byte picking one (modulo the count).
macro_rules! operations {
    (required { $($required:tt)* } provided { $($provided:tt)* }) => {
        operations!(@lines $($required)* $($provided)*);
    };
    (@lines $((
        $op:ident, $method:ident, $input:ty, $output:ty,
        $plane:ident, [$($member:ident),*], $doc:literal
    ))*) => {
        /// The operations the request harnesses decode bodies for; the first input byte
        /// picks one (modulo the count).
        pub const OPERATIONS: &[&str] = &[$(stringify!($op)),+];

        fn decode_operation(codec: Codec, op: &str, body: &[u8]) {
            match op {
                $(stringify!($op) => check_request::<$input>(codec, op, body),)+
                _ => {}
            }
        }
    };
}

rill_engine::kinesis_operations!(operations);

/// JSON request decoder: first byte picks the operation, the rest is the body.
pub fn request_json(data: &[u8]) {
    request(Codec::Json, data);
}

/// CBOR request decoder: first byte picks the operation, the rest is the body.
pub fn request_cbor(data: &[u8]) {
    request(Codec::Cbor, data);
}

pub(super) fn request(codec: Codec, data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let op = OPERATIONS[pick as usize % OPERATIONS.len()];
    // The value tree alone, as the server decodes every body, and the service model's
    // checks and number coercion on it, as the server runs them before every operation:
    // neither may panic, and coercion leaves a body that passed still passing.
    if let Ok(mut tree) = codec.decode(body)
        && let Some(shape) = rill_engine::api::model::input(op)
        && rill_engine::api::model::check_value(shape, &tree).is_ok()
    {
        rill_engine::api::model::coerce_numbers(shape, &mut tree);
        assert!(
            rill_engine::api::model::check_value(shape, &tree).is_ok(),
            "{op}: coercion made a valid body invalid"
        );
    }
    decode_operation(codec, op, body);
}

/// Invariants: decoding never panics; for JSON the fast path and the value-tree path agree;
/// a decoded input's value tree survives both codecs' encode/decode unchanged, and decodes
/// into the same input again.
pub(super) fn check_request<I>(codec: Codec, op: &str, body: &[u8])
where
    I: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let Ok(input) = decode_request::<I>(codec, body) else {
        return;
    };
    // When both JSON paths decode a body, they agree. (The fast path may accept more: it
    // skips unknown members without checking their string escapes, which the value tree
    // rejects, such as a lone surrogate `"\udc00"`.)
    if codec == Codec::Json
        && let Ok(fast) = serde_json::from_slice::<I>(body)
        && let Ok(tree) = codec.decode(body)
        && let Ok(slow) = serde_json::from_value::<I>(tree)
    {
        assert_eq!(
            slow, fast,
            "{op}: the JSON fast path and the value-tree path disagree"
        );
    }
    let value = serde_json::to_value(&input).expect("a decoded input serializes");
    for c in [Codec::Json, Codec::Cbor] {
        let bytes = c.encode(&value);
        let tree = c
            .decode(&bytes)
            .unwrap_or_else(|e| panic!("{op}: {c:?} encoding of a decoded input: {e}"));
        assert_eq!(
            tree, value,
            "{op}: {c:?} encode/decode changed the value tree"
        );
        let again = decode_request::<I>(c, &bytes)
            .unwrap_or_else(|e| panic!("{op}: {c:?} re-encoded input does not decode: {e}"));
        let again = serde_json::to_value(&again).expect("a decoded input serializes");
        let twice = decode_request::<I>(c, &c.encode(&again))
            .unwrap_or_else(|e| panic!("{op}: {c:?} re-encoded input does not decode: {e}"));
        assert_eq!(
            serde_json::to_value(&twice).ok(),
            Some(again),
            "{op}: {c:?} re-encoding is not stable"
        );
    }
}
