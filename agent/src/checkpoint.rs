//! The checkpoint store: one SQLite row per (flow, device, inode) with the offset up to
//! which every line was acknowledged by the stream.
//!
//! Schema (stable, read by the tests and usable by operators):
//!
//! ```sql
//! CREATE TABLE checkpoints (
//!     flow TEXT NOT NULL,        -- "<stream> <files pattern>"
//!     dev INTEGER NOT NULL,      -- st_dev (as a signed 64-bit integer)
//!     ino INTEGER NOT NULL,      -- st_ino (as a signed 64-bit integer)
//!     path TEXT NOT NULL,        -- the path the file was last seen at
//!     offset INTEGER NOT NULL,   -- bytes before it are all acknowledged
//!     updated_ms INTEGER NOT NULL,
//!     PRIMARY KEY (flow, dev, ino)
//! );
//! ```
//!
//! Writes are batched in one transaction per poll and synced (`synchronous = FULL`), so a
//! checkpoint that was written survives a crash of the agent or of the machine.

use rusqlite::{Connection, params};
use std::collections::HashSet;
use std::path::Path;

use crate::BoxError;

/// A file's identity: (device, inode).
pub type FileId = (u64, u64);

/// One checkpoint to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The flow's key.
    pub flow: String,
    /// The file.
    pub id: FileId,
    /// Where it was last seen.
    pub path: String,
    /// Every line before this offset is acknowledged.
    pub offset: u64,
}

/// The SQLite checkpoint file.
#[derive(Debug)]
pub struct CheckpointStore {
    conn: Connection,
}

// SQLite integers are signed 64-bit; device, inode and offset keep their bits.
fn to_sql(v: u64) -> i64 {
    v as i64
}

fn from_sql(v: i64) -> u64 {
    v as u64
}

impl CheckpointStore {
    /// Opens (creating if missing) the checkpoint file.
    pub fn open(path: &Path) -> Result<CheckpointStore, BoxError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(path)
            .map_err(|e| format!("opening checkpoint db {}: {e}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS checkpoints (
                 flow TEXT NOT NULL,
                 dev INTEGER NOT NULL,
                 ino INTEGER NOT NULL,
                 path TEXT NOT NULL,
                 offset INTEGER NOT NULL,
                 updated_ms INTEGER NOT NULL,
                 PRIMARY KEY (flow, dev, ino)
             );",
        )?;
        Ok(CheckpointStore { conn })
    }

    /// The checkpointed offset of a file, if any.
    pub fn get(&self, flow: &str, id: FileId) -> Result<Option<u64>, BoxError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT offset FROM checkpoints WHERE flow = ?1 AND dev = ?2 AND ino = ?3",
        )?;
        let mut rows = stmt.query(params![flow, to_sql(id.0), to_sql(id.1)])?;
        match rows.next()? {
            Some(row) => Ok(Some(from_sql(row.get(0)?))),
            None => Ok(None),
        }
    }

    /// Writes checkpoints in one transaction.
    pub fn put_all(&mut self, checkpoints: &[Checkpoint]) -> Result<(), BoxError> {
        if checkpoints.is_empty() {
            return Ok(());
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO checkpoints (flow, dev, ino, path, offset, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (flow, dev, ino) DO UPDATE
                 SET path = excluded.path, offset = excluded.offset, updated_ms = excluded.updated_ms",
            )?;
            for c in checkpoints {
                stmt.execute(params![
                    c.flow,
                    to_sql(c.id.0),
                    to_sql(c.id.1),
                    c.path,
                    to_sql(c.offset),
                    now
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes a file's checkpoint (the file is gone and fully acknowledged), so that a
    /// later file reusing the inode starts at 0.
    pub fn delete(&self, flow: &str, id: FileId) -> Result<(), BoxError> {
        self.conn.execute(
            "DELETE FROM checkpoints WHERE flow = ?1 AND dev = ?2 AND ino = ?3",
            params![flow, to_sql(id.0), to_sql(id.1)],
        )?;
        Ok(())
    }

    /// Deletes the flow's checkpoints of files not in `keep` (files that disappeared while
    /// the agent was down).
    pub fn retain(&self, flow: &str, keep: &HashSet<FileId>) -> Result<usize, BoxError> {
        let mut stmt = self
            .conn
            .prepare("SELECT dev, ino FROM checkpoints WHERE flow = ?1")?;
        let ids = stmt
            .query_map(params![flow], |row| {
                Ok((from_sql(row.get(0)?), from_sql(row.get(1)?)))
            })?
            .collect::<Result<Vec<FileId>, _>>()?;
        let mut deleted = 0;
        for id in ids.into_iter().filter(|id| !keep.contains(id)) {
            self.delete(flow, id)?;
            deleted += 1;
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() -> Result<(), BoxError> {
        let dir = tempfile::tempdir()?;
        let mut store = CheckpointStore::open(&dir.path().join("c.sqlite"))?;
        let id = (u64::MAX, 7);
        assert_eq!(store.get("f", id)?, None);
        let c = Checkpoint {
            flow: "f".into(),
            id,
            path: "/x".into(),
            offset: 42,
        };
        store.put_all(std::slice::from_ref(&c))?;
        store.put_all(&[Checkpoint { offset: 50, ..c }])?;
        assert_eq!(store.get("f", id)?, Some(50));
        assert_eq!(store.retain("f", &HashSet::from([id]))?, 0);
        assert_eq!(store.retain("f", &HashSet::new())?, 1);
        assert_eq!(store.get("f", id)?, None);
        Ok(())
    }
}
