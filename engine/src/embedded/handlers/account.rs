//! Account and limits: DescribeLimits, Describe/UpdateAccountSettings (the minimum throughput
//! billing commitment), Enable/DisableEnhancedMonitoring, UpdateMaxRecordSize,
//! UpdateStreamWarmThroughput.

use crate::api::*;
use crate::embedded::metric_set::*;
use crate::embedded::quotas::*;
use crate::embedded::{Engine, Stream, validate};
use crate::store::StoreError;
use std::sync::Arc;

/// How long a minimum throughput billing commitment lasts at least.
const COMMITMENT_MIN_MS: i64 = 24 * 3_600_000;
/// The `meta` key of the account settings.
pub(crate) const ACCOUNT_SETTINGS_KEY: &str = "account_settings";

/// The account's minimum throughput billing commitment as stored in the catalog.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
struct Commitment {
    /// ENABLED, DISABLED or ENABLED_UNTIL_EARLIEST_ALLOWED_END (None: never configured).
    status: Option<MinimumThroughputBillingCommitmentStatus>,
    started_ms: Option<i64>,
    ended_ms: Option<i64>,
    earliest_end_ms: Option<i64>,
}

/// Whether stored account settings parse (checked when the engine opens).
pub(crate) fn account_settings_parse(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Commitment>(bytes).is_ok()
}

/// Stored account settings, or the default when none were ever stored.
fn parse_commitment(raw: Option<Vec<u8>>) -> Result<Commitment, Error> {
    match raw {
        None => Ok(Commitment::default()),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Error::internal("the stored account settings are unreadable", e)),
    }
}

impl Commitment {
    /// The commitment as seen at `now`: one that was disabled early ends at its earliest end.
    fn at(mut self, now: i64) -> Commitment {
        if self.status
            == Some(MinimumThroughputBillingCommitmentStatus::EnabledUntilEarliestAllowedEnd)
            && self.ended_ms.is_some_and(|e| now >= e)
        {
            self.status = Some(MinimumThroughputBillingCommitmentStatus::Disabled);
        }
        self
    }

    fn output(self) -> MinimumThroughputBillingCommitmentOutput {
        MinimumThroughputBillingCommitmentOutput {
            status: self
                .status
                .unwrap_or(MinimumThroughputBillingCommitmentStatus::Disabled),
            started_at: self.started_ms.map(Timestamp),
            ended_at: self.ended_ms.map(Timestamp),
            earliest_allowed_end_at: self.earliest_end_ms.map(Timestamp),
        }
    }
}

/// UpdateAccountSettings under the catalog lock: reads the commitment, works out the next
/// one at `now` and stores it.
fn update_commitment(
    catalog: &mut crate::store::Catalog,
    enable: bool,
    now: i64,
) -> Result<Commitment, Error> {
    let current = parse_commitment(
        catalog
            .meta(ACCOUNT_SETTINGS_KEY)
            .map_err(StoreError::from)?,
    )?
    .at(now);
    use MinimumThroughputBillingCommitmentStatus as S;
    let next = match (enable, current.status.unwrap_or(S::Disabled)) {
        (true, S::Enabled) | (false, S::Disabled) => current,
        (false, S::EnabledUntilEarliestAllowedEnd) => current,
        (true, S::EnabledUntilEarliestAllowedEnd) => Commitment {
            status: Some(S::Enabled),
            ended_ms: None,
            ..current
        },
        (true, S::Disabled) => Commitment {
            status: Some(S::Enabled),
            started_ms: Some(now),
            ended_ms: None,
            earliest_end_ms: Some(now + COMMITMENT_MIN_MS),
        },
        (false, S::Enabled) => {
            let earliest = current.earliest_end_ms.unwrap_or(now);
            if now < earliest {
                Commitment {
                    status: Some(S::EnabledUntilEarliestAllowedEnd),
                    ended_ms: Some(earliest),
                    ..current
                }
            } else {
                Commitment {
                    status: Some(S::Disabled),
                    ended_ms: Some(now),
                    ..current
                }
            }
        }
    };
    let bytes = serde_json::to_vec(&next)
        .map_err(|e| Error::internal("could not encode the account settings", e))?;
    catalog
        .set_meta(ACCOUNT_SETTINGS_KEY, &bytes)
        .map_err(StoreError::from)?;
    Ok(next)
}

impl Engine {
    /// A stream's warm throughput as DescribeStreamSummary shows it: ON_DEMAND streams only;
    /// the current value is the write capacity of its open shards (1 MiB/s each).
    pub(crate) fn warm_throughput(&self, stream: &Stream) -> Option<WarmThroughputObject> {
        let meta = stream.meta.read();
        if meta.mode != StreamMode::OnDemand {
            return None;
        }
        let open = stream.shards.read().open.len();
        Some(WarmThroughputObject {
            target_mibps: meta
                .warm_mibps
                .map(|m| i32::try_from(m).unwrap_or(i32::MAX)),
            current_mibps: Some(i32::try_from(open).unwrap_or(i32::MAX)),
        })
    }

    async fn commitment(&self) -> Result<Commitment, Error> {
        let raw = self
            .catalog(|c| Ok(c.meta(ACCOUNT_SETTINGS_KEY).map_err(StoreError::from)?))
            .await?;
        parse_commitment(raw)
    }
}

pub(crate) async fn describe_limits(
    engine: &Engine,
    _input: DescribeLimitsInput,
) -> Result<DescribeLimitsOutput, Error> {
    engine.account_call("DescribeLimits", 1)?;
    let reg = engine.inner.streams.read();
    let live = || {
        reg.by_name
            .values()
            .filter(|s| s.meta.read().status != StreamStatus::Deleting)
    };
    let open: usize = live().map(|s| s.shards.read().open.len()).sum();
    let on_demand = live()
        .filter(|s| s.meta.read().mode == StreamMode::OnDemand)
        .count();
    let clamp = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    Ok(DescribeLimitsOutput {
        shard_limit: clamp(u64::from(engine.inner.config.shard_limit)),
        open_shard_count: clamp(open as u64),
        on_demand_stream_count: clamp(on_demand as u64),
        on_demand_stream_count_limit: clamp(u64::from(engine.inner.config.on_demand_stream_limit)),
    })
}

pub(crate) async fn describe_account_settings(
    engine: &Engine,
    _input: DescribeAccountSettingsInput,
) -> Result<DescribeAccountSettingsOutput, Error> {
    engine.account_call("DescribeAccountSettings", 5)?;
    let now = engine.inner.config.clock.now_ms();
    Ok(DescribeAccountSettingsOutput {
        minimum_throughput_billing_commitment: Some(engine.commitment().await?.at(now).output()),
    })
}

pub(crate) async fn update_account_settings(
    engine: &Engine,
    input: UpdateAccountSettingsInput,
) -> Result<UpdateAccountSettingsOutput, Error> {
    let mut v = ValidationErrors::new();
    let wanted = match &input.minimum_throughput_billing_commitment {
        None => {
            v.null("minimumThroughputBillingCommitment");
            None
        }
        Some(c) => match c.status.as_deref() {
            None => {
                v.null("minimumThroughputBillingCommitment.status");
                None
            }
            Some(s @ ("ENABLED" | "DISABLED")) => Some(s == "ENABLED"),
            Some(other) => {
                v.constraint(
                    other,
                    "minimumThroughputBillingCommitment.status",
                    "Member must satisfy enum value set: [ENABLED, DISABLED]",
                );
                None
            }
        },
    };
    v.finish()?;
    let enable = wanted.unwrap_or(false);
    engine.account_call("UpdateAccountSettings", 5)?;
    let now = engine.inner.config.clock.now_ms();
    // One update at a time: hold the catalog while reading and writing.
    let next = engine
        .catalog(move |catalog| update_commitment(catalog, enable, now))
        .await?;
    Ok(UpdateAccountSettingsOutput {
        minimum_throughput_billing_commitment: Some(next.output()),
    })
}

async fn enhanced_monitoring(
    this: &Engine,
    input: EnhancedMonitoringInput,
    enable: bool,
) -> Result<EnhancedMonitoringOutput, Error> {
    let mut v = ValidationErrors::new();
    let shown = || format!("[{}]", input.shard_level_metrics.join(", "));
    if input.shard_level_metrics.is_empty() {
        v.constraint(
            "[]",
            "shardLevelMetrics",
            "Member must have length greater than or equal to 1",
        );
    }
    if input.shard_level_metrics.len() > 7 {
        v.constraint(
            shown(),
            "shardLevelMetrics",
            "Member must have length less than or equal to 7",
        );
    }
    if input
        .shard_level_metrics
        .iter()
        .any(|m| m != "ALL" && metric_bit(m).is_none())
    {
        v.constraint(
            shown(),
            "shardLevelMetrics",
            "Member must satisfy constraint: [Member must satisfy enum value set: [IncomingBytes, OutgoingRecords, IteratorAgeMilliseconds, IncomingRecords, ReadProvisionedThroughputExceeded, WriteProvisionedThroughputExceeded, OutgoingBytes, ALL]]",
        );
    }
    Engine::check_target(
        &mut v,
        input.stream_name.as_deref(),
        input.stream_arn.as_deref(),
    );
    v.finish()?;
    let stream = this.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    let asked = input
        .shard_level_metrics
        .iter()
        .map(|m| {
            if m == "ALL" {
                ALL_METRICS
            } else {
                metric_bit(m).unwrap_or(0)
            }
        })
        .fold(0, |a, b| a | b);
    let (engine, s) = (this.clone(), Arc::clone(&stream));
    let (current, desired) = this
        .catalog(move |catalog| {
            let mut meta = s.meta.write();
            engine.require_active(&s, &meta)?;
            let current = meta.shard_metrics;
            let desired = if enable {
                current | asked
            } else {
                current & !asked
            };
            if desired != current {
                catalog
                    .set_shard_metrics(s.epoch, desired)
                    .map_err(StoreError::from)?;
                meta.shard_metrics = desired;
                tracing::info!(stream = %s.name, metrics = ?metric_names(desired), "shard-level metrics changed");
            }
            Ok((current, desired))
        })
        .await?;
    Ok(EnhancedMonitoringOutput {
        stream_name: Some(stream.name.clone()),
        stream_arn: Some(stream.arn.clone()),
        current_shard_level_metrics: metric_names(current),
        desired_shard_level_metrics: metric_names(desired),
    })
}

pub(crate) async fn update_max_record_size(
    this: &Engine,
    input: UpdateMaxRecordSizeInput,
) -> Result<(), Error> {
    let mut v = ValidationErrors::new();
    validate::stream_arn(&mut v, "streamARN", &input.stream_arn);
    validate::range(
        &mut v,
        "maxRecordSizeInKiB",
        Some(input.max_record_size_in_kib),
        MIN_RECORD_KIB,
        MAX_RECORD_KIB,
    );
    v.finish()?;
    let stream = this.stream(None, Some(&input.stream_arn))?;
    let kib = input.max_record_size_in_kib as u32;
    let engine = this.clone();
    this.catalog(move |catalog| {
        let mut meta = stream.meta.write();
        engine.require_active(&stream, &meta)?;
        catalog
            .set_max_record_kib(stream.epoch, kib)
            .map_err(StoreError::from)?;
        meta.max_record_kib = kib;
        tracing::info!(stream = %stream.name, kib, "maximum record size changed");
        Ok(())
    })
    .await
}

pub(crate) async fn update_stream_warm_throughput(
    this: &Engine,
    input: UpdateStreamWarmThroughputInput,
) -> Result<UpdateStreamWarmThroughputOutput, Error> {
    let mut v = ValidationErrors::new();
    Engine::check_target(
        &mut v,
        input.stream_name.as_deref(),
        input.stream_arn.as_deref(),
    );
    validate::range(
        &mut v,
        "warmThroughputMiBps",
        Some(input.warm_throughput_mibps),
        0,
        i32::MAX,
    );
    v.finish()?;
    let stream = this.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    let (engine, s) = (this.clone(), Arc::clone(&stream));
    let wanted = input.warm_throughput_mibps;
    this.catalog(move |catalog| {
        let mut meta = s.meta.write();
        engine.require_active(&s, &meta)?;
        if meta.mode != StreamMode::OnDemand {
            return Err(Error::InvalidArgument(format!(
                "Warm throughput can only be configured for streams in ON_DEMAND mode. Stream {} under account {} is in {} mode.",
                s.name,
                engine.account(),
                meta.mode
            )));
        }
        let mibps = u32::try_from(wanted).ok().filter(|m| *m > 0);
        catalog
            .set_warm_throughput(s.epoch, mibps)
            .map_err(StoreError::from)?;
        meta.warm_mibps = mibps;
        Ok(())
    })
    .await?;
    tracing::info!(stream = %stream.name, mibps = input.warm_throughput_mibps, "warm throughput changed");
    Ok(UpdateStreamWarmThroughputOutput {
        stream_arn: Some(stream.arn.clone()),
        stream_name: Some(stream.name.clone()),
        warm_throughput: this.warm_throughput(&stream),
    })
}

pub(crate) async fn enable_enhanced_monitoring(
    engine: &Engine,
    input: EnhancedMonitoringInput,
) -> Result<EnhancedMonitoringOutput> {
    enhanced_monitoring(engine, input, true).await
}

pub(crate) async fn disable_enhanced_monitoring(
    engine: &Engine,
    input: EnhancedMonitoringInput,
) -> Result<EnhancedMonitoringOutput> {
    enhanced_monitoring(engine, input, false).await
}
