//! The suite's tests of PutRecord and PutRecords: routing by hash key, size and request limits, result order.

use super::*;

/// Suite test: SequenceNumberForOrdering is a number of the stream, or the put is refused
/// with AWS's text.
pub async fn sequence_number_for_ordering_is_checked(k: &dyn Kinesis) -> TestResult {
    create(k, "ordered", 1).await?;
    let first = put(k, "ordered", "k", "one").await?;
    let after = k
        .put_record(PutRecordInput {
            stream_name: Some("ordered".into()),
            partition_key: "k".into(),
            data: "two".into(),
            sequence_number_for_ordering: Some(first.sequence_number.clone()),
            ..Default::default()
        })
        .await?;
    assert_sequence_number_form(&after.sequence_number);
    assert!(after.sequence_number > first.sequence_number);
    assert_fails(
        k.put_record(PutRecordInput {
            stream_name: Some("ordered".into()),
            partition_key: "k".into(),
            data: "three".into(),
            sequence_number_for_ordering: Some("1234".into()),
            ..Default::default()
        })
        .await,
        "InvalidArgumentException",
        &format!(
            "ExclusiveMinimumSequenceNumber 1234 used in PutRecord on stream ordered under account {ACCOUNT} is invalid."
        ),
    );
    Ok(())
}

/// Suite test: put record routes by md5 of partition key.
pub async fn put_record_routes_by_md5_of_partition_key(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 4).await?;
    let shards = list_shards(k, "s").await?;
    let mut expected: HashMap<String, Vec<String>> = HashMap::new();
    for i in 0..40 {
        let key = format!("partition-{i}");
        let out = put(k, "s", &key, &key).await?;
        let owner = shard_owning(&shards, HashKey::from_partition_key(&key).0)?;
        assert_eq!(out.shard_id, owner, "partition key {key}");
        assert_sequence_number_form(&out.sequence_number);
        expected.entry(owner).or_default().push(key);
    }
    assert_eq!(expected.len(), 4, "40 keys should reach all 4 shards");
    // Each shard holds exactly the records routed to it, in put order.
    for s in &shards {
        let got = read_all(k, trim_horizon(k, "s", &s.shard_id).await?).await?;
        assert_eq!(
            data_of(&got),
            expected.get(&s.shard_id).cloned().unwrap_or_default(),
            "{}",
            s.shard_id
        );
        for r in &got {
            assert_eq!(String::from_utf8_lossy(&r.data), r.partition_key);
        }
    }
    Ok(())
}

/// Suite test: explicit hash key routes and is range checked.
pub async fn explicit_hash_key_routes_and_is_range_checked(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 4).await?;
    let shards = list_shards(k, "s").await?;
    // A partition key whose MD5 lives in shard 0, sent elsewhere by its explicit hash key.
    let key = (0..1000)
        .map(|i| format!("k{i}"))
        .find(|key| HashKey::from_partition_key(key).0 < (1u128 << 126))
        .ok_or("no key hashes into shard 0")?;
    let cases = [
        ("0".to_string(), "shardId-000000000000"),
        (
            shards[1].hash_key_range.ending_hash_key.clone(),
            "shardId-000000000001",
        ),
        (
            shards[2].hash_key_range.starting_hash_key.clone(),
            "shardId-000000000002",
        ),
        (MAX_HASH_KEY.to_string(), "shardId-000000000003"),
    ];
    for (ehk, shard) in &cases {
        let out = k
            .put_record(PutRecordInput {
                stream_name: Some("s".into()),
                partition_key: key.clone(),
                explicit_hash_key: Some(ehk.clone()),
                data: "x".into(),
                ..Default::default()
            })
            .await?;
        assert_eq!(out.shard_id, *shard, "explicit hash key {ehk}");
    }
    let out = k
        .put_records(PutRecordsInput {
            stream_name: Some("s".into()),
            records: cases
                .iter()
                .map(|(ehk, _)| PutRecordsRequestEntry {
                    partition_key: key.clone(),
                    explicit_hash_key: Some(ehk.clone()),
                    data: "y".into(),
                })
                .collect(),
            ..Default::default()
        })
        .await?;
    let got: Vec<Option<String>> = out.records.iter().map(|r| r.shard_id.clone()).collect();
    let want: Vec<Option<String>> = cases.iter().map(|(_, s)| Some(s.to_string())).collect();
    assert_eq!(got, want);

    let too_big = "340282366920938463463374607431768211456";
    let msg = format!(
        "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {too_big}"
    );
    assert_fails(
        k.put_record(PutRecordInput {
            stream_name: Some("s".into()),
            partition_key: "k".into(),
            explicit_hash_key: Some(too_big.into()),
            data: "x".into(),
            ..Default::default()
        })
        .await,
        "InvalidArgumentException",
        &msg,
    );
    // In PutRecords one bad entry fails the whole request: nothing is written.
    assert_fails(
        k.put_records(PutRecordsInput {
            stream_name: Some("s".into()),
            records: vec![
                PutRecordsRequestEntry {
                    partition_key: "fine".into(),
                    data: "not written".into(),
                    ..Default::default()
                },
                PutRecordsRequestEntry {
                    partition_key: "k".into(),
                    explicit_hash_key: Some(too_big.into()),
                    data: "x".into(),
                },
            ],
            ..Default::default()
        })
        .await,
        "InvalidArgumentException",
        &msg,
    );
    let mut total = 0;
    for s in &shards {
        let got = read_all(k, trim_horizon(k, "s", &s.shard_id).await?).await?;
        assert!(!data_of(&got).contains(&"not written".to_string()));
        total += got.len();
    }
    assert_eq!(total, 8);
    // Not a hash key at all: ValidationException.
    assert_fails(
        k.put_record(PutRecordInput {
            stream_name: Some("s".into()),
            partition_key: "k".into(),
            explicit_hash_key: Some("01".into()),
            data: "x".into(),
            ..Default::default()
        })
        .await,
        "ValidationException",
        "1 validation error detected: Value '01' at 'explicitHashKey' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})",
    );
    Ok(())
}

/// Suite test: put record size limits are validation errors.
pub async fn put_record_size_limits_are_validation_errors(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    let input = |key: String, data: Vec<u8>| PutRecordInput {
        stream_name: Some("s".into()),
        partition_key: key,
        data: data.into(),
        ..Default::default()
    };
    let long_key = "p".repeat(257);
    assert_fails(
        k.put_record(input(long_key.clone(), b"x".to_vec())).await,
        "ValidationException",
        &format!(
            "1 validation error detected: Value '{long_key}' at 'partitionKey' failed to satisfy constraint: \
             Member must have length less than or equal to 256"
        ),
    );
    assert_fails(
        k.put_record(input(String::new(), b"x".to_vec())).await,
        "ValidationException",
        "1 validation error detected: Value '' at 'partitionKey' failed to satisfy constraint: \
         Member must have length greater than or equal to 1",
    );
    assert_fails(
        k.put_record(input("k".into(), vec![7u8; ONE_MIB + 1]))
            .await,
        "ValidationException",
        "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]' at 'data' \
         failed to satisfy constraint: Member must have length less than or equal to 1048576",
    );
    // The limits themselves are allowed; so is empty data, and 256 two-byte characters.
    k.put_record(input("p".repeat(256), b"x".to_vec())).await?;
    k.put_record(input("é".repeat(256), b"x".to_vec())).await?;
    k.put_record(input("k".into(), vec![7u8; ONE_MIB])).await?;
    k.put_record(input("k".into(), Vec::new())).await?;
    let got = read_all(k, trim_horizon(k, "s", "shardId-000000000000").await?).await?;
    let sizes: Vec<usize> = got.iter().map(|r| r.data.len()).collect();
    assert_eq!(sizes, [1, 1, ONE_MIB, 0]);
    assert_eq!(got[1].partition_key, "é".repeat(256));
    Ok(())
}

/// Suite test: put records request limits.
pub async fn put_records_request_limits(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 2).await?;
    let entry = |key: &str, len: usize| PutRecordsRequestEntry {
        partition_key: key.into(),
        data: vec![1u8; len].into(),
        ..Default::default()
    };
    let request = |records: Vec<PutRecordsRequestEntry>| PutRecordsInput {
        stream_name: Some("s".into()),
        records,
        ..Default::default()
    };

    let e = err_of(k.put_records(request(vec![entry("k", 1); 501])).await);
    assert_eq!(e.code(), "ValidationException", "{e}");
    assert!(
        e.message().starts_with("1 validation error detected: "),
        "{e}"
    );
    assert!(
        e.message().contains(
            "at 'records' failed to satisfy constraint: Member must have length less than or equal to 500"
        ),
        "{e}"
    );
    assert_fails(
        k.put_records(request(Vec::new())).await,
        "ValidationException",
        "1 validation error detected: Value '[]' at 'records' failed to satisfy constraint: \
         Member must have length greater than or equal to 1",
    );
    // Entries are numbered from 1 in messages.
    let long_key = "p".repeat(257);
    assert_fails(
        k.put_records(request(vec![entry("k", 1), entry(&long_key, 1)]))
            .await,
        "ValidationException",
        &format!(
            "1 validation error detected: Value '{long_key}' at 'records.2.member.partitionKey' \
             failed to satisfy constraint: Member must have length less than or equal to 256"
        ),
    );
    assert_fails(
        k.put_records(request(vec![entry("k", ONE_MIB + 1)])).await,
        "ValidationException",
        "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]' \
         at 'records.1.member.data' failed to satisfy constraint: Member must have length less than or equal to 1048576",
    );
    // 5 MiB counts data and partition keys: five 1 MiB records with 1-byte keys are over it.
    assert_fails(
        k.put_records(request(vec![entry("k", ONE_MIB); 5])).await,
        "InvalidArgumentException",
        "Records size exceeds 5 MB limit",
    );
    // Exactly 5 MiB is allowed.
    let out = k
        .put_records(request(vec![entry("k", ONE_MIB - 1); 5]))
        .await?;
    assert_eq!(out.failed_record_count, 0);
    assert_eq!(out.records.len(), 5);
    // 500 entries are allowed.
    let out = k.put_records(request(vec![entry("k", 1); 500])).await?;
    assert_eq!(out.failed_record_count, 0);
    assert_eq!(out.records.len(), 500);
    Ok(())
}

/// Suite test: put records results follow request order.
pub async fn put_records_results_follow_request_order(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 3).await?;
    let shards = list_shards(k, "s").await?;
    let keys: Vec<String> = (0..100).map(|i| format!("key-{i}")).collect();
    let out = k
        .put_records(PutRecordsInput {
            stream_name: Some("s".into()),
            records: keys
                .iter()
                .map(|key| PutRecordsRequestEntry {
                    partition_key: key.clone(),
                    data: key.clone().into_bytes().into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .await?;
    assert_eq!(out.failed_record_count, 0);
    assert_eq!(out.records.len(), keys.len());
    let mut last: HashMap<String, String> = HashMap::new();
    let mut by_shard: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for (key, r) in keys.iter().zip(&out.records) {
        assert_eq!(r.error_code, None);
        assert_eq!(r.error_message, None);
        let shard = r.shard_id.clone().ok_or("entry without ShardId")?;
        let seq = r
            .sequence_number
            .clone()
            .ok_or("entry without SequenceNumber")?;
        assert_eq!(
            shard,
            shard_owning(&shards, HashKey::from_partition_key(key).0)?
        );
        assert_sequence_number_form(&seq);
        if let Some(prev) = last.get(&shard) {
            assert_eq!(
                cmp_seq(prev, &seq),
                Ordering::Less,
                "{prev} then {seq} in {shard}"
            );
        }
        last.insert(shard.clone(), seq.clone());
        by_shard.entry(shard).or_default().push((seq, key.clone()));
    }
    // Reading back gives each shard's entries in request order, with the same numbers.
    for (shard, want) in &by_shard {
        let got = read_all(k, trim_horizon(k, "s", shard).await?).await?;
        let got: Vec<(String, String)> = got
            .into_iter()
            .map(|r| (r.sequence_number, r.partition_key))
            .collect();
        assert_eq!(&got, want);
    }
    // A later PutRecord gets a higher number in its shard; numbers are unique in the stream.
    let later = put(k, "s", &keys[0], "later").await?;
    let prev = last.get(&later.shard_id).ok_or("shard of key-0 unseen")?;
    assert_eq!(cmp_seq(prev, &later.sequence_number), Ordering::Less);
    let mut all: Vec<&String> = out
        .records
        .iter()
        .filter_map(|r| r.sequence_number.as_ref())
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 100);
    Ok(())
}
