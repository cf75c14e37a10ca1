//! The suite's tests of GetShardIterator and GetRecords: iterator types, limits, continuation, invalid iterators.

use super::*;

/// Suite test: trim horizon and latest iterators.
pub async fn trim_horizon_and_latest_iterators(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    let shard = "shardId-000000000000";
    for i in 0..3 {
        put(k, "s", "k", &format!("old-{i}")).await?;
    }
    let latest = iterator(k, iterator_input("s", shard, ShardIteratorType::Latest)).await?;
    let out = k
        .get_records(GetRecordsInput {
            shard_iterator: latest.clone(),
            ..Default::default()
        })
        .await?;
    assert!(out.records.is_empty());
    assert_eq!(out.millis_behind_latest, Some(0));
    let next = out.next_shard_iterator.ok_or("no NextShardIterator")?;
    put(k, "s", "k", "new-0").await?;
    put(k, "s", "k", "new-1").await?;
    assert_eq!(data_of(&read_all(k, next).await?), ["new-0", "new-1"]);
    // The LATEST iterator itself also sees exactly the records put after it was taken.
    assert_eq!(data_of(&read_all(k, latest).await?), ["new-0", "new-1"]);
    assert_eq!(
        data_of(&read_all(k, trim_horizon(k, "s", shard).await?).await?),
        ["old-0", "old-1", "old-2", "new-0", "new-1"]
    );
    // Shard ids are read as AWS does: the number after the first '-'.
    let it = iterator(
        k,
        iterator_input("s", "shardId-0", ShardIteratorType::TrimHorizon),
    )
    .await?;
    assert_eq!(read_all(k, it).await?.len(), 5);
    // By ARN.
    let it = iterator(
        k,
        GetShardIteratorInput {
            stream_arn: Some(arn("s")),
            shard_id: shard.into(),
            shard_iterator_type: Some(ShardIteratorType::TrimHorizon),
            ..Default::default()
        },
    )
    .await?;
    assert_eq!(read_all(k, it).await?.len(), 5);
    Ok(())
}

/// Suite test: at and after sequence number iterators.
pub async fn at_and_after_sequence_number_iterators(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    let shard = "shardId-000000000000";
    let mut seqs = Vec::new();
    for i in 0..5 {
        seqs.push(put(k, "s", "k", &format!("r{i}")).await?.sequence_number);
    }
    let at = |kind, seq: &str| GetShardIteratorInput {
        starting_sequence_number: Some(seq.into()),
        ..iterator_input("s", shard, kind)
    };
    let got = read_all(
        k,
        iterator(k, at(ShardIteratorType::AtSequenceNumber, &seqs[2])).await?,
    )
    .await?;
    assert_eq!(data_of(&got), ["r2", "r3", "r4"]);
    assert_eq!(got[0].sequence_number, seqs[2]);
    let got = read_all(
        k,
        iterator(k, at(ShardIteratorType::AfterSequenceNumber, &seqs[2])).await?,
    )
    .await?;
    assert_eq!(data_of(&got), ["r3", "r4"]);
    let got = read_all(
        k,
        iterator(k, at(ShardIteratorType::AtSequenceNumber, &seqs[0])).await?,
    )
    .await?;
    assert_eq!(data_of(&got), ["r0", "r1", "r2", "r3", "r4"]);
    let got = read_all(
        k,
        iterator(k, at(ShardIteratorType::AfterSequenceNumber, &seqs[4])).await?,
    )
    .await?;
    assert!(got.is_empty());
    Ok(())
}

/// Suite test: at timestamp iterator reads from arrival times.
pub async fn at_timestamp_iterator_reads_from_arrival_times(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    let shard = "shardId-000000000000";
    for i in 0..3 {
        put(k, "s", "k", &format!("r{i}")).await?;
    }
    let all = read_all(k, trim_horizon(k, "s", shard).await?).await?;
    let arrivals: Vec<i64> = all
        .iter()
        .map(|r| r.approximate_arrival_timestamp.map(|t| t.0))
        .collect::<Option<_>>()
        .ok_or("a record without ApproximateArrivalTimestamp")?;
    assert!(arrivals.windows(2).all(|w| w[0] <= w[1]), "{arrivals:?}");
    let at = |ms: i64| GetShardIteratorInput {
        timestamp: Some(Timestamp(ms)),
        ..iterator_input("s", shard, ShardIteratorType::AtTimestamp)
    };
    // At a record's own arrival time: that record and everything after it, nothing before.
    for (i, &t) in arrivals.iter().enumerate() {
        let got = read_all(k, iterator(k, at(t)).await?).await?;
        let want: Vec<&Record> = all
            .iter()
            .filter(|r| r.approximate_arrival_timestamp.is_some_and(|a| a.0 >= t))
            .collect();
        assert_eq!(got.iter().collect::<Vec<_>>(), want, "at {t}");
        assert!(
            got.contains(&all[i]),
            "record {i} at its own arrival time {t}"
        );
    }
    // Before the first record: everything.
    let day_before = arrivals[0] - 86_400_000;
    assert_eq!(read_all(k, iterator(k, at(day_before)).await?).await?, all);
    // The future is an error.
    let future = arrivals[2] + 3_600_000;
    assert_fails_with_prefix(
        k.get_shard_iterator(at(future)).await,
        "InvalidArgumentException",
        &format!(
            "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. \
             timestampInMillis: {future}, currentTimestampInMillis: "
        ),
    );
    assert_fails(
        k.get_shard_iterator(iterator_input("s", shard, ShardIteratorType::AtTimestamp))
            .await,
        "InvalidArgumentException",
        "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. \
         Current request has no timestamp parameter.",
    );
    Ok(())
}

/// Suite test: get shard iterator errors.
pub async fn get_shard_iterator_errors(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 2).await?;
    let on_shard_1 = k
        .put_record(PutRecordInput {
            stream_name: Some("s".into()),
            partition_key: "k".into(),
            explicit_hash_key: Some(MAX_HASH_KEY.into()),
            data: "x".into(),
            ..Default::default()
        })
        .await?;
    assert_eq!(on_shard_1.shard_id, "shardId-000000000001");
    let with_seq = |shard: &str, kind, seq: Option<&str>| GetShardIteratorInput {
        starting_sequence_number: seq.map(String::from),
        ..iterator_input("s", shard, kind)
    };
    assert_fails(
        k.get_shard_iterator(with_seq(
            "shardId-000000000000",
            ShardIteratorType::AtSequenceNumber,
            Some(&on_shard_1.sequence_number),
        ))
        .await,
        "InvalidArgumentException",
        "Invalid StartingSequenceNumber. It encodes shardId-000000000001, \
         while it was used in a call to a shard with shardId-000000000000",
    );
    let must = "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber \
                or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber.";
    for kind in [
        ShardIteratorType::AtSequenceNumber,
        ShardIteratorType::AfterSequenceNumber,
    ] {
        assert_fails(
            k.get_shard_iterator(with_seq("shardId-000000000000", kind, None))
                .await,
            "InvalidArgumentException",
            &format!("{must} Request specified {kind} and no StartingSequenceNumber."),
        );
    }
    for kind in [ShardIteratorType::TrimHorizon, ShardIteratorType::Latest] {
        assert_fails(
            k.get_shard_iterator(with_seq(
                "shardId-000000000001",
                kind,
                Some(&on_shard_1.sequence_number),
            ))
            .await,
            "InvalidArgumentException",
            &format!("{must} Request specified {kind} and also a StartingSequenceNumber."),
        );
    }
    // Unknown shards.
    assert_fails(
        k.get_shard_iterator(iterator_input(
            "s",
            "shardId-000000000005",
            ShardIteratorType::Latest,
        ))
        .await,
        "ResourceNotFoundException",
        "Shard shardId-000000000005 in stream s under account 000000000000 does not exist",
    );
    assert_fails(
        k.get_shard_iterator(iterator_input("s", "ABKLFD8", ShardIteratorType::Latest))
            .await,
        "ResourceNotFoundException",
        "Could not find shard ABKLFD8 in stream s under account 000000000000.",
    );
    assert_fails(
        k.get_shard_iterator(iterator_input("s", "2147483648", ShardIteratorType::Latest))
            .await,
        "ResourceNotFoundException",
        "Could not find shard 2147483648 in stream s under account 000000000000.",
    );
    // On an unknown stream AWS names the shard, not the stream.
    assert_fails(
        k.get_shard_iterator(iterator_input(
            "nope",
            "shardId-0",
            ShardIteratorType::Latest,
        ))
        .await,
        "ResourceNotFoundException",
        "Shard shardId-000000000000 in stream nope under account 000000000000 does not exist",
    );
    assert_fails(
        k.get_shard_iterator(iterator_input("nope", "ABKLFD8", ShardIteratorType::Latest))
            .await,
        "ResourceNotFoundException",
        "Could not find shard ABKLFD8 in stream nope under account 000000000000.",
    );
    // Shard existence is checked before the iterator type's arguments.
    assert_fails(
        k.get_shard_iterator(with_seq(
            "shardId-5",
            ShardIteratorType::AtSequenceNumber,
            Some("5"),
        ))
        .await,
        "ResourceNotFoundException",
        "Shard shardId-000000000005 in stream s under account 000000000000 does not exist",
    );
    Ok(())
}

/// Suite test: get records limit and continuation.
pub async fn get_records_limit_and_continuation(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    let shard = "shardId-000000000000";
    let mut put_seqs = Vec::new();
    for i in 0..25 {
        put_seqs.push(
            put(k, "s", &format!("k{i}"), &format!("r{i}"))
                .await?
                .sequence_number,
        );
    }
    let mut it = trim_horizon(k, "s", shard).await?;
    let mut got: Vec<Record> = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let out = k
            .get_records(GetRecordsInput {
                shard_iterator: it,
                limit: Some(4),
                ..Default::default()
            })
            .await?;
        it = out.next_shard_iterator.ok_or("no NextShardIterator")?;
        sizes.push(out.records.len());
        for r in &out.records {
            assert!(r.approximate_arrival_timestamp.is_some());
        }
        let caught_up = got.len() + out.records.len() == 25;
        if caught_up {
            assert_eq!(out.millis_behind_latest, Some(0));
        }
        if out.records.is_empty() {
            assert_eq!(out.millis_behind_latest, Some(0));
            break;
        }
        got.extend(out.records);
        assert!(sizes.len() < 20, "reading does not end");
    }
    assert_eq!(sizes, [4, 4, 4, 4, 4, 4, 1, 0]);
    let seqs: Vec<String> = got.iter().map(|r| r.sequence_number.clone()).collect();
    assert_eq!(seqs, put_seqs, "no gap, no duplicate, in order");
    let want: Vec<String> = (0..25).map(|i| format!("r{i}")).collect();
    assert_eq!(data_of(&got), want);
    assert_eq!(got[7].partition_key, "k7");
    // The iterator of the empty read continues with what comes next.
    put(k, "s", "k", "r25").await?;
    assert_eq!(data_of(&read_all(k, it).await?), ["r25"]);

    let th = trim_horizon(k, "s", shard).await?;
    for (limit, bound) in [
        (0, "greater than or equal to 1"),
        (10_001, "less than or equal to 10000"),
    ] {
        assert_fails(
            k.get_records(GetRecordsInput {
                shard_iterator: th.clone(),
                limit: Some(limit),
                ..Default::default()
            })
            .await,
            "ValidationException",
            &format!(
                "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: \
                 Member must have value {bound}"
            ),
        );
    }
    Ok(())
}

/// Suite test: forged or edited iterators are invalid.
pub async fn forged_or_edited_iterators_are_invalid(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    put(k, "s", "k", "x").await?;
    let it = trim_horizon(k, "s", "shardId-000000000000").await?;
    assert!(it.len() <= 512, "AWS iterators are at most 512 characters");
    let read = |shard_iterator: String| GetRecordsInput {
        shard_iterator,
        ..Default::default()
    };
    let invalid = "Invalid ShardIterator.";
    for forged in [
        "not-an-iterator".to_string(),
        "AAAAAAAAAAE=".to_string(),
        tamper(&it),
        format!("{it}AAAA"),
        it[..it.len() - 4].to_string(),
    ] {
        assert_fails(
            k.get_records(read(forged.clone())).await,
            "InvalidArgumentException",
            invalid,
        );
    }
    assert_fails(
        k.get_records(read("a".repeat(513))).await,
        "ValidationException",
        &format!(
            "1 validation error detected: Value '{}' at 'shardIterator' failed to satisfy constraint: \
             Member must have length less than or equal to 512",
            "a".repeat(513)
        ),
    );
    // The genuine iterator still works.
    assert_eq!(data_of(&read_all(k, it).await?), ["x"]);
    Ok(())
}

/// Suite test: iterator of deleted stream is resource not found.
pub async fn iterator_of_deleted_stream_is_resource_not_found(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 2).await?;
    put(k, "s", "k", "x").await?;
    let it0 = trim_horizon(k, "s", "shardId-000000000000").await?;
    let it1 = trim_horizon(k, "s", "shardId-000000000001").await?;
    k.delete_stream(DeleteStreamInput {
        stream_name: Some("s".into()),
        ..Default::default()
    })
    .await?;
    for (it, shard) in [(it0, "shardId-000000000000"), (it1, "shardId-000000000001")] {
        assert_fails(
            k.get_records(GetRecordsInput {
                shard_iterator: it,
                ..Default::default()
            })
            .await,
            "ResourceNotFoundException",
            &format!("Shard {shard} in stream s under account 000000000000 does not exist"),
        );
    }
    Ok(())
}
