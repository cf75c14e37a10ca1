//! Test helpers: an embedded engine on a temporary directory, a fault-injecting `Kinesis`
//! wrapper, and a reader that reads a stream back the way a KCL consumer sees it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rill_engine::api::agg::{self, UserRecord};
use rill_engine::api::*;
use rill_engine::{Engine, EngineConfig};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// An engine on a temporary directory (kept alive by the returned guard).
pub async fn engine(
    streams: &[(&str, i32)],
) -> Result<(Engine, tempfile::TempDir), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(dir.path(), EngineConfig::default()).await?;
    for (name, shards) in streams {
        engine
            .create_stream(CreateStreamInput {
                stream_name: (*name).into(),
                shard_count: Some(*shards),
                ..Default::default()
            })
            .await?;
    }
    Ok((engine, dir))
}

/// What the wrapper does to one PutRecords call.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Fail the whole call with this error (without calling the inner service).
    pub whole: Option<(String, String)>,
    /// Sleep this long before answering (before calling the inner service).
    pub delay: Option<Duration>,
    /// Fail these entries (by position) with this error code; the others go through.
    pub fail: Vec<(usize, &'static str)>,
}

type Planner = Box<dyn Fn(usize, &PutRecordsInput) -> Plan + Send + Sync>;

/// A `Kinesis` that forwards to `inner`, except what its planner says for PutRecords calls
/// (numbered from 0), and optionally pages ListShards by `list_page` shards and lies about
/// the shards (`fake_shards`) until `truth_after` ListShards calls.
pub struct Faulty {
    pub inner: Arc<dyn Kinesis>,
    planner: Planner,
    pub calls: AtomicUsize,
    pub list_calls: AtomicUsize,
    pub list_page: Option<i32>,
    pub fake_shards: Mutex<Option<(Vec<Shard>, usize)>>,
    /// Every entry the inner service accepted, in call order: (entries, results).
    pub log: Mutex<Vec<(usize, usize)>>,
}

impl Faulty {
    pub fn new(
        inner: Arc<dyn Kinesis>,
        planner: impl Fn(usize, &PutRecordsInput) -> Plan + Send + Sync + 'static,
    ) -> Faulty {
        Faulty {
            inner,
            planner: Box::new(planner),
            calls: AtomicUsize::new(0),
            list_calls: AtomicUsize::new(0),
            list_page: None,
            fake_shards: Mutex::new(None),
            log: Mutex::new(Vec::new()),
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Kinesis for Faulty {
    async fn create_stream(&self, input: CreateStreamInput) -> Result<()> {
        self.inner.create_stream(input).await
    }
    async fn delete_stream(&self, input: DeleteStreamInput) -> Result<()> {
        self.inner.delete_stream(input).await
    }
    async fn describe_stream(&self, input: DescribeStreamInput) -> Result<DescribeStreamOutput> {
        self.inner.describe_stream(input).await
    }
    async fn describe_stream_summary(
        &self,
        input: DescribeStreamSummaryInput,
    ) -> Result<DescribeStreamSummaryOutput> {
        self.inner.describe_stream_summary(input).await
    }
    async fn list_streams(&self, input: ListStreamsInput) -> Result<ListStreamsOutput> {
        self.inner.list_streams(input).await
    }
    async fn list_shards(&self, mut input: ListShardsInput) -> Result<ListShardsOutput> {
        let n = self.list_calls.fetch_add(1, Ordering::SeqCst);
        if let Some((shards, truth_after)) = &*self.fake_shards.lock().expect("lock")
            && n < *truth_after
        {
            return Ok(ListShardsOutput {
                shards: shards.clone(),
                next_token: None,
            });
        }
        if let Some(page) = self.list_page {
            input.max_results = Some(page);
        }
        self.inner.list_shards(input).await
    }
    async fn put_record(&self, input: PutRecordInput) -> Result<PutRecordOutput> {
        self.inner.put_record(input).await
    }
    async fn put_records(&self, input: PutRecordsInput) -> Result<PutRecordsOutput> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let plan = (self.planner)(n, &input);
        if let Some(d) = plan.delay {
            tokio::time::sleep(d).await;
        }
        if plan.whole.is_none() && plan.fail.is_empty() {
            let total = input.records.len();
            let out = self.inner.put_records(input).await?;
            self.log.lock().expect("lock").push((total, total));
            return Ok(out);
        }
        if let Some((code, message)) = plan.whole {
            return Err(Error::from_code(&code, message));
        }
        let total = input.records.len();
        let failing: HashMap<usize, &str> = plan.fail.iter().copied().collect();
        let mut pass = Vec::new();
        for (i, r) in input.records.iter().enumerate() {
            if !failing.contains_key(&i) {
                pass.push(r.clone());
            }
        }
        let mut inner_results = if pass.is_empty() {
            Vec::new()
        } else {
            self.inner
                .put_records(PutRecordsInput {
                    records: pass,
                    ..input.clone()
                })
                .await?
                .records
        }
        .into_iter();
        let mut out = PutRecordsOutput::default();
        for i in 0..total {
            match failing.get(&i) {
                Some(code) => {
                    out.failed_record_count += 1;
                    out.records.push(PutRecordsResultEntry {
                        error_code: Some((*code).to_string()),
                        error_message: Some(format!("injected {code}")),
                        ..Default::default()
                    });
                }
                None => {
                    let r = inner_results.next().unwrap_or_default();
                    if r.error_code.is_some() {
                        out.failed_record_count += 1;
                    }
                    out.records.push(r);
                }
            }
        }
        self.log
            .lock()
            .expect("lock")
            .push((total, total - failing.len()));
        Ok(out)
    }
    async fn get_shard_iterator(
        &self,
        input: GetShardIteratorInput,
    ) -> Result<GetShardIteratorOutput> {
        self.inner.get_shard_iterator(input).await
    }
    async fn get_records(&self, input: GetRecordsInput) -> Result<GetRecordsOutput> {
        self.inner.get_records(input).await
    }
    async fn add_tags_to_stream(&self, input: AddTagsToStreamInput) -> Result<()> {
        self.inner.add_tags_to_stream(input).await
    }
    async fn list_tags_for_stream(
        &self,
        input: ListTagsForStreamInput,
    ) -> Result<ListTagsForStreamOutput> {
        self.inner.list_tags_for_stream(input).await
    }
    async fn remove_tags_from_stream(&self, input: RemoveTagsFromStreamInput) -> Result<()> {
        self.inner.remove_tags_from_stream(input).await
    }
    async fn increase_stream_retention_period(&self, input: RetentionPeriodInput) -> Result<()> {
        self.inner.increase_stream_retention_period(input).await
    }
    async fn decrease_stream_retention_period(&self, input: RetentionPeriodInput) -> Result<()> {
        self.inner.decrease_stream_retention_period(input).await
    }
    async fn split_shard(&self, input: SplitShardInput) -> Result<()> {
        self.inner.split_shard(input).await
    }
    async fn merge_shards(&self, input: MergeShardsInput) -> Result<()> {
        self.inner.merge_shards(input).await
    }
    async fn register_stream_consumer(
        &self,
        input: RegisterStreamConsumerInput,
    ) -> Result<RegisterStreamConsumerOutput> {
        self.inner.register_stream_consumer(input).await
    }
    async fn describe_stream_consumer(
        &self,
        input: DescribeStreamConsumerInput,
    ) -> Result<DescribeStreamConsumerOutput> {
        self.inner.describe_stream_consumer(input).await
    }
    async fn list_stream_consumers(
        &self,
        input: ListStreamConsumersInput,
    ) -> Result<ListStreamConsumersOutput> {
        self.inner.list_stream_consumers(input).await
    }
    async fn deregister_stream_consumer(&self, input: DeregisterStreamConsumerInput) -> Result<()> {
        self.inner.deregister_stream_consumer(input).await
    }
    async fn subscribe_to_shard(
        &self,
        input: SubscribeToShardInput,
    ) -> Result<SubscribeToShardStream> {
        self.inner.subscribe_to_shard(input).await
    }
    async fn update_stream_mode(&self, input: UpdateStreamModeInput) -> Result<()> {
        self.inner.update_stream_mode(input).await
    }
    async fn start_stream_encryption(&self, input: StreamEncryptionInput) -> Result<()> {
        self.inner.start_stream_encryption(input).await
    }
    async fn stop_stream_encryption(&self, input: StreamEncryptionInput) -> Result<()> {
        self.inner.stop_stream_encryption(input).await
    }
    async fn update_shard_count(
        &self,
        input: UpdateShardCountInput,
    ) -> Result<UpdateShardCountOutput> {
        self.inner.update_shard_count(input).await
    }
}

/// A Kinesis record read back.
#[derive(Debug, Clone)]
pub struct Stored {
    pub shard_id: String,
    pub sequence_number: String,
    pub partition_key: String,
    pub data: Bytes,
}

/// Every record of every shard of `stream`, in shard order then sequence order.
pub async fn read_all(
    kinesis: &dyn Kinesis,
    stream: &str,
) -> Result<Vec<Stored>, Box<dyn std::error::Error>> {
    let shards = kinesis
        .list_shards(ListShardsInput {
            stream_name: Some(stream.into()),
            ..Default::default()
        })
        .await?
        .shards;
    let mut out = Vec::new();
    for shard in shards {
        let mut iterator = kinesis
            .get_shard_iterator(GetShardIteratorInput {
                stream_name: Some(stream.into()),
                shard_id: shard.shard_id.clone(),
                shard_iterator_type: Some(ShardIteratorType::TrimHorizon),
                ..Default::default()
            })
            .await?
            .shard_iterator;
        while let Some(it) = iterator {
            // Reads are limited too (5 calls/s, 2 MiB/s per shard): wait and retry.
            let page = loop {
                match kinesis
                    .get_records(GetRecordsInput {
                        shard_iterator: it.clone(),
                        limit: Some(10_000),
                        ..Default::default()
                    })
                    .await
                {
                    Err(e) if e.is_retryable() => {
                        tokio::time::sleep(Duration::from_millis(200)).await
                    }
                    other => break other?,
                }
            };
            if page.records.is_empty() {
                break;
            }
            for r in page.records {
                out.push(Stored {
                    shard_id: shard.shard_id.clone(),
                    sequence_number: r.sequence_number,
                    partition_key: r.partition_key,
                    data: r.data,
                });
            }
            iterator = page.next_shard_iterator;
        }
    }
    Ok(out)
}

/// The user records a KCL consumer delivers: deaggregated, with sub-records outside the
/// shard's hash key range dropped; keyed by (shard, sequence number, sub-sequence number).
pub async fn consumer_view(
    kinesis: &dyn Kinesis,
    stream: &str,
) -> Result<Vec<((String, String, u64), UserRecord)>, Box<dyn std::error::Error>> {
    let ranges: HashMap<String, (u128, u128)> = kinesis
        .list_shards(ListShardsInput {
            stream_name: Some(stream.into()),
            ..Default::default()
        })
        .await?
        .shards
        .into_iter()
        .map(|s| {
            let a = s
                .hash_key_range
                .starting_hash_key
                .parse::<HashKey>()
                .map(|h| h.0);
            let b = s
                .hash_key_range
                .ending_hash_key
                .parse::<HashKey>()
                .map(|h| h.0);
            (s.shard_id, (a.unwrap_or(0), b.unwrap_or(u128::MAX)))
        })
        .collect();
    let mut out = Vec::new();
    for stored in read_all(kinesis, stream).await? {
        let aggregated = agg::decode(&stored.data).is_ok();
        let (lo, hi) = ranges[&stored.shard_id];
        for (i, r) in agg::deaggregate(&stored.partition_key, None, stored.data.clone())
            .into_iter()
            .enumerate()
        {
            let hash = match &r.explicit_hash_key {
                Some(k) => k.parse::<HashKey>()?.0,
                None => HashKey::from_partition_key(&r.partition_key).0,
            };
            if aggregated && !(lo <= hash && hash <= hi) {
                continue;
            }
            out.push((
                (
                    stored.shard_id.clone(),
                    stored.sequence_number.clone(),
                    i as u64,
                ),
                r,
            ));
        }
    }
    Ok(out)
}
