//! Stream operations: CreateStream, DeleteStream, DescribeStream, DescribeStreamSummary,
//! ListStreams, UpdateStreamMode, UpdateStreamRecordDistributionStrategy.

use crate::api::*;
use crate::embedded::quotas::*;
use crate::embedded::token::{Kind, Token};
use crate::embedded::{Engine, ShardSet, Stream, StreamMeta, stream_arn, telemetry, validate};
use crate::store::{ShardRow, StoreError, StreamLog, StreamRow};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;

impl Engine {
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
        crate::embedded::blocking::blocking(move || -> Result<(), Error> {
            s.log.close();
            crate::embedded::remove_dir(&dir)?;
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
}

pub(crate) async fn create_stream(this: &Engine, input: CreateStreamInput) -> Result<()> {
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
        Engine::check_tag_map(&mut v, tags);
    }
    v.finish()?;
    let tags: BTreeMap<String, String> = input.tags.unwrap_or_default().into_iter().collect();
    this.validate_tags(&input.stream_name, &tags)?;
    if tags.len() > MAX_TAGS {
        return Err(Error::InvalidArgument(format!(
            "Failed to create stream {} under account {} because a given stream cannot have more than {MAX_TAGS} tags associated with it.",
            input.stream_name,
            this.account()
        )));
    }
    let count = match mode {
        StreamMode::Provisioned => input.shard_count.unwrap_or(1).max(1) as u32,
        StreamMode::OnDemand => this.inner.config.on_demand_shards,
    };
    let name = input.stream_name;
    let create_delay = this.inner.config.create_delay;
    // One creation at a time, so the limit check and the insert see the same state: the
    // checks, the catalog row, the log and the registry entry are made together under the
    // catalog lock, on a blocking thread (see `blocking`).
    let engine = this.clone();
    let created = name.clone();
    let epoch = this
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
            seq_layout: crate::api::seq::Layout::V2,
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
            limiter: crate::embedded::limits::Limiter::new(engine.inner.config.limits),
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
        let engine = this.clone();
        tokio::spawn(async move {
            tokio::time::sleep(create_delay).await;
            let stream = engine.inner.streams.read().by_name.get(&name).cloned();
            let creating = stream
                .filter(|s| s.epoch == epoch && s.meta.read().status == StreamStatus::Creating);
            if let Some(stream) = creating
                && let Err(e) = engine.set_status(&stream, StreamStatus::Active).await
            {
                tracing::error!(stream = %name, error = %e, "could not mark stream ACTIVE");
            }
        });
    }
    Ok(())
}

pub(crate) async fn delete_stream(this: &Engine, input: DeleteStreamInput) -> Result<()> {
    let mut v = ValidationErrors::new();
    Engine::check_target(
        &mut v,
        input.stream_name.as_deref(),
        input.stream_arn.as_deref(),
    );
    v.finish()?;
    let stream = this.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    let (engine, s) = (this.clone(), Arc::clone(&stream));
    let enforce = input.enforce_consumer_deletion.unwrap_or(false);
    this.catalog(move |catalog| {
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
    let delay = this.inner.config.delete_delay;
    if delay.is_zero() {
        return this.finish_delete(stream).await;
    }
    // DELETING stays visible for `delete_delay`, then the stream goes.
    let engine = this.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let name = stream.name.clone();
        if let Err(e) = engine.finish_delete(stream).await {
            tracing::error!(stream = %name, error = %e, "delayed delete failed");
        }
    });
    Ok(())
}

pub(crate) async fn describe_stream(
    engine: &Engine,
    input: DescribeStreamInput,
) -> Result<DescribeStreamOutput> {
    let mut v = ValidationErrors::new();
    Engine::check_target(
        &mut v,
        input.stream_name.as_deref(),
        input.stream_arn.as_deref(),
    );
    validate::range(&mut v, "limit", input.limit, 1, 10000);
    if let Some(s) = &input.exclusive_start_shard_id {
        validate::name(&mut v, "exclusiveStartShardId", s);
    }
    v.finish()?;
    let stream = engine.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    let limit = input.limit.unwrap_or(100).clamp(1, 100) as usize;
    let after = input
        .exclusive_start_shard_id
        .as_deref()
        .and_then(Engine::parse_shard_id);
    let live: Vec<ShardRow> = engine
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
        .map(|s| Engine::describe_shard(&stream, s))
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
                shard_level_metrics: crate::embedded::metric_set::metric_names(meta.shard_metrics),
            }],
            encryption_type: Some(meta.encryption),
            key_id: meta.key_id,
        },
    })
}

pub(crate) async fn describe_stream_summary(
    engine: &Engine,
    input: DescribeStreamSummaryInput,
) -> Result<DescribeStreamSummaryOutput> {
    let mut v = ValidationErrors::new();
    Engine::check_target(
        &mut v,
        input.stream_name.as_deref(),
        input.stream_arn.as_deref(),
    );
    v.finish()?;
    let stream = engine.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
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
                shard_level_metrics: crate::embedded::metric_set::metric_names(meta.shard_metrics),
            }],
            encryption_type: Some(meta.encryption),
            key_id: meta.key_id,
            open_shard_count: open,
            consumer_count: Some(stream.consumers.lock().len() as i32),
            warm_throughput: engine.warm_throughput(&stream),
            max_record_size_in_kib: Some(meta.max_record_kib as i32),
            record_distribution_strategy: Some(meta.distribution),
        },
    })
}

pub(crate) async fn list_streams(
    engine: &Engine,
    input: ListStreamsInput,
) -> Result<ListStreamsOutput> {
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
            let tok = Token::decode(t, &engine.inner.key, Kind::ListStreams)
                .ok_or_else(|| Error::InvalidArgument("Invalid NextToken.".into()))?;
            engine.check_token_age(tok.issued_ms)?;
            Some(tok.name)
        }
        None => input.exclusive_start_stream_name.clone(),
    };
    let reg = engine.inner.streams.read();
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
                issued_ms: engine.now(),
                epoch: 0,
                a: 0,
                b: 0,
                name: last.name.clone(),
            }
            .encode(&engine.inner.key),
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

pub(crate) async fn update_stream_mode(
    engine: &Engine,
    input: UpdateStreamModeInput,
) -> Result<()> {
    let mut v = ValidationErrors::new();
    validate::stream_arn(&mut v, "streamARN", &input.stream_arn);
    v.finish()?;
    let stream = engine.stream(None, Some(&input.stream_arn))?;
    let mode = input.stream_mode_details.stream_mode;
    {
        let meta = stream.meta.read();
        if meta.status != StreamStatus::Active {
            return Err(Error::ResourceInUse(format!(
                "Stream {} under account {} not ACTIVE, instead in state {}",
                stream.name,
                engine.account(),
                meta.status
            )));
        }
        if mode == StreamMode::OnDemand
            && meta.mode != StreamMode::OnDemand
            && engine.on_demand_stream_count()
                >= engine.inner.config.on_demand_stream_limit as usize
        {
            drop(meta);
            return Err(engine.on_demand_limit_error());
        }
    }
    let s = Arc::clone(&stream);
    engine
        .catalog(move |catalog| {
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

/// UpdateStreamRecordDistributionStrategy.
///
/// # Cancel safety
///
/// Cancel safe as `Engine::catalog` is: once started, the change is made whether or not
/// the future is polled to the end.
pub(crate) async fn update_stream_record_distribution_strategy(
    this: &Engine,
    input: UpdateStreamRecordDistributionStrategyInput,
) -> Result<(), Error> {
    let mut v = ValidationErrors::new();
    validate::stream_arn(&mut v, "streamARN", &input.stream_arn);
    if let Some(id) = &input.stream_id {
        validate::length(&mut v, "streamId", id, 1, 128);
    }
    if input.record_distribution_strategy.is_none() {
        v.null("recordDistributionStrategy");
    }
    v.finish()?;
    let Some(strategy) = input.record_distribution_strategy else {
        return Err(Error::Validation(
            "1 validation error detected: Value null at 'recordDistributionStrategy' failed to satisfy constraint: Member must not be null".into(),
        ));
    };
    let stream = this.stream(None, Some(&input.stream_arn))?;
    let engine = this.clone();
    this.catalog(move |catalog| {
        let mut meta = stream.meta.write();
        engine.require_active(&stream, &meta)?;
        if strategy == RecordDistributionStrategy::Auto && meta.mode != StreamMode::OnDemand {
            return Err(Error::InvalidArgument(format!(
                "The AUTO record distribution strategy can only be configured for streams in ON_DEMAND mode. Stream {} under account {} is in {} mode.",
                stream.name,
                engine.account(),
                meta.mode
            )));
        }
        catalog
            .set_distribution(stream.epoch, strategy.as_str())
            .map_err(StoreError::from)?;
        meta.distribution = strategy;
        tracing::info!(stream = %stream.name, %strategy, "record distribution strategy changed");
        Ok(())
    })
    .await
}
