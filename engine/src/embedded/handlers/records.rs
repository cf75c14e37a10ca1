//! Writes: PutRecord and PutRecords. Entries are validated, routed to shards (by hash key, or
//! dealt in turn under AUTO distribution), encrypted when the stream's encryption is on, and
//! acknowledged once the log has committed them under the engine's fsync policy.

use crate::api::*;
use crate::embedded::quotas::*;
use crate::embedded::{Engine, ShardSet, Stream, conform, shard_id, telemetry, validate};
use crate::store::{AppendRecord, NO_SPACE_MESSAGE, StoreError};
use std::collections::BTreeMap;
use std::sync::Arc;

impl Engine {
    /// The largest record the stream a request names accepts, in bytes: its maximum record
    /// size (see UpdateMaxRecordSize), or 1 MiB when the stream is not found (the lookup's
    /// own error then comes after the validation errors).
    fn record_limit(&self, name: Option<&str>, arn: Option<&str>) -> usize {
        self.stream(name, arn).map_or(MAX_RECORD_BYTES, |s| {
            s.meta.read().max_record_kib as usize * 1024
        })
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
                let shard = crate::embedded::distribution::next_auto_shard(stream, shards)?;
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
        SequenceNumber::of_record(stream.seq_layout, generation, position, shard, stream.epoch)
            .to_string()
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
            r.flags |= crate::embedded::crypto::FLAG_ENCRYPTED;
        }
        Ok(())
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

pub(crate) async fn put_record(engine: &Engine, input: PutRecordInput) -> Result<PutRecordOutput> {
    // In the order AWS reports them (the service model's order, `api::model::shapes`).
    let mut v = ValidationErrors::new();
    if let Some(s) = &input.sequence_number_for_ordering
        && !SequenceNumber::matches_pattern(s)
    {
        v.constraint(
            s,
            "sequenceNumberForOrdering",
            "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})",
        );
    }
    validate::length(&mut v, "partitionKey", &input.partition_key, 1, 256);
    if let Some(e) = &input.explicit_hash_key
        && !HashKey::matches_pattern(e)
    {
        v.constraint(
            e,
            "explicitHashKey",
            "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})",
        );
    }
    if input.data.len() > MAX_RECORD_BYTES {
        let max = engine.record_limit(input.stream_name.as_deref(), input.stream_arn.as_deref());
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
    Engine::check_target(
        &mut v,
        input.stream_name.as_deref(),
        input.stream_arn.as_deref(),
    );
    if let Err(e) = v.finish() {
        // The model's words for the refusal (its checks first, as on the server).
        return Err(conform::violations(Operation::PutRecord, &input).unwrap_or(e));
    }
    let stream = engine.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    engine.require_writable(&stream, &stream.meta.read())?;
    engine.check_ordering(&stream, input.sequence_number_for_ordering.as_deref())?;
    // As AWS: a number that does not decode (in the stream's layout) or names another
    // stream is invalid.
    if let Some(s) = &input.sequence_number_for_ordering
        && !SequenceNumber::parse_in(s, stream.seq_layout)
            .is_ok_and(|parsed| parsed.is_of_stream(stream.seq_layout, stream.epoch))
    {
        return Err(Error::InvalidArgument(format!(
            "ExclusiveMinimumSequenceNumber {s} used in PutRecord on stream {} under account {} is invalid.",
            stream.name,
            engine.account()
        )));
    }
    // Route and submit under the shared gate, so a reshard sees every submitted record.
    let gate = stream.gate.read().await;
    let shards = Arc::clone(&stream.shards.read());
    let mut records = engine.route_records(
        &stream,
        &shards,
        vec![(input.partition_key, input.data, input.explicit_hash_key)],
    )?;
    let shard = u64::from(records[0].shard);
    let size = records[0].data.len() + records[0].partition_key.len();
    engine.encrypt(&stream, &mut records)?;
    if !stream.limiter.try_write(shard, size, engine.now()) {
        telemetry::write_throttled(
            &stream.name,
            stream.meta.read().shard_metrics,
            &[(shard, 1)],
        );
        return Err(Error::ProvisionedThroughputExceeded(
            engine.rate_exceeded(&stream, shard),
        ));
    }
    let rx = stream.log.append(records);
    drop(gate);
    let result = Engine::committed(rx).await?;
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
        sequence_number: Engine::sequence_number(&stream, &shards, shard, position),
        encryption_type: Some(stream.meta.read().encryption),
    })
}

pub(crate) async fn put_records(
    engine: &Engine,
    input: PutRecordsInput,
) -> Result<PutRecordsOutput> {
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
        engine.record_limit(input.stream_name.as_deref(), input.stream_arn.as_deref())
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
    Engine::check_target(
        &mut v,
        input.stream_name.as_deref(),
        input.stream_arn.as_deref(),
    );
    if let Err(e) = v.finish() {
        return Err(conform::violations(Operation::PutRecords, &input).unwrap_or(e));
    }
    let stream = engine.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    if total > MAX_PUT_RECORDS_BYTES {
        return Err(Error::InvalidArgument(
            "Records size exceeds 5 MB limit".into(),
        ));
    }
    engine.require_writable(&stream, &stream.meta.read())?;
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
    let routed = engine.route_records(&stream, &shards, entries)?;
    let now = engine.now();
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
        let mut per_shard: BTreeMap<u64, usize> = BTreeMap::new();
        for &(shard, ok) in &verdicts {
            if !ok {
                *per_shard.entry(shard).or_default() += 1;
            }
        }
        let per_shard: Vec<(u64, usize)> = per_shard.into_iter().collect();
        telemetry::write_throttled(&stream.name, stream.meta.read().shard_metrics, &per_shard);
    }
    engine.encrypt(&stream, &mut records)?;
    let rx = (!records.is_empty()).then(|| stream.log.append(records));
    drop(gate);
    let result = match rx {
        Some(rx) => Engine::committed(rx).await,
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
                            sequence_number: Some(Engine::sequence_number(
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
                            error_message: Some(engine.rate_exceeded(&stream, shard)),
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
