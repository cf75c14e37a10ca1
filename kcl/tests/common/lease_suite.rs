//! The lease table suite: written once over `&dyn LeaseTable`, run against every
//! implementation (SQLite today; DynamoDB later reuses it unchanged).

use rill_kcl::{CheckpointUpdate, ExtendedSequenceNumber, Lease, LeaseTable};
use std::collections::BTreeSet;

type R = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn lease(key: &str) -> Lease {
    let mut l = Lease::new(key, ExtendedSequenceNumber::trim_horizon());
    l.parent_shard_ids = BTreeSet::from(["shardId-000000000000".to_string()]);
    l.starting_hash_key = Some("0".into());
    l.ending_hash_key = Some("340282366920938463463374607431768211455".into());
    l
}

/// Create is conditional on absence; get and list return exactly what was written.
pub async fn create_get_list(t: &dyn LeaseTable) -> R {
    let a = lease("shardId-000000000001");
    assert!(t.create_lease_if_not_exists(&a).await?);
    assert!(
        !t.create_lease_if_not_exists(&a).await?,
        "second create must fail"
    );
    assert_eq!(t.get_lease(&a.lease_key).await?, Some(a.clone()));
    assert_eq!(t.get_lease("shardId-999999999999").await?, None);
    let b = lease("shardId-000000000002");
    t.create_lease_if_not_exists(&b).await?;
    assert_eq!(t.list_leases().await?, vec![a, b]);
    Ok(())
}

/// Every write is conditional on the counter; a stale lease fails every write.
pub async fn writes_are_conditional_on_counter(t: &dyn LeaseTable) -> R {
    let a = lease("shardId-000000000003");
    t.create_lease_if_not_exists(&a).await?;
    let taken = t.take_lease(&a, "w1").await?.ok_or("take failed")?;
    assert_eq!(taken.lease_owner.as_deref(), Some("w1"));
    assert_eq!(taken.lease_counter, a.lease_counter + 1);
    assert_eq!(taken.owner_switches_since_checkpoint, 1);
    // `a` is stale now: every write fails.
    assert!(t.renew_lease(&a).await?.is_none());
    assert!(t.take_lease(&a, "w2").await?.is_none());
    assert!(t.evict_lease(&a).await?.is_none());
    assert!(t.hand_over_lease(&a, "w2").await?.is_none());
    assert!(t.complete_hand_over(&a).await?.is_none());
    let cp = CheckpointUpdate {
        checkpoint: ExtendedSequenceNumber::new("5", 0),
        pending: None,
    };
    assert!(t.update_checkpoint(&a, &cp).await?.is_none());
    assert!(t.update_lease_meta(&a).await?.is_none());
    assert!(!t.delete_lease(&a).await?);
    assert_eq!(t.get_lease(&a.lease_key).await?, Some(taken.clone()));
    // The current one succeeds.
    let renewed = t.renew_lease(&taken).await?.ok_or("renew failed")?;
    assert_eq!(renewed.lease_counter, taken.lease_counter + 1);
    let evicted = t.evict_lease(&renewed).await?.ok_or("evict failed")?;
    assert_eq!(evicted.lease_owner, None);
    assert!(t.delete_lease(&evicted).await?);
    assert_eq!(t.get_lease(&a.lease_key).await?, None);
    Ok(())
}

/// Checkpoints: committed and pending values round-trip, a stale writer conflicts, and
/// `ownerSwitchesSinceCheckpoint` resets.
pub async fn checkpoints(t: &dyn LeaseTable) -> R {
    let a = lease("shardId-000000000004");
    t.create_lease_if_not_exists(&a).await?;
    let l = t.take_lease(&a, "w1").await?.ok_or("take")?;
    let pending = CheckpointUpdate {
        checkpoint: l.checkpoint(),
        pending: Some((ExtendedSequenceNumber::new("77", 3), Some(vec![1, 2, 3]))),
    };
    let l = t.update_checkpoint(&l, &pending).await?.ok_or("prepare")?;
    assert_eq!(
        l.pending_checkpoint(),
        Some(ExtendedSequenceNumber::new("77", 3))
    );
    assert_eq!(l.pending_checkpoint_state, Some(vec![1, 2, 3]));
    assert_eq!(
        l.owner_switches_since_checkpoint, 1,
        "prepare keeps the switches"
    );
    let commit = CheckpointUpdate {
        checkpoint: ExtendedSequenceNumber::new("77", 3),
        pending: None,
    };
    let stale = l.clone();
    let l = t.update_checkpoint(&l, &commit).await?.ok_or("commit")?;
    assert_eq!(l.checkpoint(), ExtendedSequenceNumber::new("77", 3));
    assert_eq!(l.pending_checkpoint, None);
    assert_eq!(l.pending_checkpoint_state, None);
    assert_eq!(l.owner_switches_since_checkpoint, 0);
    // A writer that missed the commit conflicts.
    let other = CheckpointUpdate {
        checkpoint: ExtendedSequenceNumber::new("80", 0),
        pending: None,
    };
    assert!(t.update_checkpoint(&stale, &other).await?.is_none());
    assert_eq!(t.get_lease(&a.lease_key).await?, Some(l));
    Ok(())
}

/// Handoff: `checkpointOwner` takes the old owner, `leaseOwner` the new one; completing
/// clears it; meta updates do not move the counter.
pub async fn handoff_and_meta(t: &dyn LeaseTable) -> R {
    let a = lease("shardId-000000000005");
    t.create_lease_if_not_exists(&a).await?;
    let l = t.take_lease(&a, "w1").await?.ok_or("take")?;
    let h = t.hand_over_lease(&l, "w2").await?.ok_or("hand over")?;
    assert_eq!(h.lease_owner.as_deref(), Some("w2"));
    assert_eq!(h.checkpoint_owner.as_deref(), Some("w1"));
    assert!(h.is_handoff_pending());
    let mut meta = h.clone();
    meta.child_shard_ids =
        BTreeSet::from(["shardId-000000000010".into(), "shardId-000000000011".into()]);
    let m = t.update_lease_meta(&meta).await?.ok_or("meta")?;
    assert_eq!(m.lease_counter, h.lease_counter, "meta does not count");
    assert_eq!(m.child_shard_ids, meta.child_shard_ids);
    let done = t.complete_hand_over(&m).await?.ok_or("complete")?;
    assert_eq!(done.checkpoint_owner, None);
    assert_eq!(done.lease_owner.as_deref(), Some("w2"));
    let taken = t
        .take_lease(&done, "w2")
        .await?
        .ok_or("take after handoff")?;
    assert_eq!(
        taken.owner_switches_since_checkpoint, 1,
        "w2 already owned the row"
    );
    Ok(())
}

/// Many workers race to take one lease: exactly one wins, and the winner's counter is the
/// one stored.
pub async fn take_race(t: std::sync::Arc<dyn LeaseTable>) -> R {
    let a = lease("shardId-000000000006");
    t.create_lease_if_not_exists(&a).await?;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (t, a) = (std::sync::Arc::clone(&t), a.clone());
        tasks.push(tokio::spawn(async move {
            t.take_lease(&a, &format!("w{i}")).await
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        if let Some(l) = task.await?? {
            winners.push(l);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one taker wins");
    assert_eq!(t.get_lease(&a.lease_key).await?, winners.pop());
    Ok(())
}

/// A steal (handoff) racing the victim's renewal: exactly one of them applies.
pub async fn steal_vs_renew_race(t: std::sync::Arc<dyn LeaseTable>) -> R {
    for round in 0..20 {
        let key = format!("shardId-1000000000{round:02}");
        t.create_lease_if_not_exists(&lease(&key)).await?;
        let l = t.take_lease(&lease(&key), "victim").await?.ok_or("take")?;
        let (t1, t2, l1, l2) = (t.clone(), t.clone(), l.clone(), l.clone());
        let renew = tokio::spawn(async move { t1.renew_lease(&l1).await });
        let steal = tokio::spawn(async move { t2.hand_over_lease(&l2, "thief").await });
        let (r, s) = (renew.await??, steal.await??);
        assert!(
            r.is_some() ^ s.is_some(),
            "exactly one of renew and steal applies"
        );
        let now = t.get_lease(&key).await?.ok_or("gone")?;
        assert_eq!(now.lease_counter, l.lease_counter + 1);
    }
    Ok(())
}
