//! Reads: GetShardIterator and GetRecords. Iterators are authenticated tokens naming the
//! stream epoch, shard and position, valid for the engine's `iterator_ttl` (5 minutes).

use crate::api::*;
use crate::embedded::quotas::*;
use crate::embedded::token::{Kind, Token};
use crate::embedded::topology::*;
use crate::embedded::{Engine, Stream, shard_id, telemetry, validate};
use std::sync::Arc;

impl Engine {
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
                let encrypted = r.flags & crate::embedded::crypto::FLAG_ENCRYPTED != 0;
                let data = if encrypted {
                    keys.open(&r.partition_key, &r.data)?
                } else {
                    r.data
                };
                Ok(Record {
                    sequence_number: SequenceNumber::of_record(
                        stream.seq_layout,
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
}

pub(crate) async fn get_shard_iterator(
    engine: &Engine,
    input: GetShardIteratorInput,
) -> Result<GetShardIteratorOutput> {
    let mut v = ValidationErrors::new();
    Engine::check_target(
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
    let account = engine.account();
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
    let index = Engine::parse_shard_id(&input.shard_id).ok_or_else(|| {
        Error::ResourceNotFound(format!(
            "Could not find shard {} in stream {given} under account {account}.",
            input.shard_id
        ))
    })?;
    let stream = engine
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
            let seq = SequenceNumber::parse_in(text, stream.seq_layout).map_err(|_| invalid())?;
            if seq.shard_index != index {
                return Err(Error::InvalidArgument(format!(
                    "Invalid StartingSequenceNumber. It encodes {}, while it was used in a call to a shard with {}",
                    shard_id(seq.shard_index),
                    shard_id(index)
                )));
            }
            if !seq.is_of_stream(stream.seq_layout, stream.epoch)
                || seq.generation != shard.generation
            {
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
            let now = engine.now();
            if ts.as_millis() > now {
                return Err(Error::InvalidArgument(format!(
                    "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: {}, currentTimestampInMillis: {now}",
                    ts.as_millis()
                )));
            }
            crate::embedded::blocking::position_at_time(&stream, index as u32, ts.as_millis())
                .await?
                .min(end)
        }
    };
    Ok(GetShardIteratorOutput {
        shard_iterator: Some(engine.iterator(&stream, index, position)),
    })
}

pub(crate) async fn get_records(
    engine: &Engine,
    input: GetRecordsInput,
) -> Result<GetRecordsOutput> {
    let mut v = ValidationErrors::new();
    validate::range(&mut v, "limit", input.limit, 1, 10000);
    validate::length(&mut v, "shardIterator", &input.shard_iterator, 1, 512);
    v.finish()?;
    let tok = Token::decode(&input.shard_iterator, &engine.inner.key, Kind::Iterator)
        .ok_or_else(|| Error::InvalidArgument("Invalid ShardIterator.".into()))?;
    let now = engine.now();
    let ttl = i64::try_from(engine.inner.config.iterator_ttl.as_millis()).unwrap_or(i64::MAX);
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
            engine.account()
        ))
    };
    let stream = engine
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
        telemetry::read_throttled(&stream.name, stream.meta.read().shard_metrics, tok.a);
        return Err(Error::ProvisionedThroughputExceeded(
            engine.rate_exceeded(&stream, tok.a),
        ));
    }
    let (stored, next) = crate::embedded::blocking::read_log(
        &stream,
        tok.a as u32,
        tok.b,
        max,
        MAX_GET_RECORDS_BYTES,
    )
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
    let records = engine.to_records(&stream, shard.generation, tok.a, stored)?;
    let at_end = end.is_some_and(|e| next >= e);
    let (next_shard_iterator, child_shards) = if at_end {
        let children = child_shards(&shards, tok.a);
        (None, Some(children))
    } else {
        (Some(engine.iterator(&stream, tok.a, next)), None)
    };
    Ok(GetRecordsOutput {
        records,
        next_shard_iterator,
        millis_behind_latest: Some(millis_behind),
        child_shards,
    })
}
