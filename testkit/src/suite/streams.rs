//! The suite's tests of CreateStream and DescribeStream(Summary), and the not-found errors of every operation.

use super::*;

/// Suite test: create stream names shards and splits hash keys evenly.
pub async fn create_stream_names_shards_and_splits_hash_keys_evenly(k: &dyn Kinesis) -> TestResult {
    create(k, "three", 3).await?;
    let shards = list_shards(k, "three").await?;
    let ids: Vec<&str> = shards.iter().map(|s| s.shard_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "shardId-000000000000",
            "shardId-000000000001",
            "shardId-000000000002"
        ]
    );
    let ranges: Vec<(&str, &str)> = shards
        .iter()
        .map(|s| {
            (
                s.hash_key_range.starting_hash_key.as_str(),
                s.hash_key_range.ending_hash_key.as_str(),
            )
        })
        .collect();
    assert_eq!(
        ranges,
        [
            ("0", "113427455640312821154458202477256070484"),
            (
                "113427455640312821154458202477256070485",
                "226854911280625642308916404954512140969"
            ),
            ("226854911280625642308916404954512140970", MAX_HASH_KEY),
        ]
    );
    for s in &shards {
        assert_eq!(s.parent_shard_id, None);
        assert_eq!(s.adjacent_parent_shard_id, None);
        assert_sequence_number_form(&s.sequence_number_range.starting_sequence_number);
        assert_eq!(s.sequence_number_range.ending_sequence_number, None);
    }

    // Any count splits the whole space into contiguous ranges.
    create(k, "seven", 7).await?;
    let shards = list_shards(k, "seven").await?;
    assert_eq!(shards.len(), 7);
    assert_eq!(shards[0].hash_key_range.starting_hash_key, "0");
    assert_eq!(shards[6].hash_key_range.ending_hash_key, MAX_HASH_KEY);
    for w in shards.windows(2) {
        assert_eq!(range_of(&w[0])?.1 + 1, range_of(&w[1])?.0);
    }

    let d = k
        .describe_stream(DescribeStreamInput {
            stream_name: Some("three".into()),
            ..Default::default()
        })
        .await?
        .stream_description;
    assert_eq!(d.stream_status, Some(StreamStatus::Active));
    assert_eq!(d.retention_period_hours, 24);
    assert_eq!(d.encryption_type, Some(EncryptionType::None));
    assert_eq!(d.enhanced_monitoring, vec![EnhancedMetrics::default()]);
    assert_eq!(
        d.stream_mode_details.map(|m| m.stream_mode),
        Some(StreamMode::Provisioned)
    );
    Ok(())
}

/// Suite test: create stream twice is resource in use.
pub async fn create_stream_twice_is_resource_in_use(k: &dyn Kinesis) -> TestResult {
    create(k, "dup", 1).await?;
    assert_fails(
        k.create_stream(CreateStreamInput {
            stream_name: "dup".into(),
            shard_count: Some(2),
            ..Default::default()
        })
        .await,
        "ResourceInUseException",
        "Stream dup under account 000000000000 already exists.",
    );
    // The first stream is untouched.
    assert_eq!(list_shards(k, "dup").await?.len(), 1);
    Ok(())
}

/// Suite test: create stream validation messages.
pub async fn create_stream_validation_messages(k: &dyn Kinesis) -> TestResult {
    let create_input = |name: &str, shards: i32| CreateStreamInput {
        stream_name: name.into(),
        shard_count: Some(shards),
        ..Default::default()
    };
    assert_fails(
        k.create_stream(create_input("", 0)).await,
        "ValidationException",
        "3 validation errors detected: \
         Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1; \
         Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; \
         Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    let long = "a".repeat(129);
    assert_fails(
        k.create_stream(create_input(&long, 1)).await,
        "ValidationException",
        &format!(
            "1 validation error detected: Value '{long}' at 'streamName' failed to satisfy constraint: \
             Member must have length less than or equal to 128"
        ),
    );
    assert_fails(
        k.create_stream(create_input("bad name", 1)).await,
        "ValidationException",
        "1 validation error detected: Value 'bad name' at 'streamName' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
    );
    assert_fails(
        k.create_stream(create_input("neg", -1)).await,
        "ValidationException",
        "1 validation error detected: Value '-1' at 'shardCount' failed to satisfy constraint: \
         Member must have value greater than or equal to 1",
    );
    // 128 characters of every allowed kind are fine.
    let ok = format!("{}_.-xy", "aZ9".repeat(41));
    assert_eq!(ok.len(), 128);
    k.create_stream(create_input(&ok, 1)).await?;
    // Nothing was created by the failed calls.
    let names = k
        .list_streams(ListStreamsInput::default())
        .await?
        .stream_names;
    assert_eq!(names, vec![ok]);
    Ok(())
}

/// Suite test: on demand stream gets four shards.
pub async fn on_demand_stream_gets_four_shards(k: &dyn Kinesis) -> TestResult {
    k.create_stream(CreateStreamInput {
        stream_name: "od".into(),
        stream_mode_details: Some(StreamModeDetails {
            stream_mode: StreamMode::OnDemand,
        }),
        ..Default::default()
    })
    .await?;
    let s = k
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("od".into()),
            ..Default::default()
        })
        .await?
        .stream_description_summary;
    assert_eq!(s.open_shard_count, 4);
    assert_eq!(
        s.stream_mode_details.map(|m| m.stream_mode),
        Some(StreamMode::OnDemand)
    );
    let shards = list_shards(k, "od").await?;
    assert_eq!(shards.len(), 4);
    assert_eq!(
        shards[1].hash_key_range.starting_hash_key,
        (1u128 << 126).to_string()
    );
    assert_eq!(shards[3].hash_key_range.ending_hash_key, MAX_HASH_KEY);
    Ok(())
}

/// Suite test: create stream with tags.
pub async fn create_stream_with_tags(k: &dyn Kinesis) -> TestResult {
    k.create_stream(CreateStreamInput {
        stream_name: "tagged".into(),
        shard_count: Some(1),
        tags: Some(HashMap::from([
            ("team".to_string(), "data".to_string()),
            ("env".to_string(), "prod".to_string()),
        ])),
        ..Default::default()
    })
    .await?;
    let out = k
        .list_tags_for_stream(ListTagsForStreamInput {
            stream_name: Some("tagged".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(
        out.tags,
        vec![
            Tag {
                key: "env".into(),
                value: Some("prod".into())
            },
            Tag {
                key: "team".into(),
                value: Some("data".into())
            },
        ]
    );
    assert!(!out.has_more_tags);
    // Invalid tag characters at creation fail, and create nothing.
    assert_fails(
        k.create_stream(CreateStreamInput {
            stream_name: "badtags".into(),
            shard_count: Some(1),
            tags: Some(HashMap::from([("a;b".to_string(), "x".to_string())])),
            ..Default::default()
        })
        .await,
        "InvalidArgumentException",
        "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @.",
    );
    let names = k
        .list_streams(ListStreamsInput::default())
        .await?
        .stream_names;
    assert_eq!(names, vec!["tagged".to_string()]);
    Ok(())
}

// ---------------------------------------------------------------------- DescribeStream

/// Suite test: describe stream pages shards.
pub async fn describe_stream_pages_shards(k: &dyn Kinesis) -> TestResult {
    create(k, "five", 5).await?;
    let describe = |limit: Option<i32>, after: Option<&str>| DescribeStreamInput {
        stream_name: Some("five".into()),
        limit,
        exclusive_start_shard_id: after.map(String::from),
        ..Default::default()
    };
    let ids = |d: &StreamDescription| -> Vec<String> {
        d.shards.iter().map(|s| s.shard_id.clone()).collect()
    };

    let all = k
        .describe_stream(describe(None, None))
        .await?
        .stream_description;
    assert_eq!(all.shards.len(), 5);
    assert!(!all.has_more_shards);
    assert_eq!(all.stream_name, "five");
    assert_eq!(
        all.stream_arn,
        "arn:aws:kinesis:us-east-1:000000000000:stream/five"
    );

    let p1 = k
        .describe_stream(describe(Some(2), None))
        .await?
        .stream_description;
    assert_eq!(ids(&p1), ["shardId-000000000000", "shardId-000000000001"]);
    assert!(p1.has_more_shards);
    let p2 = k
        .describe_stream(describe(Some(2), Some("shardId-000000000001")))
        .await?
        .stream_description;
    assert_eq!(ids(&p2), ["shardId-000000000002", "shardId-000000000003"]);
    assert!(p2.has_more_shards);
    let p3 = k
        .describe_stream(describe(Some(2), Some("shardId-000000000003")))
        .await?
        .stream_description;
    assert_eq!(ids(&p3), ["shardId-000000000004"]);
    assert!(!p3.has_more_shards);
    // A page that ends exactly at the last shard has no more.
    let p = k
        .describe_stream(describe(Some(2), Some("shardId-000000000002")))
        .await?
        .stream_description;
    assert_eq!(ids(&p), ["shardId-000000000003", "shardId-000000000004"]);
    assert!(!p.has_more_shards);
    // The pages together are the whole list.
    let joined: Vec<Shard> = [p1.shards, p2.shards, p3.shards].concat();
    assert_eq!(joined, all.shards);

    assert_fails(
        k.describe_stream(describe(Some(0), None)).await,
        "ValidationException",
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: \
         Member must have value greater than or equal to 1",
    );
    assert_fails(
        k.describe_stream(describe(Some(100_000), None)).await,
        "ValidationException",
        "1 validation error detected: Value '100000' at 'limit' failed to satisfy constraint: \
         Member must have value less than or equal to 10000",
    );

    // By ARN.
    let by_arn = k
        .describe_stream(DescribeStreamInput {
            stream_arn: Some(arn("five")),
            ..Default::default()
        })
        .await?
        .stream_description;
    assert_eq!(by_arn, all);
    Ok(())
}

/// Suite test: describe stream summary counts open shards.
pub async fn describe_stream_summary_counts_open_shards(k: &dyn Kinesis) -> TestResult {
    create(k, "sum", 3).await?;
    let by_name = k
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("sum".into()),
            ..Default::default()
        })
        .await?
        .stream_description_summary;
    assert_eq!(by_name.open_shard_count, 3);
    assert_eq!(by_name.stream_name, "sum");
    assert_eq!(by_name.stream_arn, arn("sum"));
    assert_eq!(by_name.stream_status, Some(StreamStatus::Active));
    assert_eq!(by_name.retention_period_hours, 24);
    assert_eq!(by_name.consumer_count, Some(0));
    let by_arn = k
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_arn: Some(arn("sum")),
            ..Default::default()
        })
        .await?
        .stream_description_summary;
    assert_eq!(by_arn, by_name);
    // Same creation time as DescribeStream reports.
    let d = k
        .describe_stream(DescribeStreamInput {
            stream_name: Some("sum".into()),
            ..Default::default()
        })
        .await?
        .stream_description;
    assert_eq!(
        d.stream_creation_timestamp,
        by_name.stream_creation_timestamp
    );
    Ok(())
}

/// Suite test: missing stream is resource not found everywhere.
pub async fn missing_stream_is_resource_not_found_everywhere(k: &dyn Kinesis) -> TestResult {
    create(k, "other", 1).await?;
    let msg = not_found("nope");
    let rnf = "ResourceNotFoundException";
    assert_fails(
        k.describe_stream(DescribeStreamInput {
            stream_name: Some("nope".into()),
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    assert_fails(
        k.describe_stream(DescribeStreamInput {
            stream_arn: Some(arn("nope")),
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    assert_fails(
        k.describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("nope".into()),
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    assert_fails(
        k.describe_stream_summary(DescribeStreamSummaryInput {
            stream_arn: Some(arn("nope")),
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    assert_fails(
        k.list_shards(ListShardsInput {
            stream_name: Some("nope".into()),
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    assert_fails(
        k.put_record(PutRecordInput {
            stream_name: Some("nope".into()),
            partition_key: "k".into(),
            data: "d".into(),
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    assert_fails(
        k.put_records(PutRecordsInput {
            stream_name: Some("nope".into()),
            records: vec![PutRecordsRequestEntry {
                partition_key: "k".into(),
                data: "d".into(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    assert_fails(
        k.delete_stream(DeleteStreamInput {
            stream_name: Some("nope".into()),
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    assert_fails(
        k.increase_stream_retention_period(RetentionPeriodInput {
            stream_name: Some("nope".into()),
            retention_period_hours: 25,
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    assert_fails(
        k.list_tags_for_stream(ListTagsForStreamInput {
            stream_name: Some("nope".into()),
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    // Existence is checked before the tag characters (AWS order).
    assert_fails(
        k.remove_tags_from_stream(RemoveTagsFromStreamInput {
            stream_name: Some("nope".into()),
            tag_keys: vec![";".into()],
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    // A bad name is a ValidationException even when no such stream exists.
    assert_fails(
        k.describe_stream(DescribeStreamInput {
            stream_name: Some("no pe".into()),
            ..Default::default()
        })
        .await,
        "ValidationException",
        "1 validation error detected: Value 'no pe' at 'streamName' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
    );
    Ok(())
}
