//! The lease table suite: written once over `&dyn LeaseTable`, run against every
//! implementation (rill-kcl runs it against SQLite and DynamoDB; run it against yours).
//!
//! Each test is a `pub async fn` that starts from an empty table and uses only the trait;
//! call each from a test of your own with a fresh table.

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

/// The owner index lists exactly the keys a worker owns, and follows takes; loads written
/// with renewals come back.
pub async fn keys_by_owner_and_load(t: &dyn LeaseTable) -> R {
    for i in 0..6 {
        t.create_lease_if_not_exists(&lease(&format!("shardId-00000000001{i}")))
            .await?;
    }
    let all = t.list_leases().await?;
    for (i, l) in all.iter().enumerate() {
        t.take_lease(l, if i % 2 == 0 { "even" } else { "odd" })
            .await?
            .ok_or("take failed")?;
    }
    // The index may lag (DynamoDB's GSI is eventually consistent): poll briefly.
    let want_even: Vec<String> = all.iter().step_by(2).map(|l| l.lease_key.clone()).collect();
    let mut got = Vec::new();
    for _ in 0..50 {
        got = t.list_lease_keys_by_owner("even").await?;
        if got == want_even {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(got, want_even);
    assert!(t.list_lease_keys_by_owner("nobody").await?.is_empty());
    let mut l = t.get_lease(&want_even[0]).await?.ok_or("gone")?;
    l.load = Some(rill_kcl::ShardLoad {
        bytes_per_second: 4096,
        records_per_second: 7,
    });
    let renewed = t.renew_lease(&l).await?.ok_or("renew failed")?;
    assert_eq!(renewed.load, l.load);
    assert_eq!(t.get_lease(&l.lease_key).await?.ok_or("gone")?.load, l.load);
    // A renewal without a load keeps the stored one.
    let mut again = renewed.clone();
    again.load = None;
    let kept = t.renew_lease(&again).await?.ok_or("renew failed")?;
    assert_eq!(kept.load, l.load);
    Ok(())
}

/// The fleet row: heartbeats create it, one claim of two wins, renewals are conditional
/// on the counter, the epoch and the change count move, dead heartbeats are forgotten,
/// and the row is never listed as a lease.
pub async fn fleet_row(t: &dyn LeaseTable) -> R {
    use rill_kcl::lease::LeaderUpdate;
    if !t.supports_fleet() {
        return Err("the table does not support the fleet row".into());
    }
    let a = t.fleet_heartbeat("a", false, false).await?;
    assert_eq!(a.leader, None);
    assert_eq!(a.counter, 0);
    assert_eq!(a.beats.get("a"), Some(&1));
    let b = t.fleet_heartbeat("b", true, false).await?;
    assert_eq!(b.beats.len(), 2);
    assert_eq!(b.changes, a.changes + 1);
    let claim = |w: &str| LeaderUpdate {
        leader: Some(w.to_owned()),
        ..LeaderUpdate::default()
    };
    let won = t
        .update_fleet_leader(&a, &claim("a"))
        .await?
        .ok_or("first claim failed")?;
    assert_eq!(won.leader.as_deref(), Some("a"));
    assert_eq!(won.counter, 1);
    assert_eq!(
        won.beats.get("a"),
        Some(&2),
        "the leader's write is its heartbeat"
    );
    assert!(
        t.update_fleet_leader(&b, &claim("b")).await?.is_none(),
        "a claim on a stale counter must fail"
    );
    let renewed = t
        .update_fleet_leader(
            &won,
            &LeaderUpdate {
                leader: Some("a".into()),
                bump_epoch: true,
                forget: vec!["b".into()],
            },
        )
        .await?
        .ok_or("renewal failed")?;
    assert_eq!(renewed.counter, 2);
    assert_eq!(renewed.epoch, won.epoch + 1);
    assert!(!renewed.beats.contains_key("b"), "forgotten");
    assert_eq!(renewed.beats.get("a"), Some(&3));
    assert!(t.update_fleet_leader(&won, &claim("a")).await?.is_none());
    let left = t.fleet_heartbeat("a", false, true).await?;
    assert!(left.beats.is_empty());
    assert_eq!(left.leader.as_deref(), Some("a"));
    let resigned = t
        .update_fleet_leader(&renewed, &LeaderUpdate::default())
        .await?
        .ok_or("resign failed")?;
    assert_eq!(resigned.leader, None);
    assert!(
        t.list_leases().await?.is_empty(),
        "the fleet row is no lease"
    );
    assert!(t.list_lease_keys_by_owner("a").await?.is_empty());
    Ok(())
}
