//! Resource policies (Put/Get/DeleteResourcePolicy), kept in the catalog per stream or
//! consumer. They are enforced by `rill serve --auth`, not here.

use crate::api::*;
use crate::embedded::Engine;
use crate::embedded::quotas::*;
use crate::store::StoreError;

pub(crate) async fn put_resource_policy(
    engine: &Engine,
    input: PutResourcePolicyInput,
) -> Result<(), Error> {
    let mut v = ValidationErrors::new();
    Engine::check_resource_arn(&mut v, &input.resource_arn);
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
    let r = engine.resource(&input.resource_arn)?;
    match serde_json::from_str::<serde_json::Value>(&input.policy) {
        Ok(serde_json::Value::Object(doc)) if doc.contains_key("Statement") => {}
        Ok(_) => {
            return Err(Error::InvalidArgument(
                "Invalid policy document: a policy must be a JSON object with a Statement.".into(),
            ));
        }
        Err(e) => {
            return Err(Error::InvalidArgument(format!(
                "Invalid policy document: not valid JSON ({e})."
            )));
        }
    }
    let (epoch, key, policy) = (r.stream.epoch, r.consumer_key().to_string(), input.policy);
    engine
        .catalog(move |catalog| {
            catalog
                .set_policy(epoch, &key, Some(&policy))
                .map_err(StoreError::from)?;
            Ok(())
        })
        .await?;
    tracing::info!(resource = %input.resource_arn, "resource policy attached");
    Ok(())
}

pub(crate) async fn get_resource_policy(
    engine: &Engine,
    input: ResourcePolicyInput,
) -> Result<GetResourcePolicyOutput, Error> {
    let mut v = ValidationErrors::new();
    Engine::check_resource_arn(&mut v, &input.resource_arn);
    v.finish()?;
    let r = engine.resource(&input.resource_arn)?;
    let (epoch, key) = (r.stream.epoch, r.consumer_key().to_string());
    let policy = engine
        .catalog(move |catalog| Ok(catalog.policy(epoch, &key).map_err(StoreError::from)?))
        .await?;
    Ok(GetResourcePolicyOutput {
        policy: policy.unwrap_or_else(|| "{}".into()),
    })
}

pub(crate) async fn delete_resource_policy(
    engine: &Engine,
    input: ResourcePolicyInput,
) -> Result<(), Error> {
    let mut v = ValidationErrors::new();
    Engine::check_resource_arn(&mut v, &input.resource_arn);
    v.finish()?;
    let r = engine.resource(&input.resource_arn)?;
    let (epoch, key, arn) = (
        r.stream.epoch,
        r.consumer_key().to_string(),
        input.resource_arn.clone(),
    );
    engine
        .catalog(move |catalog| {
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
