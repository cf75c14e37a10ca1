//! The [`LeaseTable`] implementation: one conditional request per write.

use super::admin::{IndexState, OWNER_INDEX};
use super::codec::{Update, item_from_lease, lease_from_item, names_in, num, string_set};
use super::{Class, DynamoLeaseTable, attr};
use crate::lease::fleet::is_coordination_key;
use crate::lease::{CheckpointUpdate, FleetState, LeaderUpdate, Lease, LeaseError, LeaseTable};
use async_trait::async_trait;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long a table handle trusts "the owner index is missing" before looking again.
const INDEX_RECHECK: Duration = Duration::from_secs(60);

fn is_coordination_item(item: &HashMap<String, AttributeValue>) -> bool {
    matches!(item.get(attr::LEASE_KEY), Some(AttributeValue::S(k)) if is_coordination_key(k))
}

impl DynamoLeaseTable {
    /// Whether owner queries may use the index (looked up, and then again every
    /// [`INDEX_RECHECK`] while it is missing).
    async fn owner_index_usable(&self) -> bool {
        match IndexState::from_u8(self.index.load(Ordering::Relaxed)) {
            IndexState::Active => return true,
            IndexState::Missing => {
                let recent = self
                    .index_checked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .is_some_and(|t| t.elapsed() < INDEX_RECHECK);
                if recent {
                    return false;
                }
            }
            IndexState::Unknown => {}
        }
        *self.index_checked.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(std::time::Instant::now());
        match self.owner_index_status().await {
            Ok(_) => IndexState::from_u8(self.index.load(Ordering::Relaxed)) == IndexState::Active,
            Err(e) => {
                tracing::debug!(error = %e, "cannot look up the owner index");
                false
            }
        }
    }

    pub(super) async fn update(
        &self,
        lease: &Lease,
        what: &'static str,
        u: Update,
    ) -> Result<Option<Lease>, LeaseError> {
        let Update {
            mut set,
            remove,
            mut values,
            extra_condition,
            count,
        } = u;
        if count {
            set.push("#leaseCounter = #leaseCounter + :one".into());
            values.insert(":one".into(), num(1));
        }
        values.insert(":expected".into(), num(lease.lease_counter));
        let mut expr = String::new();
        if !set.is_empty() {
            expr.push_str("SET ");
            expr.push_str(&set.join(", "));
        }
        if !remove.is_empty() {
            if !expr.is_empty() {
                expr.push(' ');
            }
            expr.push_str("REMOVE ");
            expr.push_str(&remove.join(", "));
        }
        let mut condition = "#leaseCounter = :expected".to_string();
        if let Some(extra) = extra_condition {
            condition.push_str(" AND ");
            condition.push_str(&extra);
        }
        let names = names_in(&[&expr, &condition]);
        let out = self
            .call(what, || {
                self.client
                    .update_item()
                    .table_name(&*self.table)
                    .key(attr::LEASE_KEY, AttributeValue::S(lease.lease_key.clone()))
                    .update_expression(&expr)
                    .condition_expression(&condition)
                    .set_expression_attribute_names(Some(names.clone()))
                    .set_expression_attribute_values(Some(values.clone()))
                    .return_values(ReturnValue::AllNew)
                    .send()
            })
            .await;
        match out {
            Ok(out) => match out.attributes() {
                Some(item) => lease_from_item(item).map(Some),
                None => Err(LeaseError::Storage {
                    message: format!(
                        "{what} on table {:?}: UpdateItem returned no attributes",
                        self.table
                    ),
                    source: "ReturnValues=ALL_NEW ignored by the endpoint".into(),
                }),
            },
            Err(f) if f.class == Class::ConditionFailed => Ok(None),
            Err(f) => Err(f.error),
        }
    }
}

#[async_trait]
impl LeaseTable for DynamoLeaseTable {
    async fn create_lease_if_not_exists(&self, lease: &Lease) -> Result<bool, LeaseError> {
        let item = item_from_lease(lease);
        let out = self
            .call("create lease", || {
                self.client
                    .put_item()
                    .table_name(&*self.table)
                    .set_item(Some(item.clone()))
                    .condition_expression("attribute_not_exists(#leaseKey)")
                    .expression_attribute_names("#leaseKey", attr::LEASE_KEY)
                    .send()
            })
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(f) if f.class == Class::ConditionFailed => Ok(false),
            Err(f) => Err(f.error),
        }
    }

    async fn list_leases(&self) -> Result<Vec<Lease>, LeaseError> {
        let mut leases = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .call("list leases", || {
                    self.client
                        .scan()
                        .table_name(&*self.table)
                        .consistent_read(true)
                        .set_exclusive_start_key(start.clone())
                        .send()
                })
                .await
                .map_err(|f| f.error)?;
            for item in page.items() {
                if is_coordination_item(item) {
                    continue;
                }
                leases.push(lease_from_item(item)?);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        leases.sort_by(|a, b| a.lease_key.cmp(&b.lease_key));
        Ok(leases)
    }

    async fn list_lease_keys_by_owner(&self, owner: &str) -> Result<Vec<String>, LeaseError> {
        if !self.owner_index_usable().await {
            return Ok(self
                .list_leases()
                .await?
                .into_iter()
                .filter(|l| l.lease_owner.as_deref() == Some(owner))
                .map(|l| l.lease_key)
                .collect());
        }
        let mut keys = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .call("list leases by owner", || {
                    self.client
                        .query()
                        .table_name(&*self.table)
                        .index_name(OWNER_INDEX)
                        .key_condition_expression("#leaseOwner = :owner")
                        .expression_attribute_names("#leaseOwner", attr::LEASE_OWNER)
                        .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
                        .set_exclusive_start_key(start.clone())
                        .send()
                })
                .await
                .map_err(|f| f.error)?;
            for item in page.items() {
                if let Some(AttributeValue::S(k)) = item.get(attr::LEASE_KEY)
                    && !is_coordination_key(k)
                {
                    keys.push(k.clone());
                }
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }

    fn supports_fleet(&self) -> bool {
        true
    }

    async fn fleet_heartbeat(
        &self,
        worker: &str,
        changed: bool,
        leaving: bool,
    ) -> Result<FleetState, LeaseError> {
        self.heartbeat(worker, changed, leaving).await
    }

    async fn update_fleet_leader(
        &self,
        seen: &FleetState,
        update: &LeaderUpdate,
    ) -> Result<Option<FleetState>, LeaseError> {
        self.write_leader(seen, update).await
    }

    async fn get_lease(&self, key: &str) -> Result<Option<Lease>, LeaseError> {
        let out = self
            .call("get lease", || {
                self.client
                    .get_item()
                    .table_name(&*self.table)
                    .key(attr::LEASE_KEY, AttributeValue::S(key.to_owned()))
                    .consistent_read(true)
                    .send()
            })
            .await
            .map_err(|f| f.error)?;
        out.item().map(lease_from_item).transpose()
    }

    async fn renew_lease(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        let mut u = Update::counting();
        u.expect_owner(lease.lease_owner.as_deref());
        if let Some(load) = lease.load {
            u.set_or_remove(attr::BYTES_PER_SECOND, Some(num(load.bytes_per_second)));
            u.set_or_remove(attr::RECORDS_PER_SECOND, Some(num(load.records_per_second)));
        }
        self.update(lease, "renew lease", u).await
    }

    async fn take_lease(&self, lease: &Lease, owner: &str) -> Result<Option<Lease>, LeaseError> {
        let mut u = Update::counting();
        u.expect_owner(lease.lease_owner.as_deref());
        u.set_or_remove(attr::LEASE_OWNER, Some(AttributeValue::S(owner.to_owned())));
        u.set_or_remove(attr::CHECKPOINT_OWNER, None);
        // The owner is the caller's (the condition checks it), so the switch is known here.
        let switch = u64::from(lease.lease_owner.as_deref() != Some(owner));
        u.set.push(format!(
            "#{s} = if_not_exists(#{s}, :zero) + :switch",
            s = attr::OWNER_SWITCHES
        ));
        u.values.insert(":zero".into(), num(0));
        u.values.insert(":switch".into(), num(switch));
        self.update(lease, "take lease", u).await
    }

    async fn evict_lease(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        let mut u = Update::counting();
        u.set_or_remove(attr::LEASE_OWNER, None);
        u.set_or_remove(attr::CHECKPOINT_OWNER, None);
        self.update(lease, "evict lease", u).await
    }

    async fn hand_over_lease(
        &self,
        lease: &Lease,
        new_owner: &str,
    ) -> Result<Option<Lease>, LeaseError> {
        let mut u = Update::counting();
        u.expect_owner(lease.lease_owner.as_deref());
        u.set_or_remove(
            attr::CHECKPOINT_OWNER,
            lease.lease_owner.clone().map(AttributeValue::S),
        );
        u.set_or_remove(
            attr::LEASE_OWNER,
            Some(AttributeValue::S(new_owner.to_owned())),
        );
        self.update(lease, "hand over lease", u).await
    }

    async fn complete_hand_over(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        let mut u = Update::counting();
        u.set_or_remove(attr::CHECKPOINT_OWNER, None);
        self.update(lease, "complete handoff", u).await
    }

    async fn update_checkpoint(
        &self,
        lease: &Lease,
        update: &CheckpointUpdate,
    ) -> Result<Option<Lease>, LeaseError> {
        let mut u = Update::counting();
        // The stored checkpoint is the caller's (the counter condition guarantees it).
        if lease.checkpoint() != update.checkpoint {
            u.set_or_remove(attr::OWNER_SWITCHES, Some(num(0)));
        }
        u.set_or_remove(
            attr::CHECKPOINT,
            Some(AttributeValue::S(update.checkpoint.sequence_number.clone())),
        );
        u.set_or_remove(
            attr::CHECKPOINT_SUB,
            Some(num(update.checkpoint.sub_sequence_number)),
        );
        let (p, ps, pst) = match &update.pending {
            Some((p, state)) => (
                Some(AttributeValue::S(p.sequence_number.clone())),
                Some(num(p.sub_sequence_number)),
                state.clone().map(|b| AttributeValue::B(Blob::new(b))),
            ),
            None => (None, None, None),
        };
        u.set_or_remove(attr::PENDING, p);
        u.set_or_remove(attr::PENDING_SUB, ps);
        u.set_or_remove(attr::PENDING_STATE, pst);
        self.update(lease, "checkpoint", u).await
    }

    async fn update_lease_meta(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        let mut u = Update::counting();
        u.count = false;
        u.set_or_remove(attr::PARENTS, string_set(&lease.parent_shard_ids));
        u.set_or_remove(attr::CHILDREN, string_set(&lease.child_shard_ids));
        u.set_or_remove(
            attr::STARTING_HASH_KEY,
            lease.starting_hash_key.clone().map(AttributeValue::S),
        );
        u.set_or_remove(
            attr::ENDING_HASH_KEY,
            lease.ending_hash_key.clone().map(AttributeValue::S),
        );
        self.update(lease, "update lease meta", u).await
    }

    async fn delete_lease(&self, lease: &Lease) -> Result<bool, LeaseError> {
        let out = self
            .call("delete lease", || {
                self.client
                    .delete_item()
                    .table_name(&*self.table)
                    .key(attr::LEASE_KEY, AttributeValue::S(lease.lease_key.clone()))
                    .condition_expression("#leaseCounter = :expected")
                    .expression_attribute_names("#leaseCounter", attr::LEASE_COUNTER)
                    .expression_attribute_values(":expected", num(lease.lease_counter))
                    .send()
            })
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(f) if f.class == Class::ConditionFailed => Ok(false),
            Err(f) => Err(f.error),
        }
    }
}
