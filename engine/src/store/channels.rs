//! The catalog's `channels` table: one row per channel, keyed by ARN, its name unique.
//!
//! The row holds what the catalog needs to find and list channels (ARN, name, the source
//! stream's epoch, creation time); `body` holds the rest of the channel (configuration,
//! state, tags) as the engine serializes it, which the catalog neither reads nor checks.

use super::catalog::{Catalog, i64_of};
use rusqlite::{OptionalExtension, params};

/// A channel as the catalog stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRow {
    /// The channel's ARN.
    pub arn: String,
    /// The channel's name, unique in the catalog.
    pub name: String,
    /// The epoch of the source stream.
    pub stream_epoch: u64,
    /// Creation time (ms).
    pub created_ms: i64,
    /// The rest of the channel, as the engine serializes it.
    pub body: String,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChannelRow> {
    Ok(ChannelRow {
        arn: r.get(0)?,
        name: r.get(1)?,
        stream_epoch: r.get::<_, i64>(2)? as u64,
        created_ms: r.get(3)?,
        body: r.get(4)?,
    })
}

impl Catalog {
    /// Inserts a channel; `false` (and nothing written) if one of that name exists.
    pub fn create_channel(&mut self, c: &ChannelRow) -> rusqlite::Result<bool> {
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO channels (arn, name, stream_epoch, created_ms, body)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![c.arn, c.name, i64_of(c.stream_epoch), c.created_ms, c.body],
        )?;
        Ok(n == 1)
    }

    /// The channel with this ARN.
    pub fn channel(&self, arn: &str) -> rusqlite::Result<Option<ChannelRow>> {
        self.conn
            .query_row(
                "SELECT arn, name, stream_epoch, created_ms, body FROM channels WHERE arn = ?1",
                params![arn],
                row,
            )
            .optional()
    }

    /// Every channel, by name.
    pub fn channels(&self) -> rusqlite::Result<Vec<ChannelRow>> {
        let mut st = self.conn.prepare(
            "SELECT arn, name, stream_epoch, created_ms, body FROM channels ORDER BY name",
        )?;
        st.query_map([], row)?.collect()
    }

    /// Replaces a channel's body; `false` if there is no such channel.
    pub fn update_channel(&mut self, arn: &str, body: &str) -> rusqlite::Result<bool> {
        let n = self.conn.execute(
            "UPDATE channels SET body = ?2 WHERE arn = ?1",
            params![arn, body],
        )?;
        Ok(n == 1)
    }

    /// Removes a channel; `false` if there was no such channel.
    pub fn delete_channel(&mut self, arn: &str) -> rusqlite::Result<bool> {
        let n = self
            .conn
            .execute("DELETE FROM channels WHERE arn = ?1", params![arn])?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_round_trip_with_unique_names() -> rusqlite::Result<()> {
        let dir = tempfile::tempdir()
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        let mut c = Catalog::open(&dir.path().join("c.sqlite"))?;
        let a = ChannelRow {
            arn: "arn:a".into(),
            name: "a".into(),
            stream_epoch: 7,
            created_ms: 10,
            body: "{}".into(),
        };
        assert!(c.create_channel(&a)?);
        let same_name = ChannelRow {
            arn: "arn:other".into(),
            ..a.clone()
        };
        assert!(!c.create_channel(&same_name)?);
        assert_eq!(c.channel("arn:a")?, Some(a.clone()));
        assert!(c.update_channel("arn:a", "{\"x\":1}")?);
        assert!(!c.update_channel("arn:none", "{}")?);
        assert_eq!(c.channels()?.len(), 1);
        assert_eq!(c.channels()?[0].body, "{\"x\":1}");
        assert!(c.delete_channel("arn:a")?);
        assert!(!c.delete_channel("arn:a")?);
        assert_eq!(c.channel("arn:a")?, None);
        Ok(())
    }
}
