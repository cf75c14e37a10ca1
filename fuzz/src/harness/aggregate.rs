//! The KPL aggregate harness.

use super::*;

/// KPL aggregate decoder: the input as a Kinesis record's data, and the input as the
/// protobuf body of an aggregate with a valid magic and digest (which random bytes almost
/// never have).
///
/// Invariants: [`agg::decode`] and [`agg::deaggregate`] agree (the same records when it
/// decodes; the records before the bad one on a bad key index; the blob itself as one plain
/// record otherwise), and the canonical encoding of decoded records decodes to the same
/// records.
pub fn agg(data: &[u8]) {
    check_aggregate(data);
    check_aggregate(&agg::frame_body(&[data]));
}

pub(super) fn check_aggregate(blob: &[u8]) {
    let decoded = agg::decode(blob);
    let de = agg::deaggregate("container-key", Some("42"), Bytes::copy_from_slice(blob));
    match decoded {
        Ok(records) => {
            assert_eq!(de, records, "deaggregate disagrees with decode");
            if !records.is_empty() {
                let again = agg::decode(&agg::encode(&records))
                    .expect("the encoding of decoded records decodes");
                assert_eq!(
                    again, records,
                    "encode/decode round trip changed the records"
                );
            }
        }
        Err(AggError::KeyIndexOutOfRange { record, .. }) => {
            assert_eq!(
                de.len(),
                record,
                "deaggregate must keep exactly the sub-records before the bad key index"
            );
        }
        Err(_) => {
            let plain = UserRecord {
                partition_key: "container-key".into(),
                explicit_hash_key: Some("42".into()),
                data: Bytes::copy_from_slice(blob),
            };
            assert_eq!(de, vec![plain], "a non-aggregate must come back as itself");
        }
    }
}
