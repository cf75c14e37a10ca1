//! The lease table on one SQLite file, shared by every worker process of a host.
//!
//! # Layout
//!
//! One table (named by the caller, by default `leases`) whose columns are the KCL lease
//! attributes, spelled as in DynamoDB (`leaseKey` is the primary key). String sets
//! (`parentShardId`, `childShardIds`) are stored as their members joined by `'\n'` in sorted
//! order, `NULL` when empty (DynamoDB has no empty sets either).
//!
//! # Concurrency
//!
//! * The database runs in WAL mode so readers never block the writer, with a busy timeout
//!   (default 5 s) so that writers of several processes queue instead of failing.
//! * Every write is one statement whose `WHERE` clause carries the condition (the key and
//!   `leaseCounter`); `UPDATE … RETURNING *` hands back the row as written. SQLite runs one
//!   statement atomically, so two workers racing for one lease see exactly one winner.
//! * `synchronous = NORMAL`: a commit survives a process crash (it is in the WAL); a power
//!   loss may lose the last commits, which at worst re-delivers records since the previous
//!   checkpoint (the consumer is at-least-once anyway) or expires a lease.
//! * Calls run on tokio's blocking pool (`spawn_blocking`), one connection per table handle
//!   behind a mutex.
//!
//! # Index and fleet tables
//!
//! * `"<table>_leaseOwner"` indexes `leaseOwner`, so that a worker lists its own leases
//!   ([`LeaseTable::list_lease_keys_by_owner`]) without reading the others.
//! * The fleet row of [`super::fleet`] lives in `"<table>__fleet"` (one row, `id = 1`:
//!   `leaseOwner`, `leaseCounter`, `rillAssignmentEpoch`, `rillChanges`) and
//!   `"<table>__beats"` (`worker` primary key, `beat`). A heartbeat or a leader write is
//!   one transaction that answers the state as written.

use super::{CheckpointUpdate, FleetState, LeaderUpdate, Lease, LeaseError, LeaseTable};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The SQLite lease table. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct SqliteLeaseTable {
    conn: Arc<Mutex<Connection>>,
    table: Arc<str>,
    path: Arc<PathBuf>,
}

impl std::fmt::Debug for SqliteLeaseTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLeaseTable")
            .field("path", &self.path)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

fn storage(message: &str) -> impl FnOnce(rusqlite::Error) -> LeaseError + '_ {
    move |e| LeaseError::Storage {
        message: message.to_string(),
        source: Box::new(e),
    }
}

const COLUMNS: &str = "leaseKey, leaseOwner, leaseCounter, checkpoint, checkpointSubSequenceNumber, \
    pendingCheckpoint, pendingCheckpointSubSequenceNumber, pendingCheckpointState, \
    ownerSwitchesSinceCheckpoint, parentShardId, childShardIds, startingHashKey, endingHashKey, \
    checkpointOwner, rillBytesPerSecond, rillRecordsPerSecond";

impl SqliteLeaseTable {
    /// Opens (creating if needed) the file at `path` and the table `table` in it, with a
    /// busy timeout of 5 s.
    ///
    /// `table` must match `[A-Za-z0-9_.-]{1,255}` (the DynamoDB table name rule).
    pub fn open(path: impl AsRef<Path>, table: &str) -> Result<SqliteLeaseTable, LeaseError> {
        Self::open_with_timeout(path, table, Duration::from_secs(5))
    }

    /// As [`open`](Self::open) with the given busy timeout: how long a write waits for
    /// another process's write to finish before failing.
    pub fn open_with_timeout(
        path: impl AsRef<Path>,
        table: &str,
        busy_timeout: Duration,
    ) -> Result<SqliteLeaseTable, LeaseError> {
        if table.is_empty()
            || table.len() > 255
            || !table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        {
            return Err(LeaseError::Invalid {
                parameter: "table",
                reason: "must match [A-Za-z0-9_.-]{1,255}".into(),
            });
        }
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path).map_err(storage("open lease database"))?;
        conn.busy_timeout(busy_timeout)
            .map_err(storage("set busy timeout"))?;
        // journal_mode returns a row; query it rather than execute.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(storage("enable WAL"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(%mode, path = %path.display(), "lease database is not in WAL mode");
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL")
            .map_err(storage("set synchronous"))?;
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS \"{table}\" (
                leaseKey TEXT PRIMARY KEY NOT NULL,
                leaseOwner TEXT,
                leaseCounter INTEGER NOT NULL,
                checkpoint TEXT NOT NULL,
                checkpointSubSequenceNumber INTEGER NOT NULL,
                pendingCheckpoint TEXT,
                pendingCheckpointSubSequenceNumber INTEGER,
                pendingCheckpointState BLOB,
                ownerSwitchesSinceCheckpoint INTEGER NOT NULL,
                parentShardId TEXT,
                childShardIds TEXT,
                startingHashKey TEXT,
                endingHashKey TEXT,
                checkpointOwner TEXT,
                rillBytesPerSecond INTEGER,
                rillRecordsPerSecond INTEGER
            )"
        ))
        .map_err(storage("create lease table"))?;
        // Files made before the load columns existed get them now.
        let mut has_load = false;
        {
            let mut stmt = conn
                .prepare(&format!("PRAGMA table_info(\"{table}\")"))
                .map_err(storage("read lease table columns"))?;
            let names = stmt
                .query_map([], |r| r.get::<_, String>(1))
                .map_err(storage("read lease table columns"))?;
            for n in names {
                has_load |= n.map_err(storage("read lease table columns"))? == "rillBytesPerSecond";
            }
        }
        if !has_load {
            conn.execute_batch(&format!(
                "ALTER TABLE \"{table}\" ADD COLUMN rillBytesPerSecond INTEGER;
                 ALTER TABLE \"{table}\" ADD COLUMN rillRecordsPerSecond INTEGER;"
            ))
            .map_err(storage("add load columns to the lease table"))?;
        }
        conn.execute_batch(&format!(
            "CREATE INDEX IF NOT EXISTS \"{table}_leaseOwner\" ON \"{table}\" (leaseOwner);
             CREATE TABLE IF NOT EXISTS \"{table}__fleet\" (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                leaseOwner TEXT,
                leaseCounter INTEGER NOT NULL,
                rillAssignmentEpoch INTEGER NOT NULL,
                rillChanges INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS \"{table}__beats\" (
                worker TEXT PRIMARY KEY NOT NULL,
                beat INTEGER NOT NULL
             );"
        ))
        .map_err(storage("create lease owner index and fleet tables"))?;
        Ok(SqliteLeaseTable {
            conn: Arc::new(Mutex::new(conn)),
            table: table.into(),
            path: Arc::new(path),
        })
    }

    /// Runs `f` on the connection on the blocking pool.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &str) -> Result<T, LeaseError> + Send + 'static,
    ) -> Result<T, LeaseError> {
        let conn = Arc::clone(&self.conn);
        let table = Arc::clone(&self.table);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave the connection inconsistent
            // (statements are atomic), so a poisoned lock is still usable.
            let guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&guard, &table)
        })
        .await
        .map_err(|e| LeaseError::Storage {
            message: "lease table task failed".into(),
            source: Box::new(e),
        })?
    }

    /// Runs a conditional `UPDATE … WHERE leaseKey = ?1 AND leaseCounter = ?2 RETURNING *`.
    async fn update(
        &self,
        lease: &Lease,
        what: &'static str,
        set: &'static str,
        cond: &'static str,
        values: Vec<rusqlite::types::Value>,
    ) -> Result<Option<Lease>, LeaseError> {
        let key = lease.lease_key.clone();
        let counter = to_i64(lease.lease_counter);
        self.with(move |conn, table| {
            let sql = format!(
                "UPDATE \"{table}\" SET {set} WHERE leaseKey = ?1 AND leaseCounter = ?2{cond} RETURNING {COLUMNS}"
            );
            let mut stmt = conn.prepare_cached(&sql).map_err(storage(what))?;
            let mut all: Vec<rusqlite::types::Value> =
                vec![key.into(), rusqlite::types::Value::Integer(counter)];
            all.extend(values);
            stmt.query_row(rusqlite::params_from_iter(all), read_row)
                .optional()
                .map_err(storage(what))?
                .transpose()
        })
        .await
    }
}

/// The fleet state as stored (inside the caller's transaction).
fn read_fleet(conn: &Connection, table: &str) -> Result<FleetState, LeaseError> {
    let what = "read fleet row";
    let row = conn
        .prepare_cached(&format!(
            "SELECT leaseOwner, leaseCounter, rillAssignmentEpoch, rillChanges FROM \"{table}__fleet\" WHERE id = 1"
        ))
        .and_then(|mut s| {
            s.query_row([], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .optional()
        })
        .map_err(storage(what))?;
    let mut state = FleetState::default();
    if let Some((leader, counter, epoch, changes)) = row {
        state.leader = leader;
        state.counter = u64::try_from(counter).unwrap_or(0);
        state.epoch = u64::try_from(epoch).unwrap_or(0);
        state.changes = u64::try_from(changes).unwrap_or(0);
    }
    let mut stmt = conn
        .prepare_cached(&format!("SELECT worker, beat FROM \"{table}__beats\""))
        .map_err(storage(what))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .map_err(storage(what))?;
    for row in rows {
        let (w, b) = row.map_err(storage(what))?;
        state.beats.insert(w, u64::try_from(b).unwrap_or(0));
    }
    Ok(state)
}

fn ensure_fleet_row(conn: &Connection, table: &str, what: &'static str) -> Result<(), LeaseError> {
    conn.prepare_cached(&format!(
        "INSERT INTO \"{table}__fleet\" (id, leaseOwner, leaseCounter, rillAssignmentEpoch, rillChanges)
         VALUES (1, NULL, 0, 0, 0) ON CONFLICT(id) DO NOTHING"
    ))
    .and_then(|mut s| s.execute([]))
    .map_err(storage(what))?;
    Ok(())
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn join_set(set: &BTreeSet<String>) -> Option<String> {
    if set.is_empty() {
        None
    } else {
        Some(
            set.iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }
}

fn split_set(s: Option<String>) -> BTreeSet<String> {
    s.map(|s| {
        s.split('\n')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<Result<Lease, LeaseError>> {
    let key: String = r.get(0)?;
    let num = |i: usize, name: &str| -> rusqlite::Result<Result<u64, LeaseError>> {
        let v: i64 = r.get(i)?;
        Ok(u64::try_from(v).map_err(|_| LeaseError::Corrupt {
            key: key.clone(),
            reason: format!("{name} is negative"),
        }))
    };
    let opt_num = |i: usize| -> rusqlite::Result<Option<u64>> {
        let v: Option<i64> = r.get(i)?;
        Ok(v.and_then(|v| u64::try_from(v).ok()))
    };
    let counter = match num(2, "leaseCounter")? {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let sub = match num(4, "checkpointSubSequenceNumber")? {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let switches = match num(8, "ownerSwitchesSinceCheckpoint")? {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(Lease {
        lease_owner: r.get(1)?,
        lease_counter: counter,
        checkpoint: r.get(3)?,
        checkpoint_sub_sequence_number: sub,
        pending_checkpoint: r.get(5)?,
        pending_checkpoint_sub_sequence_number: opt_num(6)?,
        pending_checkpoint_state: r.get(7)?,
        owner_switches_since_checkpoint: switches,
        parent_shard_ids: split_set(r.get(9)?),
        child_shard_ids: split_set(r.get(10)?),
        starting_hash_key: r.get(11)?,
        ending_hash_key: r.get(12)?,
        checkpoint_owner: r.get(13)?,
        load: match (opt_num(14)?, opt_num(15)?) {
            (None, None) => None,
            (b, n) => Some(super::ShardLoad {
                bytes_per_second: b.unwrap_or(0),
                records_per_second: n.unwrap_or(0),
            }),
        },
        lease_key: key,
    }))
}

type V = rusqlite::types::Value;

fn text(s: Option<&str>) -> V {
    s.map_or(V::Null, |s| V::Text(s.to_owned()))
}

#[async_trait]
impl LeaseTable for SqliteLeaseTable {
    async fn create_lease_if_not_exists(&self, lease: &Lease) -> Result<bool, LeaseError> {
        let l = lease.clone();
        self.with(move |conn, table| {
            let sql = format!(
                "INSERT INTO \"{table}\" ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                 ON CONFLICT(leaseKey) DO NOTHING"
            );
            let n = conn
                .prepare_cached(&sql)
                .and_then(|mut s| {
                    s.execute(params![
                        l.lease_key,
                        l.lease_owner,
                        to_i64(l.lease_counter),
                        l.checkpoint,
                        to_i64(l.checkpoint_sub_sequence_number),
                        l.pending_checkpoint,
                        l.pending_checkpoint_sub_sequence_number.map(to_i64),
                        l.pending_checkpoint_state,
                        to_i64(l.owner_switches_since_checkpoint),
                        join_set(&l.parent_shard_ids),
                        join_set(&l.child_shard_ids),
                        l.starting_hash_key,
                        l.ending_hash_key,
                        l.checkpoint_owner,
                        l.load.map(|x| to_i64(x.bytes_per_second)),
                        l.load.map(|x| to_i64(x.records_per_second)),
                    ])
                })
                .map_err(storage("create lease"))?;
            Ok(n == 1)
        })
        .await
    }

    async fn list_leases(&self) -> Result<Vec<Lease>, LeaseError> {
        self.with(|conn, table| {
            let sql = format!("SELECT {COLUMNS} FROM \"{table}\" ORDER BY leaseKey");
            let mut stmt = conn.prepare_cached(&sql).map_err(storage("list leases"))?;
            let rows = stmt
                .query_map([], read_row)
                .map_err(storage("list leases"))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row.map_err(storage("list leases"))??);
            }
            Ok(out)
        })
        .await
    }

    async fn get_lease(&self, key: &str) -> Result<Option<Lease>, LeaseError> {
        let key = key.to_owned();
        self.with(move |conn, table| {
            let sql = format!("SELECT {COLUMNS} FROM \"{table}\" WHERE leaseKey = ?1");
            conn.prepare_cached(&sql)
                .and_then(|mut s| s.query_row([key], read_row).optional())
                .map_err(storage("get lease"))?
                .transpose()
        })
        .await
    }

    async fn renew_lease(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        // The owner condition is implied by the counter, but stated for clarity.
        let (b, n) = match lease.load {
            Some(l) => (
                V::Integer(to_i64(l.bytes_per_second)),
                V::Integer(to_i64(l.records_per_second)),
            ),
            None => (V::Null, V::Null),
        };
        self.update(
            lease,
            "renew lease",
            "leaseCounter = leaseCounter + 1, rillBytesPerSecond = COALESCE(?4, rillBytesPerSecond), \
             rillRecordsPerSecond = COALESCE(?5, rillRecordsPerSecond)",
            " AND leaseOwner IS ?3",
            vec![text(lease.lease_owner.as_deref()), b, n],
        )
        .await
    }

    async fn take_lease(&self, lease: &Lease, owner: &str) -> Result<Option<Lease>, LeaseError> {
        self.update(
            lease,
            "take lease",
            "leaseOwner = ?3, checkpointOwner = NULL, leaseCounter = leaseCounter + 1, \
             ownerSwitchesSinceCheckpoint = ownerSwitchesSinceCheckpoint + (CASE WHEN leaseOwner IS ?3 THEN 0 ELSE 1 END)",
            "",
            vec![V::Text(owner.to_owned())],
        )
        .await
    }

    async fn evict_lease(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.update(
            lease,
            "evict lease",
            "leaseOwner = NULL, checkpointOwner = NULL, leaseCounter = leaseCounter + 1",
            "",
            vec![],
        )
        .await
    }

    async fn hand_over_lease(
        &self,
        lease: &Lease,
        new_owner: &str,
    ) -> Result<Option<Lease>, LeaseError> {
        self.update(
            lease,
            "hand over lease",
            "checkpointOwner = leaseOwner, leaseOwner = ?3, leaseCounter = leaseCounter + 1",
            "",
            vec![V::Text(new_owner.to_owned())],
        )
        .await
    }

    async fn complete_hand_over(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.update(
            lease,
            "complete handoff",
            "checkpointOwner = NULL, leaseCounter = leaseCounter + 1",
            "",
            vec![],
        )
        .await
    }

    async fn update_checkpoint(
        &self,
        lease: &Lease,
        update: &CheckpointUpdate,
    ) -> Result<Option<Lease>, LeaseError> {
        let (p, ps, pst) = match &update.pending {
            Some((p, state)) => (
                V::Text(p.sequence_number.clone()),
                V::Integer(to_i64(p.sub_sequence_number)),
                state.clone().map_or(V::Null, V::Blob),
            ),
            None => (V::Null, V::Null, V::Null),
        };
        self.update(
            lease,
            "checkpoint",
            "ownerSwitchesSinceCheckpoint = (CASE WHEN checkpoint IS ?3 AND checkpointSubSequenceNumber IS ?4 \
               THEN ownerSwitchesSinceCheckpoint ELSE 0 END), \
             checkpoint = ?3, checkpointSubSequenceNumber = ?4, pendingCheckpoint = ?5, \
             pendingCheckpointSubSequenceNumber = ?6, pendingCheckpointState = ?7, \
             leaseCounter = leaseCounter + 1",
            "",
            vec![
                V::Text(update.checkpoint.sequence_number.clone()),
                V::Integer(to_i64(update.checkpoint.sub_sequence_number)),
                p,
                ps,
                pst,
            ],
        )
        .await
    }

    async fn update_lease_meta(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.update(
            lease,
            "update lease meta",
            "parentShardId = ?3, childShardIds = ?4, startingHashKey = ?5, endingHashKey = ?6",
            "",
            vec![
                text(join_set(&lease.parent_shard_ids).as_deref()),
                text(join_set(&lease.child_shard_ids).as_deref()),
                text(lease.starting_hash_key.as_deref()),
                text(lease.ending_hash_key.as_deref()),
            ],
        )
        .await
    }

    async fn list_lease_keys_by_owner(&self, owner: &str) -> Result<Vec<String>, LeaseError> {
        let owner = owner.to_owned();
        self.with(move |conn, table| {
            let what = "list leases by owner";
            let sql =
                format!("SELECT leaseKey FROM \"{table}\" WHERE leaseOwner = ?1 ORDER BY leaseKey");
            let mut stmt = conn.prepare_cached(&sql).map_err(storage(what))?;
            let rows = stmt
                .query_map([owner], |r| r.get::<_, String>(0))
                .map_err(storage(what))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row.map_err(storage(what))?);
            }
            Ok(out)
        })
        .await
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
        let worker = worker.to_owned();
        self.with(move |conn, table| {
            let what = "fleet heartbeat";
            let tx = conn.unchecked_transaction().map_err(storage(what))?;
            ensure_fleet_row(&tx, table, what)?;
            if leaving {
                tx.prepare_cached(&format!("DELETE FROM \"{table}__beats\" WHERE worker = ?1"))
                    .and_then(|mut s| s.execute([&worker]))
                    .map_err(storage(what))?;
            } else {
                tx.prepare_cached(&format!(
                    "INSERT INTO \"{table}__beats\" (worker, beat) VALUES (?1, 1)
                     ON CONFLICT(worker) DO UPDATE SET beat = beat + 1"
                ))
                .and_then(|mut s| s.execute([&worker]))
                .map_err(storage(what))?;
            }
            if changed || leaving {
                tx.prepare_cached(&format!(
                    "UPDATE \"{table}__fleet\" SET rillChanges = rillChanges + 1 WHERE id = 1"
                ))
                .and_then(|mut s| s.execute([]))
                .map_err(storage(what))?;
            }
            let state = read_fleet(&tx, table)?;
            tx.commit().map_err(storage(what))?;
            Ok(state)
        })
        .await
    }

    async fn update_fleet_leader(
        &self,
        seen: &FleetState,
        update: &LeaderUpdate,
    ) -> Result<Option<FleetState>, LeaseError> {
        let expected = to_i64(seen.counter);
        let update = update.clone();
        self.with(move |conn, table| {
            let what = "update fleet leader";
            let tx = conn.unchecked_transaction().map_err(storage(what))?;
            ensure_fleet_row(&tx, table, what)?;
            let n = tx
                .prepare_cached(&format!(
                    "UPDATE \"{table}__fleet\" SET leaseOwner = ?1, leaseCounter = leaseCounter + 1,
                     rillAssignmentEpoch = rillAssignmentEpoch + ?2 WHERE id = 1 AND leaseCounter = ?3"
                ))
                .and_then(|mut s| {
                    s.execute(params![
                        update.leader,
                        i64::from(update.bump_epoch),
                        expected
                    ])
                })
                .map_err(storage(what))?;
            if n == 0 {
                return Ok(None);
            }
            for w in &update.forget {
                tx.prepare_cached(&format!("DELETE FROM \"{table}__beats\" WHERE worker = ?1"))
                    .and_then(|mut s| s.execute([w]))
                    .map_err(storage(what))?;
            }
            if let Some(me) = &update.leader {
                tx.prepare_cached(&format!(
                    "INSERT INTO \"{table}__beats\" (worker, beat) VALUES (?1, 1)
                     ON CONFLICT(worker) DO UPDATE SET beat = beat + 1"
                ))
                .and_then(|mut s| s.execute([me]))
                .map_err(storage(what))?;
            }
            let state = read_fleet(&tx, table)?;
            tx.commit().map_err(storage(what))?;
            Ok(Some(state))
        })
        .await
    }

    async fn delete_lease(&self, lease: &Lease) -> Result<bool, LeaseError> {
        let key = lease.lease_key.clone();
        let counter = to_i64(lease.lease_counter);
        self.with(move |conn, table| {
            let sql = format!("DELETE FROM \"{table}\" WHERE leaseKey = ?1 AND leaseCounter = ?2");
            let n = conn
                .prepare_cached(&sql)
                .and_then(|mut s| s.execute(params![key, counter]))
                .map_err(storage("delete lease"))?;
            Ok(n == 1)
        })
        .await
    }
}
