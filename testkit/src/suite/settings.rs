//! The suite's tests of Tags, the retention period and DeleteStream.

use super::*;

/// Suite test: tags add list page and remove.
pub async fn tags_add_list_page_and_remove(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    k.add_tags_to_stream(AddTagsToStreamInput {
        stream_name: Some("s".into()),
        tags: HashMap::from(
            ["e", "c", "a", "d", "b"].map(|key| (key.to_string(), format!("v-{key}"))),
        ),
        ..Default::default()
    })
    .await?;
    let list = |limit: Option<i32>, start: Option<&str>| ListTagsForStreamInput {
        stream_name: Some("s".into()),
        limit,
        exclusive_start_tag_key: start.map(String::from),
        ..Default::default()
    };
    let keys = |out: &ListTagsForStreamOutput| -> Vec<String> {
        out.tags.iter().map(|t| t.key.clone()).collect()
    };
    let all = k.list_tags_for_stream(list(None, None)).await?;
    assert_eq!(keys(&all), ["a", "b", "c", "d", "e"]);
    assert_eq!(all.tags[2].value.as_deref(), Some("v-c"));
    assert!(!all.has_more_tags);

    let p1 = k.list_tags_for_stream(list(Some(2), None)).await?;
    assert_eq!(keys(&p1), ["a", "b"]);
    assert!(p1.has_more_tags);
    let p2 = k.list_tags_for_stream(list(Some(2), Some("b"))).await?;
    assert_eq!(keys(&p2), ["c", "d"]);
    assert!(p2.has_more_tags);
    let p3 = k.list_tags_for_stream(list(Some(2), Some("d"))).await?;
    assert_eq!(keys(&p3), ["e"]);
    assert!(!p3.has_more_tags);

    // Overwrite one value, add one key.
    k.add_tags_to_stream(AddTagsToStreamInput {
        stream_name: Some("s".into()),
        tags: HashMap::from([
            ("c".to_string(), "changed".to_string()),
            ("f".to_string(), String::new()),
        ]),
        ..Default::default()
    })
    .await?;
    // Remove two keys and one that does not exist (ignored).
    k.remove_tags_from_stream(RemoveTagsFromStreamInput {
        stream_name: Some("s".into()),
        tag_keys: vec!["a".into(), "e".into(), "zzz".into()],
        ..Default::default()
    })
    .await?;
    let all = k.list_tags_for_stream(list(None, None)).await?;
    assert_eq!(
        all.tags,
        vec![
            Tag {
                key: "b".into(),
                value: Some("v-b".into())
            },
            Tag {
                key: "c".into(),
                value: Some("changed".into())
            },
            Tag {
                key: "d".into(),
                value: Some("v-d".into())
            },
            Tag {
                key: "f".into(),
                value: Some(String::new())
            },
        ]
    );
    // By ARN.
    let by_arn = k
        .list_tags_for_stream(ListTagsForStreamInput {
            stream_arn: Some(arn("s")),
            ..Default::default()
        })
        .await?;
    assert_eq!(by_arn, all);
    Ok(())
}

/// Suite test: more than 50 tags is invalid argument.
pub async fn more_than_50_tags_is_invalid_argument(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    create(k, "t", 1).await?;
    let tags = |from: usize, to: usize| -> HashMap<String, String> {
        (from..to)
            .map(|i| (format!("key{i:02}"), format!("{i}")))
            .collect()
    };
    let add = |stream: &str, tags: HashMap<String, String>| AddTagsToStreamInput {
        stream_name: Some(stream.into()),
        tags,
        ..Default::default()
    };
    let too_many = |stream: &str| {
        format!(
            "Failed to add tags to stream {stream} under account 000000000000 because a given stream \
             cannot have more than 50 tags associated with it."
        )
    };
    k.add_tags_to_stream(add("s", tags(0, 30))).await?;
    k.add_tags_to_stream(add("s", tags(30, 50))).await?;
    // Overwriting existing keys does not count twice.
    k.add_tags_to_stream(add("s", tags(10, 50))).await?;
    assert_fails(
        k.add_tags_to_stream(add("s", tags(45, 51))).await,
        "InvalidArgumentException",
        &too_many("s"),
    );
    let listed = k
        .list_tags_for_stream(ListTagsForStreamInput {
            stream_name: Some("s".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(listed.tags.len(), 50);
    assert!(!listed.has_more_tags);
    assert!(listed.tags.iter().all(|t| t.key != "key50"));
    // 51 new tags in one call: the request is well formed (AWS allows 200 entries in the map);
    // the stream's limit is what is exceeded.
    assert_fails(
        k.add_tags_to_stream(add("t", tags(0, 51))).await,
        "InvalidArgumentException",
        &too_many("t"),
    );
    // The same limit holds at creation.
    let create_tagged = |name: &str, n: usize| CreateStreamInput {
        stream_name: name.into(),
        shard_count: Some(1),
        tags: Some(tags(0, n)),
        ..Default::default()
    };
    assert_fails_with_prefix(
        k.create_stream(create_tagged("u", 51)).await,
        "InvalidArgumentException",
        "Failed to create stream u under account 000000000000",
    );
    assert_eq!(
        k.list_streams(ListStreamsInput::default())
            .await?
            .stream_names,
        ["s", "t"]
    );
    k.create_stream(create_tagged("u", 50)).await?;
    Ok(())
}

/// Suite test: tags with invalid characters are invalid argument.
pub async fn tags_with_invalid_characters_are_invalid_argument(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    let msg = "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @.";
    for (key, value) in [
        ("a;b", "x"),
        ("ok", "a,b"),
        ("tab\there", "x"),
        ("ok", "new\nline"),
    ] {
        assert_fails(
            k.add_tags_to_stream(AddTagsToStreamInput {
                stream_name: Some("s".into()),
                tags: HashMap::from([(key.to_string(), value.to_string())]),
                ..Default::default()
            })
            .await,
            "InvalidArgumentException",
            msg,
        );
    }
    assert_fails(
        k.remove_tags_from_stream(RemoveTagsFromStreamInput {
            stream_name: Some("s".into()),
            tag_keys: vec!["a;b".into()],
            ..Default::default()
        })
        .await,
        "InvalidArgumentException",
        msg,
    );
    // Every allowed kind of character.
    k.add_tags_to_stream(AddTagsToStreamInput {
        stream_name: Some("s".into()),
        tags: HashMap::from([("Ünïcode key 9_./=+-@".to_string(), "välue %".to_string())]),
        ..Default::default()
    })
    .await?;
    let listed = k
        .list_tags_for_stream(ListTagsForStreamInput {
            stream_name: Some("s".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(listed.tags.len(), 1, "the failed calls added nothing");
    Ok(())
}

// --------------------------------------------------------------------------- retention

/// Suite test: retention period changes and messages.
pub async fn retention_period_changes_and_messages(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    let input = |hours: i32| RetentionPeriodInput {
        stream_name: Some("s".into()),
        retention_period_hours: hours,
        ..Default::default()
    };
    k.increase_stream_retention_period(input(48)).await?;
    assert_eq!(retention_hours(k, "s").await?, 48);
    let summary = k
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("s".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(
        summary.stream_description_summary.retention_period_hours,
        48
    );

    assert_fails(
        k.increase_stream_retention_period(input(24)).await,
        "InvalidArgumentException",
        "Requested retention period (24 hours) for stream s can not be shorter than existing retention period \
         (48 hours). Use DecreaseRetentionPeriod API.",
    );
    assert_fails(
        k.decrease_stream_retention_period(input(72)).await,
        "InvalidArgumentException",
        "Requested retention period (72 hours) for stream s can not be longer than existing retention period \
         (48 hours). Use IncreaseRetentionPeriod API.",
    );
    for call in [true, false] {
        let r = if call {
            k.increase_stream_retention_period(input(23)).await
        } else {
            k.decrease_stream_retention_period(input(23)).await
        };
        assert_fails(
            r,
            "InvalidArgumentException",
            "Minimum allowed retention period is 24 hours. Requested retention period (23 hours) is too short.",
        );
    }
    assert_fails(
        k.increase_stream_retention_period(input(8761)).await,
        "InvalidArgumentException",
        "Maximum allowed retention period is 8760 hours. Requested retention period (8761 hours) is too long.",
    );
    assert_fails(
        k.increase_stream_retention_period(input(-1)).await,
        "ValidationException",
        "1 validation error detected: Value '-1' at 'retentionPeriodHours' failed to satisfy constraint: \
         Member must have value greater than or equal to 1",
    );
    assert_eq!(
        retention_hours(k, "s").await?,
        48,
        "failed calls change nothing"
    );
    // Equal to the current value is allowed both ways.
    k.increase_stream_retention_period(input(48)).await?;
    k.decrease_stream_retention_period(input(48)).await?;
    k.increase_stream_retention_period(input(8760)).await?;
    assert_eq!(retention_hours(k, "s").await?, 8760);
    k.decrease_stream_retention_period(input(24)).await?;
    assert_eq!(retention_hours(k, "s").await?, 24);
    // By ARN.
    k.increase_stream_retention_period(RetentionPeriodInput {
        stream_arn: Some(arn("s")),
        retention_period_hours: 100,
        ..Default::default()
    })
    .await?;
    assert_eq!(retention_hours(k, "s").await?, 100);
    Ok(())
}

// ------------------------------------------------------------------------ DeleteStream

/// Suite test: delete stream removes the stream and its records.
pub async fn delete_stream_removes_the_stream_and_its_records(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 2).await?;
    create(k, "keep", 1).await?;
    let old = k
        .put_record(PutRecordInput {
            stream_name: Some("s".into()),
            partition_key: "k".into(),
            explicit_hash_key: Some("0".into()),
            data: "old".into(),
            ..Default::default()
        })
        .await?;
    assert_eq!(old.shard_id, "shardId-000000000000");
    k.delete_stream(DeleteStreamInput {
        stream_name: Some("s".into()),
        ..Default::default()
    })
    .await?;
    assert_fails(
        k.describe_stream(DescribeStreamInput {
            stream_name: Some("s".into()),
            ..Default::default()
        })
        .await,
        "ResourceNotFoundException",
        &not_found("s"),
    );
    let names = k
        .list_streams(ListStreamsInput::default())
        .await?
        .stream_names;
    assert_eq!(names, ["keep"]);
    assert_fails(
        k.delete_stream(DeleteStreamInput {
            stream_name: Some("s".into()),
            ..Default::default()
        })
        .await,
        "ResourceNotFoundException",
        &not_found("s"),
    );

    // A new stream of the same name starts empty, and does not accept the old numbers.
    create(k, "s", 1).await?;
    let shard = "shardId-000000000000";
    assert!(
        read_all(k, trim_horizon(k, "s", shard).await?)
            .await?
            .is_empty()
    );
    let e = err_of(
        k.get_shard_iterator(GetShardIteratorInput {
            starting_sequence_number: Some(old.sequence_number.clone()),
            ..iterator_input("s", &old.shard_id, ShardIteratorType::AtSequenceNumber)
        })
        .await,
    );
    assert_eq!(e.code(), "InvalidArgumentException", "{e}");
    put(k, "s", "k", "new").await?;
    assert_eq!(
        data_of(&read_all(k, trim_horizon(k, "s", shard).await?).await?),
        ["new"]
    );
    // The other stream is untouched.
    assert_eq!(list_shards(k, "keep").await?.len(), 1);
    Ok(())
}
