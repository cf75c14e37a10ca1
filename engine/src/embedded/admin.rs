//! Account and resource administration of the embedded engine: DescribeLimits, the account
//! settings, enhanced (shard-level) monitoring, tags and resource policies by ARN, the
//! per-stream maximum record size and warm throughput.
//!
//! Resource policies are stored (in the catalog, per stream or consumer) and returned; they
//! are not enforced here.

use super::fanout::ConsumerInfo;
use super::{Engine, Stream, validate};
use crate::api::*;
use crate::store::StoreError;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Smallest and largest per-stream maximum record size, in KiB.
pub(crate) const MIN_RECORD_KIB: i32 = 1024;
pub(crate) const MAX_RECORD_KIB: i32 = 10240;
/// Longest resource policy document, in characters.
const MAX_POLICY_CHARS: usize = 20480;
/// How long a minimum throughput billing commitment lasts at least.
const COMMITMENT_MIN_MS: i64 = 24 * 3_600_000;
/// The `meta` key of the account settings.
pub(crate) const ACCOUNT_SETTINGS_KEY: &str = "account_settings";

/// The bit of a shard-level metric name (`None` for `ALL` and unknown names).
fn metric_bit(name: &str) -> Option<u32> {
    SHARD_LEVEL_METRICS
        .iter()
        .position(|m| *m == name)
        .map(|i| 1 << i)
}

/// Every shard-level metric bit.
const ALL_METRICS: u32 = (1 << SHARD_LEVEL_METRICS.len()) - 1;

/// Whether shard-level metric `name` (one of [`SHARD_LEVEL_METRICS`]) is on in `bits`.
pub(crate) fn metric_on(bits: u32, name: &str) -> bool {
    metric_bit(name).is_some_and(|b| bits & b != 0)
}

/// The names of the metrics in `bits`, in [`SHARD_LEVEL_METRICS`] order.
pub(crate) fn metric_names(bits: u32) -> Vec<String> {
    SHARD_LEVEL_METRICS
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, m)| (*m).to_string())
        .collect()
}

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

/// A stream, or one of its consumers, named by a ResourceARN.
pub(crate) struct Resource {
    pub stream: Arc<Stream>,
    pub consumer: Option<Arc<ConsumerInfo>>,
}

impl Resource {
    /// The consumer's name, or `""` for the stream (the catalog's key).
    fn consumer_key(&self) -> &str {
        self.consumer.as_ref().map_or("", |c| c.name.as_str())
    }
}

impl Engine {
    /// Refuses a call beyond `per_sec` calls per second of `operation` for the account (a
    /// token bucket holding one second of calls), as AWS limits its account-level operations.
    /// Off with [`super::ThroughputLimits::off`].
    fn account_call(&self, operation: &'static str, per_sec: u32) -> Result<(), Error> {
        if !self.inner.config.limits.enabled {
            return Ok(());
        }
        let now = self.inner.config.clock.now_ms();
        let cap = f64::from(per_sec);
        let now = now as f64 / 1000.0;
        let mut rates = self.inner.call_rates.lock();
        let bucket = rates
            .entry(operation)
            .or_insert_with(|| bucket::TokenBucket::full(cap, cap, now));
        bucket.refill(now);
        if bucket.has(1.0) {
            bucket.take(1.0);
            Ok(())
        } else {
            Err(Error::LimitExceeded(format!(
                "Rate exceeded for operation {operation} under account {}: at most {per_sec} calls per second.",
                self.inner.config.account_id
            )))
        }
    }

    /// ResourceInUseException unless the stream is ACTIVE.
    pub(super) fn require_active(
        &self,
        stream: &Stream,
        meta: &super::StreamMeta,
    ) -> Result<(), Error> {
        if meta.status != StreamStatus::Active {
            return Err(Error::ResourceInUse(format!(
                "Stream {} under account {} not ACTIVE, instead in state {}",
                stream.name,
                self.account(),
                meta.status
            )));
        }
        Ok(())
    }

    /// Validates a ResourceARN: a stream ARN or a consumer ARN.
    fn check_resource_arn(v: &mut ValidationErrors, arn: &str) {
        let stream_part = arn.split_once("/consumer/").map_or(arn, |(s, _)| s);
        if validate::parse_stream_arn(stream_part).is_none() {
            v.constraint(
                arn,
                "resourceARN",
                "Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+.*",
            );
        }
        validate::length(v, "resourceARN", arn, 1, 2048);
    }

    /// Finds the stream or consumer a ResourceARN names.
    pub(crate) fn resource(&self, arn: &str) -> Result<Resource, Error> {
        if arn.contains("/consumer/") {
            let (stream, c) = self.find_consumer(None, None, Some(arn))?;
            Ok(Resource {
                stream,
                consumer: Some(c),
            })
        } else {
            Ok(Resource {
                stream: self.stream(None, Some(arn))?,
                consumer: None,
            })
        }
    }

    pub(crate) fn do_describe_limits(&self) -> Result<DescribeLimitsOutput, Error> {
        self.account_call("DescribeLimits", 1)?;
        let reg = self.inner.streams.read();
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
            shard_limit: clamp(u64::from(self.inner.config.shard_limit)),
            open_shard_count: clamp(open as u64),
            on_demand_stream_count: clamp(on_demand as u64),
            on_demand_stream_count_limit: clamp(u64::from(
                self.inner.config.on_demand_stream_limit,
            )),
        })
    }

    /// ON_DEMAND streams, for the account quota.
    pub(crate) fn on_demand_stream_count(&self) -> usize {
        self.inner
            .streams
            .read()
            .by_name
            .values()
            .filter(|s| {
                let m = s.meta.read();
                m.mode == StreamMode::OnDemand && m.status != StreamStatus::Deleting
            })
            .count()
    }

    /// The LimitExceededException of one ON_DEMAND stream too many.
    pub(crate) fn on_demand_limit_error(&self) -> Error {
        Error::LimitExceeded(format!(
            "This request would exceed the on-demand stream limit for the account {} in {}. Current on-demand stream count for the account: {}. Limit: {}.",
            self.inner.config.account_id,
            self.inner.config.region,
            self.on_demand_stream_count(),
            self.inner.config.on_demand_stream_limit
        ))
    }

    async fn commitment(&self) -> Result<Commitment, Error> {
        let raw = self
            .catalog(|c| Ok(c.meta(ACCOUNT_SETTINGS_KEY).map_err(StoreError::from)?))
            .await?;
        parse_commitment(raw)
    }

    pub(crate) async fn do_describe_account_settings(
        &self,
    ) -> Result<DescribeAccountSettingsOutput, Error> {
        self.account_call("DescribeAccountSettings", 5)?;
        let now = self.inner.config.clock.now_ms();
        Ok(DescribeAccountSettingsOutput {
            minimum_throughput_billing_commitment: Some(self.commitment().await?.at(now).output()),
        })
    }

    pub(crate) async fn do_update_account_settings(
        &self,
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
        self.account_call("UpdateAccountSettings", 5)?;
        let now = self.inner.config.clock.now_ms();
        // One update at a time: hold the catalog while reading and writing.
        let next = self
            .catalog(move |catalog| update_commitment(catalog, enable, now))
            .await?;
        Ok(UpdateAccountSettingsOutput {
            minimum_throughput_billing_commitment: Some(next.output()),
        })
    }

    pub(crate) async fn do_enhanced_monitoring(
        &self,
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
        Self::check_target(
            &mut v,
            input.stream_name.as_deref(),
            input.stream_arn.as_deref(),
        );
        v.finish()?;
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
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
        let (engine, s) = (self.clone(), Arc::clone(&stream));
        let (current, desired) = self
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

    pub(crate) async fn do_tag_resource(&self, input: TagResourceInput) -> Result<(), Error> {
        let mut v = ValidationErrors::new();
        Self::check_tag_map(&mut v, &input.tags);
        Self::check_resource_arn(&mut v, &input.resource_arn);
        v.finish()?;
        let r = self.resource(&input.resource_arn)?;
        let Some(consumer) = &r.consumer else {
            // A stream's tags are the ones AddTagsToStream sets.
            return self
                .add_tags_to_stream(AddTagsToStreamInput {
                    stream_arn: Some(r.stream.arn.clone()),
                    tags: input.tags,
                    ..Default::default()
                })
                .await;
        };
        let tags: BTreeMap<String, String> = input.tags.into_iter().collect();
        self.validate_tags(&consumer.name, &tags)?;
        let (engine, epoch, consumer) = (self.clone(), r.stream.epoch, Arc::clone(consumer));
        self.catalog(move |catalog| {
            let existing = catalog
                .consumer_tags(epoch, &consumer.name)
                .map_err(StoreError::from)?;
            let new_keys = tags
                .keys()
                .filter(|k| !existing.iter().any(|(e, _)| e == *k))
                .count();
            if existing.len() + new_keys > super::ops::MAX_TAGS {
                return Err(Error::InvalidArgument(format!(
                    "Failed to add tags to consumer {} under account {} because a given resource cannot have more than {} tags associated with it.",
                    consumer.arn,
                    engine.account(),
                    super::ops::MAX_TAGS
                )));
            }
            let rows: Vec<(String, String)> = tags.into_iter().collect();
            catalog
                .put_consumer_tags(epoch, &consumer.name, &rows)
                .map_err(StoreError::from)?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn do_untag_resource(&self, input: UntagResourceInput) -> Result<(), Error> {
        let mut v = ValidationErrors::new();
        if input.tag_keys.is_empty() {
            v.constraint(
                "[]",
                "tagKeys",
                "Member must have length greater than or equal to 1",
            );
        }
        if input.tag_keys.len() > super::ops::MAX_TAGS {
            v.hidden(
                "tagKeys",
                &format!(
                    "Member must have length less than or equal to {}",
                    super::ops::MAX_TAGS
                ),
            );
        }
        if input
            .tag_keys
            .iter()
            .any(|k| k.is_empty() || k.chars().count() > 128)
        {
            v.hidden("tagKeys", "Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]");
        }
        Self::check_resource_arn(&mut v, &input.resource_arn);
        v.finish()?;
        let r = self.resource(&input.resource_arn)?;
        let Some(consumer) = &r.consumer else {
            return self
                .remove_tags_from_stream(RemoveTagsFromStreamInput {
                    stream_arn: Some(r.stream.arn.clone()),
                    tag_keys: input.tag_keys,
                    ..Default::default()
                })
                .await;
        };
        if input.tag_keys.iter().any(|k| !validate::tag_chars_ok(k)) {
            return Err(Error::InvalidArgument(super::ops::TAG_CHARS_MESSAGE.into()));
        }
        let (epoch, name, keys) = (r.stream.epoch, consumer.name.clone(), input.tag_keys);
        self.catalog(move |catalog| {
            catalog
                .remove_consumer_tags(epoch, &name, &keys)
                .map_err(StoreError::from)?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn do_list_tags_for_resource(
        &self,
        input: ListTagsForResourceInput,
    ) -> Result<ListTagsForResourceOutput, Error> {
        let mut v = ValidationErrors::new();
        Self::check_resource_arn(&mut v, &input.resource_arn);
        v.finish()?;
        let r = self.resource(&input.resource_arn)?;
        let pairs: Vec<(String, String)> = match &r.consumer {
            None => r
                .stream
                .meta
                .read()
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            Some(c) => {
                let (epoch, name) = (r.stream.epoch, c.name.clone());
                self.catalog(move |catalog| {
                    Ok(catalog
                        .consumer_tags(epoch, &name)
                        .map_err(StoreError::from)?)
                })
                .await?
            }
        };
        Ok(ListTagsForResourceOutput {
            tags: pairs
                .into_iter()
                .map(|(key, value)| Tag {
                    key,
                    value: Some(value),
                })
                .collect(),
        })
    }

    pub(crate) async fn do_update_max_record_size(
        &self,
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
        let stream = self.stream(None, Some(&input.stream_arn))?;
        let kib = input.max_record_size_in_kib as u32;
        let engine = self.clone();
        self.catalog(move |catalog| {
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

    pub(crate) async fn do_update_warm_throughput(
        &self,
        input: UpdateStreamWarmThroughputInput,
    ) -> Result<UpdateStreamWarmThroughputOutput, Error> {
        let mut v = ValidationErrors::new();
        Self::check_target(
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
        let stream = self.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        let (engine, s) = (self.clone(), Arc::clone(&stream));
        let wanted = input.warm_throughput_mibps;
        self.catalog(move |catalog| {
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
            warm_throughput: self.warm_throughput(&stream),
        })
    }

    pub(crate) async fn do_put_resource_policy(
        &self,
        input: PutResourcePolicyInput,
    ) -> Result<(), Error> {
        let mut v = ValidationErrors::new();
        Self::check_resource_arn(&mut v, &input.resource_arn);
        if input.policy.is_empty() {
            v.constraint(
                "",
                "policy",
                "Member must have length greater than or equal to 1",
            );
        }
        if input.policy.chars().count() > MAX_POLICY_CHARS {
            v.hidden(
                "policy",
                &format!("Member must have length less than or equal to {MAX_POLICY_CHARS}"),
            );
        }
        v.finish()?;
        let r = self.resource(&input.resource_arn)?;
        match serde_json::from_str::<serde_json::Value>(&input.policy) {
            Ok(serde_json::Value::Object(doc)) if doc.contains_key("Statement") => {}
            Ok(_) => {
                return Err(Error::InvalidArgument(
                    "Invalid policy document: a policy must be a JSON object with a Statement."
                        .into(),
                ));
            }
            Err(e) => {
                return Err(Error::InvalidArgument(format!(
                    "Invalid policy document: not valid JSON ({e})."
                )));
            }
        }
        let (epoch, key, policy) = (r.stream.epoch, r.consumer_key().to_string(), input.policy);
        self.catalog(move |catalog| {
            catalog
                .set_policy(epoch, &key, Some(&policy))
                .map_err(StoreError::from)?;
            Ok(())
        })
        .await?;
        tracing::info!(resource = %input.resource_arn, "resource policy attached");
        Ok(())
    }

    pub(crate) async fn do_get_resource_policy(
        &self,
        input: ResourcePolicyInput,
    ) -> Result<GetResourcePolicyOutput, Error> {
        let mut v = ValidationErrors::new();
        Self::check_resource_arn(&mut v, &input.resource_arn);
        v.finish()?;
        let r = self.resource(&input.resource_arn)?;
        let (epoch, key) = (r.stream.epoch, r.consumer_key().to_string());
        let policy = self
            .catalog(move |catalog| Ok(catalog.policy(epoch, &key).map_err(StoreError::from)?))
            .await?;
        Ok(GetResourcePolicyOutput {
            policy: policy.unwrap_or_else(|| "{}".into()),
        })
    }

    pub(crate) async fn do_delete_resource_policy(
        &self,
        input: ResourcePolicyInput,
    ) -> Result<(), Error> {
        let mut v = ValidationErrors::new();
        Self::check_resource_arn(&mut v, &input.resource_arn);
        v.finish()?;
        let r = self.resource(&input.resource_arn)?;
        let (epoch, key, arn) = (
            r.stream.epoch,
            r.consumer_key().to_string(),
            input.resource_arn.clone(),
        );
        self.catalog(move |catalog| {
            if catalog
                .policy(epoch, &key)
                .map_err(StoreError::from)?
                .is_none()
            {
                return Err(Error::ResourceNotFound(format!(
                    "No resource policy found for resource ARN {arn}."
                )));
            }
            catalog
                .set_policy(epoch, &key, None)
                .map_err(StoreError::from)?;
            Ok(())
        })
        .await?;
        tracing::info!(resource = %input.resource_arn, "resource policy deleted");
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_bits() {
        assert_eq!(metric_names(ALL_METRICS).len(), 7);
        assert_eq!(metric_names(0), Vec::<String>::new());
        let b =
            metric_bit("IncomingBytes").unwrap_or(0) | metric_bit("OutgoingRecords").unwrap_or(0);
        assert_eq!(metric_names(b), vec!["IncomingBytes", "OutgoingRecords"]);
        assert!(metric_on(b, "IncomingBytes"));
        assert!(!metric_on(b, "IncomingRecords"));
        assert_eq!(metric_bit("ALL"), None);
    }
}
