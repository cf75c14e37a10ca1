#!/usr/bin/env python3
"""Conformance of `rill serve` with boto3 (a client nobody here wrote).

Usage:
    boto3_check.py ENDPOINT
    boto3_check.py ENDPOINT --expect-error CODE

The first form drives every operation rill serves against fresh stream names and checks the
results; the second makes one ListStreams call and checks that it fails with CODE (used with
`rill serve --auth` and a wrong secret). Credentials come from AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY. Prints one line per check and exits 1 on the first failure.
"""

import base64
import datetime
import hashlib
import os
import sys
import uuid

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

ACCOUNT = "000000000000"
REGION = "us-east-1"
MAX_HASH = 2**128 - 1
CHECKS = 0


def check(name, ok, detail=""):
    """Prints the outcome of one check; exits 1 on failure."""
    global CHECKS
    CHECKS += 1
    if ok:
        print(f"ok   {name}", flush=True)
    else:
        print(f"FAIL {name}: {detail}", flush=True)
        sys.exit(1)


def expect_error(name, code, fn, message=None, contains=None):
    """Checks that fn() raises a ClientError with `code` (and the exact or partial message)."""
    try:
        out = fn()
    except ClientError as e:
        err = e.response.get("Error", {})
        got, msg = err.get("Code"), err.get("Message", "")
        check(name, got == code, f"expected {code}, got {got}: {msg}")
        if message is not None:
            check(f"{name}: message", msg == message, f"expected {message!r}, got {msg!r}")
        if contains is not None:
            check(f"{name}: message", all(c in msg for c in contains), f"{msg!r} lacks {contains}")
        return e
    check(name, False, f"expected {code}, the call succeeded: {out}")


def client(endpoint):
    return boto3.session.Session(region_name=REGION).client(
        "kinesis",
        endpoint_url=endpoint,
        config=Config(
            retries={"total_max_attempts": 1},
            connect_timeout=5,
            read_timeout=30,
            parameter_validation=True,
        ),
    )


def shard_for(shards, hash_key):
    for s in shards:
        r = s["HashKeyRange"]
        if int(r["StartingHashKey"]) <= hash_key <= int(r["EndingHashKey"]):
            return s["ShardId"]
    return None


def md5_hash(partition_key):
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


def read_all(k, shard_id, stream, iterator_type="TRIM_HORIZON", limit=None, **extra):
    """Reads a shard from `iterator_type` until a GetRecords returns nothing."""
    it = k.get_shard_iterator(
        StreamName=stream, ShardId=shard_id, ShardIteratorType=iterator_type, **extra
    )["ShardIterator"]
    records = []
    for _ in range(1000):
        args = {"ShardIterator": it}
        if limit:
            args["Limit"] = limit
        out = k.get_records(**args)
        records.extend(out["Records"])
        if not out["Records"]:
            return records, out
        it = out["NextShardIterator"]
    raise AssertionError("shard never ran dry")


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    endpoint = sys.argv[1]
    k = client(endpoint)
    print(f"boto3 {boto3.__version__}, botocore {botocore.__version__}, endpoint {endpoint}")

    if len(sys.argv) == 4 and sys.argv[2] == "--expect-error":
        code = sys.argv[3]
        expect_error(f"ListStreams refused with {code}", code, lambda: k.list_streams())
        print(f"boto3_check: {CHECKS} checks passed")
        return 0
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2

    tag = uuid.uuid4().hex[:10]
    name = f"boto3-{tag}"
    other = f"boto3-{tag}-other"
    arn = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}"

    # ---- CreateStream, waiter, DescribeStream
    k.create_stream(StreamName=name, ShardCount=3)
    k.create_stream(StreamName=other, ShardCount=1)
    check("CreateStream x2", True)
    k.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    check("waiter stream_exists", True)
    expect_error(
        "CreateStream of an existing name -> ResourceInUseException",
        "ResourceInUseException",
        lambda: k.create_stream(StreamName=name, ShardCount=1),
    )

    d = k.describe_stream(StreamName=name)["StreamDescription"]
    check("DescribeStream: name", d["StreamName"] == name, d["StreamName"])
    check("DescribeStream: ARN", d["StreamARN"] == arn, d["StreamARN"])
    check("DescribeStream: ACTIVE", d["StreamStatus"] == "ACTIVE", d["StreamStatus"])
    check("DescribeStream: retention 24", d["RetentionPeriodHours"] == 24, d)
    check("DescribeStream: HasMoreShards false", d["HasMoreShards"] is False, d)
    check(
        "DescribeStream: creation timestamp is a recent datetime",
        isinstance(d["StreamCreationTimestamp"], datetime.datetime)
        and abs(
            (datetime.datetime.now(datetime.timezone.utc) - d["StreamCreationTimestamp"]).total_seconds()
        )
        < 300,
        d["StreamCreationTimestamp"],
    )
    shards = d["Shards"]
    ids = [s["ShardId"] for s in shards]
    check(
        "DescribeStream: shard ids",
        ids == ["shardId-000000000000", "shardId-000000000001", "shardId-000000000002"],
        ids,
    )
    ranges = [(int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"])) for s in shards]
    contiguous = ranges[0][0] == 0 and ranges[-1][1] == MAX_HASH and all(
        ranges[i][1] + 1 == ranges[i + 1][0] for i in range(len(ranges) - 1)
    )
    check("DescribeStream: hash key ranges cover 0..2^128-1", contiguous, ranges)
    check(
        "DescribeStream: open shards have a starting sequence number and no end",
        all(
            s["SequenceNumberRange"]["StartingSequenceNumber"].isdigit()
            and "EndingSequenceNumber" not in s["SequenceNumberRange"]
            for s in shards
        ),
        shards,
    )

    # ---- DescribeStream pagination (by hand and by paginator)
    p1 = k.describe_stream(StreamName=name, Limit=1)["StreamDescription"]
    check(
        "DescribeStream Limit=1: one shard, HasMoreShards",
        len(p1["Shards"]) == 1 and p1["HasMoreShards"] is True,
        p1,
    )
    p2 = k.describe_stream(StreamName=name, Limit=5, ExclusiveStartShardId=p1["Shards"][0]["ShardId"])[
        "StreamDescription"
    ]
    check(
        "DescribeStream ExclusiveStartShardId: the rest",
        [s["ShardId"] for s in p2["Shards"]] == ids[1:] and p2["HasMoreShards"] is False,
        p2,
    )
    pages = list(k.get_paginator("describe_stream").paginate(StreamName=name, PaginationConfig={"PageSize": 1}))
    got = [s["ShardId"] for p in pages for s in p["StreamDescription"]["Shards"]]
    check("DescribeStream paginator, page size 1", got == ids and len(pages) >= 3, (len(pages), got))

    # ---- DescribeStreamSummary (by name and by ARN)
    s = k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    check(
        "DescribeStreamSummary: OpenShardCount 3, ACTIVE, retention 24",
        s["OpenShardCount"] == 3 and s["StreamStatus"] == "ACTIVE" and s["RetentionPeriodHours"] == 24,
        s,
    )
    s = k.describe_stream_summary(StreamARN=arn)["StreamDescriptionSummary"]
    check("DescribeStreamSummary by StreamARN", s["StreamName"] == name, s)

    # ---- ListStreams (pagination)
    ls = k.list_streams()
    check("ListStreams: both streams", {name, other} <= set(ls["StreamNames"]), ls["StreamNames"])
    check(
        "ListStreams: StreamSummaries match StreamNames",
        [x["StreamName"] for x in ls["StreamSummaries"]] == ls["StreamNames"],
        ls,
    )
    one = k.list_streams(Limit=1)
    check(
        "ListStreams Limit=1: one name, HasMoreStreams, NextToken",
        len(one["StreamNames"]) == 1 and one["HasMoreStreams"] is True and one.get("NextToken"),
        one,
    )
    rest = k.list_streams(NextToken=one["NextToken"])
    check(
        "ListStreams NextToken: the rest",
        one["StreamNames"] + rest["StreamNames"] == ls["StreamNames"],
        (one["StreamNames"], rest["StreamNames"]),
    )
    after = k.list_streams(ExclusiveStartStreamName=sorted(ls["StreamNames"])[0])
    check(
        "ListStreams ExclusiveStartStreamName",
        after["StreamNames"] == sorted(ls["StreamNames"])[1:],
        after["StreamNames"],
    )
    names = [
        n
        for p in k.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 1})
        for n in p["StreamNames"]
    ]
    check("ListStreams paginator, page size 1", names == ls["StreamNames"], names)

    # ---- ListShards (pagination)
    l1 = k.list_shards(StreamName=name, MaxResults=1)
    check(
        "ListShards MaxResults=1: one shard and a NextToken",
        [x["ShardId"] for x in l1["Shards"]] == ids[:1] and l1.get("NextToken"),
        l1,
    )
    l2 = k.list_shards(NextToken=l1["NextToken"], MaxResults=5)
    check(
        "ListShards NextToken: the rest, no NextToken",
        [x["ShardId"] for x in l2["Shards"]] == ids[1:] and "NextToken" not in l2,
        l2,
    )
    # botocore's ListShards paginator sends StreamName again beside NextToken, which AWS
    # refuses (boto/botocore#2009); rill refuses it the same way, with AWS's message.
    expect_error(
        "ListShards paginator (StreamName + NextToken) -> InvalidArgumentException, as AWS",
        "InvalidArgumentException",
        lambda: [
            p
            for p in k.get_paginator("list_shards").paginate(StreamName=name, PaginationConfig={"PageSize": 1})
        ],
        message="NextToken and StreamName cannot be provided together.",
    )
    l3 = k.list_shards(StreamName=name, ExclusiveStartShardId=ids[0])
    check("ListShards ExclusiveStartShardId", [x["ShardId"] for x in l3["Shards"]] == ids[1:], l3)
    l4 = k.list_shards(StreamARN=arn)
    check("ListShards by StreamARN", [x["ShardId"] for x in l4["Shards"]] == ids, l4)

    # ---- PutRecord
    put = []  # (data, partition key, shard id, sequence number), in put order
    binary = bytes(range(256)) * 4
    cases = [
        (binary, "binary-key"),
        (b"", "empty-data"),
        (os.urandom(1000), "\u043a\u043b\u044e\u0447-\u2713"),  # non-ASCII partition key
        (b"hello rill", "k" * 256),
    ]
    for data, pk in cases:
        r = k.put_record(StreamName=name, Data=data, PartitionKey=pk)
        check(
            f"PutRecord ({len(data)} bytes, key {pk[:12]!r}): shard by MD5 of the key",
            r["ShardId"] == shard_for(shards, md5_hash(pk)),
            (r["ShardId"], shard_for(shards, md5_hash(pk))),
        )
        check(f"PutRecord: decimal sequence number", r["SequenceNumber"].isdigit(), r)
        put.append((data, pk, r["ShardId"], r["SequenceNumber"]))
    for ehk, want in [("0", ids[0]), (str(MAX_HASH), ids[2]), (str(ranges[1][0]), ids[1])]:
        r = k.put_record(StreamName=name, Data=b"ehk-" + ehk.encode(), PartitionKey="p", ExplicitHashKey=ehk)
        check(f"PutRecord ExplicitHashKey {ehk[:12]}: {want}", r["ShardId"] == want, r)
        put.append((b"ehk-" + ehk.encode(), "p", r["ShardId"], r["SequenceNumber"]))
    # SequenceNumberForOrdering: a later record with the same key gets a greater number.
    first = k.put_record(StreamName=name, Data=b"o1", PartitionKey="ordered")
    second = k.put_record(
        StreamName=name, Data=b"o2", PartitionKey="ordered", SequenceNumberForOrdering=first["SequenceNumber"]
    )
    check(
        "PutRecord SequenceNumberForOrdering: increasing",
        int(second["SequenceNumber"]) > int(first["SequenceNumber"]) and second["ShardId"] == first["ShardId"],
        (first, second),
    )
    put.append((b"o1", "ordered", first["ShardId"], first["SequenceNumber"]))
    put.append((b"o2", "ordered", second["ShardId"], second["SequenceNumber"]))

    # ---- PutRecords
    entries = [{"Data": f"batch-{i}".encode() + os.urandom(i), "PartitionKey": f"pk-{i}"} for i in range(20)]
    entries.append({"Data": os.urandom(300 * 1024), "PartitionKey": "large"})
    entries.append({"Data": b"to-the-middle", "PartitionKey": "x", "ExplicitHashKey": str(ranges[1][0] + 1)})
    pr = k.put_records(StreamName=name, Records=entries)
    check("PutRecords: FailedRecordCount 0", pr.get("FailedRecordCount", 0) == 0, pr)
    check("PutRecords: one result per entry", len(pr["Records"]) == len(entries), len(pr["Records"]))
    for i, (e, r) in enumerate(zip(entries, pr["Records"])):
        want = ids[1] if "ExplicitHashKey" in e else shard_for(shards, md5_hash(e["PartitionKey"]))
        if r.get("ShardId") != want or not r.get("SequenceNumber", "").isdigit():
            check(f"PutRecords entry {i}", False, (r, want))
        put.append((e["Data"], e["PartitionKey"], r["ShardId"], r["SequenceNumber"]))
    check("PutRecords: every entry on the shard its key hashes to, with a sequence number", True)
    pr2 = k.put_records(StreamARN=arn, Records=[{"Data": b"by-arn", "PartitionKey": "arn"}])
    check("PutRecords by StreamARN", pr2.get("FailedRecordCount", 0) == 0, pr2)
    put.append((b"by-arn", "arn", pr2["Records"][0]["ShardId"], pr2["Records"][0]["SequenceNumber"]))

    by_shard = {sid: [] for sid in ids}
    for data, pk, sid, seq in put:
        by_shard[sid].append((data, pk, seq))
    check(
        "sequence numbers increase in put order within each shard",
        all(
            all(int(a[2]) < int(b[2]) for a, b in zip(v, v[1:]))
            for v in by_shard.values()
        ),
        {k_: [x[2] for x in v] for k_, v in by_shard.items()},
    )

    # ---- GetShardIterator + GetRecords: read back byte-exact
    now = datetime.datetime.now(datetime.timezone.utc)
    for sid in ids:
        records, last = read_all(k, sid, name)
        want = by_shard[sid]
        got = [(r["Data"], r["PartitionKey"], r["SequenceNumber"]) for r in records]
        check(
            f"GetRecords TRIM_HORIZON {sid}: {len(want)} records byte-exact, keys and sequence numbers",
            got == want,
            f"got {len(got)} records, want {len(want)}; first difference at "
            f"{next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))}",
        )
        check(
            f"GetRecords {sid}: arrival timestamps are recent datetimes",
            all(abs((now - r["ApproximateArrivalTimestamp"]).total_seconds()) < 300 for r in records),
            [r["ApproximateArrivalTimestamp"] for r in records],
        )
        check(
            f"GetRecords {sid}: MillisBehindLatest 0 and a NextShardIterator at the tip",
            last.get("MillisBehindLatest") == 0 and last.get("NextShardIterator"),
            last,
        )

    sid = put[0][2]
    seqs = [seq for _, _, seq in by_shard[sid]]
    datas = [d for d, _, _ in by_shard[sid]]
    recs, _ = read_all(k, sid, name, "AT_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[1])
    check("GetShardIterator AT_SEQUENCE_NUMBER", [r["Data"] for r in recs] == datas[1:], len(recs))
    recs, _ = read_all(k, sid, name, "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[1])
    check("GetShardIterator AFTER_SEQUENCE_NUMBER", [r["Data"] for r in recs] == datas[2:], len(recs))
    recs, _ = read_all(k, sid, name, "AT_TIMESTAMP", Timestamp=now - datetime.timedelta(minutes=5))
    check("GetShardIterator AT_TIMESTAMP (5 minutes ago): everything", [r["Data"] for r in recs] == datas, len(recs))
    expect_error(
        "GetShardIterator AT_TIMESTAMP in the future -> InvalidArgumentException, as AWS",
        "InvalidArgumentException",
        lambda: k.get_shard_iterator(
            StreamName=name,
            ShardId=sid,
            ShardIteratorType="AT_TIMESTAMP",
            Timestamp=now + datetime.timedelta(minutes=5),
        ),
        contains=["cannot be greater than the currentTimestampInMillis"],
    )
    recs, _ = read_all(k, sid, name, "LATEST")
    check("GetShardIterator LATEST: nothing yet", recs == [], len(recs))
    it = k.get_shard_iterator(StreamName=name, ShardId=sid, ShardIteratorType="LATEST")["ShardIterator"]
    late = k.put_record(StreamName=name, Data=b"after-latest", PartitionKey=put[0][1])
    out = k.get_records(ShardIterator=it)
    check(
        "LATEST iterator sees a record put after it",
        [r["Data"] for r in out["Records"]] == [b"after-latest"]
        and out["Records"][0]["SequenceNumber"] == late["SequenceNumber"],
        out["Records"],
    )
    recs, _ = read_all(k, sid, name, limit=1)
    check("GetRecords Limit=1, following NextShardIterator", [r["Data"] for r in recs] == datas + [b"after-latest"], len(recs))
    out = k.get_records(
        ShardIterator=k.get_shard_iterator(StreamName=name, ShardId=sid, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ],
        Limit=2,
    )
    check("GetRecords Limit=2: two records", len(out["Records"]) == 2, len(out["Records"]))
    it = k.get_shard_iterator(StreamARN=arn, ShardId=sid, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    out = k.get_records(ShardIterator=it, StreamARN=arn, Limit=1)
    check("GetShardIterator/GetRecords by StreamARN", [r["Data"] for r in out["Records"]] == datas[:1], out)

    # ---- Tags
    k.add_tags_to_stream(StreamName=name, Tags={"team": "rill", "env": "test", "cost": "0", "b": "2"})
    t = k.list_tags_for_stream(StreamName=name)
    check(
        "AddTagsToStream + ListTagsForStream: sorted by key",
        [(x["Key"], x["Value"]) for x in t["Tags"]]
        == [("b", "2"), ("cost", "0"), ("env", "test"), ("team", "rill")]
        and t["HasMoreTags"] is False,
        t,
    )
    t = k.list_tags_for_stream(StreamName=name, Limit=2)
    check(
        "ListTagsForStream Limit=2: HasMoreTags",
        [x["Key"] for x in t["Tags"]] == ["b", "cost"] and t["HasMoreTags"] is True,
        t,
    )
    t = k.list_tags_for_stream(StreamName=name, ExclusiveStartTagKey="cost")
    check("ListTagsForStream ExclusiveStartTagKey", [x["Key"] for x in t["Tags"]] == ["env", "team"], t)
    k.add_tags_to_stream(StreamARN=arn, Tags={"env": "prod"})
    k.remove_tags_from_stream(StreamName=name, TagKeys=["b", "cost"])
    t = k.list_tags_for_stream(StreamARN=arn)
    check(
        "AddTagsToStream overwrite + RemoveTagsFromStream",
        [(x["Key"], x["Value"]) for x in t["Tags"]] == [("env", "prod"), ("team", "rill")],
        t,
    )

    # ---- Retention
    k.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=48)
    s = k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    check("IncreaseStreamRetentionPeriod to 48", s["RetentionPeriodHours"] == 48, s["RetentionPeriodHours"])
    expect_error(
        "IncreaseStreamRetentionPeriod below the current -> InvalidArgumentException",
        "InvalidArgumentException",
        lambda: k.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=24),
    )
    k.decrease_stream_retention_period(StreamARN=arn, RetentionPeriodHours=24)
    d = k.describe_stream(StreamName=name)["StreamDescription"]
    check("DecreaseStreamRetentionPeriod to 24", d["RetentionPeriodHours"] == 24, d["RetentionPeriodHours"])
    expect_error(
        "DecreaseStreamRetentionPeriod above the current -> InvalidArgumentException",
        "InvalidArgumentException",
        lambda: k.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=48),
    )

    # ---- Error paths
    missing = f"boto3-missing-{tag}"
    expect_error(
        "DescribeStream of an unknown stream -> ResourceNotFoundException",
        "ResourceNotFoundException",
        lambda: k.describe_stream(StreamName=missing),
        message=f"Stream {missing} under account {ACCOUNT} not found.",
    )
    expect_error(
        "PutRecord to an unknown stream -> ResourceNotFoundException",
        "ResourceNotFoundException",
        lambda: k.put_record(StreamName=missing, Data=b"x", PartitionKey="k"),
        message=f"Stream {missing} under account {ACCOUNT} not found.",
    )
    e = expect_error(
        "modelled exception class: client.exceptions.ResourceNotFoundException",
        "ResourceNotFoundException",
        lambda: k.list_shards(StreamName=missing),
    )
    check(
        "ResourceNotFoundException is the modelled class, HTTP 400",
        isinstance(e, k.exceptions.ResourceNotFoundException)
        and e.response["ResponseMetadata"]["HTTPStatusCode"] == 400,
        type(e),
    )
    forged = base64.b64encode(b"forged" + os.urandom(90)).decode()
    expect_error(
        "GetRecords with a forged iterator -> InvalidArgumentException",
        "InvalidArgumentException",
        lambda: k.get_records(ShardIterator=forged),
    )
    expect_error(
        "PutRecords with 501 entries -> ValidationException",
        "ValidationException",
        lambda: k.put_records(
            StreamName=name, Records=[{"Data": b"x", "PartitionKey": "k"} for _ in range(501)]
        ),
        contains=["records", "500"],
    )
    expect_error(
        "GetShardIterator of an unknown shard -> ResourceNotFoundException",
        "ResourceNotFoundException",
        lambda: k.get_shard_iterator(StreamName=name, ShardId="shardId-000000000009", ShardIteratorType="LATEST"),
    )
    expect_error(
        "PutRecord with a partition key of 257 characters -> ValidationException",
        "ValidationException",
        lambda: k.put_record(StreamName=name, Data=b"x", PartitionKey="k" * 257),
    )

    # ---- DeleteStream
    k.delete_stream(StreamName=other)
    k.delete_stream(StreamName=name)
    k.get_waiter("stream_not_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    check("DeleteStream + waiter stream_not_exists", True)
    ls = k.list_streams()["StreamNames"]
    check("ListStreams after DeleteStream: both gone", name not in ls and other not in ls, ls)
    expect_error(
        "DeleteStream of a deleted stream -> ResourceNotFoundException",
        "ResourceNotFoundException",
        lambda: k.delete_stream(StreamName=name),
        message=f"Stream {name} under account {ACCOUNT} not found.",
    )

    print(f"boto3_check: {CHECKS} checks passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ClientError as e:
        print(f"FAIL unexpected error after {CHECKS} checks: {e}", flush=True)
        raise
