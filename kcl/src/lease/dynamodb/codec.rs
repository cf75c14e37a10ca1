//! Items to leases and back, and the parts of update expressions.
//!
//! The attribute names and types are the schema table of the module docs; an optional
//! attribute that is `None` is absent from the item, and unknown attributes are ignored.

use super::attr;
use crate::lease::{Lease, LeaseError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeSet, HashMap};

/// The parts of an `UpdateItem` (attribute names are written `#name` and mapped to
/// themselves, so that no schema name can clash with a DynamoDB reserved word).
pub(super) struct Update {
    pub(super) set: Vec<String>,
    pub(super) remove: Vec<String>,
    pub(super) values: HashMap<String, AttributeValue>,
    pub(super) extra_condition: Option<String>,
    /// Increment `leaseCounter`.
    pub(super) count: bool,
}

impl Update {
    pub(super) fn counting() -> Update {
        Update {
            set: Vec::new(),
            remove: Vec::new(),
            values: HashMap::new(),
            extra_condition: None,
            count: true,
        }
    }

    /// `SET #name = :name` with `value`, or `REMOVE #name` when `value` is `None`.
    pub(super) fn set_or_remove(&mut self, name: &str, value: Option<AttributeValue>) {
        match value {
            Some(v) => {
                self.set.push(format!("#{name} = :{name}"));
                self.values.insert(format!(":{name}"), v);
            }
            None => self.remove.push(format!("#{name}")),
        }
    }

    /// Adds to the condition that `leaseOwner` is `owner` (absent for `None`).
    pub(super) fn expect_owner(&mut self, owner: Option<&str>) {
        let cond = match owner {
            Some(o) => {
                self.values
                    .insert(":expectedOwner".into(), AttributeValue::S(o.to_owned()));
                "#leaseOwner = :expectedOwner".to_string()
            }
            None => "attribute_not_exists(#leaseOwner)".to_string(),
        };
        self.extra_condition = Some(cond);
    }
}

/// The `#name` placeholders used in `exprs`, mapped to the attribute names.
pub(super) fn names_in(exprs: &[&str]) -> HashMap<String, String> {
    let mut names = HashMap::new();
    for expr in exprs {
        for (i, _) in expr.match_indices('#') {
            let name: String = expr[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            names.insert(format!("#{name}"), name);
        }
    }
    names
}

pub(super) fn num(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn string_set(set: &BTreeSet<String>) -> Option<AttributeValue> {
    (!set.is_empty()).then(|| AttributeValue::Ss(set.iter().cloned().collect()))
}

/// The item the Java KCL would write for `lease` (absent attributes for `None` and empty
/// sets).
pub(super) fn item_from_lease(l: &Lease) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::new();
    let mut put = |name: &str, v: Option<AttributeValue>| {
        if let Some(v) = v {
            item.insert(name.to_owned(), v);
        }
    };
    let s = |v: &Option<String>| v.clone().map(AttributeValue::S);
    put(
        attr::LEASE_KEY,
        Some(AttributeValue::S(l.lease_key.clone())),
    );
    put(attr::LEASE_OWNER, s(&l.lease_owner));
    put(attr::LEASE_COUNTER, Some(num(l.lease_counter)));
    put(
        attr::CHECKPOINT,
        Some(AttributeValue::S(l.checkpoint.clone())),
    );
    put(
        attr::CHECKPOINT_SUB,
        Some(num(l.checkpoint_sub_sequence_number)),
    );
    put(attr::PENDING, s(&l.pending_checkpoint));
    put(
        attr::PENDING_SUB,
        l.pending_checkpoint_sub_sequence_number.map(num),
    );
    put(
        attr::PENDING_STATE,
        l.pending_checkpoint_state
            .clone()
            .map(|b| AttributeValue::B(Blob::new(b))),
    );
    put(
        attr::OWNER_SWITCHES,
        Some(num(l.owner_switches_since_checkpoint)),
    );
    put(attr::PARENTS, string_set(&l.parent_shard_ids));
    put(attr::CHILDREN, string_set(&l.child_shard_ids));
    put(attr::STARTING_HASH_KEY, s(&l.starting_hash_key));
    put(attr::ENDING_HASH_KEY, s(&l.ending_hash_key));
    put(attr::CHECKPOINT_OWNER, s(&l.checkpoint_owner));
    if let Some(load) = l.load {
        put(attr::BYTES_PER_SECOND, Some(num(load.bytes_per_second)));
        put(attr::RECORDS_PER_SECOND, Some(num(load.records_per_second)));
    }
    item
}

/// The type of an attribute value, as DynamoDB names it.
pub(super) fn type_name(v: &AttributeValue) -> &'static str {
    match v {
        AttributeValue::S(_) => "S",
        AttributeValue::N(_) => "N",
        AttributeValue::B(_) => "B",
        AttributeValue::Ss(_) => "SS",
        AttributeValue::Ns(_) => "NS",
        AttributeValue::Bs(_) => "BS",
        AttributeValue::Bool(_) => "BOOL",
        AttributeValue::Null(_) => "NULL",
        AttributeValue::L(_) => "L",
        AttributeValue::M(_) => "M",
        _ => "an unknown type",
    }
}

/// Reads the attributes of one item.
pub(super) struct ItemReader<'a> {
    pub(super) item: &'a HashMap<String, AttributeValue>,
    pub(super) key: String,
}

impl ItemReader<'_> {
    pub(super) fn malformed(&self, attribute: &str, reason: String) -> LeaseError {
        LeaseError::MalformedAttribute {
            key: self.key.clone(),
            attribute: attribute.to_owned(),
            reason,
        }
    }

    pub(super) fn wrong_type(
        &self,
        attribute: &str,
        want: &str,
        found: &AttributeValue,
    ) -> LeaseError {
        self.malformed(
            attribute,
            format!("must be of type {want}, found {}", type_name(found)),
        )
    }

    pub(super) fn opt_s(&self, name: &str) -> Result<Option<String>, LeaseError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(true)) => Ok(None),
            Some(AttributeValue::S(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.wrong_type(name, "S", v)),
        }
    }

    pub(super) fn s(&self, name: &str) -> Result<String, LeaseError> {
        self.opt_s(name)?
            .ok_or_else(|| self.malformed(name, "is missing".into()))
    }

    pub(super) fn opt_n(&self, name: &str) -> Result<Option<u64>, LeaseError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(true)) => Ok(None),
            Some(AttributeValue::N(n)) => n.trim().parse::<u64>().map(Some).map_err(|_| {
                self.malformed(name, format!("must be a non-negative integer, found {n:?}"))
            }),
            Some(v) => Err(self.wrong_type(name, "N", v)),
        }
    }

    pub(super) fn n(&self, name: &str) -> Result<u64, LeaseError> {
        self.opt_n(name)?
            .ok_or_else(|| self.malformed(name, "is missing".into()))
    }

    pub(super) fn opt_b(&self, name: &str) -> Result<Option<Vec<u8>>, LeaseError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(true)) => Ok(None),
            Some(AttributeValue::B(b)) => Ok(Some(b.as_ref().to_vec())),
            Some(v) => Err(self.wrong_type(name, "B", v)),
        }
    }

    pub(super) fn ss(&self, name: &str) -> Result<BTreeSet<String>, LeaseError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(true)) => Ok(BTreeSet::new()),
            Some(AttributeValue::Ss(v)) => Ok(v.iter().cloned().collect()),
            Some(v) => Err(self.wrong_type(name, "SS", v)),
        }
    }
}

/// Parses an item into a lease; a malformed attribute is named in the error.
pub(super) fn lease_from_item(item: &HashMap<String, AttributeValue>) -> Result<Lease, LeaseError> {
    let mut r = ItemReader {
        item,
        key: "?".into(),
    };
    r.key = r.s(attr::LEASE_KEY)?;
    Ok(Lease {
        lease_owner: r.opt_s(attr::LEASE_OWNER)?,
        lease_counter: r.n(attr::LEASE_COUNTER)?,
        checkpoint: r.s(attr::CHECKPOINT)?,
        checkpoint_sub_sequence_number: r.opt_n(attr::CHECKPOINT_SUB)?.unwrap_or(0),
        pending_checkpoint: r.opt_s(attr::PENDING)?,
        pending_checkpoint_sub_sequence_number: r.opt_n(attr::PENDING_SUB)?,
        pending_checkpoint_state: r.opt_b(attr::PENDING_STATE)?,
        owner_switches_since_checkpoint: r.opt_n(attr::OWNER_SWITCHES)?.unwrap_or(0),
        parent_shard_ids: r.ss(attr::PARENTS)?,
        child_shard_ids: r.ss(attr::CHILDREN)?,
        starting_hash_key: r.opt_s(attr::STARTING_HASH_KEY)?,
        ending_hash_key: r.opt_s(attr::ENDING_HASH_KEY)?,
        checkpoint_owner: r.opt_s(attr::CHECKPOINT_OWNER)?,
        load: match (
            r.opt_n(attr::BYTES_PER_SECOND)?,
            r.opt_n(attr::RECORDS_PER_SECOND)?,
        ) {
            (None, None) => None,
            (b, n) => Some(crate::lease::ShardLoad {
                bytes_per_second: b.unwrap_or(0),
                records_per_second: n.unwrap_or(0),
            }),
        },
        lease_key: r.key.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_lease() -> Lease {
        Lease {
            lease_key: "shardId-000000000007".into(),
            lease_owner: Some("w1".into()),
            lease_counter: 42,
            checkpoint: "49590338271490256608559692538361571095921575989136588898".into(),
            checkpoint_sub_sequence_number: 3,
            pending_checkpoint: Some("4959".into()),
            pending_checkpoint_sub_sequence_number: Some(1),
            pending_checkpoint_state: Some(vec![0, 1, 255]),
            owner_switches_since_checkpoint: 2,
            parent_shard_ids: BTreeSet::from(["shardId-000000000001".into()]),
            child_shard_ids: BTreeSet::from([
                "shardId-000000000010".into(),
                "shardId-000000000011".into(),
            ]),
            starting_hash_key: Some("0".into()),
            ending_hash_key: Some("170141183460469231731687303715884105727".into()),
            checkpoint_owner: Some("w0".into()),
            load: Some(crate::lease::ShardLoad {
                bytes_per_second: 2048,
                records_per_second: 10,
            }),
        }
    }

    #[test]
    fn item_round_trips_with_kcl_types() -> Result<(), LeaseError> {
        let l = full_lease();
        let item = item_from_lease(&l);
        let types: BTreeSet<(String, &str)> = item
            .iter()
            .map(|(k, v)| (k.clone(), type_name(v)))
            .collect();
        let want: BTreeSet<(String, &str)> = [
            ("leaseKey", "S"),
            ("leaseOwner", "S"),
            ("leaseCounter", "N"),
            ("checkpoint", "S"),
            ("checkpointSubSequenceNumber", "N"),
            ("pendingCheckpoint", "S"),
            ("pendingCheckpointSubSequenceNumber", "N"),
            ("pendingCheckpointState", "B"),
            ("ownerSwitchesSinceCheckpoint", "N"),
            ("parentShardId", "SS"),
            ("childShardIds", "SS"),
            ("startingHashKey", "S"),
            ("endingHashKey", "S"),
            ("checkpointOwner", "S"),
            ("rillBytesPerSecond", "N"),
            ("rillRecordsPerSecond", "N"),
        ]
        .into_iter()
        .map(|(k, t)| (k.to_string(), t))
        .collect();
        assert_eq!(types, want);
        assert_eq!(lease_from_item(&item)?, l);
        Ok(())
    }

    #[test]
    fn empty_optionals_are_absent() {
        let l = Lease::new(
            "shardId-000000000000",
            crate::ExtendedSequenceNumber::trim_horizon(),
        );
        let item = item_from_lease(&l);
        let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "checkpoint",
                "checkpointSubSequenceNumber",
                "leaseCounter",
                "leaseKey",
                "ownerSwitchesSinceCheckpoint"
            ]
        );
    }

    #[test]
    fn malformed_attributes_are_named() {
        let mut item = item_from_lease(&full_lease());
        item.insert("leaseCounter".into(), AttributeValue::S("7".into()));
        match lease_from_item(&item) {
            Err(LeaseError::MalformedAttribute { key, attribute, .. }) => {
                assert_eq!(key, "shardId-000000000007");
                assert_eq!(attribute, "leaseCounter");
            }
            other => panic!("expected MalformedAttribute, got {other:?}"),
        }
        item.insert("leaseCounter".into(), AttributeValue::N("-1".into()));
        assert!(matches!(
            lease_from_item(&item),
            Err(LeaseError::MalformedAttribute { attribute, .. }) if attribute == "leaseCounter"
        ));
        item.insert("leaseCounter".into(), num(1));
        item.remove("checkpoint");
        assert!(matches!(
            lease_from_item(&item),
            Err(LeaseError::MalformedAttribute { attribute, .. }) if attribute == "checkpoint"
        ));
        item.remove("leaseKey");
        assert!(matches!(
            lease_from_item(&item),
            Err(LeaseError::MalformedAttribute { attribute, .. }) if attribute == "leaseKey"
        ));
    }

    #[test]
    fn expression_names_are_collected() {
        let names = names_in(&[
            "SET #a = :a, #leaseCounter = #leaseCounter + :one",
            "#b = :x",
        ]);
        assert_eq!(names.len(), 3);
        assert_eq!(
            names.get("#leaseCounter").map(String::as_str),
            Some("leaseCounter")
        );
    }
}
