//! Creating and checking the lease table and its owner index.

use super::{DynamoLeaseTable, attr};
use crate::lease::LeaseError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TableStatus,
};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The owner index's name: the Java KCL 3.x's.
pub const OWNER_INDEX: &str = "LeaseOwnerToLeaseKeyIndex";

/// What a table handle knows of its owner index (stored in an `AtomicU8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum IndexState {
    /// Not looked at yet.
    Unknown = 0,
    /// Missing or still being created: owner queries scan.
    Missing = 1,
    /// ACTIVE: owner queries use it.
    Active = 2,
}

impl IndexState {
    pub(super) fn from_u8(v: u8) -> IndexState {
        match v {
            1 => IndexState::Missing,
            2 => IndexState::Active,
            _ => IndexState::Unknown,
        }
    }
}

fn key_element(name: &str, key_type: KeyType) -> Result<KeySchemaElement, LeaseError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|e| LeaseError::Invalid {
            parameter: "key schema",
            reason: e.to_string(),
        })
}

/// The owner index as created with the table.
fn owner_index() -> Result<GlobalSecondaryIndex, LeaseError> {
    GlobalSecondaryIndex::builder()
        .index_name(OWNER_INDEX)
        .key_schema(key_element(attr::LEASE_OWNER, KeyType::Hash)?)
        .key_schema(key_element(attr::LEASE_KEY, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .map_err(|e| LeaseError::Invalid {
            parameter: "owner index",
            reason: e.to_string(),
        })
}

impl DynamoLeaseTable {
    /// Creates the table (if `create_if_missing`) or checks that it exists; either way
    /// returns once it is `ACTIVE` and known to have the lease schema.
    ///
    /// Fails with [`LeaseError::TableNotFound`] when the table is missing and
    /// `create_if_missing` is false, and with [`LeaseError::TableSchema`] when its key schema
    /// is not the lease table's.
    ///
    /// Either way, the owner index `LeaseOwnerToLeaseKeyIndex` is added to a table that
    /// lacks it (without waiting for it to become `ACTIVE`; until then owner queries fall
    /// back to scans). A table on which the index cannot be added still works.
    pub async fn ensure_table(&self, create_if_missing: bool) -> Result<(), LeaseError> {
        if create_if_missing {
            self.create_table_if_not_exists().await?;
        } else {
            self.wait_until_active().await?;
        }
        if let Err(e) = self.ensure_owner_index().await {
            tracing::warn!(table = %self.table, error = %e, "cannot add the lease owner index; workers find their leases by scanning");
        }
        Ok(())
    }

    /// Adds the owner index to the table unless it has it. Returns whether this call
    /// started its creation.
    pub async fn ensure_owner_index(&self) -> Result<bool, LeaseError> {
        if self.owner_index_status().await?.is_some() {
            return Ok(false);
        }
        let owner_def = AttributeDefinition::builder()
            .attribute_name(attr::LEASE_OWNER)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| self.storage("build update table request", e))?;
        let create = CreateGlobalSecondaryIndexAction::builder()
            .index_name(OWNER_INDEX)
            .key_schema(key_element(attr::LEASE_OWNER, KeyType::Hash)?)
            .key_schema(key_element(attr::LEASE_KEY, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .map_err(|e| self.storage("build update table request", e))?;
        let out = self
            .call("add owner index", || {
                self.client
                    .update_table()
                    .table_name(&*self.table)
                    .attribute_definitions(owner_def.clone())
                    .global_secondary_index_updates(
                        GlobalSecondaryIndexUpdate::builder()
                            .create(create.clone())
                            .build(),
                    )
                    .send()
            })
            .await;
        match out {
            Ok(_) => {
                tracing::info!(table = %self.table, index = OWNER_INDEX, "adding the lease owner index");
                Ok(true)
            }
            Err(f) if f.code.as_deref() == Some("ResourceInUseException") => Ok(false),
            Err(f) => Err(f.error),
        }
    }

    /// The owner index's status, `None` when the table has no such index.
    pub(super) async fn owner_index_status(&self) -> Result<Option<IndexStatus>, LeaseError> {
        let out = self
            .call("describe table", || {
                self.client.describe_table().table_name(&*self.table).send()
            })
            .await
            .map_err(|f| f.error)?;
        let status = out.table().and_then(|t| {
            t.global_secondary_indexes()
                .iter()
                .find(|i| i.index_name() == Some(OWNER_INDEX))
                .map(|i| i.index_status().cloned().unwrap_or(IndexStatus::Active))
        });
        let state = match &status {
            Some(IndexStatus::Active) => IndexState::Active,
            _ => IndexState::Missing,
        };
        self.index.store(state as u8, Ordering::Relaxed);
        Ok(status)
    }

    /// Creates the table with on-demand billing (`PAY_PER_REQUEST`) and the key `leaseKey`
    /// (S) unless it exists, then waits until it is `ACTIVE`. Returns whether this call
    /// created it. Several workers may call this at once: one creates, all wait.
    pub async fn create_table_if_not_exists(&self) -> Result<bool, LeaseError> {
        match self.describe_status().await {
            Ok(_) => {
                self.wait_until_active().await?;
                return Ok(false);
            }
            Err(LeaseError::TableNotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let key = KeySchemaElement::builder()
            .attribute_name(attr::LEASE_KEY)
            .key_type(KeyType::Hash)
            .build()
            .map_err(|e| self.storage("build create table request", e))?;
        let def = AttributeDefinition::builder()
            .attribute_name(attr::LEASE_KEY)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| self.storage("build create table request", e))?;
        let owner_def = AttributeDefinition::builder()
            .attribute_name(attr::LEASE_OWNER)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| self.storage("build create table request", e))?;
        let index = owner_index()?;
        let created = self
            .call("create table", || {
                self.client
                    .create_table()
                    .table_name(&*self.table)
                    .key_schema(key.clone())
                    .attribute_definitions(def.clone())
                    .attribute_definitions(owner_def.clone())
                    .global_secondary_indexes(index.clone())
                    .billing_mode(BillingMode::PayPerRequest)
                    .send()
            })
            .await;
        let created = match created {
            Ok(_) => {
                tracing::info!(table = %self.table, "created lease table (PAY_PER_REQUEST)");
                true
            }
            // Another worker created it first.
            Err(f) if f.code.as_deref() == Some("ResourceInUseException") => false,
            Err(f) => return Err(f.error),
        };
        self.wait_until_active().await?;
        Ok(created)
    }

    /// Waits until the table is `ACTIVE` (for at most the active timeout), after checking
    /// that it exists and has the lease table's key schema.
    pub async fn wait_until_active(&self) -> Result<(), LeaseError> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let status = self.describe_status().await?;
            if status == Some(TableStatus::Active) {
                return Ok(());
            }
            if start.elapsed() >= self.active_timeout {
                return Err(LeaseError::Storage {
                    message: format!(
                        "lease table {:?} not ACTIVE after {:?} (status {status:?})",
                        self.table, self.active_timeout
                    ),
                    source: "timed out waiting for ACTIVE".into(),
                });
            }
            tracing::debug!(table = %self.table, ?status, "waiting for the lease table to become ACTIVE");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// DescribeTable: the status, after checking the key schema.
    async fn describe_status(&self) -> Result<Option<TableStatus>, LeaseError> {
        let out = self
            .call("describe table", || {
                self.client.describe_table().table_name(&*self.table).send()
            })
            .await
            .map_err(|f| f.error)?;
        let Some(desc) = out.table() else {
            return Err(self.schema_error("DescribeTable returned no table description"));
        };
        let keys = desc.key_schema();
        let hash_ok = keys.len() == 1
            && keys[0].attribute_name() == attr::LEASE_KEY
            && keys[0].key_type() == &KeyType::Hash;
        if !hash_ok {
            let found: Vec<String> = keys
                .iter()
                .map(|k| format!("{} ({})", k.attribute_name(), k.key_type().as_str()))
                .collect();
            return Err(self.schema_error(&format!(
                "its key must be {} (HASH) alone, found [{}]",
                attr::LEASE_KEY,
                found.join(", ")
            )));
        }
        let typ = desc
            .attribute_definitions()
            .iter()
            .find(|d| d.attribute_name() == attr::LEASE_KEY)
            .map(|d| d.attribute_type().clone());
        if typ != Some(ScalarAttributeType::S) {
            return Err(self.schema_error(&format!(
                "its key {} must be of type S, found {typ:?}",
                attr::LEASE_KEY
            )));
        }
        Ok(desc.table_status().cloned())
    }

    fn schema_error(&self, reason: &str) -> LeaseError {
        LeaseError::TableSchema {
            table: self.table.to_string(),
            reason: reason.to_string(),
        }
    }
}
