//! Shard operations: ListShards (with its shard filters and paging) and resharding
//! (SplitShard, MergeShards, UpdateShardCount; the mechanics are in `embedded::reshard`).

use crate::api::*;
use crate::embedded::token::{Kind, Token};
use crate::embedded::{Engine, validate};
use crate::store::ShardRow;
use std::sync::Arc;

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

pub(crate) async fn list_shards(
    engine: &Engine,
    input: ListShardsInput,
) -> Result<ListShardsOutput> {
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
        let tok = Token::decode(t, &engine.inner.key, Kind::ListShards)
            .ok_or_else(|| Error::InvalidArgument("Invalid NextToken.".into()))?;
        engine.check_token_age(tok.issued_ms)?;
        let stream = engine
            .inner
            .streams
            .read()
            .by_epoch
            .get(&tok.epoch)
            .cloned()
            .ok_or_else(|| engine.not_found(&tok.name))?;
        // The filter of the first page is carried in `b`: type + 1 (0 = none).
        (stream, Some(tok.a), tok.b)
    } else {
        if input.stream_name.is_none() && input.stream_arn.is_none() {
            return Err(Error::InvalidArgument(
                "Either NextToken or StreamName should be provided.".into(),
            ));
        }
        let stream = engine.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        if let Some(ts) = input.stream_creation_timestamp
            && ts.as_millis() != stream.epoch as i64
        {
            return Err(engine.not_found(&stream.name));
        }
        let mut after = input
            .exclusive_start_shard_id
            .as_deref()
            .and_then(Engine::parse_shard_id);
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
                    after = Engine::parse_shard_id(id).or(after);
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
    let live = engine.live_shards(&stream);
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
                issued_ms: engine.now(),
                epoch: stream.epoch,
                a: last.shard_index,
                b: filter,
                name: stream.name.clone(),
            }
            .encode(&engine.inner.key),
        ),
        _ => None,
    };
    Ok(ListShardsOutput {
        shards: page
            .iter()
            .map(|s| Engine::describe_shard(&stream, s))
            .collect(),
        next_token,
    })
}

pub(crate) async fn split_shard(engine: &Engine, input: SplitShardInput) -> Result<()> {
    let mut v = ValidationErrors::new();
    Engine::check_target(
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
    let stream = engine.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    engine
        .reshard_split(stream, &input.shard_to_split, &input.new_starting_hash_key)
        .await
}

pub(crate) async fn merge_shards(engine: &Engine, input: MergeShardsInput) -> Result<()> {
    let mut v = ValidationErrors::new();
    Engine::check_target(
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
    let stream = engine.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    engine
        .reshard_merge(
            stream,
            &input.shard_to_merge,
            &input.adjacent_shard_to_merge,
        )
        .await
}

pub(crate) async fn update_shard_count(
    engine: &Engine,
    input: UpdateShardCountInput,
) -> Result<UpdateShardCountOutput> {
    let mut v = ValidationErrors::new();
    Engine::check_target(
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
    let stream = engine.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    let target = input.target_shard_count as u32;
    let current = engine.reshard_to_count(Arc::clone(&stream), target).await?;
    Ok(UpdateShardCountOutput {
        stream_name: Some(stream.name.clone()),
        current_shard_count: Some(current as i32),
        target_shard_count: Some(target as i32),
        stream_arn: Some(stream.arn.clone()),
    })
}
