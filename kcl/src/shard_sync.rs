//! Shard sync: keeping one lease per shard that should be processed.
//!
//! # Rules
//!
//! * A shard gets a lease when it has none and it is not the parent of a shard that has
//!   one (a parent processed and cleaned up must not come back).
//! * A shard whose parent (`ParentShardId` or `AdjacentParentShardId` of ListShards) has or
//!   gets a lease starts at `TRIM_HORIZON`: after a split or merge nothing of the children
//!   may be skipped. Any other shard starts at the configured initial position; under
//!   `LATEST`, closed shards without a leased parent get no lease at all (nothing new will
//!   ever arrive in them).
//! * Parents come before children: shards are planned in shard id order (children have
//!   higher indexes), and the processing loop of a child waits until every parent lease
//!   is at `SHARD_END` or gone.
//! * At the end of a shard, the processing loop creates the children's leases from
//!   GetRecords' `ChildShards` at once (without waiting for the next sync) and records
//!   them in the parent's `childShardIds`.
//! * Cleanup: a `SHARD_END` lease is deleted once every child has a lease whose checkpoint
//!   is no longer a starting sentinel (the child started), or when the shard is no longer
//!   listed (trimmed by retention).

use crate::config::InitialPosition;
use crate::lease::{Lease, LeaseError, LeaseTable};
use crate::sequence::ExtendedSequenceNumber;
use rill_engine::api::{ChildShard, Kinesis, Shard};
use std::collections::{BTreeSet, HashMap, HashSet};

pub use rill_engine::api::list_all_shards;

fn parents(shard: &Shard) -> BTreeSet<String> {
    shard
        .parent_shard_id
        .iter()
        .chain(shard.adjacent_parent_shard_id.iter())
        .cloned()
        .collect()
}

/// The leases to create for `shards` given the `existing` ones (a pure function; see the
/// module docs for the rules).
pub fn plan_new_leases(
    shards: &[Shard],
    existing: &[Lease],
    initial: InitialPosition,
) -> Vec<Lease> {
    let mut leased: HashSet<String> = existing.iter().map(|l| l.lease_key.clone()).collect();
    let mut parents_of_leased: HashSet<String> = existing
        .iter()
        .flat_map(|l| l.parent_shard_ids.iter().cloned())
        .collect();
    for s in shards {
        if leased.contains(&s.shard_id) {
            parents_of_leased.extend(parents(s));
        }
    }
    let mut sorted: Vec<&Shard> = shards.iter().collect();
    sorted.sort_by(|a, b| a.shard_id.cmp(&b.shard_id));
    let mut out = Vec::new();
    for s in sorted {
        let closed = s.sequence_number_range.ending_sequence_number.is_some();
        if leased.contains(&s.shard_id) || (closed && parents_of_leased.contains(&s.shard_id)) {
            continue;
        }
        let ps = parents(s);
        let checkpoint = if ps.iter().any(|p| leased.contains(p)) {
            ExtendedSequenceNumber::trim_horizon()
        } else {
            match initial {
                InitialPosition::Latest if closed => continue,
                InitialPosition::Latest => ExtendedSequenceNumber::latest(),
                InitialPosition::TrimHorizon => ExtendedSequenceNumber::trim_horizon(),
                InitialPosition::AtTimestamp(_) => ExtendedSequenceNumber::at_timestamp(),
            }
        };
        let mut lease = Lease::new(s.shard_id.clone(), checkpoint);
        lease.parent_shard_ids = ps;
        lease.starting_hash_key = Some(s.hash_key_range.starting_hash_key.clone());
        lease.ending_hash_key = Some(s.hash_key_range.ending_hash_key.clone());
        leased.insert(s.shard_id.clone());
        out.push(lease);
    }
    out
}

/// The `SHARD_END` leases that may be deleted (see the module docs).
pub fn plan_cleanup(shards: &[Shard], leases: &[Lease]) -> Vec<Lease> {
    let listed: HashSet<&str> = shards.iter().map(|s| s.shard_id.as_str()).collect();
    let by_key: HashMap<&str, &Lease> = leases.iter().map(|l| (l.lease_key.as_str(), l)).collect();
    let mut children: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for l in leases {
        for p in &l.parent_shard_ids {
            children.entry(p.as_str()).or_default().insert(&l.lease_key);
        }
    }
    leases
        .iter()
        .filter(|l| l.is_shard_end())
        .filter(|l| {
            if !listed.contains(l.lease_key.as_str()) {
                return true;
            }
            let mut kids: BTreeSet<&str> = l.child_shard_ids.iter().map(String::as_str).collect();
            kids.extend(children.get(l.lease_key.as_str()).into_iter().flatten());
            !kids.is_empty()
                && kids.iter().all(|k| {
                    by_key
                        .get(k)
                        .is_some_and(|c| c.is_shard_end() || c.checkpoint().is_position())
                })
        })
        .cloned()
        .collect()
}

/// One sync: creates missing leases and deletes finished ones. Returns how many leases
/// were created.
///
/// Cancel safety: cancel safe in effect: every write is a conditional create or delete,
/// and the next sync redoes what a dropped one did not do.
pub async fn sync(
    kinesis: &dyn Kinesis,
    table: &dyn LeaseTable,
    stream_name: &str,
    initial: InitialPosition,
) -> Result<usize, crate::KclError> {
    let shards = list_all_shards(kinesis, stream_name).await?;
    let existing = table.list_leases().await?;
    apply(table, &shards, &existing, initial, "").await
}

/// One sync of a stream of a multi-stream application: as [`sync`], for the leases whose
/// keys start with `prefix` (see [`crate::streams`]) among `all` (the table, as read by
/// the caller once for every stream).
///
/// Cancel safety: as [`sync`].
pub async fn sync_prefixed(
    kinesis: &dyn Kinesis,
    table: &dyn LeaseTable,
    stream_name: &str,
    initial: InitialPosition,
    prefix: &str,
    all: &[Lease],
) -> Result<usize, crate::KclError> {
    let shards = list_all_shards(kinesis, stream_name).await?;
    apply(table, &shards, all, initial, prefix).await
}

/// The leases of `all` under `prefix`, with the prefix taken off their keys.
fn strip_prefix(all: &[Lease], prefix: &str) -> Vec<Lease> {
    all.iter()
        .filter_map(|l| {
            let key = l.lease_key.strip_prefix(prefix)?;
            let mut l = l.clone();
            l.lease_key = key.to_owned();
            Some(l)
        })
        .collect()
}

async fn apply(
    table: &dyn LeaseTable,
    shards: &[Shard],
    all: &[Lease],
    initial: InitialPosition,
    prefix: &str,
) -> Result<usize, crate::KclError> {
    let existing = strip_prefix(all, prefix);
    let mut created = 0;
    for mut lease in plan_new_leases(shards, &existing, initial) {
        lease.lease_key.insert_str(0, prefix);
        if table.create_lease_if_not_exists(&lease).await? {
            tracing::info!(lease_key = %lease.lease_key, checkpoint = %lease.checkpoint, "lease created");
            created += 1;
        }
    }
    for mut lease in plan_cleanup(shards, &existing) {
        lease.lease_key.insert_str(0, prefix);
        if table.delete_lease(&lease).await? {
            tracing::info!(lease_key = %lease.lease_key, "finished parent lease deleted");
        }
    }
    metrics::counter!(crate::metrics::SHARD_SYNC).increment(1);
    Ok(created)
}

/// Deletes every lease of `all` whose key starts with `prefix` (a stream that was deleted
/// or is no longer consumed), each conditional on its counter. Returns how many were
/// deleted; a lease written since `all` was read stays, for the next sync.
///
/// Cancel safety: cancel safe in effect (conditional deletes).
pub async fn delete_stream_leases(
    table: &dyn LeaseTable,
    prefix: &str,
    all: &[Lease],
) -> Result<usize, LeaseError> {
    let mut deleted = 0;
    for l in all.iter().filter(|l| l.lease_key.starts_with(prefix)) {
        if table.delete_lease(l).await? {
            tracing::info!(lease_key = %l.lease_key, "lease of a former stream deleted");
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// At the end of a shard: creates the children's leases (at `TRIM_HORIZON`) and records
/// them in the parent's `childShardIds`.
///
/// Cancel safety: cancel safe in effect (conditional, idempotent writes).
///
/// `prefix` is the stream's lease key prefix in a multi-stream application (see
/// [`crate::streams`]), empty otherwise.
pub async fn create_child_leases(
    table: &dyn LeaseTable,
    parent: &Lease,
    children: &[ChildShard],
    prefix: &str,
) -> Result<Option<Lease>, LeaseError> {
    for c in children {
        let mut lease = Lease::new(
            format!("{prefix}{}", c.shard_id),
            ExtendedSequenceNumber::trim_horizon(),
        );
        lease.parent_shard_ids = c.parent_shards.iter().cloned().collect();
        lease.starting_hash_key = Some(c.hash_key_range.starting_hash_key.clone());
        lease.ending_hash_key = Some(c.hash_key_range.ending_hash_key.clone());
        if table.create_lease_if_not_exists(&lease).await? {
            tracing::info!(shard_id = %c.shard_id, parent = %parent.lease_key, "child lease created");
        }
    }
    let mut meta = parent.clone();
    meta.child_shard_ids
        .extend(children.iter().map(|c| c.shard_id.clone()));
    if meta.child_shard_ids == parent.child_shard_ids {
        return Ok(Some(parent.clone()));
    }
    table.update_lease_meta(&meta).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use rill_engine::api::SequenceNumberRange;
    use rill_engine::api::types::HashKeyRange;

    fn shard(id: u32, parent: Option<u32>, adjacent: Option<u32>, closed: bool) -> Shard {
        let name = |i: u32| format!("shardId-{i:012}");
        Shard {
            shard_id: name(id),
            parent_shard_id: parent.map(name),
            adjacent_parent_shard_id: adjacent.map(name),
            hash_key_range: HashKeyRange {
                starting_hash_key: "0".into(),
                ending_hash_key: "1".into(),
            },
            sequence_number_range: SequenceNumberRange {
                starting_sequence_number: "1".into(),
                ending_sequence_number: closed.then(|| "9".into()),
            },
        }
    }

    fn keys(ls: &[Lease]) -> Vec<(String, String)> {
        ls.iter()
            .map(|l| (l.lease_key[18..].to_string(), l.checkpoint.clone()))
            .collect()
    }

    #[test]
    fn split_under_trim_horizon_and_latest() {
        // 0 split into 1 and 2; 1 and 2 merged into 3.
        let shards = vec![
            shard(0, None, None, true),
            shard(1, Some(0), None, true),
            shard(2, Some(0), None, true),
            shard(3, Some(1), Some(2), false),
        ];
        let th = plan_new_leases(&shards, &[], InitialPosition::TrimHorizon);
        assert_eq!(
            keys(&th),
            vec![
                ("00".into(), "TRIM_HORIZON".into()),
                ("01".into(), "TRIM_HORIZON".into()),
                ("02".into(), "TRIM_HORIZON".into()),
                ("03".into(), "TRIM_HORIZON".into()),
            ]
        );
        assert_eq!(th[3].parent_shard_ids.len(), 2);
        let latest = plan_new_leases(&shards, &[], InitialPosition::Latest);
        assert_eq!(keys(&latest), vec![("03".into(), "LATEST".into())]);
        // A later split of 3 gives children starting at TRIM_HORIZON.
        let mut more = shards.clone();
        more[3].sequence_number_range.ending_sequence_number = Some("9".into());
        more.push(shard(4, Some(3), None, false));
        let next = plan_new_leases(&more, &latest, InitialPosition::Latest);
        assert_eq!(keys(&next), vec![("04".into(), "TRIM_HORIZON".into())]);
    }

    #[test]
    fn cleaned_parent_is_not_recreated_and_cleanup_waits_for_children() {
        let shards = vec![
            shard(0, None, None, true),
            shard(1, Some(0), None, false),
            shard(2, Some(0), None, false),
        ];
        let mut child1 = Lease::new(
            "shardId-000000000001",
            ExtendedSequenceNumber::trim_horizon(),
        );
        child1
            .parent_shard_ids
            .insert("shardId-000000000000".into());
        let mut child2 = child1.clone();
        child2.lease_key = "shardId-000000000002".into();
        assert!(
            plan_new_leases(
                &shards,
                &[child1.clone(), child2.clone()],
                InitialPosition::TrimHorizon
            )
            .is_empty()
        );

        let parent = Lease::new("shardId-000000000000", ExtendedSequenceNumber::shard_end());
        let all = vec![parent.clone(), child1.clone(), child2.clone()];
        assert!(
            plan_cleanup(&shards, &all).is_empty(),
            "children not started"
        );
        child1.checkpoint = "5".into();
        let all = vec![parent.clone(), child1.clone(), child2.clone()];
        assert!(
            plan_cleanup(&shards, &all).is_empty(),
            "one child not started"
        );
        child2.checkpoint = "SHARD_END".into();
        let all = vec![parent, child1, child2];
        assert_eq!(plan_cleanup(&shards, &all).len(), 1);
    }
}
