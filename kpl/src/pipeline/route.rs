//! Routing within a stream: a user record to its shard's aggregator (or queue), an
//! aggregator sealed into a Kinesis record, released Kinesis records into PutRecords
//! batches.

use super::*;

pub(super) fn unbusy(st: &mut StreamState, shard: &Arc<str>) {
    if let Some(&i) = st.shard_pos.get(shard) {
        st.shards[i].busy = false;
    }
}

/// Puts a user record in its shard's aggregator (or queue, aggregation off).
pub(super) fn route(
    st: &mut StreamState,
    cfg: &ProducerConfig,
    record: UserRecord,
    meta: Meta,
    now: Instant,
) {
    let Some(map) = &st.map else {
        st.unrouted.push(record, meta);
        return;
    };
    let Some(i) = map.route(meta.hash) else {
        // No open shard owns the key: the map is stale (or the stream is being resharded).
        st.unrouted.push(record, meta);
        if !st.refreshing {
            st.refresh_due = Some(now);
        }
        return;
    };
    let shard = &mut st.shards[i];
    if !cfg.aggregation_enabled {
        let krec = KinesisRecord::seal(
            Arc::clone(&shard.id),
            vec![record],
            vec![meta],
            None,
            cfg.record_max_buffered_time,
            cfg.record_ttl,
        );
        shard.queue.push_back(krec);
        return;
    }
    if shard
        .agg
        .would_overflow(&record, &meta, st.agg_limit, cfg.aggregation_max_count)
    {
        seal(shard, cfg);
    }
    let deadline = meta.arrived + cfg.record_max_buffered_time.min(cfg.record_ttl);
    shard.agg.push(record, meta, deadline);
    if shard.agg.size() >= st.agg_limit || shard.agg.len() >= cfg.aggregation_max_count {
        seal(shard, cfg);
    }
}

/// Seals a shard's aggregator into a Kinesis record at the back of its queue.
pub(super) fn seal(shard: &mut ShardState, cfg: &ProducerConfig) {
    if shard.agg.is_empty() {
        return;
    }
    let (records, meta, pieces) = shard.agg.take_encoded();
    shard.queue.push_back(KinesisRecord::seal(
        Arc::clone(&shard.id),
        records,
        meta,
        pieces,
        cfg.record_max_buffered_time,
        cfg.record_ttl,
    ));
}

/// Adds a released Kinesis record to the stream's PutRecords batches.
pub(super) fn collect(batches: &mut VecDeque<Batch>, cfg: &ProducerConfig, krec: KinesisRecord) {
    if let Some(b) = batches.back_mut()
        && b.records.len() < cfg.collection_max_count
        && b.bytes + krec.size <= cfg.collection_max_size
    {
        b.bytes += krec.size;
        b.deadline = b.deadline.min(krec.deadline);
        b.records.push(krec);
        return;
    }
    batches.push_back(Batch {
        bytes: krec.size,
        deadline: krec.deadline,
        records: vec![krec],
    });
}
