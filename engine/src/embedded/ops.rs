//! The Kinesis operations of the embedded engine.

use super::token::{Kind, Token};
use super::validate;
use super::{Engine, ShardSet, Stream, StreamMeta, shard_id, stream_arn, telemetry};
use crate::api::*;
use crate::store::{AppendRecord, NO_SPACE_MESSAGE, ShardRow, StoreError, StreamLog, StreamRow};
use async_trait::async_trait;
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Largest record payload of a stream whose maximum record size was not raised (1 MiB).
pub(crate) const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Largest PutRecords request: data and partition keys (5 MiB).
pub(crate) const MAX_PUT_RECORDS_BYTES: usize = 5 * 1024 * 1024;
/// Largest GetRecords response: data and partition keys (10 MiB).
pub(crate) const MAX_GET_RECORDS_BYTES: usize = 10 * 1024 * 1024;
/// Shortest and longest retention, in hours.
pub(crate) const MIN_RETENTION_HOURS: i32 = 24;
pub(crate) const MAX_RETENTION_HOURS: i32 = 8760;
/// Most tags a stream can carry.
pub(crate) const MAX_TAGS: usize = 50;
/// Most entries of a request's tag map (the API model's TagMap limit; the stream's limit of
/// [`MAX_TAGS`] is checked separately, as an InvalidArgumentException).
pub(crate) const MAX_TAG_MAP_ENTRIES: usize = 200;

pub(super) const TAG_CHARS_MESSAGE: &str = "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @.";

impl Engine {
    pub(super) fn account(&self) -> &str {
        &self.inner.config.account_id
    }

    pub(super) fn now(&self) -> i64 {
        self.inner.config.clock.now_ms()
    }

    pub(super) fn not_found(&self, name: &str) -> Error {
        Error::ResourceNotFound(format!(
            "Stream {name} under account {} not found.",
            self.account()
        ))
    }

    /// Validates the StreamName / StreamARN pair of a request.
    pub(super) fn check_target(v: &mut ValidationErrors, name: Option<&str>, arn: Option<&str>) {
        match (name, arn) {
            (None, None) => v.null("streamName"),
            (n, a) => {
                if let Some(n) = n {
                    validate::name(v, "streamName", n);
                }
                if let Some(a) = a {
                    validate::stream_arn(v, "streamARN", a);
                }
            }
        }
    }

    /// Finds the stream a request names by StreamName or StreamARN.
    pub(super) fn stream(
        &self,
        name: Option<&str>,
        arn: Option<&str>,
    ) -> Result<Arc<Stream>, Error> {
        let by_arn = match arn {
            Some(a) => {
                let (region, account, n) = validate::parse_stream_arn(a).ok_or_else(|| {
                    Error::InvalidArgument(format!("StreamARN {a} is not a valid stream ARN."))
                })?;
                if region != self.inner.config.region || account != self.account() {
                    return Err(Error::ResourceNotFound(format!(
                        "Stream {n} under account {account} not found."
                    )));
                }
                Some(n)
            }
            None => None,
        };
        let target = match (name, by_arn) {
            (Some(n), Some(a)) if n != a => {
                return Err(Error::InvalidArgument(format!(
                    "StreamName {n} and StreamARN {} refer to different streams.",
                    arn.unwrap_or_default()
                )));
            }
            (Some(n), _) => n,
            (None, Some(a)) => a,
            (None, None) => {
                return Err(Error::Validation(
                    "1 validation error detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null".into(),
                ));
            }
        };
        self.inner
            .streams
            .read()
            .by_name
            .get(target)
            .cloned()
            .ok_or_else(|| self.not_found(target))
    }

    pub(super) fn open_shard_count(&self) -> u64 {
        self.inner
            .streams
            .read()
            .by_name
            .values()
            .map(|s| s.shards.read().open.len() as u64)
            .sum()
    }

    /// The largest record the stream a request names accepts, in bytes: its maximum record
    /// size (see UpdateMaxRecordSize), or 1 MiB when the stream is not found (the lookup's
    /// own error then comes after the validation errors).
    fn record_limit(&self, name: Option<&str>, arn: Option<&str>) -> usize {
        self.stream(name, arn).map_or(MAX_RECORD_BYTES, |s| {
            s.meta.read().max_record_kib as usize * 1024
        })
    }

    fn describe_shard(stream: &Stream, s: &ShardRow) -> Shard {
        let seq = |position| {
            SequenceNumber {
                generation: s.generation,
                position,
                shard_index: s.shard_index,
                stream_epoch: stream.epoch,
            }
            .to_string()
        };
        Shard {
            shard_id: shard_id(s.shard_index),
            parent_shard_id: s.parent.map(shard_id),
            adjacent_parent_shard_id: s.adjacent_parent.map(shard_id),
            hash_key_range: types::HashKeyRange {
                starting_hash_key: s.start_hash.to_string(),
                ending_hash_key: s.end_hash.to_string(),
            },
            sequence_number_range: SequenceNumberRange {
                // Position field 0 is the shard's start, below its first record's number, as
                // AWS's StartingSequenceNumber is; a closed shard ends at its last record (field
                // = ending position), or at its start when it never held one.
                starting_sequence_number: seq(0),
                ending_sequence_number: s.ending_position.map(seq),
            },
        }
    }

    /// Shards not yet expired: open ones, and closed ones still within retention.
    fn live_shards(&self, stream: &Stream) -> Vec<ShardRow> {
        let retention_ms = i64::from(stream.meta.read().retention_hours) * 3_600_000;
        let cutoff = self.now() - retention_ms;
        stream
            .shards
            .read()
            .all
            .iter()
            .filter(|s| s.closed_ms.is_none_or(|c| c >= cutoff))
            .cloned()
            .collect()
    }

    /// [`Self::stream`] for sibling modules.
    pub(crate) fn stream_pub(
        &self,
        name: Option<&str>,
        arn: Option<&str>,
    ) -> Result<Arc<Stream>, Error> {
        self.stream(name, arn)
    }

    /// [`Self::parse_shard_id`] for sibling modules.
    pub(crate) fn parse_shard_id_pub(id: &str) -> Option<u64> {
        Self::parse_shard_id(id)
    }

    /// Parses a shard id as AWS does: the digits after the first `-` (or the whole string).
    fn parse_shard_id(id: &str) -> Option<u64> {
        let digits = id.split_once('-').map_or(id, |(_, d)| d);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<u64>().ok().filter(|&i| i <= i32::MAX as u64)
    }

    fn iterator(&self, stream: &Stream, shard: u64, position: u64) -> String {
        Token {
            kind: Kind::Iterator,
            issued_ms: self.now(),
            epoch: stream.epoch,
            a: shard,
            b: position,
            name: stream.name.clone(),
        }
        .encode(&self.inner.key)
    }

    pub(super) fn validate_tags(
        &self,
        stream: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        for (k, v) in tags {
            if !validate::tag_chars_ok(k) || !validate::tag_chars_ok(v) {
                let _ = stream;
                return Err(Error::InvalidArgument(TAG_CHARS_MESSAGE.into()));
            }
        }
        Ok(())
    }

    pub(super) fn check_tag_map(
        v: &mut ValidationErrors,
        tags: &std::collections::HashMap<String, String>,
    ) {
        if tags.is_empty() {
            v.constraint(
                "{}",
                "tags",
                "Member must have length greater than or equal to 1",
            );
        }
        if tags.len() > MAX_TAG_MAP_ENTRIES {
            v.hidden(
                "tags",
                &format!("Member must have length less than or equal to {MAX_TAG_MAP_ENTRIES}"),
            );
        }
        if tags.keys().any(|k| k.is_empty() || k.chars().count() > 128) {
            v.hidden("tags", "Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]");
        }
        if tags.values().any(|x| x.chars().count() > 256) {
            v.hidden("tags", "Map value must satisfy constraint: [Member must have length less than or equal to 256, Member must have length greater than or equal to 0]");
        }
    }

    async fn change_retention(
        &self,
        input: RetentionPeriodInput,
        increase: bool,
    ) -> Result<(), Error> {
        let mut v = ValidationErrors::new();
        Self::check_target(
            &mut v,
            input.stream_name.as_deref(),
            input.stream_arn.as_deref(),
        );
        validate::range(
            &mut v,
            "retentionPeriodHours",
            Some(input.retention_period_hours),
            1,
            i32::MAX,
        );
        v.finish()?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        let hours = input.retention_period_hours;
        if hours < MIN_RETENTION_HOURS {
            return Err(Error::InvalidArgument(format!(
                "Minimum allowed retention period is {MIN_RETENTION_HOURS} hours. Requested retention period ({hours} hours) is too short."
            )));
        }
        if hours > MAX_RETENTION_HOURS {
            return Err(Error::InvalidArgument(format!(
                "Maximum allowed retention period is {MAX_RETENTION_HOURS} hours. Requested retention period ({hours} hours) is too long."
            )));
        }
        let hours = hours as u32;
        {
            let meta = stream.meta.read();
            Self::require_writable(self, &stream, &meta)?;
            let cur = meta.retention_hours;
            if increase && hours < cur {
                return Err(Error::InvalidArgument(format!(
                    "Requested retention period ({hours} hours) for stream {} can not be shorter than existing retention period ({cur} hours). Use DecreaseRetentionPeriod API.",
                    stream.name
                )));
            }
            if !increase && hours > cur {
                return Err(Error::InvalidArgument(format!(
                    "Requested retention period ({hours} hours) for stream {} can not be longer than existing retention period ({cur} hours). Use IncreaseRetentionPeriod API.",
                    stream.name
                )));
            }
        }
        let s = Arc::clone(&stream);
        self.catalog(move |catalog| {
            catalog
                .set_retention(s.epoch, hours)
                .map_err(StoreError::from)?;
            s.meta.write().retention_hours = hours;
            Ok(())
        })
        .await?;
        if !increase {
            let cutoff = self.now() - i64::from(hours) * 3_600_000;
            stream.log.enforce_retention(cutoff).await?;
        }
        Ok(())
    }

    pub(super) fn require_writable(&self, stream: &Stream, meta: &StreamMeta) -> Result<(), Error> {
        match meta.status {
            StreamStatus::Active | StreamStatus::Updating => Ok(()),
            other => Err(Error::ResourceInUse(format!(
                "Stream {} under account {} not ACTIVE, instead in state {other}",
                stream.name,
                self.account()
            ))),
        }
    }

    /// Validates PutRecords/PutRecord entries and routes them to shards.
    fn route_records(
        &self,
        stream: &Stream,
        shards: &ShardSet,
        entries: Vec<(String, bytes::Bytes, Option<String>)>,
    ) -> Result<Vec<AppendRecord>, Error> {
        let mut out = Vec::with_capacity(entries.len());
        let auto = stream.meta.read().distribution == RecordDistributionStrategy::Auto;
        for (partition_key, data, ehk) in entries {
            if auto {
                let shard = super::distribution::next_auto_shard(stream, shards)?;
                out.push(AppendRecord {
                    shard: u32::try_from(shard).unwrap_or(u32::MAX),
                    partition_key,
                    data,
                    flags: 0,
                });
                continue;
            }
            let hash = match ehk {
                Some(e) => match e.parse::<HashKey>() {
                    Ok(h) => h,
                    Err(_) => {
                        return Err(Error::InvalidArgument(format!(
                            "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {e}"
                        )));
                    }
                },
                None => HashKey::from_partition_key(&partition_key),
            };
            let shard = shards.route(hash.0).ok_or_else(|| Error::Internal {
                message: format!(
                    "no open shard of stream {} owns hash key {hash}",
                    stream.name
                ),
                source: None,
            })?;
            out.push(AppendRecord {
                shard: u32::try_from(shard).unwrap_or(u32::MAX),
                partition_key,
                data,
                flags: 0,
            });
        }
        Ok(out)
    }

    fn sequence_number(stream: &Stream, shards: &ShardSet, shard: u64, position: u64) -> String {
        let generation = shards.all.get(shard as usize).map_or(0, |s| s.generation);
        SequenceNumber::of_record(generation, position, shard, stream.epoch).to_string()
    }

    /// Encrypts records in place when the stream's encryption is on.
    fn encrypt(&self, stream: &Stream, records: &mut [AppendRecord]) -> Result<(), Error> {
        let (kind, key) = {
            let m = stream.meta.read();
            (m.encryption, m.key_id.clone())
        };
        if kind != EncryptionType::Kms {
            return Ok(());
        }
        let key = key.unwrap_or_default();
        for r in records {
            r.data = self
                .inner
                .config
                .kms_keys
                .seal(&key, &r.partition_key, &r.data)?;
            r.flags |= super::crypto::FLAG_ENCRYPTED;
        }
        Ok(())
    }

    async fn set_encryption(&self, input: StreamEncryptionInput, start: bool) -> Result<()> {
        self.check_open()?;
        let mut v = ValidationErrors::new();
        Self::check_target(
            &mut v,
            input.stream_name.as_deref(),
            input.stream_arn.as_deref(),
        );
        if input.encryption_type.is_none() {
            v.null("encryptionType");
        }
        validate::length(&mut v, "keyId", &input.key_id, 1, 2048);
        v.finish()?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        let kind = input.encryption_type.unwrap_or(EncryptionType::None);
        if kind != EncryptionType::Kms {
            return Err(Error::InvalidArgument(format!(
                "EncryptionType {kind} is not supported: use KMS."
            )));
        }
        {
            let meta = stream.meta.read();
            if meta.status != StreamStatus::Active {
                return Err(Error::ResourceInUse(format!(
                    "Stream {} under account {} not ACTIVE, instead in state {}",
                    stream.name,
                    self.account(),
                    meta.status
                )));
            }
        }
        if start && !self.inner.config.kms_keys.contains(&input.key_id) {
            return Err(Error::KmsNotFound(format!(
                "KMS key {} is not available to this engine (give it in the key file, rill serve --kms-keys FILE).",
                input.key_id
            )));
        }
        // Hold puts back while the setting changes, so each put is wholly before or after.
        // The guard moves into the blocking task, which releases it once the catalog and
        // the metadata both say the new setting (even if this call is cancelled).
        let gate = Arc::clone(&stream.gate).write_owned().await;
        let (kind, key) = if start {
            (EncryptionType::Kms, Some(input.key_id.clone()))
        } else {
            (EncryptionType::None, None)
        };
        let s = Arc::clone(&stream);
        self.catalog(move |catalog| {
            catalog
                .set_encryption(s.epoch, kind.as_str(), key.as_deref())
                .map_err(StoreError::from)?;
            let mut m = s.meta.write();
            m.encryption = kind;
            m.key_id = key;
            drop(gate);
            Ok(())
        })
        .await?;
        tracing::info!(stream = %stream.name, encryption = %kind, "stream encryption changed");
        Ok(())
    }

    /// Removes a DELETING stream: from the registry, its log and directory, its catalog rows.
    async fn finish_delete(&self, stream: Arc<Stream>) -> Result<(), Error> {
        {
            let mut reg = self.inner.streams.write();
            reg.by_name.remove(&stream.name);
            reg.by_epoch.remove(&stream.epoch);
        }
        let dir = self
            .inner
            .root
            .join("streams")
            .join(stream.epoch.to_string());
        // Log, directory and catalog rows go in one blocking task, which completes even if
        // this call is cancelled.
        let (s, inner) = (Arc::clone(&stream), Arc::clone(&self.inner));
        super::blocking::blocking(move || -> Result<(), Error> {
            s.log.close();
            super::remove_dir(&dir)?;
            inner
                .catalog
                .lock()
                .delete_stream(s.epoch)
                .map_err(StoreError::from)?;
            Ok(())
        })
        .await?;
        tracing::info!(stream = %stream.name, "stream deleted");
        Ok(())
    }

    /// Turns stored records of a shard into API records: sequence numbers, arrival times,
    /// and the data decrypted when it was stored encrypted.
    pub(crate) fn to_records(
        &self,
        stream: &Stream,
        generation: u32,
        shard: u64,
        stored: Vec<crate::store::StoredRecord>,
    ) -> Result<Vec<Record>, Error> {
        let keys = &self.inner.config.kms_keys;
        stored
            .into_iter()
            .map(|r| {
                let encrypted = r.flags & super::crypto::FLAG_ENCRYPTED != 0;
                let data = if encrypted {
                    keys.open(&r.partition_key, &r.data)?
                } else {
                    r.data
                };
                Ok(Record {
                    sequence_number: SequenceNumber::of_record(
                        generation,
                        r.position,
                        shard,
                        stream.epoch,
                    )
                    .to_string(),
                    approximate_arrival_timestamp: Some(Timestamp(r.arrival_ms)),
                    data,
                    partition_key: r.partition_key,
                    encryption_type: Some(if encrypted {
                        EncryptionType::Kms
                    } else {
                        EncryptionType::None
                    }),
                })
            })
            .collect()
    }

    /// AWS's throttling message for a shard.
    pub(crate) fn rate_exceeded(&self, stream: &Stream, shard: u64) -> String {
        format!(
            "Rate exceeded for shard {} in stream {} under account {}.",
            shard_id(shard),
            stream.name,
            self.account()
        )
    }

    /// Awaits an append submitted to a stream's log.
    async fn committed(
        rx: tokio::sync::oneshot::Receiver<Result<crate::store::AppendResult, StoreError>>,
    ) -> Result<crate::store::AppendResult, Error> {
        match rx.await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(StoreError::Closed)) | Err(_) => Err(Error::ResourceNotFound(
                "The stream was deleted while the write was in progress.".into(),
            )),
            Ok(Err(e)) => Err(e.into()),
        }
    }
}

#[async_trait]
impl Kinesis for Engine {
    async fn create_stream(&self, input: CreateStreamInput) -> Result<()> {
        self.check_open()?;
        let mode = input
            .stream_mode_details
            .map_or(StreamMode::Provisioned, |m| m.stream_mode);
        let mut v = ValidationErrors::new();
        if mode == StreamMode::Provisioned && input.shard_count.is_none() {
            v.null("shardCount");
        }
        validate::range(&mut v, "shardCount", input.shard_count, 1, i32::MAX);
        validate::name(&mut v, "streamName", &input.stream_name);
        if let Some(tags) = &input.tags {
            Self::check_tag_map(&mut v, tags);
        }
        v.finish()?;
        let tags: BTreeMap<String, String> = input.tags.unwrap_or_default().into_iter().collect();
        self.validate_tags(&input.stream_name, &tags)?;
        if tags.len() > MAX_TAGS {
            return Err(Error::InvalidArgument(format!(
                "Failed to create stream {} under account {} because a given stream cannot have more than {MAX_TAGS} tags associated with it.",
                input.stream_name,
                self.account()
            )));
        }
        let count = match mode {
            StreamMode::Provisioned => input.shard_count.unwrap_or(1).max(1) as u32,
            StreamMode::OnDemand => self.inner.config.on_demand_shards,
        };
        let name = input.stream_name;
        let create_delay = self.inner.config.create_delay;
        // One creation at a time, so the limit check and the insert see the same state: the
        // checks, the catalog row, the log and the registry entry are made together under the
        // catalog lock, on a blocking thread (see `blocking`).
        let engine = self.clone();
        let created = name.clone();
        let epoch = self
            .catalog(move |catalog| {
                let name = created;
            if engine.inner.streams.read().by_name.contains_key(&name) {
                return Err(Error::ResourceInUse(format!(
                    "Stream {name} under account {} already exists.",
                    engine.account()
                )));
            }
            if mode == StreamMode::OnDemand
                && engine.on_demand_stream_count() >= engine.inner.config.on_demand_stream_limit as usize
            {
                return Err(engine.on_demand_limit_error());
            }
            let open = engine.open_shard_count();
            let limit = u64::from(engine.inner.config.shard_limit);
            if open + u64::from(count) > limit {
                return Err(Error::LimitExceeded(format!(
                    "This request would exceed the shard limit for the account {} in {}. Current shard count for the account: {open}. Limit: {limit}. Number of additional shards that would have resulted from this request: {count}. Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how to request higher limits.",
                    engine.account(),
                    engine.inner.config.region
                )));
            }
            let now = engine.now();
                    let initial_status = if create_delay.is_zero() {
                StreamStatus::Active
            } else {
                StreamStatus::Creating
            };
            let epoch = catalog
                .unique_epoch(u64::try_from(now).unwrap_or(0))
                .map_err(StoreError::from)?;
            if epoch > seq::MAX_STREAM_EPOCH {
                return Err(Error::Internal {
                    message: "clock is beyond the year 2286".into(),
                    source: None,
                });
            }
            let shards: Vec<ShardRow> = crate::api::HashKeyRange::split_evenly(count)
                .into_iter()
                .enumerate()
                .map(|(i, r)| ShardRow {
                    shard_index: i as u64,
                    parent: None,
                    adjacent_parent: None,
                    start_hash: r.start.0,
                    end_hash: r.end.0,
                    generation: 0,
                    created_ms: now,
                    closed_ms: None,
                    ending_position: None,
                })
                .collect();
            let row = StreamRow {
                name: name.clone(),
                epoch,
                status: initial_status.as_str().into(),
                mode: mode.as_str().into(),
                retention_hours: 24,
                generation: 0,
                next_shard_index: u64::from(count),
                encryption_type: EncryptionType::None.as_str().into(),
                key_id: None,
                shard_metrics: 0,
                max_record_kib: MAX_RECORD_BYTES as u32 / 1024,
                warm_mibps: None,
                distribution: RecordDistributionStrategy::UserPartitionKey.as_str().into(),
            };
            let tag_rows: Vec<(String, String)> =
                tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            catalog
                .create_stream(&row, &shards, &tag_rows)
                .map_err(StoreError::from)?;
            let dir = engine.inner.root.join("streams").join(epoch.to_string());
            let clock = Arc::clone(&engine.inner.config.clock);
            let log = match StreamLog::open(
                &dir,
                crate::store::LogConfig {
                    fsync: engine.inner.config.fsync,
                    segment_bytes: engine.inner.config.segment_bytes,
                },
                Arc::new(move || clock.now_ms()),
            ) {
                Ok(log) => log,
                Err(e) => {
                    let _ = catalog.delete_stream(epoch);
                    return Err(e.into());
                }
            };
            let stream = Arc::new(Stream {
                arn: stream_arn(&engine.inner.config, &name),
                name: name.clone(),
                epoch,
                meta: RwLock::new(StreamMeta {
                    status: initial_status,
                    mode,
                    retention_hours: 24,
                    encryption: EncryptionType::None,
                    key_id: None,
                    tags,
                    shard_metrics: 0,
                    max_record_kib: MAX_RECORD_BYTES as u32 / 1024,
                    warm_mibps: None,
                    distribution: RecordDistributionStrategy::UserPartitionKey,
                    generation: 0,
                    next_shard_index: u64::from(count),
                }),
                shards: RwLock::new(Arc::new(ShardSet::new(shards))),
                log,
                gate: Default::default(),
                limiter: super::limits::Limiter::new(engine.inner.config.limits),
                writes: Default::default(),
                heat: Default::default(),
                auto_cursor: Default::default(),
                consumers: Default::default(),
            });
            let mut reg = engine.inner.streams.write();
            reg.by_epoch.insert(epoch, Arc::clone(&stream));
            reg.by_name.insert(name.clone(), stream);
            telemetry::stream_created(&name);
            tracing::info!(stream = %name, shards = count, "stream created");
            drop(reg);
                Ok(epoch)
            })
            .await?;
        if !create_delay.is_zero() {
            // CREATING for `create_delay`, then ACTIVE.
            let engine = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(create_delay).await;
                let stream = engine.inner.streams.read().by_name.get(&name).cloned();
                let creating = stream
                    .filter(|s| s.epoch == epoch && s.meta.read().status == StreamStatus::Creating);
                if let Some(stream) = creating
                    && let Err(e) = engine.set_status_pub(&stream, StreamStatus::Active).await
                {
                    tracing::error!(stream = %name, error = %e, "could not mark stream ACTIVE");
                }
            });
        }
        Ok(())
    }

    async fn delete_stream(&self, input: DeleteStreamInput) -> Result<()> {
        self.check_open()?;
        let mut v = ValidationErrors::new();
        Self::check_target(
            &mut v,
            input.stream_name.as_deref(),
            input.stream_arn.as_deref(),
        );
        v.finish()?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        let (engine, s) = (self.clone(), Arc::clone(&stream));
        let enforce = input.enforce_consumer_deletion.unwrap_or(false);
        self.catalog(move |catalog| {
            if s.meta.read().status == StreamStatus::Deleting {
                return Err(engine.not_found(&s.name));
            }
            if !enforce && !s.consumers.lock().is_empty() {
                return Err(Error::ResourceInUse(format!(
                    "Stream {} under account {} has registered consumers; deregister them or set EnforceConsumerDeletion.",
                    s.name,
                    engine.account()
                )));
            }
            for c in s.consumers.lock().values() {
                c.gone.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            catalog
                .set_status(s.epoch, StreamStatus::Deleting.as_str())
                .map_err(StoreError::from)?;
            s.meta.write().status = StreamStatus::Deleting;
            Ok(())
        })
        .await?;
        let delay = self.inner.config.delete_delay;
        if delay.is_zero() {
            return self.finish_delete(stream).await;
        }
        // DELETING stays visible for `delete_delay`, then the stream goes.
        let engine = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let name = stream.name.clone();
            if let Err(e) = engine.finish_delete(stream).await {
                tracing::error!(stream = %name, error = %e, "delayed delete failed");
            }
        });
        Ok(())
    }

    async fn describe_stream(&self, input: DescribeStreamInput) -> Result<DescribeStreamOutput> {
        self.check_open()?;
        let mut v = ValidationErrors::new();
        Self::check_target(
            &mut v,
            input.stream_name.as_deref(),
            input.stream_arn.as_deref(),
        );
        validate::range(&mut v, "limit", input.limit, 1, 10000);
        if let Some(s) = &input.exclusive_start_shard_id {
            validate::name(&mut v, "exclusiveStartShardId", s);
        }
        v.finish()?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        let limit = input.limit.unwrap_or(100).clamp(1, 100) as usize;
        let after = input
            .exclusive_start_shard_id
            .as_deref()
            .and_then(Self::parse_shard_id);
        let live: Vec<ShardRow> = self
            .live_shards(&stream)
            .into_iter()
            .filter(|s| after.is_none_or(|a| s.shard_index > a))
            .collect();
        // A CREATING stream shows no shards yet, as AWS's does.
        let live = if stream.meta.read().status == StreamStatus::Creating {
            Vec::new()
        } else {
            live
        };
        let has_more = live.len() > limit;
        let shards = live
            .iter()
            .take(limit)
            .map(|s| Self::describe_shard(&stream, s))
            .collect();
        let meta = stream.meta.read().clone();
        Ok(DescribeStreamOutput {
            stream_description: StreamDescription {
                stream_name: stream.name.clone(),
                stream_arn: stream.arn.clone(),
                stream_status: Some(meta.status),
                stream_mode_details: Some(StreamModeDetails {
                    stream_mode: meta.mode,
                }),
                shards,
                has_more_shards: has_more,
                retention_period_hours: meta.retention_hours as i32,
                stream_creation_timestamp: Timestamp(stream.epoch as i64),
                enhanced_monitoring: vec![EnhancedMetrics {
                    shard_level_metrics: super::admin::metric_names(meta.shard_metrics),
                }],
                encryption_type: Some(meta.encryption),
                key_id: meta.key_id,
            },
        })
    }

    async fn describe_stream_summary(
        &self,
        input: DescribeStreamSummaryInput,
    ) -> Result<DescribeStreamSummaryOutput> {
        self.check_open()?;
        let mut v = ValidationErrors::new();
        Self::check_target(
            &mut v,
            input.stream_name.as_deref(),
            input.stream_arn.as_deref(),
        );
        v.finish()?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        let meta = stream.meta.read().clone();
        let open = stream.shards.read().open.len() as i32;
        Ok(DescribeStreamSummaryOutput {
            stream_description_summary: StreamDescriptionSummary {
                stream_name: stream.name.clone(),
                stream_arn: stream.arn.clone(),
                stream_status: Some(meta.status),
                stream_mode_details: Some(StreamModeDetails {
                    stream_mode: meta.mode,
                }),
                retention_period_hours: meta.retention_hours as i32,
                stream_creation_timestamp: Timestamp(stream.epoch as i64),
                enhanced_monitoring: vec![EnhancedMetrics {
                    shard_level_metrics: super::admin::metric_names(meta.shard_metrics),
                }],
                encryption_type: Some(meta.encryption),
                key_id: meta.key_id,
                open_shard_count: open,
                consumer_count: Some(stream.consumers.lock().len() as i32),
                warm_throughput: self.warm_throughput(&stream),
                max_record_size_in_kib: Some(meta.max_record_kib as i32),
                record_distribution_strategy: Some(meta.distribution),
            },
        })
    }

    async fn list_streams(&self, input: ListStreamsInput) -> Result<ListStreamsOutput> {
        self.check_open()?;
        let mut v = ValidationErrors::new();
        validate::range(&mut v, "limit", input.limit, 1, 10000);
        if let Some(s) = &input.exclusive_start_stream_name {
            validate::name(&mut v, "exclusiveStartStreamName", s);
        }
        if let Some(t) = &input.next_token {
            validate::length(&mut v, "nextToken", t, 1, 1_048_576);
        }
        v.finish()?;
        let limit = input.limit.unwrap_or(100).clamp(1, 100) as usize;
        let after: Option<String> = match &input.next_token {
            Some(t) => {
                let tok = Token::decode(t, &self.inner.key, Kind::ListStreams)
                    .ok_or_else(|| Error::InvalidArgument("Invalid NextToken.".into()))?;
                self.check_token_age(tok.issued_ms)?;
                Some(tok.name)
            }
            None => input.exclusive_start_stream_name.clone(),
        };
        let reg = self.inner.streams.read();
        let mut page: Vec<Arc<Stream>> = Vec::with_capacity(limit);
        let mut more = false;
        for (name, s) in &reg.by_name {
            if after.as_ref().is_some_and(|a| name <= a) {
                continue;
            }
            if page.len() == limit {
                more = true;
                break;
            }
            page.push(Arc::clone(s));
        }
        drop(reg);
        let next_token = match (more, page.last()) {
            (true, Some(last)) => Some(
                Token {
                    kind: Kind::ListStreams,
                    issued_ms: self.now(),
                    epoch: 0,
                    a: 0,
                    b: 0,
                    name: last.name.clone(),
                }
                .encode(&self.inner.key),
            ),
            _ => None,
        };
        let stream_summaries = page
            .iter()
            .map(|s| {
                let meta = s.meta.read();
                StreamSummary {
                    stream_name: s.name.clone(),
                    stream_arn: s.arn.clone(),
                    stream_status: Some(meta.status),
                    stream_mode_details: Some(StreamModeDetails {
                        stream_mode: meta.mode,
                    }),
                    stream_creation_timestamp: Some(Timestamp(s.epoch as i64)),
                }
            })
            .collect();
        Ok(ListStreamsOutput {
            stream_names: page.iter().map(|s| s.name.clone()).collect(),
            has_more_streams: more,
            next_token,
            stream_summaries,
        })
    }

    async fn list_shards(&self, input: ListShardsInput) -> Result<ListShardsOutput> {
        self.check_open()?;
        let mut v = ValidationErrors::new();
        validate::range(&mut v, "maxResults", input.max_results, 1, 10000);
        if let Some(s) = &input.exclusive_start_shard_id {
            validate::name(&mut v, "exclusiveStartShardId", s);
        }
        if let Some(s) = &input.stream_name {
            validate::name(&mut v, "streamName", s);
        }
        if let Some(a) = &input.stream_arn {
            validate::stream_arn(&mut v, "streamARN", a);
        }
        if let Some(t) = &input.next_token {
            validate::length(&mut v, "nextToken", t, 1, 1_048_576);
        }
        v.finish()?;
        let limit = input.max_results.unwrap_or(1000).clamp(1, 1000) as usize;
        let (stream, after, filter) = if let Some(t) = &input.next_token {
            for (given, what) in [
                (input.stream_name.is_some(), "StreamName"),
                (input.stream_arn.is_some(), "StreamARN"),
                (
                    input.exclusive_start_shard_id.is_some(),
                    "ExclusiveStartShardId",
                ),
                (input.shard_filter.is_some(), "ShardFilter"),
                (
                    input.stream_creation_timestamp.is_some(),
                    "StreamCreationTimestamp",
                ),
            ] {
                if given {
                    return Err(Error::InvalidArgument(format!(
                        "NextToken and {what} cannot be provided together."
                    )));
                }
            }
            let tok = Token::decode(t, &self.inner.key, Kind::ListShards)
                .ok_or_else(|| Error::InvalidArgument("Invalid NextToken.".into()))?;
            self.check_token_age(tok.issued_ms)?;
            let stream = self
                .inner
                .streams
                .read()
                .by_epoch
                .get(&tok.epoch)
                .cloned()
                .ok_or_else(|| self.not_found(&tok.name))?;
            // The filter of the first page is carried in `b`: type + 1 (0 = none).
            (stream, Some(tok.a), tok.b)
        } else {
            if input.stream_name.is_none() && input.stream_arn.is_none() {
                return Err(Error::InvalidArgument(
                    "Either NextToken or StreamName should be provided.".into(),
                ));
            }
            let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
            if let Some(ts) = input.stream_creation_timestamp
                && ts.as_millis() != stream.epoch as i64
            {
                return Err(self.not_found(&stream.name));
            }
            let mut after = input
                .exclusive_start_shard_id
                .as_deref()
                .and_then(Self::parse_shard_id);
            let mut code = 0u64;
            if let Some(f) = &input.shard_filter {
                match f.filter_type {
                    ShardFilterType::AfterShardId => {
                        let id = f.shard_id.as_deref().ok_or_else(|| {
                            Error::InvalidArgument(
                                "ShardId must be specified for ShardFilter of type AFTER_SHARD_ID."
                                    .into(),
                            )
                        })?;
                        after = Self::parse_shard_id(id).or(after);
                    }
                    ShardFilterType::AtTimestamp | ShardFilterType::FromTimestamp
                        if f.timestamp.is_none() =>
                    {
                        return Err(Error::InvalidArgument(format!(
                            "Timestamp must be specified for ShardFilter of type {}.",
                            f.filter_type
                        )));
                    }
                    _ => {}
                }
                code = filter_code(f);
            }
            (stream, after, code)
        };
        let live = self.live_shards(&stream);
        let all = stream.shards.read().all.clone();
        let keep = |s: &ShardRow| -> bool { shard_matches(filter, s, &all, &live) };
        let mut page = Vec::with_capacity(limit.min(live.len()));
        let mut more = false;
        for s in live
            .iter()
            .filter(|s| after.is_none_or(|a| s.shard_index > a))
            .filter(|s| keep(s))
        {
            if page.len() == limit {
                more = true;
                break;
            }
            page.push(s.clone());
        }
        let next_token = match (more, page.last()) {
            (true, Some(last)) => Some(
                Token {
                    kind: Kind::ListShards,
                    issued_ms: self.now(),
                    epoch: stream.epoch,
                    a: last.shard_index,
                    b: filter,
                    name: stream.name.clone(),
                }
                .encode(&self.inner.key),
            ),
            _ => None,
        };
        Ok(ListShardsOutput {
            shards: page
                .iter()
                .map(|s| Self::describe_shard(&stream, s))
                .collect(),
            next_token,
        })
    }

    async fn put_record(&self, input: PutRecordInput) -> Result<PutRecordOutput> {
        self.check_open()?;
        let mut v = ValidationErrors::new();
        Self::check_target(
            &mut v,
            input.stream_name.as_deref(),
            input.stream_arn.as_deref(),
        );
        validate::length(&mut v, "partitionKey", &input.partition_key, 1, 256);
        if input.data.len() > MAX_RECORD_BYTES {
            let max = self.record_limit(input.stream_name.as_deref(), input.stream_arn.as_deref());
            if input.data.len() > max {
                v.constraint(
                    format_args!(
                        "java.nio.HeapByteBuffer[pos=0 lim={0} cap={0}]",
                        input.data.len()
                    ),
                    "data",
                    &format!("Member must have length less than or equal to {max}"),
                );
            }
        }
        if let Some(e) = &input.explicit_hash_key
            && !HashKey::matches_pattern(e)
        {
            v.constraint(
                e,
                "explicitHashKey",
                "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})",
            );
        }
        if let Some(s) = &input.sequence_number_for_ordering
            && !SequenceNumber::matches_pattern(s)
        {
            v.constraint(
                s,
                "sequenceNumberForOrdering",
                "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})",
            );
        }
        v.finish()?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        self.require_writable(&stream, &stream.meta.read())?;
        self.check_ordering(&stream, input.sequence_number_for_ordering.as_deref())?;
        if let Some(s) = &input.sequence_number_for_ordering
            && let Ok(parsed) = s.parse::<SequenceNumber>()
            && parsed.stream_epoch != stream.epoch
        {
            return Err(Error::InvalidArgument(format!(
                "ExclusiveMinimumSequenceNumber {s} used in PutRecord on stream {} under account {} is invalid.",
                stream.name,
                self.account()
            )));
        }
        // Route and submit under the shared gate, so a reshard sees every submitted record.
        let gate = stream.gate.read().await;
        let shards = Arc::clone(&stream.shards.read());
        let mut records = self.route_records(
            &stream,
            &shards,
            vec![(input.partition_key, input.data, input.explicit_hash_key)],
        )?;
        let shard = u64::from(records[0].shard);
        let size = records[0].data.len() + records[0].partition_key.len();
        self.encrypt(&stream, &mut records)?;
        if !stream.limiter.try_write(shard, size, self.now()) {
            telemetry::write_throttled(&stream.name, 1);
            return Err(Error::ProvisionedThroughputExceeded(
                self.rate_exceeded(&stream, shard),
            ));
        }
        let rx = stream.log.append(records);
        drop(gate);
        let result = Self::committed(rx).await?;
        telemetry::put(
            &stream.name,
            stream.meta.read().shard_metrics,
            false,
            &[(shard, size)],
            0,
        );
        stream.count_writes(&[(shard, size)]);
        let position = result.positions.first().copied().unwrap_or_default();
        Ok(PutRecordOutput {
            shard_id: shard_id(shard),
            sequence_number: Self::sequence_number(&stream, &shards, shard, position),
            encryption_type: Some(stream.meta.read().encryption),
        })
    }

    async fn put_records(&self, input: PutRecordsInput) -> Result<PutRecordsOutput> {
        self.check_open()?;
        let mut v = ValidationErrors::new();
        if input.records.is_empty() {
            v.constraint(
                "[]",
                "records",
                "Member must have length greater than or equal to 1",
            );
        }
        if input.records.len() > 500 {
            v.hidden(
                "records",
                "Member must have length less than or equal to 500",
            );
        }
        let mut total = 0usize;
        let max_record = if input
            .records
            .iter()
            .any(|r| r.data.len() > MAX_RECORD_BYTES)
        {
            self.record_limit(input.stream_name.as_deref(), input.stream_arn.as_deref())
        } else {
            MAX_RECORD_BYTES
        };
        for (i, r) in input.records.iter().enumerate() {
            let n = i + 1;
            if r.partition_key.is_empty() || r.partition_key.len() > 256 {
                validate::length(
                    &mut v,
                    &format!("records.{n}.member.partitionKey"),
                    &r.partition_key,
                    1,
                    256,
                );
            }
            if r.data.len() > max_record {
                v.constraint(
                    format_args!(
                        "java.nio.HeapByteBuffer[pos=0 lim={0} cap={0}]",
                        r.data.len()
                    ),
                    &format!("records.{n}.member.data"),
                    &format!("Member must have length less than or equal to {max_record}"),
                );
            }
            if let Some(e) = &r.explicit_hash_key
                && !HashKey::matches_pattern(e)
            {
                v.constraint(
                    e,
                    &format!("records.{n}.member.explicitHashKey"),
                    "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})",
                );
            }
            total += r.data.len() + r.partition_key.len();
        }
        Self::check_target(
            &mut v,
            input.stream_name.as_deref(),
            input.stream_arn.as_deref(),
        );
        v.finish()?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        if total > MAX_PUT_RECORDS_BYTES {
            return Err(Error::InvalidArgument(
                "Records size exceeds 5 MB limit".into(),
            ));
        }
        self.require_writable(&stream, &stream.meta.read())?;
        let encryption = Some(stream.meta.read().encryption);
        let n = input.records.len();
        let entries = input
            .records
            .into_iter()
            .map(|r| (r.partition_key, r.data, r.explicit_hash_key))
            .collect();
        // Route, apply the shard limits and submit under the shared gate.
        let gate = stream.gate.read().await;
        let shards = Arc::clone(&stream.shards.read());
        let routed = self.route_records(&stream, &shards, entries)?;
        let now = self.now();
        // Per entry: its shard, and whether the shard's write budget accepted it.
        let mut verdicts: Vec<(u64, bool)> = Vec::with_capacity(n);
        let mut records = Vec::with_capacity(n);
        let mut sizes: Vec<(u64, usize)> = Vec::with_capacity(n);
        for r in routed {
            let shard = u64::from(r.shard);
            let size = r.data.len() + r.partition_key.len();
            let ok = stream.limiter.try_write(shard, size, now);
            verdicts.push((shard, ok));
            if ok {
                sizes.push((shard, size));
                records.push(r);
            }
        }
        let throttled = n - records.len();
        if throttled > 0 {
            telemetry::write_throttled(&stream.name, throttled);
        }
        self.encrypt(&stream, &mut records)?;
        let rx = (!records.is_empty()).then(|| stream.log.append(records));
        drop(gate);
        let result = match rx {
            Some(rx) => Self::committed(rx).await,
            None => Ok(crate::store::AppendResult {
                positions: Vec::new(),
                arrival_ms: now,
            }),
        };
        match result {
            Ok(result) => {
                telemetry::put(
                    &stream.name,
                    stream.meta.read().shard_metrics,
                    true,
                    &sizes,
                    throttled,
                );
                stream.count_writes(&sizes);
                let mut ids: BTreeMap<u64, String> = BTreeMap::new();
                let mut positions = result.positions.iter();
                let records = verdicts
                    .iter()
                    .map(|&(shard, ok)| {
                        if ok {
                            let pos = positions.next().copied().unwrap_or_default();
                            PutRecordsResultEntry {
                                sequence_number: Some(Self::sequence_number(
                                    &stream, &shards, shard, pos,
                                )),
                                shard_id: Some(
                                    ids.entry(shard).or_insert_with(|| shard_id(shard)).clone(),
                                ),
                                error_code: None,
                                error_message: None,
                            }
                        } else {
                            PutRecordsResultEntry {
                                error_code: Some("ProvisionedThroughputExceededException".into()),
                                error_message: Some(self.rate_exceeded(&stream, shard)),
                                ..Default::default()
                            }
                        }
                    })
                    .collect();
                Ok(PutRecordsOutput {
                    failed_record_count: throttled as i32,
                    records,
                    encryption_type: encryption,
                })
            }
            Err(e @ Error::Internal { .. }) => {
                // Nothing of the request was stored: every entry fails, and says so.
                tracing::error!(error = %e, stream = %stream.name, "PutRecords failed");
                Ok(PutRecordsOutput {
                    failed_record_count: n as i32,
                    records: (0..n)
                        .map(|_| PutRecordsResultEntry {
                            error_code: Some("InternalFailure".into()),
                            // AWS's words, unless the disk is full: then say so.
                            error_message: Some(if e.message() == NO_SPACE_MESSAGE {
                                NO_SPACE_MESSAGE.into()
                            } else {
                                "Internal Service Failure".into()
                            }),
                            ..Default::default()
                        })
                        .collect(),
                    encryption_type: encryption,
                })
            }
            Err(e) => Err(e),
        }
    }

    async fn get_shard_iterator(
        &self,
        input: GetShardIteratorInput,
    ) -> Result<GetShardIteratorOutput> {
        self.check_open()?;
        let mut v = ValidationErrors::new();
        Self::check_target(
            &mut v,
            input.stream_name.as_deref(),
            input.stream_arn.as_deref(),
        );
        validate::name(&mut v, "shardId", &input.shard_id);
        if input.shard_iterator_type.is_none() {
            v.null("shardIteratorType");
        }
        if let Some(s) = &input.starting_sequence_number
            && !SequenceNumber::matches_pattern(s)
        {
            v.constraint(
                s,
                "startingSequenceNumber",
                "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})",
            );
        }
        v.finish()?;
        let account = self.account();
        // As AWS: the shard id is resolved first, and an unknown stream is reported as an
        // unknown shard of it.
        let given = input
            .stream_name
            .as_deref()
            .or_else(|| {
                let arn = input.stream_arn.as_deref()?;
                validate::parse_stream_arn(arn).map(|(_, _, name)| name)
            })
            .unwrap_or_default();
        let index = Self::parse_shard_id(&input.shard_id).ok_or_else(|| {
            Error::ResourceNotFound(format!(
                "Could not find shard {} in stream {given} under account {account}.",
                input.shard_id
            ))
        })?;
        let stream = self
            .stream(input.stream_name.as_deref(), input.stream_arn.as_deref())
            .map_err(|e| match e {
                Error::ResourceNotFound(_) => Error::ResourceNotFound(format!(
                    "Shard {} in stream {given} under account {account} does not exist",
                    shard_id(index)
                )),
                e => e,
            })?;
        let shards = Arc::clone(&stream.shards.read());
        let Some(shard) = shards.all.get(index as usize) else {
            return Err(Error::ResourceNotFound(format!(
                "Shard {} in stream {} under account {account} does not exist",
                shard_id(index),
                stream.name
            )));
        };
        let kind = input
            .shard_iterator_type
            .unwrap_or(ShardIteratorType::Latest);
        let must = "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber.";
        let state = stream.log.shard_state(index as u32);
        let end = shard.ending_position.unwrap_or(state.next_position);
        let position = match kind {
            ShardIteratorType::TrimHorizon | ShardIteratorType::Latest => {
                if input.starting_sequence_number.is_some() {
                    return Err(Error::InvalidArgument(format!(
                        "{must} Request specified {kind} and also a StartingSequenceNumber."
                    )));
                }
                if kind == ShardIteratorType::TrimHorizon {
                    state.trim_position
                } else {
                    end
                }
            }
            ShardIteratorType::AtSequenceNumber | ShardIteratorType::AfterSequenceNumber => {
                let Some(text) = &input.starting_sequence_number else {
                    return Err(Error::InvalidArgument(format!(
                        "{must} Request specified {kind} and no StartingSequenceNumber."
                    )));
                };
                let invalid = || {
                    Error::InvalidArgument(format!(
                        "StartingSequenceNumber {text} used in GetShardIterator on shard {} in stream {} under account {account} is invalid.",
                        shard_id(index),
                        stream.name
                    ))
                };
                let seq: SequenceNumber = text.parse().map_err(|_| invalid())?;
                if seq.shard_index != index {
                    return Err(Error::InvalidArgument(format!(
                        "Invalid StartingSequenceNumber. It encodes {}, while it was used in a call to a shard with {}",
                        shard_id(seq.shard_index),
                        shard_id(index)
                    )));
                }
                if seq.stream_epoch != stream.epoch || seq.generation != shard.generation {
                    return Err(Error::InvalidArgument(format!(
                        "StartingSequenceNumber {text} used in GetShardIterator on shard {} in stream {} under account {account} is invalid because it did not come from this stream.",
                        shard_id(index),
                        stream.name
                    )));
                }
                // Field f names record f - 1 (f = 0: the shard's start).
                let p = if kind == ShardIteratorType::AtSequenceNumber {
                    seq.position.saturating_sub(1)
                } else {
                    seq.position
                };
                if p > end {
                    return Err(invalid());
                }
                p
            }
            ShardIteratorType::AtTimestamp => {
                let Some(ts) = input.timestamp else {
                    return Err(Error::InvalidArgument(
                        "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.".into(),
                    ));
                };
                let now = self.now();
                if ts.as_millis() > now {
                    return Err(Error::InvalidArgument(format!(
                        "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: {}, currentTimestampInMillis: {now}",
                        ts.as_millis()
                    )));
                }
                super::blocking::position_at_time(&stream, index as u32, ts.as_millis())
                    .await?
                    .min(end)
            }
        };
        Ok(GetShardIteratorOutput {
            shard_iterator: Some(self.iterator(&stream, index, position)),
        })
    }

    async fn get_records(&self, input: GetRecordsInput) -> Result<GetRecordsOutput> {
        self.check_open()?;
        let mut v = ValidationErrors::new();
        validate::range(&mut v, "limit", input.limit, 1, 10000);
        validate::length(&mut v, "shardIterator", &input.shard_iterator, 1, 512);
        v.finish()?;
        let tok = Token::decode(&input.shard_iterator, &self.inner.key, Kind::Iterator)
            .ok_or_else(|| Error::InvalidArgument("Invalid ShardIterator.".into()))?;
        let now = self.now();
        let ttl = i64::try_from(self.inner.config.iterator_ttl.as_millis()).unwrap_or(i64::MAX);
        if now - tok.issued_ms > ttl {
            return Err(Error::ExpiredIterator(format!(
                "Iterator expired. The iterator was created at time {} while right now it is {} which is further in the future than the tolerated delay of {ttl} milliseconds.",
                crate::api::dates::java_date(tok.issued_ms),
                crate::api::dates::java_date(now)
            )));
        }
        let gone = || {
            Error::ResourceNotFound(format!(
                "Shard {} in stream {} under account {} does not exist",
                shard_id(tok.a),
                tok.name,
                self.account()
            ))
        };
        let stream = self
            .inner
            .streams
            .read()
            .by_epoch
            .get(&tok.epoch)
            .cloned()
            .ok_or_else(gone)?;
        if let Some(a) = &input.stream_arn
            && *a != stream.arn
        {
            return Err(Error::InvalidArgument(format!(
                "StreamARN {a} does not match the stream of the shard iterator."
            )));
        }
        let shards = Arc::clone(&stream.shards.read());
        let shard = shards.all.get(tok.a as usize).ok_or_else(gone)?;
        let limit = input.limit.unwrap_or(10000) as usize;
        let end = shard.ending_position;
        let max = end.map_or(limit, |e| limit.min(e.saturating_sub(tok.b) as usize));
        if !stream.limiter.try_read(tok.a, now) {
            telemetry::read_throttled(&stream.name);
            return Err(Error::ProvisionedThroughputExceeded(
                self.rate_exceeded(&stream, tok.a),
            ));
        }
        let (stored, next) =
            super::blocking::read_log(&stream, tok.a as u32, tok.b, max, MAX_GET_RECORDS_BYTES)
                .await?;
        stream.limiter.charge_read(
            tok.a,
            stored
                .iter()
                .map(|r| r.data.len() + r.partition_key.len())
                .sum(),
            now,
        );
        let state = stream.log.shard_state(tok.a as u32);
        let millis_behind = if next >= state.next_position {
            0
        } else {
            stream
                .log
                .arrival_of(tok.a as u32, next)
                .map_or(0, |a| (now - a).max(0))
        };
        telemetry::get(
            &stream.name,
            stream.meta.read().shard_metrics,
            tok.a,
            stored.len(),
            stored
                .iter()
                .map(|r| r.data.len() + r.partition_key.len())
                .sum(),
            millis_behind,
        );
        let records = self.to_records(&stream, shard.generation, tok.a, stored)?;
        let at_end = end.is_some_and(|e| next >= e);
        let (next_shard_iterator, child_shards) = if at_end {
            let children = child_shards(&shards, tok.a);
            (None, Some(children))
        } else {
            (Some(self.iterator(&stream, tok.a, next)), None)
        };
        Ok(GetRecordsOutput {
            records,
            next_shard_iterator,
            millis_behind_latest: Some(millis_behind),
            child_shards,
        })
    }

    async fn add_tags_to_stream(&self, input: AddTagsToStreamInput) -> Result<()> {
        self.check_open()?;
        let mut v = ValidationErrors::new();
        Self::check_tag_map(&mut v, &input.tags);
        Self::check_target(
            &mut v,
            input.stream_name.as_deref(),
            input.stream_arn.as_deref(),
        );
        v.finish()?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        let tags: BTreeMap<String, String> = input.tags.into_iter().collect();
        self.validate_tags(&stream.name, &tags)?;
        let engine = self.clone();
        self.catalog(move |catalog| {
            let mut meta = stream.meta.write();
            let new_keys = tags.keys().filter(|k| !meta.tags.contains_key(*k)).count();
            if meta.tags.len() + new_keys > MAX_TAGS {
                return Err(Error::InvalidArgument(format!(
                    "Failed to add tags to stream {} under account {} because a given stream cannot have more than {MAX_TAGS} tags associated with it.",
                    stream.name,
                    engine.account()
                )));
            }
            let rows: Vec<(String, String)> =
                tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            catalog
                .put_tags(stream.epoch, &rows)
                .map_err(StoreError::from)?;
            meta.tags.extend(tags);
            Ok(())
        })
        .await
    }

    async fn list_tags_for_stream(
        &self,
        input: ListTagsForStreamInput,
    ) -> Result<ListTagsForStreamOutput> {
        self.check_open()?;
        let mut v = ValidationErrors::new();
        validate::range(&mut v, "limit", input.limit, 1, 50);
        if let Some(k) = &input.exclusive_start_tag_key {
            validate::length(&mut v, "exclusiveStartTagKey", k, 1, 128);
        }
        Self::check_target(
            &mut v,
            input.stream_name.as_deref(),
            input.stream_arn.as_deref(),
        );
        v.finish()?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        let limit = input.limit.unwrap_or(50) as usize;
        let meta = stream.meta.read();
        let mut tags: Vec<Tag> = Vec::new();
        let mut more = false;
        for (k, val) in &meta.tags {
            if input
                .exclusive_start_tag_key
                .as_ref()
                .is_some_and(|s| k <= s)
            {
                continue;
            }
            if tags.len() == limit {
                more = true;
                break;
            }
            tags.push(Tag {
                key: k.clone(),
                value: Some(val.clone()),
            });
        }
        Ok(ListTagsForStreamOutput {
            tags,
            has_more_tags: more,
        })
    }

    async fn remove_tags_from_stream(&self, input: RemoveTagsFromStreamInput) -> Result<()> {
        self.check_open()?;
        let mut v = ValidationErrors::new();
        if input.tag_keys.is_empty() {
            v.constraint(
                "[]",
                "tagKeys",
                "Member must have length greater than or equal to 1",
            );
        }
        if input.tag_keys.len() > MAX_TAGS {
            v.hidden(
                "tagKeys",
                &format!("Member must have length less than or equal to {MAX_TAGS}"),
            );
        }
        if input
            .tag_keys
            .iter()
            .any(|k| k.is_empty() || k.chars().count() > 128)
        {
            v.hidden("tagKeys", "Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]");
        }
        Self::check_target(
            &mut v,
            input.stream_name.as_deref(),
            input.stream_arn.as_deref(),
        );
        v.finish()?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        if input.tag_keys.iter().any(|k| !validate::tag_chars_ok(k)) {
            return Err(Error::InvalidArgument(TAG_CHARS_MESSAGE.into()));
        }
        let keys = input.tag_keys;
        self.catalog(move |catalog| {
            let mut meta = stream.meta.write();
            catalog
                .remove_tags(stream.epoch, &keys)
                .map_err(StoreError::from)?;
            for k in &keys {
                meta.tags.remove(k);
            }
            Ok(())
        })
        .await
    }

    async fn increase_stream_retention_period(&self, input: RetentionPeriodInput) -> Result<()> {
        self.check_open()?;
        self.change_retention(input, true).await
    }

    async fn decrease_stream_retention_period(&self, input: RetentionPeriodInput) -> Result<()> {
        self.check_open()?;
        self.change_retention(input, false).await
    }

    async fn register_stream_consumer(
        &self,
        input: RegisterStreamConsumerInput,
    ) -> Result<RegisterStreamConsumerOutput> {
        self.check_open()?;
        self.do_register_consumer(input).await
    }

    async fn describe_stream_consumer(
        &self,
        input: DescribeStreamConsumerInput,
    ) -> Result<DescribeStreamConsumerOutput> {
        self.check_open()?;
        self.do_describe_consumer(input)
    }

    async fn list_stream_consumers(
        &self,
        input: ListStreamConsumersInput,
    ) -> Result<ListStreamConsumersOutput> {
        self.check_open()?;
        self.do_list_consumers(input)
    }

    async fn deregister_stream_consumer(&self, input: DeregisterStreamConsumerInput) -> Result<()> {
        self.check_open()?;
        self.do_deregister_consumer(input).await
    }

    async fn subscribe_to_shard(
        &self,
        input: SubscribeToShardInput,
    ) -> Result<SubscribeToShardStream> {
        self.check_open()?;
        self.do_subscribe(input).await
    }

    async fn update_stream_mode(&self, input: UpdateStreamModeInput) -> Result<()> {
        self.check_open()?;
        let mut v = ValidationErrors::new();
        validate::stream_arn(&mut v, "streamARN", &input.stream_arn);
        v.finish()?;
        let stream = self.stream(None, Some(&input.stream_arn))?;
        let mode = input.stream_mode_details.stream_mode;
        {
            let meta = stream.meta.read();
            if meta.status != StreamStatus::Active {
                return Err(Error::ResourceInUse(format!(
                    "Stream {} under account {} not ACTIVE, instead in state {}",
                    stream.name,
                    self.account(),
                    meta.status
                )));
            }
            if mode == StreamMode::OnDemand
                && meta.mode != StreamMode::OnDemand
                && self.on_demand_stream_count()
                    >= self.inner.config.on_demand_stream_limit as usize
            {
                drop(meta);
                return Err(self.on_demand_limit_error());
            }
        }
        let s = Arc::clone(&stream);
        self.catalog(move |catalog| {
            catalog
                .set_mode(s.epoch, mode.as_str())
                .map_err(StoreError::from)?;
            s.meta.write().mode = mode;
            Ok(())
        })
        .await?;
        tracing::info!(stream = %stream.name, mode = %mode, "stream mode changed");
        Ok(())
    }

    async fn start_stream_encryption(&self, input: StreamEncryptionInput) -> Result<()> {
        self.set_encryption(input, true).await
    }

    async fn stop_stream_encryption(&self, input: StreamEncryptionInput) -> Result<()> {
        self.set_encryption(input, false).await
    }

    async fn split_shard(&self, input: SplitShardInput) -> Result<()> {
        self.check_open()?;
        let mut v = ValidationErrors::new();
        Self::check_target(
            &mut v,
            input.stream_name.as_deref(),
            input.stream_arn.as_deref(),
        );
        validate::name(&mut v, "shardToSplit", &input.shard_to_split);
        if !HashKey::matches_pattern(&input.new_starting_hash_key) {
            v.constraint(
                &input.new_starting_hash_key,
                "newStartingHashKey",
                "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})",
            );
        }
        v.finish()?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        self.do_split(stream, &input.shard_to_split, &input.new_starting_hash_key)
            .await
    }

    async fn merge_shards(&self, input: MergeShardsInput) -> Result<()> {
        self.check_open()?;
        let mut v = ValidationErrors::new();
        Self::check_target(
            &mut v,
            input.stream_name.as_deref(),
            input.stream_arn.as_deref(),
        );
        validate::name(&mut v, "shardToMerge", &input.shard_to_merge);
        validate::name(
            &mut v,
            "adjacentShardToMerge",
            &input.adjacent_shard_to_merge,
        );
        v.finish()?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        self.do_merge(
            stream,
            &input.shard_to_merge,
            &input.adjacent_shard_to_merge,
        )
        .await
    }

    async fn update_shard_count(
        &self,
        input: UpdateShardCountInput,
    ) -> Result<UpdateShardCountOutput> {
        self.check_open()?;
        let mut v = ValidationErrors::new();
        Self::check_target(
            &mut v,
            input.stream_name.as_deref(),
            input.stream_arn.as_deref(),
        );
        validate::range(
            &mut v,
            "targetShardCount",
            Some(input.target_shard_count),
            1,
            100_000,
        );
        if input.scaling_type.is_none() {
            v.null("scalingType");
        }
        v.finish()?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        let target = input.target_shard_count as u32;
        let current = self
            .do_update_shard_count(Arc::clone(&stream), target)
            .await?;
        Ok(UpdateShardCountOutput {
            stream_name: Some(stream.name.clone()),
            current_shard_count: Some(current as i32),
            target_shard_count: Some(target as i32),
            stream_arn: Some(stream.arn.clone()),
        })
    }

    async fn describe_limits(&self, _input: DescribeLimitsInput) -> Result<DescribeLimitsOutput> {
        self.check_open()?;
        self.do_describe_limits()
    }

    async fn describe_account_settings(
        &self,
        _input: DescribeAccountSettingsInput,
    ) -> Result<DescribeAccountSettingsOutput> {
        self.check_open()?;
        self.do_describe_account_settings().await
    }

    async fn update_account_settings(
        &self,
        input: UpdateAccountSettingsInput,
    ) -> Result<UpdateAccountSettingsOutput> {
        self.check_open()?;
        self.do_update_account_settings(input).await
    }

    async fn enable_enhanced_monitoring(
        &self,
        input: EnhancedMonitoringInput,
    ) -> Result<EnhancedMonitoringOutput> {
        self.check_open()?;
        self.do_enhanced_monitoring(input, true).await
    }

    async fn disable_enhanced_monitoring(
        &self,
        input: EnhancedMonitoringInput,
    ) -> Result<EnhancedMonitoringOutput> {
        self.check_open()?;
        self.do_enhanced_monitoring(input, false).await
    }

    async fn tag_resource(&self, input: TagResourceInput) -> Result<()> {
        self.check_open()?;
        self.do_tag_resource(input).await
    }

    async fn untag_resource(&self, input: UntagResourceInput) -> Result<()> {
        self.check_open()?;
        self.do_untag_resource(input).await
    }

    async fn list_tags_for_resource(
        &self,
        input: ListTagsForResourceInput,
    ) -> Result<ListTagsForResourceOutput> {
        self.check_open()?;
        self.do_list_tags_for_resource(input).await
    }

    async fn update_max_record_size(&self, input: UpdateMaxRecordSizeInput) -> Result<()> {
        self.check_open()?;
        self.do_update_max_record_size(input).await
    }

    async fn update_stream_warm_throughput(
        &self,
        input: UpdateStreamWarmThroughputInput,
    ) -> Result<UpdateStreamWarmThroughputOutput> {
        self.check_open()?;
        self.do_update_warm_throughput(input).await
    }

    async fn put_resource_policy(&self, input: PutResourcePolicyInput) -> Result<()> {
        self.check_open()?;
        self.do_put_resource_policy(input).await
    }

    async fn get_resource_policy(
        &self,
        input: ResourcePolicyInput,
    ) -> Result<GetResourcePolicyOutput> {
        self.check_open()?;
        self.do_get_resource_policy(input).await
    }

    async fn delete_resource_policy(&self, input: ResourcePolicyInput) -> Result<()> {
        self.check_open()?;
        self.do_delete_resource_policy(input).await
    }

    async fn update_stream_record_distribution_strategy(
        &self,
        input: UpdateStreamRecordDistributionStrategyInput,
    ) -> Result<()> {
        self.check_open()?;
        self.update_record_distribution(input).await
    }

    async fn create_channel(&self, input: CreateChannelInput) -> Result<CreateChannelOutput> {
        self.check_open()?;
        self.channel_create(input).await
    }

    async fn describe_channel(&self, input: DescribeChannelInput) -> Result<DescribeChannelOutput> {
        self.check_open()?;
        self.channel_describe(input).await
    }

    async fn list_channels(&self, input: ListChannelsInput) -> Result<ListChannelsOutput> {
        self.check_open()?;
        self.channel_list(input).await
    }

    async fn update_channel(&self, input: UpdateChannelInput) -> Result<UpdateChannelOutput> {
        self.check_open()?;
        self.channel_update(input).await
    }

    async fn delete_channel(&self, input: DeleteChannelInput) -> Result<()> {
        self.check_open()?;
        self.channel_delete(input).await
    }
}

impl Engine {
    pub(super) fn check_token_age(&self, issued_ms: i64) -> Result<(), Error> {
        let ttl = i64::try_from(self.inner.config.next_token_ttl.as_millis()).unwrap_or(i64::MAX);
        if self.now() - issued_ms > ttl {
            return Err(Error::ExpiredNextToken(
                "The NextToken has expired. Tokens are valid for 300 seconds; start the listing again.".into(),
            ));
        }
        Ok(())
    }
}

/// Packs a shard filter into a token field: type (1..=6) in the low byte, timestamp above.
fn filter_code(f: &ShardFilter) -> u64 {
    let t: u64 = match f.filter_type {
        ShardFilterType::AfterShardId => 1,
        ShardFilterType::AtTrimHorizon => 2,
        ShardFilterType::FromTrimHorizon => 3,
        ShardFilterType::AtLatest => 4,
        ShardFilterType::AtTimestamp => 5,
        ShardFilterType::FromTimestamp => 6,
    };
    let ts = f.timestamp.map_or(0, |t| t.as_millis().max(0) as u64);
    (ts << 8) | t
}

/// Whether a live shard passes a packed filter.
fn shard_matches(code: u64, s: &ShardRow, all: &[ShardRow], live: &[ShardRow]) -> bool {
    let ts = (code >> 8) as i64;
    let open_at = |t: i64| s.created_ms <= t && s.closed_ms.is_none_or(|c| c > t);
    match code & 0xff {
        // AT_TRIM_HORIZON: shards whose parents are no longer retained.
        2 => [s.parent, s.adjacent_parent]
            .iter()
            .flatten()
            .all(|p| !live.iter().any(|l| l.shard_index == *p) && (*p as usize) < all.len()),
        // AT_LATEST: open shards.
        4 => s.closed_ms.is_none(),
        // AT_TIMESTAMP: shards open at the time (or the first ones, for a time before them all).
        5 => open_at(ts) || (s.parent.is_none() && s.created_ms > ts),
        // FROM_TIMESTAMP: shards open at or after the time.
        6 => s.closed_ms.is_none_or(|c| c > ts),
        // none, AFTER_SHARD_ID (applied as `after`), FROM_TRIM_HORIZON: every live shard.
        _ => true,
    }
}

/// The children of `parent` (split children, or the merge child it is a parent of).
pub(crate) fn child_shards(shards: &ShardSet, parent: u64) -> Vec<ChildShard> {
    shards
        .all
        .iter()
        .filter(|c| c.parent == Some(parent) || c.adjacent_parent == Some(parent))
        .map(|c| ChildShard {
            shard_id: shard_id(c.shard_index),
            parent_shards: c
                .parent
                .iter()
                .chain(c.adjacent_parent.iter())
                .map(|p| shard_id(*p))
                .collect(),
            hash_key_range: types::HashKeyRange {
                starting_hash_key: c.start_hash.to_string(),
                ending_hash_key: c.end_hash.to_string(),
            },
        })
        .collect()
}
