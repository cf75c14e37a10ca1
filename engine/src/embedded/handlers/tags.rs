//! Tags, by stream name (AddTagsToStream, ListTagsForStream, RemoveTagsFromStream) and by
//! ARN (TagResource, UntagResource, ListTagsForResource), with AWS's counts and characters.

use crate::api::*;
use crate::embedded::messages::*;
use crate::embedded::quotas::*;
use crate::embedded::{Engine, validate};
use crate::store::StoreError;
use std::collections::BTreeMap;
use std::sync::Arc;

impl Engine {
    pub(crate) fn validate_tags(
        &self,
        stream: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        for (k, v) in tags {
            if !validate::tag_chars_ok(k) || !validate::tag_chars_ok(v) {
                let _ = stream;
                return Err(Error::InvalidArgument(TAG_CHARS_MESSAGE.into()));
            }
        }
        Ok(())
    }

    pub(crate) fn check_tag_map(
        v: &mut ValidationErrors,
        tags: &std::collections::HashMap<String, String>,
    ) {
        if tags.is_empty() {
            v.constraint(
                "{}",
                "tags",
                "Member must have length greater than or equal to 1",
            );
        }
        if tags.len() > MAX_TAG_MAP_ENTRIES {
            v.hidden(
                "tags",
                &format!("Member must have length less than or equal to {MAX_TAG_MAP_ENTRIES}"),
            );
        }
        if tags.keys().any(|k| k.is_empty() || k.chars().count() > 128) {
            v.hidden("tags", "Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]");
        }
        if tags.values().any(|x| x.chars().count() > 256) {
            v.hidden("tags", "Map value must satisfy constraint: [Member must have length less than or equal to 256, Member must have length greater than or equal to 0]");
        }
    }
}

pub(crate) async fn add_tags_to_stream(this: &Engine, input: AddTagsToStreamInput) -> Result<()> {
    let mut v = ValidationErrors::new();
    Engine::check_tag_map(&mut v, &input.tags);
    Engine::check_target(
        &mut v,
        input.stream_name.as_deref(),
        input.stream_arn.as_deref(),
    );
    v.finish()?;
    let stream = this.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    let tags: BTreeMap<String, String> = input.tags.into_iter().collect();
    this.validate_tags(&stream.name, &tags)?;
    let engine = this.clone();
    this.catalog(move |catalog| {
        let mut meta = stream.meta.write();
        let new_keys = tags.keys().filter(|k| !meta.tags.contains_key(*k)).count();
        if meta.tags.len() + new_keys > MAX_TAGS {
            return Err(Error::InvalidArgument(format!(
                "Failed to add tags to stream {} under account {} because a given stream cannot have more than {MAX_TAGS} tags associated with it.",
                stream.name,
                engine.account()
            )));
        }
        let rows: Vec<(String, String)> =
            tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        catalog
            .put_tags(stream.epoch, &rows)
            .map_err(StoreError::from)?;
        meta.tags.extend(tags);
        Ok(())
    })
    .await
}

pub(crate) async fn list_tags_for_stream(
    engine: &Engine,
    input: ListTagsForStreamInput,
) -> Result<ListTagsForStreamOutput> {
    let mut v = ValidationErrors::new();
    validate::range(&mut v, "limit", input.limit, 1, 50);
    if let Some(k) = &input.exclusive_start_tag_key {
        validate::length(&mut v, "exclusiveStartTagKey", k, 1, 128);
    }
    Engine::check_target(
        &mut v,
        input.stream_name.as_deref(),
        input.stream_arn.as_deref(),
    );
    v.finish()?;
    let stream = engine.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    let limit = input.limit.unwrap_or(50) as usize;
    let meta = stream.meta.read();
    let mut tags: Vec<Tag> = Vec::new();
    let mut more = false;
    for (k, val) in &meta.tags {
        if input
            .exclusive_start_tag_key
            .as_ref()
            .is_some_and(|s| k <= s)
        {
            continue;
        }
        if tags.len() == limit {
            more = true;
            break;
        }
        tags.push(Tag {
            key: k.clone(),
            value: Some(val.clone()),
        });
    }
    Ok(ListTagsForStreamOutput {
        tags,
        has_more_tags: more,
    })
}

pub(crate) async fn remove_tags_from_stream(
    engine: &Engine,
    input: RemoveTagsFromStreamInput,
) -> Result<()> {
    let mut v = ValidationErrors::new();
    if input.tag_keys.is_empty() {
        v.constraint(
            "[]",
            "tagKeys",
            "Member must have length greater than or equal to 1",
        );
    }
    if input.tag_keys.len() > MAX_TAGS {
        v.hidden(
            "tagKeys",
            &format!("Member must have length less than or equal to {MAX_TAGS}"),
        );
    }
    if input
        .tag_keys
        .iter()
        .any(|k| k.is_empty() || k.chars().count() > 128)
    {
        v.hidden("tagKeys", "Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]");
    }
    Engine::check_target(
        &mut v,
        input.stream_name.as_deref(),
        input.stream_arn.as_deref(),
    );
    v.finish()?;
    let stream = engine.stream(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    if input.tag_keys.iter().any(|k| !validate::tag_chars_ok(k)) {
        return Err(Error::InvalidArgument(TAG_CHARS_MESSAGE.into()));
    }
    let keys = input.tag_keys;
    engine
        .catalog(move |catalog| {
            let mut meta = stream.meta.write();
            catalog
                .remove_tags(stream.epoch, &keys)
                .map_err(StoreError::from)?;
            for k in &keys {
                meta.tags.remove(k);
            }
            Ok(())
        })
        .await
}

pub(crate) async fn tag_resource(this: &Engine, input: TagResourceInput) -> Result<(), Error> {
    let mut v = ValidationErrors::new();
    Engine::check_tag_map(&mut v, &input.tags);
    Engine::check_resource_arn(&mut v, &input.resource_arn);
    v.finish()?;
    let r = this.resource(&input.resource_arn)?;
    let Some(consumer) = &r.consumer else {
        // A stream's tags are the ones AddTagsToStream sets.
        return this
            .add_tags_to_stream(AddTagsToStreamInput {
                stream_arn: Some(r.stream.arn.clone()),
                tags: input.tags,
                ..Default::default()
            })
            .await;
    };
    let tags: BTreeMap<String, String> = input.tags.into_iter().collect();
    this.validate_tags(&consumer.name, &tags)?;
    let (engine, epoch, consumer) = (this.clone(), r.stream.epoch, Arc::clone(consumer));
    this.catalog(move |catalog| {
        let existing = catalog
            .consumer_tags(epoch, &consumer.name)
            .map_err(StoreError::from)?;
        let new_keys = tags
            .keys()
            .filter(|k| !existing.iter().any(|(e, _)| e == *k))
            .count();
        if existing.len() + new_keys > crate::embedded::quotas::MAX_TAGS {
            return Err(Error::InvalidArgument(format!(
                "Failed to add tags to consumer {} under account {} because a given resource cannot have more than {} tags associated with it.",
                consumer.arn,
                engine.account(),
                crate::embedded::quotas::MAX_TAGS
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

pub(crate) async fn untag_resource(
    engine: &Engine,
    input: UntagResourceInput,
) -> Result<(), Error> {
    let mut v = ValidationErrors::new();
    if input.tag_keys.is_empty() {
        v.constraint(
            "[]",
            "tagKeys",
            "Member must have length greater than or equal to 1",
        );
    }
    if input.tag_keys.len() > crate::embedded::quotas::MAX_TAGS {
        v.hidden(
            "tagKeys",
            &format!(
                "Member must have length less than or equal to {}",
                crate::embedded::quotas::MAX_TAGS
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
    Engine::check_resource_arn(&mut v, &input.resource_arn);
    v.finish()?;
    let r = engine.resource(&input.resource_arn)?;
    let Some(consumer) = &r.consumer else {
        return engine
            .remove_tags_from_stream(RemoveTagsFromStreamInput {
                stream_arn: Some(r.stream.arn.clone()),
                tag_keys: input.tag_keys,
                ..Default::default()
            })
            .await;
    };
    if input.tag_keys.iter().any(|k| !validate::tag_chars_ok(k)) {
        return Err(Error::InvalidArgument(
            crate::embedded::messages::TAG_CHARS_MESSAGE.into(),
        ));
    }
    let (epoch, name, keys) = (r.stream.epoch, consumer.name.clone(), input.tag_keys);
    engine
        .catalog(move |catalog| {
            catalog
                .remove_consumer_tags(epoch, &name, &keys)
                .map_err(StoreError::from)?;
            Ok(())
        })
        .await
}

pub(crate) async fn list_tags_for_resource(
    engine: &Engine,
    input: ListTagsForResourceInput,
) -> Result<ListTagsForResourceOutput, Error> {
    let mut v = ValidationErrors::new();
    Engine::check_resource_arn(&mut v, &input.resource_arn);
    v.finish()?;
    let r = engine.resource(&input.resource_arn)?;
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
            engine
                .catalog(move |catalog| {
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
