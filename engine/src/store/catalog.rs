//! The catalog: stream, shard and tag metadata in SQLite (WAL, `synchronous=FULL`), changed
//! only in transactions, so a crash leaves either the old or the new state.
//!
//! Tables (schema version 2, kept in `PRAGMA user_version`; a catalog of a version above 2 is
//! refused, [`Catalog::check_version`]). Version 2 added sequence-number layout 2 (see
//! `api::seq`): the `meta` key `seq_v2_from_epoch` holds the first stream epoch whose
//! numbers are in layout 2; streams of a version-1 catalog keep layout 1. Epochs of new
//! streams are multiples of 4 ms (layout 2 carries the epoch to 4 ms).
//!
//! * `meta(key PRIMARY KEY, value BLOB)`: `iterator_key` (32 random bytes that authenticate
//!   shard iterators and pagination tokens, so they survive restarts), `account_settings`
//!   (JSON, see [`Catalog::meta`]).
//! * `streams(name PRIMARY KEY, epoch UNIQUE, status, mode, retention_hours, created_ms,
//!   generation, next_shard_index, encryption_type, key_id, shard_metrics, max_record_kib,
//!   warm_mibps, distribution)`: `epoch` is the stream's creation time in ms, made unique, and names its
//!   directory and appears in its sequence numbers. `shard_metrics` is a bit set of the
//!   enabled shard-level metrics. The last four columns were added later: [`Catalog::open`]
//!   adds them (`ALTER TABLE ... ADD COLUMN`) to a catalog that lacks them.
//! * `shards(epoch, shard_index, parent, adjacent_parent, start_hash, end_hash, generation,
//!   created_ms, closed_ms, ending_position)`: hash keys are decimal text.
//! * `tags(epoch, key, value)`.
//! * `consumer_tags(epoch, consumer, key, value)`: tags of registered consumers.
//! * `policies(epoch, consumer, policy)`: resource policies (JSON documents); `consumer` is
//!   `''` for the stream's own policy.
//! * `channels(arn PRIMARY KEY, name UNIQUE, stream_epoch, created_ms, body)`: channels
//!   (see `store/channels.rs`); `body` is the channel's configuration and state as the
//!   engine writes it (JSON), opaque to the catalog.

use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;

/// A stream as the catalog stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRow {
    /// Stream name.
    pub name: String,
    /// Creation time in ms, unique across streams of this engine.
    pub epoch: u64,
    /// CREATING, ACTIVE, UPDATING or DELETING.
    pub status: String,
    /// PROVISIONED or ON_DEMAND.
    pub mode: String,
    /// Retention period in hours.
    pub retention_hours: u32,
    /// Resharding generation (shards created by the next reshard get `generation + 1`).
    pub generation: u32,
    /// Index the next new shard gets.
    pub next_shard_index: u64,
    /// NONE or KMS.
    pub encryption_type: String,
    /// KMS key id, when encrypted.
    pub key_id: Option<String>,
    /// Bit set of the enabled shard-level metrics.
    pub shard_metrics: u32,
    /// Largest record accepted, in KiB.
    pub max_record_kib: u32,
    /// Warm throughput in MiB/s, when set.
    pub warm_mibps: Option<u32>,
    /// AUTO or USER_PARTITION_KEY.
    pub distribution: String,
}

/// A shard as the catalog stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRow {
    /// The number in `shardId-<index>`.
    pub shard_index: u64,
    /// Parent shard index.
    pub parent: Option<u64>,
    /// Adjacent parent shard index (merges).
    pub adjacent_parent: Option<u64>,
    /// First hash key (decimal).
    pub start_hash: u128,
    /// Last hash key (decimal).
    pub end_hash: u128,
    /// Generation the shard was created in.
    pub generation: u32,
    /// When it was created (ms).
    pub created_ms: i64,
    /// When it was closed (ms).
    pub closed_ms: Option<i64>,
    /// Position after its last record, once closed.
    pub ending_position: Option<u64>,
}

/// The catalog connection.
pub struct Catalog {
    pub(super) conn: Connection,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS streams (
  name TEXT PRIMARY KEY, epoch INTEGER NOT NULL UNIQUE, status TEXT NOT NULL, mode TEXT NOT NULL,
  retention_hours INTEGER NOT NULL, generation INTEGER NOT NULL, next_shard_index INTEGER NOT NULL,
  encryption_type TEXT NOT NULL, key_id TEXT);
CREATE TABLE IF NOT EXISTS shards (
  epoch INTEGER NOT NULL, shard_index INTEGER NOT NULL, parent INTEGER, adjacent_parent INTEGER,
  start_hash TEXT NOT NULL, end_hash TEXT NOT NULL, generation INTEGER NOT NULL,
  created_ms INTEGER NOT NULL, closed_ms INTEGER, ending_position INTEGER,
  PRIMARY KEY (epoch, shard_index));
CREATE TABLE IF NOT EXISTS consumers (
  epoch INTEGER NOT NULL, name TEXT NOT NULL, created_ms INTEGER NOT NULL,
  PRIMARY KEY (epoch, name));
CREATE TABLE IF NOT EXISTS tags (
  epoch INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (epoch, key));
CREATE TABLE IF NOT EXISTS consumer_tags (
  epoch INTEGER NOT NULL, consumer TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (epoch, consumer, key));
CREATE TABLE IF NOT EXISTS policies (
  epoch INTEGER NOT NULL, consumer TEXT NOT NULL, policy TEXT NOT NULL,
  PRIMARY KEY (epoch, consumer));
CREATE TABLE IF NOT EXISTS channels (
  arn TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, stream_epoch INTEGER NOT NULL,
  created_ms INTEGER NOT NULL, body TEXT NOT NULL);
";

/// Columns added to `streams` after the first schema, with their definitions.
/// The schema version this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 2;

const STREAM_COLUMNS: [(&str, &str); 4] = [
    ("shard_metrics", "INTEGER NOT NULL DEFAULT 0"),
    ("max_record_kib", "INTEGER NOT NULL DEFAULT 1024"),
    ("warm_mibps", "INTEGER"),
    ("distribution", "TEXT NOT NULL DEFAULT 'USER_PARTITION_KEY'"),
];

fn parse_u128(s: String) -> rusqlite::Result<u128> {
    s.parse::<u128>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

pub(super) fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Catalog {
    /// Opens or creates the catalog at `path`.
    pub fn open(path: &Path) -> rusqlite::Result<Catalog> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Self::add_missing_columns(&conn)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(Catalog { conn })
    }

    /// Refuses a catalog written by a newer rill, before anything opens it for writing.
    pub fn check_version(path: &Path) -> Result<(), super::StoreError> {
        if !path.exists() {
            return Ok(());
        }
        let version: i64 = Connection::open(path)
            .and_then(|c| c.pragma_query_value(None, "user_version", |r| r.get(0)))
            .map_err(super::StoreError::from)?;
        if version > SCHEMA_VERSION {
            return Err(super::StoreError::UnknownCatalogVersion {
                path: path.to_path_buf(),
                version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(())
    }

    /// The first stream epoch whose sequence numbers are in layout 2. Set the first time a
    /// build that writes layout 2 opens the catalog: above every stream it holds then.
    pub fn seq_v2_from_epoch(&mut self) -> rusqlite::Result<u64> {
        const KEY: &str = "seq_v2_from_epoch";
        if let Some(bytes) = self.meta(KEY)?
            && let Some(v) = std::str::from_utf8(&bytes)
                .ok()
                .and_then(|t| t.parse().ok())
        {
            return Ok(v);
        }
        let max: Option<i64> = self
            .conn
            .query_row("SELECT MAX(epoch) FROM streams", [], |r| r.get(0))?;
        let from = max.map_or(0, |m| m.max(0) as u64 + 1);
        self.set_meta(KEY, from.to_string().as_bytes())?;
        Ok(from)
    }

    /// Adds to `streams` the columns a catalog written by an older rill lacks.
    fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
        let have: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('streams')")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for (name, def) in STREAM_COLUMNS {
            if !have.iter().any(|h| h == name) {
                conn.execute_batch(&format!("ALTER TABLE streams ADD COLUMN {name} {def}"))?;
            }
        }
        Ok(())
    }

    /// A value of the `meta` table.
    pub fn meta(&self, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()
    }

    /// Sets a value of the `meta` table.
    pub fn set_meta(&mut self, key: &str, value: &[u8]) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![key, value],
        )?;
        Ok(())
    }

    /// Sets a stream's enabled shard-level metrics (a bit set).
    pub fn set_shard_metrics(&mut self, epoch: u64, bits: u32) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE streams SET shard_metrics = ?2 WHERE epoch = ?1",
            params![i64_of(epoch), bits],
        )?;
        Ok(())
    }

    /// Sets a stream's largest record size, in KiB.
    pub fn set_max_record_kib(&mut self, epoch: u64, kib: u32) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE streams SET max_record_kib = ?2 WHERE epoch = ?1",
            params![i64_of(epoch), kib],
        )?;
        Ok(())
    }

    /// Sets (or clears) a stream's warm throughput, in MiB/s.
    pub fn set_warm_throughput(&mut self, epoch: u64, mibps: Option<u32>) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE streams SET warm_mibps = ?2 WHERE epoch = ?1",
            params![i64_of(epoch), mibps],
        )?;
        Ok(())
    }

    /// Records a stream's record distribution strategy (AUTO or USER_PARTITION_KEY).
    pub fn set_distribution(&mut self, epoch: u64, strategy: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE streams SET distribution = ?2 WHERE epoch = ?1",
            params![i64_of(epoch), strategy],
        )?;
        Ok(())
    }

    /// A consumer's tags, by key.
    pub fn consumer_tags(
        &self,
        epoch: u64,
        consumer: &str,
    ) -> rusqlite::Result<Vec<(String, String)>> {
        let mut st = self.conn.prepare(
            "SELECT key, value FROM consumer_tags WHERE epoch = ?1 AND consumer = ?2 ORDER BY key",
        )?;
        st.query_map(params![i64_of(epoch), consumer], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect()
    }

    /// Adds or overwrites a consumer's tags, in one transaction.
    pub fn put_consumer_tags(
        &mut self,
        epoch: u64,
        consumer: &str,
        tags: &[(String, String)],
    ) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        for (k, v) in tags {
            tx.execute(
                "INSERT OR REPLACE INTO consumer_tags (epoch, consumer, key, value) VALUES (?1, ?2, ?3, ?4)",
                params![i64_of(epoch), consumer, k, v],
            )?;
        }
        tx.commit()
    }

    /// Removes some of a consumer's tags, in one transaction.
    pub fn remove_consumer_tags(
        &mut self,
        epoch: u64,
        consumer: &str,
        keys: &[String],
    ) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        for k in keys {
            tx.execute(
                "DELETE FROM consumer_tags WHERE epoch = ?1 AND consumer = ?2 AND key = ?3",
                params![i64_of(epoch), consumer, k],
            )?;
        }
        tx.commit()
    }

    /// The resource policy of a stream (`consumer` = `""`) or of one of its consumers.
    pub fn policy(&self, epoch: u64, consumer: &str) -> rusqlite::Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT policy FROM policies WHERE epoch = ?1 AND consumer = ?2",
                params![i64_of(epoch), consumer],
                |r| r.get(0),
            )
            .optional()
    }

    /// Attaches (`Some`) or removes (`None`) the resource policy of a stream or consumer.
    pub fn set_policy(
        &mut self,
        epoch: u64,
        consumer: &str,
        policy: Option<&str>,
    ) -> rusqlite::Result<()> {
        match policy {
            Some(p) => self.conn.execute(
                "INSERT OR REPLACE INTO policies (epoch, consumer, policy) VALUES (?1, ?2, ?3)",
                params![i64_of(epoch), consumer, p],
            )?,
            None => self.conn.execute(
                "DELETE FROM policies WHERE epoch = ?1 AND consumer = ?2",
                params![i64_of(epoch), consumer],
            )?,
        };
        Ok(())
    }

    /// The iterator key, created on first use.
    pub fn iterator_key(&mut self, fresh: [u8; 32]) -> rusqlite::Result<Vec<u8>> {
        let tx = self.conn.transaction()?;
        let existing: Option<Vec<u8>> = tx
            .query_row(
                "SELECT value FROM meta WHERE key = 'iterator_key'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let key = match existing {
            Some(k) => k,
            None => {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('iterator_key', ?1)",
                    params![fresh.to_vec()],
                )?;
                fresh.to_vec()
            }
        };
        tx.commit()?;
        Ok(key)
    }

    /// Every stream with its shards and tags.
    #[allow(clippy::type_complexity)]
    pub fn load(&self) -> rusqlite::Result<Vec<(StreamRow, Vec<ShardRow>, Vec<(String, String)>)>> {
        let mut out = Vec::new();
        let mut st = self.conn.prepare(
            "SELECT name, epoch, status, mode, retention_hours, generation, next_shard_index,
                    encryption_type, key_id, shard_metrics, max_record_kib, warm_mibps,
                    distribution
             FROM streams ORDER BY name",
        )?;
        let streams = st
            .query_map([], |r| {
                Ok(StreamRow {
                    name: r.get(0)?,
                    epoch: r.get::<_, i64>(1)? as u64,
                    status: r.get(2)?,
                    mode: r.get(3)?,
                    retention_hours: r.get(4)?,
                    generation: r.get(5)?,
                    next_shard_index: r.get::<_, i64>(6)? as u64,
                    encryption_type: r.get(7)?,
                    key_id: r.get(8)?,
                    shard_metrics: r.get(9)?,
                    max_record_kib: r.get(10)?,
                    warm_mibps: r.get(11)?,
                    distribution: r.get(12)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for s in streams {
            let shards = self.shards(s.epoch)?;
            let tags = self.tags(s.epoch)?;
            out.push((s, shards, tags));
        }
        Ok(out)
    }

    fn shards(&self, epoch: u64) -> rusqlite::Result<Vec<ShardRow>> {
        let mut st = self.conn.prepare(
            "SELECT shard_index, parent, adjacent_parent, start_hash, end_hash, generation,
                    created_ms, closed_ms, ending_position
             FROM shards WHERE epoch = ?1 ORDER BY shard_index",
        )?;
        st.query_map(params![i64_of(epoch)], |r| {
            Ok(ShardRow {
                shard_index: r.get::<_, i64>(0)? as u64,
                parent: r.get::<_, Option<i64>>(1)?.map(|v| v as u64),
                adjacent_parent: r.get::<_, Option<i64>>(2)?.map(|v| v as u64),
                start_hash: parse_u128(r.get(3)?)?,
                end_hash: parse_u128(r.get(4)?)?,
                generation: r.get(5)?,
                created_ms: r.get(6)?,
                closed_ms: r.get(7)?,
                ending_position: r.get::<_, Option<i64>>(8)?.map(|v| v as u64),
            })
        })?
        .collect()
    }

    fn tags(&self, epoch: u64) -> rusqlite::Result<Vec<(String, String)>> {
        let mut st = self
            .conn
            .prepare("SELECT key, value FROM tags WHERE epoch = ?1 ORDER BY key")?;
        st.query_map(params![i64_of(epoch)], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect()
    }

    /// The smallest epoch at least `wanted` that no stream uses.
    pub fn unique_epoch(&self, wanted: u64) -> rusqlite::Result<u64> {
        let max: Option<i64> = self
            .conn
            .query_row("SELECT MAX(epoch) FROM streams", [], |r| r.get(0))?;
        let at_least = match max {
            Some(m) if m as u64 >= wanted => m as u64 + 1,
            _ => wanted,
        };
        // A multiple of 4 ms: sequence-number layout 2 carries the epoch to 4 ms.
        Ok(at_least.div_ceil(4) * 4)
    }

    /// Inserts a stream with its shards and tags in one transaction.
    pub fn create_stream(
        &mut self,
        s: &StreamRow,
        shards: &[ShardRow],
        tags: &[(String, String)],
    ) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO streams (name, epoch, status, mode, retention_hours, generation,
               next_shard_index, encryption_type, key_id, shard_metrics, max_record_kib, warm_mibps,
               distribution)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
            params![
                s.name,
                i64_of(s.epoch),
                s.status,
                s.mode,
                s.retention_hours,
                s.generation,
                i64_of(s.next_shard_index),
                s.encryption_type,
                s.key_id,
                s.shard_metrics,
                s.max_record_kib,
                s.warm_mibps,
                s.distribution
            ],
        )?;
        for sh in shards {
            Self::insert_shard(&tx, s.epoch, sh)?;
        }
        for (k, v) in tags {
            tx.execute(
                "INSERT OR REPLACE INTO tags (epoch, key, value) VALUES (?1, ?2, ?3)",
                params![i64_of(s.epoch), k, v],
            )?;
        }
        tx.commit()
    }

    fn insert_shard(
        tx: &rusqlite::Transaction<'_>,
        epoch: u64,
        sh: &ShardRow,
    ) -> rusqlite::Result<()> {
        tx.execute(
            "INSERT INTO shards (epoch, shard_index, parent, adjacent_parent, start_hash, end_hash,
               generation, created_ms, closed_ms, ending_position)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
            params![
                i64_of(epoch),
                i64_of(sh.shard_index),
                sh.parent.map(i64_of),
                sh.adjacent_parent.map(i64_of),
                sh.start_hash.to_string(),
                sh.end_hash.to_string(),
                sh.generation,
                sh.created_ms,
                sh.closed_ms,
                sh.ending_position.map(i64_of)
            ],
        )?;
        Ok(())
    }

    /// Applies a resharding in one transaction: closes shards (index, closed at, ending
    /// position), inserts new ones and records the stream's new generation and next index.
    pub fn reshard(
        &mut self,
        epoch: u64,
        generation: u32,
        next_shard_index: u64,
        closed: &[(u64, i64, u64)],
        new: &[ShardRow],
    ) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        let e = i64_of(epoch);
        for (index, closed_ms, ending) in closed {
            tx.execute(
                "UPDATE shards SET closed_ms = ?3, ending_position = ?4 WHERE epoch = ?1 AND shard_index = ?2",
                params![e, i64_of(*index), closed_ms, i64_of(*ending)],
            )?;
        }
        for sh in new {
            Self::insert_shard(&tx, epoch, sh)?;
        }
        tx.execute(
            "UPDATE streams SET generation = ?2, next_shard_index = ?3 WHERE epoch = ?1",
            params![e, generation, i64_of(next_shard_index)],
        )?;
        tx.commit()
    }

    /// Sets a stream's status.
    pub fn set_status(&mut self, epoch: u64, status: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE streams SET status = ?2 WHERE epoch = ?1",
            params![i64_of(epoch), status],
        )?;
        Ok(())
    }

    /// A stream's registered consumers: (name, creation ms), by name.
    pub fn consumers(&self, epoch: u64) -> rusqlite::Result<Vec<(String, i64)>> {
        let mut st = self
            .conn
            .prepare("SELECT name, created_ms FROM consumers WHERE epoch = ?1 ORDER BY name")?;
        st.query_map(params![i64_of(epoch)], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect()
    }

    /// Registers a consumer.
    pub fn add_consumer(
        &mut self,
        epoch: u64,
        name: &str,
        created_ms: i64,
    ) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO consumers (epoch, name, created_ms) VALUES (?1, ?2, ?3)",
            params![i64_of(epoch), name, created_ms],
        )?;
        Ok(())
    }

    /// Deregisters a consumer, with its tags and resource policy, in one transaction.
    pub fn remove_consumer(&mut self, epoch: u64, name: &str) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        let e = i64_of(epoch);
        tx.execute(
            "DELETE FROM consumers WHERE epoch = ?1 AND name = ?2",
            params![e, name],
        )?;
        tx.execute(
            "DELETE FROM consumer_tags WHERE epoch = ?1 AND consumer = ?2",
            params![e, name],
        )?;
        tx.execute(
            "DELETE FROM policies WHERE epoch = ?1 AND consumer = ?2",
            params![e, name],
        )?;
        tx.commit()
    }

    /// Sets a stream's capacity mode.
    pub fn set_mode(&mut self, epoch: u64, mode: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE streams SET mode = ?2 WHERE epoch = ?1",
            params![i64_of(epoch), mode],
        )?;
        Ok(())
    }

    /// Sets a stream's encryption type and key.
    pub fn set_encryption(
        &mut self,
        epoch: u64,
        encryption_type: &str,
        key_id: Option<&str>,
    ) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE streams SET encryption_type = ?2, key_id = ?3 WHERE epoch = ?1",
            params![i64_of(epoch), encryption_type, key_id],
        )?;
        Ok(())
    }

    /// Sets a stream's retention period.
    pub fn set_retention(&mut self, epoch: u64, hours: u32) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE streams SET retention_hours = ?2 WHERE epoch = ?1",
            params![i64_of(epoch), hours],
        )?;
        Ok(())
    }

    /// Adds or overwrites tags, in one transaction.
    pub fn put_tags(&mut self, epoch: u64, tags: &[(String, String)]) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        for (k, v) in tags {
            tx.execute(
                "INSERT OR REPLACE INTO tags (epoch, key, value) VALUES (?1, ?2, ?3)",
                params![i64_of(epoch), k, v],
            )?;
        }
        tx.commit()
    }

    /// Removes tags, in one transaction.
    pub fn remove_tags(&mut self, epoch: u64, keys: &[String]) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        for k in keys {
            tx.execute(
                "DELETE FROM tags WHERE epoch = ?1 AND key = ?2",
                params![i64_of(epoch), k],
            )?;
        }
        tx.commit()
    }

    /// Removes a stream and everything about it, in one transaction.
    pub fn delete_stream(&mut self, epoch: u64) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        let e = i64_of(epoch);
        tx.execute("DELETE FROM tags WHERE epoch = ?1", params![e])?;
        tx.execute("DELETE FROM consumer_tags WHERE epoch = ?1", params![e])?;
        tx.execute("DELETE FROM policies WHERE epoch = ?1", params![e])?;
        tx.execute("DELETE FROM consumers WHERE epoch = ?1", params![e])?;
        tx.execute("DELETE FROM shards WHERE epoch = ?1", params![e])?;
        tx.execute("DELETE FROM streams WHERE epoch = ?1", params![e])?;
        tx.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() -> rusqlite::Result<()> {
        let dir = tempfile::tempdir()
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        let path = dir.path().join("c.sqlite");
        let s = StreamRow {
            name: "s".into(),
            epoch: 10,
            status: "ACTIVE".into(),
            mode: "PROVISIONED".into(),
            retention_hours: 24,
            generation: 0,
            next_shard_index: 1,
            encryption_type: "NONE".into(),
            key_id: None,
            shard_metrics: 0,
            max_record_kib: 1024,
            warm_mibps: None,
            distribution: "USER_PARTITION_KEY".into(),
        };
        let sh = ShardRow {
            shard_index: 0,
            parent: None,
            adjacent_parent: None,
            start_hash: 0,
            end_hash: u128::MAX,
            generation: 0,
            created_ms: 10,
            closed_ms: None,
            ending_position: None,
        };
        {
            let mut c = Catalog::open(&path)?;
            let k1 = c.iterator_key([7; 32])?;
            let k2 = c.iterator_key([9; 32])?;
            assert_eq!(k1, k2);
            c.create_stream(&s, std::slice::from_ref(&sh), &[("a".into(), "1".into())])?;
            // Above every epoch, and a multiple of 4 ms.
            assert_eq!(c.unique_epoch(5)?, 12);
            assert_eq!(c.unique_epoch(50)?, 52);
            assert_eq!(c.unique_epoch(48)?, 48);
            assert!(
                c.create_stream(&s, &[], &[]).is_err(),
                "duplicate name must fail"
            );
        }
        let mut c = Catalog::open(&path)?;
        let all = c.load()?;
        assert_eq!(
            all,
            vec![(s.clone(), vec![sh], vec![("a".into(), "1".into())])]
        );
        c.set_shard_metrics(10, 5)?;
        c.set_max_record_kib(10, 10240)?;
        c.set_warm_throughput(10, Some(100))?;
        c.put_consumer_tags(10, "c", &[("k".into(), "v".into())])?;
        c.set_policy(10, "", Some("{}"))?;
        c.set_meta("account_settings", b"x")?;
        drop(c);
        let mut c = Catalog::open(&path)?;
        let row = &c.load()?[0].0;
        assert_eq!(
            (row.shard_metrics, row.max_record_kib, row.warm_mibps),
            (5, 10240, Some(100))
        );
        assert_eq!(c.consumer_tags(10, "c")?, vec![("k".into(), "v".into())]);
        assert_eq!(c.policy(10, "")?.as_deref(), Some("{}"));
        assert_eq!(c.meta("account_settings")?.as_deref(), Some(&b"x"[..]));
        c.remove_consumer(10, "c")?;
        assert!(c.consumer_tags(10, "c")?.is_empty());
        c.delete_stream(10)?;
        assert!(c.load()?.is_empty());
        assert_eq!(c.policy(10, "")?, None);
        Ok(())
    }

    #[test]
    fn opens_a_catalog_without_the_later_columns() -> rusqlite::Result<()> {
        let dir = tempfile::tempdir()
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        let path = dir.path().join("c.sqlite");
        {
            // The first schema's streams table, with one stream in it.
            let conn = Connection::open(&path)?;
            conn.execute_batch(
                "CREATE TABLE streams (
                   name TEXT PRIMARY KEY, epoch INTEGER NOT NULL UNIQUE, status TEXT NOT NULL,
                   mode TEXT NOT NULL, retention_hours INTEGER NOT NULL, generation INTEGER NOT NULL,
                   next_shard_index INTEGER NOT NULL, encryption_type TEXT NOT NULL, key_id TEXT);
                 INSERT INTO streams VALUES ('old', 7, 'ACTIVE', 'PROVISIONED', 24, 0, 1, 'NONE', NULL);",
            )?;
        }
        let c = Catalog::open(&path)?;
        let all = c.load()?;
        assert_eq!(all.len(), 1);
        let row = &all[0].0;
        assert_eq!(
            (row.shard_metrics, row.max_record_kib, row.warm_mibps),
            (0, 1024, None)
        );
        assert_eq!(row.distribution, "USER_PARTITION_KEY");
        drop(c);
        // Opening again finds the columns and adds nothing.
        Catalog::open(&path)?;
        Ok(())
    }
}
