//! The data generator: records from a [`Template`] at a given rate (or as fast as the
//! producer takes them), through the producer, with progress on stderr and a JSON
//! [`GenerateSummary`] at the end.

use rill_engine::api::Kinesis;
use rill_kpl::{Producer, ProducerConfig, Record};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::BoxError;
use crate::template::Template;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateSpec {
    /// The stream.
    pub stream: String,
    /// The data template.
    pub template: Template,
    /// The partition key template.
    pub partition_key: Template,
    /// How many records.
    pub records: u64,
    /// Records per second; 0 = as fast as possible.
    pub rate: u64,
    /// Print a progress line to stderr this often (`None`: never).
    pub progress: Option<Duration>,
}

/// The outcome, printed as one JSON line by `rill generate`.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct GenerateSummary {
    /// The stream.
    pub stream: String,
    /// Records handed to the producer.
    pub records: u64,
    /// Records acknowledged.
    pub acked: u64,
    /// Records whose result was an error.
    pub failed: u64,
    /// From the first send to the last ack.
    pub seconds: f64,
    /// Acknowledged records per second.
    pub records_per_s: f64,
}

/// Generates `spec.records` records and waits for every result.
pub async fn generate(
    kinesis: Arc<dyn Kinesis>,
    spec: &GenerateSpec,
) -> Result<GenerateSummary, BoxError> {
    let producer = Producer::new(kinesis, ProducerConfig::builder().build()?);
    let stream: Arc<str> = spec.stream.as_str().into();
    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut last_progress = started;
    let mut waiters = tokio::task::JoinSet::new();
    let mut rng = rand::rng();
    for seq in 0..spec.records {
        if spec.rate > 0 {
            let due = started + Duration::from_secs_f64(seq as f64 / spec.rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        let mut key = spec.partition_key.render(seq, &mut rng);
        if key.is_empty() {
            key = "-".into();
        }
        let record = Record::new(
            Arc::clone(&stream),
            key,
            spec.template.render(seq, &mut rng),
        );
        let future = producer.send(record).await?;
        let (ok, err) = (Arc::clone(&acked), Arc::clone(&failed));
        waiters.spawn(async move {
            match future.await {
                Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    tracing::warn!(error = %e, "record failed");
                    err.fetch_add(1, Ordering::Relaxed)
                }
            };
        });
        while waiters.try_join_next().is_some() {}
        if let Some(every) = spec.progress
            && last_progress.elapsed() >= every
        {
            last_progress = Instant::now();
            eprintln!(
                "generate: {} sent, {} acked, {} failed, {:.1} s",
                seq + 1,
                acked.load(Ordering::Relaxed),
                failed.load(Ordering::Relaxed),
                started.elapsed().as_secs_f64()
            );
        }
    }
    producer.flush().await;
    while waiters.join_next().await.is_some() {}
    let seconds = started.elapsed().as_secs_f64();
    producer.shutdown().await;
    let acked = acked.load(Ordering::Relaxed);
    Ok(GenerateSummary {
        stream: spec.stream.clone(),
        records: spec.records,
        acked,
        failed: failed.load(Ordering::Relaxed),
        seconds: (seconds * 100.0).round() / 100.0,
        records_per_s: (acked as f64 / seconds.max(1e-9)).round(),
    })
}
