//! Channels (CreateChannel, DescribeChannel, ListChannels, UpdateChannel, DeleteChannel).
//!
//! On AWS a channel reads an ON_DEMAND stream and delivers its records to a general purpose
//! S3 bucket or to streaming tables in S3 Tables. **rill delivers nothing**: it keeps each
//! channel's configuration, state and tags in the catalog (`channels` table, see
//! `store/channels.rs`), validates requests as AWS does and answers with AWS's shapes, so
//! that tools which manage channels work against it. Every description says so in
//! `ChannelStatusReason` ([`NO_DELIVERY`]).
//!
//! States: nothing is provisioned, so a channel is ACTIVE as soon as it is created or
//! updated. CreateChannel's answer says CREATING and UpdateChannel's UPDATING, as AWS's
//! answers do; a later DescribeChannel says ACTIVE. DeleteChannel removes the channel at
//! once.
//!
//! Every catalog call runs on the blocking pool through [`Engine::catalog`].

use crate::api::*;
use crate::embedded::quotas::*;
use crate::embedded::token::{Kind, Token};
use crate::embedded::{Engine, validate};
use crate::store::{ChannelRow, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What every channel description says in `ChannelStatusReason`.
pub(crate) const NO_DELIVERY: &str = "rill keeps this channel's configuration but delivers no records: delivery to Amazon S3 and S3 Tables is not implemented.";

/// Default `DataFreshnessInSeconds` of a destination.
const DEFAULT_FRESHNESS_SECS: i32 = 300;

/// Largest ListChannels page.
const MAX_PAGE: usize = 100;

/// A channel's catalog body: its description as DescribeChannel answers it, and its tags.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    description: ChannelDescription,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

impl Stored {
    fn parse(row: &ChannelRow) -> Result<Stored, Error> {
        serde_json::from_str(&row.body).map_err(|e| {
            Error::internal(
                format!("catalog entry of channel {} is unreadable", row.arn),
                e,
            )
        })
    }

    fn body(&self) -> Result<String, Error> {
        serde_json::to_string(self).map_err(|e| Error::internal("serializing a channel", e))
    }
}

/// Checks a channel ARN: `arn:aws*:kinesis:<region>:<12 digits>:channel/<name>`, 1..=2048.
fn channel_arn(v: &mut ValidationErrors, field: &str, value: &str) {
    let ok = (|| {
        let mut parts = value.splitn(6, ':');
        let (arn, partition, service, _region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        let name = resource.strip_prefix("channel/")?;
        (arn == "arn"
            && partition.starts_with("aws")
            && service == "kinesis"
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && !name.is_empty()
            && !name.chars().any(char::is_whitespace))
        .then_some(())
    })()
    .is_some();
    if !ok {
        v.constraint(
            value,
            field,
            "Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:channel/\\S+",
        );
    }
    validate::length(v, field, value, 1, 2048);
}

/// The destination a description delivers to.
fn destination_type(d: &ChannelDescription) -> ChannelDestinationType {
    if d.s3_tables_destination_configuration.is_some() {
        ChannelDestinationType::S3Tables
    } else {
        ChannelDestinationType::S3
    }
}

impl Engine {
    fn channel_not_found(&self, arn: &str) -> Error {
        Error::ResourceNotFound(format!(
            "Channel {arn} under account {} not found.",
            self.account()
        ))
    }

    /// The stored channel with this ARN.
    async fn stored_channel(&self, arn: &str) -> Result<(ChannelRow, Stored), Error> {
        let key = arn.to_string();
        let row = self
            .catalog(move |c| c.channel(&key).map_err(|e| StoreError::from(e).into()))
            .await?
            .ok_or_else(|| self.channel_not_found(arn))?;
        let stored = Stored::parse(&row)?;
        Ok((row, stored))
    }
}

/// CreateChannel.
///
/// # Cancel safety
///
/// Cancel safe as [`Engine::catalog`] is: once the catalog call has started, the
/// channel is created whether or not the future is polled to the end.
pub(crate) async fn create_channel(
    engine: &Engine,
    input: CreateChannelInput,
) -> Result<CreateChannelOutput, Error> {
    let mut v = ValidationErrors::new();
    validate::name(&mut v, "channelName", &input.channel_name);
    validate::length(
        &mut v,
        "serviceExecutionRoleARN",
        &input.service_execution_role_arn,
        1,
        2048,
    );
    let sources = &input.stream_configuration_list;
    if sources.is_empty() {
        v.constraint(
            "[]",
            "streamConfigurationList",
            "Member must have length greater than or equal to 1",
        );
    }
    if sources.len() > 1 {
        v.hidden(
            "streamConfigurationList",
            "Member must have length less than or equal to 1",
        );
    }
    for (i, s) in sources.iter().enumerate() {
        let at = format!("streamConfigurationList.{}.member", i + 1);
        validate::stream_arn(&mut v, &format!("{at}.streamARN"), &s.stream_arn);
        if s.record_configuration.is_none() {
            v.null(&format!("{at}.recordConfiguration"));
        }
    }
    if let Some(tags) = &input.tags {
        Engine::check_tag_map(&mut v, tags);
    }
    v.finish()?;
    let tags: BTreeMap<String, String> = input.tags.unwrap_or_default().into_iter().collect();
    engine.validate_tags(&input.channel_name, &tags)?;
    if tags.len() > MAX_TAGS {
        return Err(Error::InvalidArgument(format!(
            "Failed to create channel {} under account {} because a given channel cannot have more than {MAX_TAGS} tags associated with it.",
            input.channel_name,
            engine.account()
        )));
    }
    let (s3, tables) = match (
        input.s3_destination_configuration,
        input.s3_tables_destination_configuration,
    ) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(Error::InvalidArgument(
                "Exactly one of S3DestinationConfiguration and S3TablesDestinationConfiguration must be specified.".into(),
            ));
        }
        (s3, tables) => (s3, tables),
    };
    let source = input
        .stream_configuration_list
        .into_iter()
        .next()
        .ok_or_else(|| Error::Validation("streamConfigurationList is empty".into()))?;
    let stream = engine.stream(None, Some(&source.stream_arn))?;
    let mode = stream.meta.read().mode;
    if mode != StreamMode::OnDemand {
        return Err(Error::InvalidArgument(format!(
            "Channels can only be created for streams in ON_DEMAND mode. Stream {} under account {} is in {mode} mode.",
            stream.name,
            engine.account()
        )));
    }
    let config = &engine.inner.config;
    let name = input.channel_name;
    let arn = format!(
        "arn:aws:kinesis:{}:{}:channel/{name}",
        config.region, config.account_id
    );
    let id: String = rand::random::<[u8; 16]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let now = engine.now();
    let description = ChannelDescription {
        channel_name: name.clone(),
        channel_arn: arn.clone(),
        channel_id: id,
        channel_status: ChannelStatus::Active,
        channel_status_reason: Some(NO_DELIVERY.into()),
        channel_creation_timestamp: Timestamp(now),
        service_execution_role_arn: input.service_execution_role_arn,
        stream_configuration_list: vec![ChannelStreamDescription {
            stream_arn: stream.arn.clone(),
            stream_creation_timestamp: Timestamp(stream.epoch as i64),
            record_configuration: source.record_configuration,
        }],
        s3_destination_configuration: s3.map(|d| S3DestinationDescription {
            data_freshness_in_seconds: d
                .data_freshness_in_seconds
                .unwrap_or(DEFAULT_FRESHNESS_SECS),
            dead_letter_queue_s3_configuration: d.dead_letter_queue_s3_configuration,
            storage_configuration: d.storage_configuration,
        }),
        s3_tables_destination_configuration: tables.map(|d| S3TablesDestinationDescription {
            data_freshness_in_seconds: d
                .data_freshness_in_seconds
                .unwrap_or(DEFAULT_FRESHNESS_SECS),
            dead_letter_queue_s3_configuration: d.dead_letter_queue_s3_configuration,
            s3_tables_configuration_list: d.s3_tables_configuration_list,
        }),
        encryption_configuration: input.encryption_configuration,
        logging_configuration: input.logging_configuration,
    };
    let stored = Stored {
        description: description.clone(),
        tags,
    };
    let row = ChannelRow {
        arn,
        name: name.clone(),
        stream_epoch: stream.epoch,
        created_ms: now,
        body: stored.body()?,
    };
    let account = engine.account().to_string();
    engine
        .catalog(move |c| {
            if c.create_channel(&row).map_err(StoreError::from)? {
                tracing::info!(channel = %row.name, "channel created");
                Ok(())
            } else {
                Err(Error::ResourceInUse(format!(
                    "Channel {} under account {account} already exists.",
                    row.name
                )))
            }
        })
        .await?;
    Ok(CreateChannelOutput {
        channel_description: ChannelDescription {
            channel_status: ChannelStatus::Creating,
            ..description
        },
    })
}

/// DescribeChannel.
///
/// # Cancel safety
///
/// Cancel safe: it only reads.
pub(crate) async fn describe_channel(
    engine: &Engine,
    input: DescribeChannelInput,
) -> Result<DescribeChannelOutput, Error> {
    let mut v = ValidationErrors::new();
    channel_arn(&mut v, "channelARN", &input.channel_arn);
    v.finish()?;
    let (_, stored) = engine.stored_channel(&input.channel_arn).await?;
    Ok(DescribeChannelOutput {
        channel_description: stored.description,
    })
}

/// ListChannels: channels by name, at most 100 a page, those of the filter's streams
/// when one is given (the filter applies to every page, so pass it with each token).
///
/// # Cancel safety
///
/// Cancel safe: it only reads.
pub(crate) async fn list_channels(
    engine: &Engine,
    input: ListChannelsInput,
) -> Result<ListChannelsOutput, Error> {
    let mut v = ValidationErrors::new();
    validate::range(&mut v, "maxResults", input.max_results, 1, 10000);
    if let Some(t) = &input.next_token {
        validate::length(&mut v, "nextToken", t, 1, 1_048_576);
    }
    if let Some(filter) = &input.stream_filter {
        if filter.is_empty() {
            v.constraint(
                "[]",
                "streamFilter",
                "Member must have length greater than or equal to 1",
            );
        }
        if filter.len() > 10000 {
            v.hidden(
                "streamFilter",
                "Member must have length less than or equal to 10000",
            );
        }
        for (i, f) in filter.iter().enumerate() {
            validate::stream_arn(
                &mut v,
                &format!("streamFilter.{}.member.streamARN", i + 1),
                &f.stream_arn,
            );
        }
    }
    v.finish()?;
    let limit = input
        .max_results
        .map_or(MAX_PAGE, |m| (m.max(1) as usize).min(MAX_PAGE));
    let after = match &input.next_token {
        Some(t) => {
            let tok = Token::decode(t, &engine.inner.key, Kind::ListChannels)
                .ok_or_else(|| Error::InvalidArgument("Invalid NextToken.".into()))?;
            engine.check_token_age(tok.issued_ms)?;
            Some(tok.name)
        }
        None => None,
    };
    let rows = engine
        .catalog(|c| c.channels().map_err(|e| StoreError::from(e).into()))
        .await?;
    let filter = input.stream_filter.unwrap_or_default();
    let wanted = |d: &ChannelDescription| {
        filter.is_empty()
            || d.stream_configuration_list.iter().any(|s| {
                filter.iter().any(|f| {
                    f.stream_arn == s.stream_arn
                        && f.stream_creation_timestamp
                            .is_none_or(|t| t == s.stream_creation_timestamp)
                })
            })
    };
    let mut page = Vec::with_capacity(limit);
    let mut more = false;
    for row in rows {
        if after.as_ref().is_some_and(|a| &row.name <= a) {
            continue;
        }
        let d = Stored::parse(&row)?.description;
        if !wanted(&d) {
            continue;
        }
        if page.len() == limit {
            more = true;
            break;
        }
        page.push(ChannelSummary {
            channel_destination_type: destination_type(&d),
            streams: d
                .stream_configuration_list
                .iter()
                .map(|s| ChannelStreamIdentifier {
                    stream_arn: s.stream_arn.clone(),
                    stream_creation_timestamp: s.stream_creation_timestamp,
                })
                .collect(),
            channel_name: d.channel_name,
            channel_arn: d.channel_arn,
            channel_id: d.channel_id,
            channel_status: d.channel_status,
            channel_status_reason: d.channel_status_reason,
            channel_creation_timestamp: d.channel_creation_timestamp,
        });
    }
    let next_token = match (more, page.last()) {
        (true, Some(last)) => Some(
            Token {
                kind: Kind::ListChannels,
                issued_ms: engine.now(),
                epoch: 0,
                a: 0,
                b: 0,
                name: last.channel_name.clone(),
            }
            .encode(&engine.inner.key),
        ),
        _ => None,
    };
    Ok(ListChannelsOutput {
        channel_summaries: page,
        next_token,
    })
}

/// UpdateChannel: the delivery's `DataFreshnessInSeconds` and the logging.
///
/// # Cancel safety
///
/// Cancel safe as [`Engine::catalog`] is: once the write has started, it is made
/// whether or not the future is polled to the end.
pub(crate) async fn update_channel(
    engine: &Engine,
    input: UpdateChannelInput,
) -> Result<UpdateChannelOutput, Error> {
    let mut v = ValidationErrors::new();
    channel_arn(&mut v, "channelARN", &input.channel_arn);
    v.finish()?;
    let (row, mut stored) = engine.stored_channel(&input.channel_arn).await?;
    let d = &mut stored.description;
    if d.channel_status != ChannelStatus::Active {
        return Err(Error::ResourceInUse(format!(
            "Channel {} under account {} not ACTIVE, instead in state {}",
            d.channel_name,
            engine.account(),
            d.channel_status
        )));
    }
    if let Some(u) = input.s3_destination_configuration {
        let Some(s3) = d.s3_destination_configuration.as_mut() else {
            return Err(Error::InvalidArgument(format!(
                "Channel {} delivers to S3 Tables: S3DestinationConfiguration cannot be updated.",
                d.channel_name
            )));
        };
        s3.data_freshness_in_seconds = u.data_freshness_in_seconds;
    }
    if let Some(u) = input.s3_tables_destination_configuration {
        let Some(t) = d.s3_tables_destination_configuration.as_mut() else {
            return Err(Error::InvalidArgument(format!(
                "Channel {} delivers to S3: S3TablesDestinationConfiguration cannot be updated.",
                d.channel_name
            )));
        };
        t.data_freshness_in_seconds = u.data_freshness_in_seconds;
    }
    if let Some(logging) = input.logging_configuration {
        d.logging_configuration = Some(logging);
    }
    let description = d.clone();
    let body = stored.body()?;
    let arn = row.arn.clone();
    let updated = engine
        .catalog(move |c| {
            c.update_channel(&arn, &body)
                .map_err(|e| StoreError::from(e).into())
        })
        .await?;
    if !updated {
        // Deleted since it was read.
        return Err(engine.channel_not_found(&row.arn));
    }
    tracing::info!(channel = %row.name, "channel updated");
    Ok(UpdateChannelOutput {
        channel_description: ChannelDescription {
            channel_status: ChannelStatus::Updating,
            ..description
        },
    })
}

/// DeleteChannel.
///
/// # Cancel safety
///
/// Cancel safe as [`Engine::catalog`] is: once the delete has started, it is made
/// whether or not the future is polled to the end.
pub(crate) async fn delete_channel(
    engine: &Engine,
    input: DeleteChannelInput,
) -> Result<(), Error> {
    let mut v = ValidationErrors::new();
    channel_arn(&mut v, "channelARN", &input.channel_arn);
    v.finish()?;
    let arn = input.channel_arn.clone();
    let deleted = engine
        .catalog(move |c| {
            c.delete_channel(&arn)
                .map_err(|e| StoreError::from(e).into())
        })
        .await?;
    if !deleted {
        return Err(engine.channel_not_found(&input.channel_arn));
    }
    tracing::info!(channel = %input.channel_arn, "channel deleted");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn channel_arns_are_checked_as_aws_checks_them() {
        let mut v = ValidationErrors::new();
        channel_arn(
            &mut v,
            "channelARN",
            "arn:aws:kinesis:us-east-1:000000000000:channel/c",
        );
        assert!(v.is_empty());
        channel_arn(&mut v, "channelARN", "arn:aws:kinesis:us-east-1:0:stream/s");
        assert!(!v.is_empty());
    }

    #[test]
    fn stored_channels_round_trip() -> Result<(), Error> {
        let stored = Stored {
            description: ChannelDescription {
                channel_name: "c".into(),
                channel_arn: "arn".into(),
                channel_id: "id".into(),
                channel_status: ChannelStatus::Active,
                channel_status_reason: Some(NO_DELIVERY.into()),
                channel_creation_timestamp: Timestamp(1_000),
                service_execution_role_arn: "role".into(),
                stream_configuration_list: Vec::new(),
                s3_destination_configuration: None,
                s3_tables_destination_configuration: None,
                encryption_configuration: None,
                logging_configuration: None,
            },
            tags: HashMap::from([("k".to_string(), "v".to_string())])
                .into_iter()
                .collect(),
        };
        let row = ChannelRow {
            arn: "arn".into(),
            name: "c".into(),
            stream_epoch: 1,
            created_ms: 1_000,
            body: stored.body()?,
        };
        let back = Stored::parse(&row)?;
        assert_eq!(back.description, stored.description);
        assert_eq!(back.tags, stored.tags);
        Ok(())
    }
}
