//! The suite's tests of ListStreams and ListShards: paging and argument errors.

use super::*;

/// Suite test: list streams pages by limit start name and next token.
pub async fn list_streams_pages_by_limit_start_name_and_next_token(k: &dyn Kinesis) -> TestResult {
    let names: Vec<String> = ["g", "c", "a", "e", "b", "f", "d"]
        .iter()
        .map(|n| format!("stream-{n}"))
        .collect();
    for n in &names {
        create(k, n, 1).await?;
    }
    let mut sorted = names.clone();
    sorted.sort();

    let all = k.list_streams(ListStreamsInput::default()).await?;
    assert_eq!(all.stream_names, sorted);
    assert!(!all.has_more_streams);
    assert_eq!(all.next_token, None);
    let summary_names: Vec<&str> = all
        .stream_summaries
        .iter()
        .map(|s| s.stream_name.as_str())
        .collect();
    assert_eq!(summary_names, sorted);
    assert_eq!(all.stream_summaries[0].stream_arn, arn("stream-a"));

    // NextToken round trip, Limit 3: 3 + 3 + 1.
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = k
            .list_streams(ListStreamsInput {
                limit: Some(3),
                next_token: token.take(),
                ..Default::default()
            })
            .await?;
        assert_eq!(out.has_more_streams, out.next_token.is_some());
        pages.push(out.stream_names);
        match out.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
        assert!(pages.len() < 10, "pagination does not end");
    }
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(pages.concat(), sorted);

    // ExclusiveStartStreamName.
    let out = k
        .list_streams(ListStreamsInput {
            limit: Some(2),
            exclusive_start_stream_name: Some("stream-c".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(out.stream_names, ["stream-d", "stream-e"]);
    assert!(out.has_more_streams);
    let out = k
        .list_streams(ListStreamsInput {
            limit: Some(5),
            exclusive_start_stream_name: Some("stream-e".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(out.stream_names, ["stream-f", "stream-g"]);
    assert!(!out.has_more_streams);

    assert_fails(
        k.list_streams(ListStreamsInput {
            limit: Some(0),
            ..Default::default()
        })
        .await,
        "ValidationException",
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: \
         Member must have value greater than or equal to 1",
    );
    let first = k
        .list_streams(ListStreamsInput {
            limit: Some(1),
            ..Default::default()
        })
        .await?;
    let t = first.next_token.ok_or("no NextToken")?;
    assert_eq!(
        err_of(
            k.list_streams(ListStreamsInput {
                next_token: Some(tamper(&t)),
                ..Default::default()
            })
            .await
        )
        .code(),
        "InvalidArgumentException"
    );
    Ok(())
}

// -------------------------------------------------------------------------- ListShards

/// Suite test: list shards pages with max results and next token.
pub async fn list_shards_pages_with_max_results_and_next_token(k: &dyn Kinesis) -> TestResult {
    create(k, "ten", 10).await?;
    let all = list_shards(k, "ten").await?;
    assert_eq!(all.len(), 10);

    let first = k
        .list_shards(ListShardsInput {
            stream_name: Some("ten".into()),
            max_results: Some(3),
            ..Default::default()
        })
        .await?;
    let mut pages = vec![first.shards];
    let mut token = first.next_token;
    while let Some(t) = token.take() {
        let out = k
            .list_shards(ListShardsInput {
                next_token: Some(t),
                max_results: Some(3),
                ..Default::default()
            })
            .await?;
        pages.push(out.shards);
        token = out.next_token;
        assert!(pages.len() < 10, "pagination does not end");
    }
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [3, 3, 3, 1]);
    assert_eq!(pages.concat(), all);

    // ExclusiveStartShardId.
    let out = k
        .list_shards(ListShardsInput {
            stream_name: Some("ten".into()),
            exclusive_start_shard_id: Some("shardId-000000000007".into()),
            ..Default::default()
        })
        .await?;
    let ids: Vec<&str> = out.shards.iter().map(|s| s.shard_id.as_str()).collect();
    assert_eq!(ids, ["shardId-000000000008", "shardId-000000000009"]);
    assert_eq!(out.next_token, None);

    // By ARN.
    let out = k
        .list_shards(ListShardsInput {
            stream_arn: Some(arn("ten")),
            ..Default::default()
        })
        .await?;
    assert_eq!(out.shards, all);
    Ok(())
}

/// Suite test: list shards argument errors.
pub async fn list_shards_argument_errors(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 4).await?;
    create(k, "other", 1).await?;
    let token = k
        .list_shards(ListShardsInput {
            stream_name: Some("s".into()),
            max_results: Some(1),
            ..Default::default()
        })
        .await?
        .next_token
        .ok_or("no NextToken")?;
    assert_fails(
        k.list_shards(ListShardsInput {
            stream_name: Some("s".into()),
            next_token: Some(token.clone()),
            ..Default::default()
        })
        .await,
        "InvalidArgumentException",
        "NextToken and StreamName cannot be provided together.",
    );
    assert_fails(
        k.list_shards(ListShardsInput {
            stream_arn: Some(arn("s")),
            next_token: Some(token.clone()),
            ..Default::default()
        })
        .await,
        "InvalidArgumentException",
        "NextToken and StreamARN cannot be provided together.",
    );
    assert_fails(
        k.list_shards(ListShardsInput {
            exclusive_start_shard_id: Some("shardId-000000000000".into()),
            next_token: Some(token.clone()),
            ..Default::default()
        })
        .await,
        "InvalidArgumentException",
        "NextToken and ExclusiveStartShardId cannot be provided together.",
    );
    assert_fails(
        k.list_shards(ListShardsInput::default()).await,
        "InvalidArgumentException",
        "Either NextToken or StreamName should be provided.",
    );
    // A tampered token is rejected, as is a ListStreams token.
    assert_eq!(
        err_of(
            k.list_shards(ListShardsInput {
                next_token: Some(tamper(&token)),
                ..Default::default()
            })
            .await
        )
        .code(),
        "InvalidArgumentException"
    );
    let streams_token = k
        .list_streams(ListStreamsInput {
            limit: Some(1),
            ..Default::default()
        })
        .await?
        .next_token
        .ok_or("no ListStreams NextToken")?;
    assert_eq!(
        err_of(
            k.list_shards(ListShardsInput {
                next_token: Some(streams_token),
                ..Default::default()
            })
            .await
        )
        .code(),
        "InvalidArgumentException"
    );
    // The untampered token still works.
    let out = k
        .list_shards(ListShardsInput {
            next_token: Some(token),
            ..Default::default()
        })
        .await?;
    assert_eq!(out.shards.len(), 3);
    assert_eq!(out.shards[0].shard_id, "shardId-000000000001");
    assert_fails(
        k.list_shards(ListShardsInput {
            stream_name: Some("s".into()),
            max_results: Some(0),
            ..Default::default()
        })
        .await,
        "ValidationException",
        "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: \
         Member must have value greater than or equal to 1",
    );
    Ok(())
}
