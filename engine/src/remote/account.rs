//! `Remote`'s calls of the account, limits, monitoring, tags-by-ARN, record-size, warm
//! throughput and resource-policy operations (see [`calls`](super::calls)).

use super::convert::*;
use crate::api::{self, Error, Result};
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types as sdk;

pub(super) async fn describe_limits(
    client: &Client,
    _input: api::DescribeLimitsInput,
) -> Result<api::DescribeLimitsOutput> {
    let out = client
        .describe_limits()
        .send()
        .await
        .map_err(|e| sdk_error("DescribeLimits", e))?;
    Ok(api::DescribeLimitsOutput {
        shard_limit: out.shard_limit,
        open_shard_count: out.open_shard_count,
        on_demand_stream_count: out.on_demand_stream_count,
        on_demand_stream_count_limit: out.on_demand_stream_count_limit,
    })
}

pub(super) async fn describe_account_settings(
    client: &Client,
    _input: api::DescribeAccountSettingsInput,
) -> Result<api::DescribeAccountSettingsOutput> {
    let out = client
        .describe_account_settings()
        .send()
        .await
        .map_err(|e| sdk_error("DescribeAccountSettings", e))?;
    Ok(api::DescribeAccountSettingsOutput {
        minimum_throughput_billing_commitment: out
            .minimum_throughput_billing_commitment
            .and_then(commitment_out),
    })
}

pub(super) async fn update_account_settings(
    client: &Client,
    input: api::UpdateAccountSettingsInput,
) -> Result<api::UpdateAccountSettingsOutput> {
    let commitment = match input.minimum_throughput_billing_commitment {
        None => None,
        Some(c) => {
            let Some(status) = c.status else {
                // The SDK cannot send a commitment without its required status.
                return Err(Error::Validation(
                    "1 validation error detected: Value null at 'minimumThroughputBillingCommitment.status' failed to satisfy constraint: Member must not be null".into(),
                ));
            };
            Some(
                sdk::MinimumThroughputBillingCommitmentInput::builder()
                    .status(sdk::MinimumThroughputBillingCommitmentInputStatus::from(
                        status.as_str(),
                    ))
                    .build()
                    .map_err(build_error)?,
            )
        }
    };
    let out = client
        .update_account_settings()
        .set_minimum_throughput_billing_commitment(commitment)
        .send()
        .await
        .map_err(|e| sdk_error("UpdateAccountSettings", e))?;
    Ok(api::UpdateAccountSettingsOutput {
        minimum_throughput_billing_commitment: out
            .minimum_throughput_billing_commitment
            .and_then(commitment_out),
    })
}

pub(super) async fn enable_enhanced_monitoring(
    client: &Client,
    input: api::EnhancedMonitoringInput,
) -> Result<api::EnhancedMonitoringOutput> {
    let out = client
        .enable_enhanced_monitoring()
        .set_stream_name(input.stream_name)
        .set_stream_arn(input.stream_arn)
        .set_shard_level_metrics(Some(metrics_in(input.shard_level_metrics)))
        .send()
        .await
        .map_err(|e| sdk_error("EnableEnhancedMonitoring", e))?;
    Ok(api::EnhancedMonitoringOutput {
        stream_name: out.stream_name,
        stream_arn: out.stream_arn,
        current_shard_level_metrics: metric_names_out(out.current_shard_level_metrics),
        desired_shard_level_metrics: metric_names_out(out.desired_shard_level_metrics),
    })
}

pub(super) async fn disable_enhanced_monitoring(
    client: &Client,
    input: api::EnhancedMonitoringInput,
) -> Result<api::EnhancedMonitoringOutput> {
    let out = client
        .disable_enhanced_monitoring()
        .set_stream_name(input.stream_name)
        .set_stream_arn(input.stream_arn)
        .set_shard_level_metrics(Some(metrics_in(input.shard_level_metrics)))
        .send()
        .await
        .map_err(|e| sdk_error("DisableEnhancedMonitoring", e))?;
    Ok(api::EnhancedMonitoringOutput {
        stream_name: out.stream_name,
        stream_arn: out.stream_arn,
        current_shard_level_metrics: metric_names_out(out.current_shard_level_metrics),
        desired_shard_level_metrics: metric_names_out(out.desired_shard_level_metrics),
    })
}

pub(super) async fn tag_resource(client: &Client, input: api::TagResourceInput) -> Result<()> {
    client
        .tag_resource()
        .resource_arn(input.resource_arn)
        .set_tags(Some(input.tags))
        .send()
        .await
        .map_err(|e| sdk_error("TagResource", e))?;
    Ok(())
}

pub(super) async fn untag_resource(client: &Client, input: api::UntagResourceInput) -> Result<()> {
    client
        .untag_resource()
        .resource_arn(input.resource_arn)
        .set_tag_keys(Some(input.tag_keys))
        .send()
        .await
        .map_err(|e| sdk_error("UntagResource", e))?;
    Ok(())
}

pub(super) async fn list_tags_for_resource(
    client: &Client,
    input: api::ListTagsForResourceInput,
) -> Result<api::ListTagsForResourceOutput> {
    let out = client
        .list_tags_for_resource()
        .resource_arn(input.resource_arn)
        .send()
        .await
        .map_err(|e| sdk_error("ListTagsForResource", e))?;
    Ok(api::ListTagsForResourceOutput {
        tags: out
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| api::Tag {
                key: t.key,
                value: t.value,
            })
            .collect(),
    })
}

pub(super) async fn update_max_record_size(
    client: &Client,
    input: api::UpdateMaxRecordSizeInput,
) -> Result<()> {
    client
        .update_max_record_size()
        .stream_arn(input.stream_arn)
        .max_record_size_in_kib(input.max_record_size_in_kib)
        .send()
        .await
        .map_err(|e| sdk_error("UpdateMaxRecordSize", e))?;
    Ok(())
}

pub(super) async fn update_stream_warm_throughput(
    client: &Client,
    input: api::UpdateStreamWarmThroughputInput,
) -> Result<api::UpdateStreamWarmThroughputOutput> {
    let out = client
        .update_stream_warm_throughput()
        .set_stream_arn(input.stream_arn)
        .set_stream_name(input.stream_name)
        .warm_throughput_mibps(input.warm_throughput_mibps)
        .send()
        .await
        .map_err(|e| sdk_error("UpdateStreamWarmThroughput", e))?;
    Ok(api::UpdateStreamWarmThroughputOutput {
        stream_arn: out.stream_arn,
        stream_name: out.stream_name,
        warm_throughput: out.warm_throughput.map(warm_out),
    })
}

pub(super) async fn put_resource_policy(
    client: &Client,
    input: api::PutResourcePolicyInput,
) -> Result<()> {
    client
        .put_resource_policy()
        .resource_arn(input.resource_arn)
        .policy(input.policy)
        .send()
        .await
        .map_err(|e| sdk_error("PutResourcePolicy", e))?;
    Ok(())
}

pub(super) async fn get_resource_policy(
    client: &Client,
    input: api::ResourcePolicyInput,
) -> Result<api::GetResourcePolicyOutput> {
    let out = client
        .get_resource_policy()
        .resource_arn(input.resource_arn)
        .send()
        .await
        .map_err(|e| sdk_error("GetResourcePolicy", e))?;
    Ok(api::GetResourcePolicyOutput { policy: out.policy })
}

pub(super) async fn delete_resource_policy(
    client: &Client,
    input: api::ResourcePolicyInput,
) -> Result<()> {
    client
        .delete_resource_policy()
        .resource_arn(input.resource_arn)
        .send()
        .await
        .map_err(|e| sdk_error("DeleteResourcePolicy", e))?;
    Ok(())
}
