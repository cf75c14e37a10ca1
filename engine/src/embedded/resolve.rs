//! Name, ARN and consumer resolution: the stream a request names by StreamName or StreamARN
//! (validated first, then looked up), the resource an ARN names (stream or consumer), the
//! registry of enhanced fan-out consumers and their ARNs
//! (`<stream ARN>/consumer/<name>:<registration time in epoch seconds>`), and the checks that
//! a stream is in a state the request needs.

use crate::api::*;
use crate::embedded::limits::Limiter;
use crate::embedded::{Engine, Stream, StreamMeta, validate};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// A stream, or one of its consumers, named by a ResourceARN.
pub(crate) struct Resource {
    pub stream: Arc<Stream>,
    pub consumer: Option<Arc<ConsumerInfo>>,
}

/// A registered consumer.
#[derive(Debug)]
pub(crate) struct ConsumerInfo {
    pub name: String,
    pub arn: String,
    pub created_ms: i64,
    pub status: Mutex<ConsumerStatus>,
    pub gone: AtomicBool,
    /// Its own read budget per shard.
    pub limiter: Limiter,
    /// When each shard's latest subscription started (epoch ms).
    pub subscribed: Mutex<HashMap<u64, i64>>,
}

/// The consumers of one stream, by name.
pub(crate) type Consumers = Mutex<BTreeMap<String, Arc<ConsumerInfo>>>;

pub(crate) fn consumer_arn(stream_arn: &str, name: &str, created_ms: i64) -> String {
    format!(
        "{stream_arn}/consumer/{name}:{}",
        created_ms.div_euclid(1000)
    )
}

impl Engine {
    pub(crate) fn account(&self) -> &str {
        &self.inner.config.account_id
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.config.clock.now_ms()
    }

    /// Validates the StreamName / StreamARN pair of a request.
    pub(crate) fn check_target(v: &mut ValidationErrors, name: Option<&str>, arn: Option<&str>) {
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
    pub(crate) fn stream(
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

    pub(crate) fn require_writable(&self, stream: &Stream, meta: &StreamMeta) -> Result<(), Error> {
        match meta.status {
            StreamStatus::Active | StreamStatus::Updating => Ok(()),
            other => Err(Error::ResourceInUse(format!(
                "Stream {} under account {} not ACTIVE, instead in state {other}",
                stream.name,
                self.account()
            ))),
        }
    }

    /// ResourceInUseException unless the stream is ACTIVE.
    pub(crate) fn require_active(
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
    pub(crate) fn check_resource_arn(v: &mut ValidationErrors, arn: &str) {
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

    /// Finds a consumer by its ARN, or by stream ARN and name.
    pub(crate) fn find_consumer(
        &self,
        stream_arn: Option<&str>,
        name: Option<&str>,
        consumer_arn: Option<&str>,
    ) -> Result<(Arc<Stream>, Arc<ConsumerInfo>), Error> {
        let (stream_arn, name) = match (consumer_arn, stream_arn, name) {
            (Some(arn), _, _) => {
                let (stream_part, rest) = arn
                    .split_once("/consumer/")
                    .ok_or_else(|| Error::InvalidArgument(format!("Invalid ConsumerARN {arn}.")))?;
                let name = rest.rsplit_once(':').map_or(rest, |(n, _)| n);
                (stream_part.to_string(), name.to_string())
            }
            (None, Some(s), Some(n)) => (s.to_string(), n.to_string()),
            _ => {
                return Err(Error::InvalidArgument(
                    "Either ConsumerARN or both StreamARN and ConsumerName must be provided."
                        .into(),
                ));
            }
        };
        let stream = self.stream(None, Some(&stream_arn))?;
        let c = stream
            .consumers
            .lock()
            .get(&name)
            .cloned()
            .ok_or_else(|| self.consumer_not_found(consumer_arn.unwrap_or(&name)))?;
        if let Some(arn) = consumer_arn
            && arn != c.arn
        {
            return Err(self.consumer_not_found(arn));
        }
        Ok((stream, c))
    }

    /// A consumer read back from the catalog at open (ACTIVE).
    pub(crate) fn consumer_for_load(
        config: &super::EngineConfig,
        stream: &Stream,
        name: &str,
        created_ms: i64,
    ) -> Arc<ConsumerInfo> {
        let mut limits = config.limits;
        limits.read_calls_per_sec = u64::MAX / 4;
        Arc::new(ConsumerInfo {
            name: name.to_string(),
            arn: consumer_arn(&stream.arn, name, created_ms),
            created_ms,
            status: Mutex::new(ConsumerStatus::Active),
            gone: AtomicBool::new(false),
            limiter: Limiter::new(limits),
            subscribed: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn new_consumer(
        &self,
        stream: &Stream,
        name: &str,
        created_ms: i64,
        status: ConsumerStatus,
    ) -> Arc<ConsumerInfo> {
        let mut limits = self.inner.config.limits;
        // A consumer's budget is reads of bytes only; its calls are pushes, not requests.
        limits.read_calls_per_sec = u64::MAX / 4;
        Arc::new(ConsumerInfo {
            name: name.to_string(),
            arn: consumer_arn(&stream.arn, name, created_ms),
            created_ms,
            status: Mutex::new(status),
            gone: AtomicBool::new(false),
            limiter: Limiter::new(limits),
            subscribed: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn check_token_age(&self, issued_ms: i64) -> Result<(), Error> {
        let ttl = i64::try_from(self.inner.config.next_token_ttl.as_millis()).unwrap_or(i64::MAX);
        if self.now() - issued_ms > ttl {
            return Err(Error::ExpiredNextToken(
                "The NextToken has expired. Tokens are valid for 300 seconds; start the listing again.".into(),
            ));
        }
        Ok(())
    }
}

impl Resource {
    /// The consumer's name, or `""` for the stream (the catalog's key).
    pub(crate) fn consumer_key(&self) -> &str {
        self.consumer.as_ref().map_or("", |c| c.name.as_str())
    }
}
