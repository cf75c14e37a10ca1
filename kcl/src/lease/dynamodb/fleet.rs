//! The fleet row (see [`crate::lease::fleet`] for its format and protocol) as an item of
//! the lease table: one `UpdateItem` per heartbeat or leader write, answered `ALL_NEW`.

use super::codec::{ItemReader, num};
use super::{Class, DynamoLeaseTable, attr};
use crate::lease::fleet::FLEET_KEY;
use crate::lease::{FleetState, LeaderUpdate, LeaseError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use std::collections::HashMap;

/// `rillAssignmentEpoch` (N).
const EPOCH: &str = "rillAssignmentEpoch";
/// `rillChanges` (N).
const CHANGES: &str = "rillChanges";
/// `rillBeat.<worker id>` (N), one per live worker.
const BEAT_PREFIX: &str = "rillBeat.";

fn beat_name(worker: &str) -> String {
    format!("{BEAT_PREFIX}{worker}")
}

/// Parses the fleet item.
fn fleet_from_item(item: &HashMap<String, AttributeValue>) -> Result<FleetState, LeaseError> {
    let r = ItemReader {
        item,
        key: FLEET_KEY.into(),
    };
    let mut beats = std::collections::BTreeMap::new();
    for (name, v) in item {
        if let Some(worker) = name.strip_prefix(BEAT_PREFIX) {
            match v {
                AttributeValue::N(n) => {
                    let b = n.trim().parse::<u64>().map_err(|_| {
                        r.malformed(name, format!("must be a non-negative integer, found {n:?}"))
                    })?;
                    beats.insert(worker.to_owned(), b);
                }
                other => return Err(r.wrong_type(name, "N", other)),
            }
        }
    }
    Ok(FleetState {
        leader: r.opt_s(attr::LEASE_OWNER)?,
        counter: r.opt_n(attr::LEASE_COUNTER)?.unwrap_or(0),
        epoch: r.opt_n(EPOCH)?.unwrap_or(0),
        changes: r.opt_n(CHANGES)?.unwrap_or(0),
        beats,
    })
}

/// The parts of one `UpdateItem` on the fleet item.
#[derive(Default)]
struct Expr {
    set: Vec<String>,
    add: Vec<String>,
    remove: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    /// A placeholder `#aN` for attribute `name`.
    fn name(&mut self, name: &str) -> String {
        if let Some((k, _)) = self.names.iter().find(|(_, v)| v.as_str() == name) {
            return k.clone();
        }
        let k = format!("#a{}", self.names.len());
        self.names.insert(k.clone(), name.to_owned());
        k
    }

    fn value(&mut self, v: AttributeValue) -> String {
        let k = format!(":v{}", self.values.len());
        self.values.insert(k.clone(), v);
        k
    }

    /// The update expression; with the attributes every fleet item has, so that the first
    /// write creates a well-formed item (a finished, unowned "lease" to readers that do not
    /// know the row).
    fn expression(&mut self) -> String {
        let cp = self.name(attr::CHECKPOINT);
        let sub = self.name(attr::CHECKPOINT_SUB);
        let switches = self.name(attr::OWNER_SWITCHES);
        let end = self.value(AttributeValue::S(crate::sequence::SHARD_END.into()));
        let zero = self.value(num(0));
        self.set.push(format!("{cp} = if_not_exists({cp}, {end})"));
        self.set
            .push(format!("{sub} = if_not_exists({sub}, {zero})"));
        self.set
            .push(format!("{switches} = if_not_exists({switches}, {zero})"));
        let mut e = format!("SET {}", self.set.join(", "));
        if !self.add.is_empty() {
            e.push_str(&format!(" ADD {}", self.add.join(", ")));
        }
        if !self.remove.is_empty() {
            e.push_str(&format!(" REMOVE {}", self.remove.join(", ")));
        }
        e
    }
}

impl DynamoLeaseTable {
    async fn fleet_update(
        &self,
        what: &'static str,
        mut e: Expr,
        condition: Option<String>,
    ) -> Result<Option<FleetState>, LeaseError> {
        let expression = e.expression();
        let out = self
            .call(what, || {
                self.client
                    .update_item()
                    .table_name(&*self.table)
                    .key(attr::LEASE_KEY, AttributeValue::S(FLEET_KEY.into()))
                    .update_expression(&expression)
                    .set_condition_expression(condition.clone())
                    .set_expression_attribute_names(Some(e.names.clone()))
                    .set_expression_attribute_values(Some(e.values.clone()))
                    .return_values(ReturnValue::AllNew)
                    .send()
            })
            .await;
        match out {
            Ok(out) => match out.attributes() {
                Some(item) => fleet_from_item(item).map(Some),
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

    /// [`crate::LeaseTable::fleet_heartbeat`] on DynamoDB: unconditional.
    pub(super) async fn heartbeat(
        &self,
        worker: &str,
        changed: bool,
        leaving: bool,
    ) -> Result<FleetState, LeaseError> {
        let mut e = Expr::default();
        let counter = e.name(attr::LEASE_COUNTER);
        let zero = e.value(num(0));
        e.set
            .push(format!("{counter} = if_not_exists({counter}, {zero})"));
        let beat = e.name(&beat_name(worker));
        if leaving {
            e.remove.push(beat);
        } else {
            let one = e.value(num(1));
            e.add.push(format!("{beat} {one}"));
        }
        if changed || leaving {
            let changes = e.name(CHANGES);
            let one = e.value(num(1));
            e.add.push(format!("{changes} {one}"));
        }
        self.fleet_update("fleet heartbeat", e, None)
            .await?
            .ok_or_else(|| LeaseError::Storage {
                message: "fleet heartbeat: an unconditional write failed its condition".into(),
                source: "unexpected ConditionalCheckFailedException".into(),
            })
    }

    /// [`crate::LeaseTable::update_fleet_leader`] on DynamoDB: conditional on the counter.
    pub(super) async fn write_leader(
        &self,
        seen: &FleetState,
        update: &LeaderUpdate,
    ) -> Result<Option<FleetState>, LeaseError> {
        let mut e = Expr::default();
        let counter = e.name(attr::LEASE_COUNTER);
        let owner = e.name(attr::LEASE_OWNER);
        let one = e.value(num(1));
        e.add.push(format!("{counter} {one}"));
        match &update.leader {
            Some(me) => {
                let v = e.value(AttributeValue::S(me.clone()));
                e.set.push(format!("{owner} = {v}"));
                let beat = e.name(&beat_name(me));
                e.add.push(format!("{beat} {one}"));
            }
            None => e.remove.push(owner),
        }
        if update.bump_epoch {
            let epoch = e.name(EPOCH);
            e.add.push(format!("{epoch} {one}"));
        }
        for w in &update.forget {
            if update.leader.as_deref() != Some(w.as_str()) {
                let beat = e.name(&beat_name(w));
                e.remove.push(beat);
            }
        }
        let expected = e.value(num(seen.counter));
        let condition = if seen.counter == 0 {
            format!("attribute_not_exists({counter}) OR {counter} = {expected}")
        } else {
            format!("{counter} = {expected}")
        };
        self.fleet_update("update fleet leader", e, Some(condition))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_item_parses_beats_and_ignores_lease_attributes() -> Result<(), LeaseError> {
        let item: HashMap<String, AttributeValue> = [
            (attr::LEASE_KEY, AttributeValue::S(FLEET_KEY.into())),
            (attr::LEASE_OWNER, AttributeValue::S("w1".into())),
            (attr::LEASE_COUNTER, num(7)),
            (attr::CHECKPOINT, AttributeValue::S("SHARD_END".into())),
            (EPOCH, num(3)),
            ("rillBeat.w1", num(10)),
            ("rillBeat.w:2", num(4)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let s = fleet_from_item(&item)?;
        assert_eq!(s.leader.as_deref(), Some("w1"));
        assert_eq!((s.counter, s.epoch, s.changes), (7, 3, 0));
        assert_eq!(s.beats.get("w:2"), Some(&4));
        assert_eq!(s.beats.len(), 2);
        Ok(())
    }
}
