#!/usr/bin/env python3
"""Enhanced fan-out through boto3 (a client nobody here wrote) against `rill serve`.

Usage:
    boto3_fanout.py ENDPOINT

Registers a consumer and waits for ACTIVE (DescribeStreamConsumer), subscribes to a shard at
LATEST and reads botocore's event stream (`response["EventStream"]`) while a thread puts
records: those put after the subscription arrive in order, once. Then resubscribes at
AFTER_SEQUENCE_NUMBER of the last ContinuationSequenceNumber (retrying while the 5-second
resubscribe rule answers ResourceInUseException): nothing is lost or repeated. Finally splits
the shard: the subscription's last event carries ChildShards and the stream ends.
Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Prints one line per check
and exits 1 on the first failure.
"""

import sys
import threading
import time
import uuid

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = "us-east-1"
SHARD = "shardId-000000000000"
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


def error_code(e):
    return e.response.get("Error", {}).get("Code")


def client(endpoint):
    return boto3.session.Session(region_name=REGION).client(
        "kinesis",
        endpoint_url=endpoint,
        config=Config(
            retries={"total_max_attempts": 1},
            connect_timeout=5,
            # Also bounds each wait for the next event: a stalled push fails the script.
            read_timeout=30,
            parameter_validation=True,
        ),
    )


def put(k, stream, first, n):
    """Puts records `first`..`first+n` one by one (one partition key); returns their seqs."""
    seqs = []
    for i in range(first, first + n):
        out = k.put_record(StreamName=stream, PartitionKey="one-key", Data=str(i).encode())
        seqs.append(out["SequenceNumber"])
    return seqs


def read_until(events, n, deadline_s=60):
    """Reads SubscribeToShardEvents until `n` records arrived.

    Returns (payloads, sequence numbers, events read)."""
    payloads, seqs, seen = [], [], []
    deadline = time.monotonic() + deadline_s
    for event in events:
        check_event_shape(event)
        e = event["SubscribeToShardEvent"]
        seen.append(e)
        for r in e["Records"]:
            payloads.append(r["Data"].decode())
            seqs.append(r["SequenceNumber"])
        if len(payloads) >= n or time.monotonic() > deadline:
            break
    return payloads, seqs, seen


SHAPE_CHECKED = False


def check_event_shape(event):
    """Checks the first event's members once (botocore parsed it from the event stream)."""
    global SHAPE_CHECKED
    if SHAPE_CHECKED:
        return
    SHAPE_CHECKED = True
    check("event stream yields SubscribeToShardEvent", "SubscribeToShardEvent" in event, event)
    e = event["SubscribeToShardEvent"]
    check(
        "SubscribeToShardEvent: Records, ContinuationSequenceNumber, MillisBehindLatest",
        isinstance(e.get("Records"), list)
        and str(e.get("ContinuationSequenceNumber", "")).isdigit()
        and isinstance(e.get("MillisBehindLatest"), int),
        e,
    )


def subscribe_retrying(k, consumer_arn, position, limit_s=15):
    """SubscribeToShard, retrying while the 5-second rule refuses it (ResourceInUseException).

    Returns (response, refusals, seconds waited)."""
    start = time.monotonic()
    refusals = 0
    while True:
        try:
            out = k.subscribe_to_shard(ConsumerARN=consumer_arn, ShardId=SHARD, StartingPosition=position)
            return out, refusals, time.monotonic() - start
        except ClientError as e:
            if error_code(e) != "ResourceInUseException" or time.monotonic() - start > limit_s:
                raise
            refusals += 1
            time.sleep(0.2)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    endpoint = sys.argv[1]
    k = client(endpoint)
    writer_client = client(endpoint)
    print(f"boto3 {boto3.__version__}, botocore {botocore.__version__}, endpoint {endpoint}")

    stream = f"boto3-fan-{uuid.uuid4().hex[:10]}"
    k.create_stream(StreamName=stream, ShardCount=1)
    k.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    stream_arn = k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    check("CreateStream, 1 shard, StreamARN", stream_arn.endswith(f":stream/{stream}"), stream_arn)

    # ---- RegisterStreamConsumer, DescribeStreamConsumer until ACTIVE, ListStreamConsumers
    c = k.register_stream_consumer(StreamARN=stream_arn, ConsumerName="boto3-app")["Consumer"]
    consumer_arn = c["ConsumerARN"]
    check(
        "RegisterStreamConsumer: ARN in AWS's form",
        consumer_arn.startswith(f"{stream_arn}/consumer/boto3-app:"),
        consumer_arn,
    )
    status = c["ConsumerStatus"]
    deadline = time.monotonic() + 30
    while status != "ACTIVE" and time.monotonic() < deadline:
        time.sleep(0.1)
        status = k.describe_stream_consumer(ConsumerARN=consumer_arn)["ConsumerDescription"]["ConsumerStatus"]
    check("DescribeStreamConsumer: ACTIVE", status == "ACTIVE", status)
    d = k.describe_stream_consumer(StreamARN=stream_arn, ConsumerName="boto3-app")["ConsumerDescription"]
    check("DescribeStreamConsumer by StreamARN and name", d["ConsumerARN"] == consumer_arn, d)
    listed = k.list_stream_consumers(StreamARN=stream_arn)["Consumers"]
    check(
        "ListStreamConsumers: the consumer",
        [x["ConsumerARN"] for x in listed] == [consumer_arn],
        listed,
    )

    # ---- SubscribeToShard at LATEST; records put before it are not delivered
    put(k, stream, -5, 5)
    subscribed_at = time.monotonic()
    sub = k.subscribe_to_shard(ConsumerARN=consumer_arn, ShardId=SHARD, StartingPosition={"Type": "LATEST"})
    events = sub["EventStream"]
    check("SubscribeToShard LATEST: an EventStream", events is not None, sub)
    try:
        k.subscribe_to_shard(ConsumerARN=consumer_arn, ShardId=SHARD, StartingPosition={"Type": "LATEST"})
        check("a second SubscribeToShard within 5 s -> ResourceInUseException", False, "it succeeded")
    except ClientError as e:
        check(
            "a second SubscribeToShard within 5 s -> ResourceInUseException",
            error_code(e) == "ResourceInUseException",
            e,
        )

    n = 100
    put_seqs = []
    failures = []

    def writer():
        try:
            for batch in range(4):
                put_seqs.extend(put(writer_client, stream, batch * 25, 25))
                time.sleep(0.05)
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            failures.append(e)

    t = threading.Thread(target=writer)
    t.start()
    got, seqs, seen = read_until(events, n)
    t.join()
    check("writer thread: every put succeeded", not failures, failures)
    want = [str(i) for i in range(n)]
    check(
        f"the {n} records put after the subscription arrive, in order, once",
        got == want,
        f"got {len(got)}: {got[:8]}...{got[-8:]}",
    )
    check("their sequence numbers are the ones PutRecord returned", seqs == put_seqs, (seqs[:3], put_seqs[:3]))
    check(
        "sequence numbers strictly increase",
        all(int(a) < int(b) for a, b in zip(seqs, seqs[1:])),
        seqs[:5],
    )
    check("events carry no ChildShards on an open shard", all("ChildShards" not in e for e in seen), seen[-1])
    cont = seen[-1]["ContinuationSequenceNumber"]
    check(
        "ContinuationSequenceNumber is at or after the last record",
        int(cont) >= int(seqs[-1]),
        (cont, seqs[-1]),
    )
    events.close()

    # ---- Continuation: AFTER_SEQUENCE_NUMBER of the continuation number, after the 5 s rule
    put(k, stream, n, 7)
    first_try = time.monotonic() - subscribed_at
    sub, refusals, _ = subscribe_retrying(
        k, consumer_arn, {"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": cont}
    )
    since = time.monotonic() - subscribed_at
    print(
        f"     first resubscribe attempt {first_try:.2f} s after the subscription; accepted after "
        f"{refusals} ResourceInUseException refusals, {since:.2f} s after it"
    )
    check(
        "resubscribing: refused (ResourceInUseException) until 5 s after the subscription",
        (first_try >= 5 or refusals > 0) and since >= 4.9,
        (first_try, refusals, since),
    )
    events = sub["EventStream"]
    got, _, _ = read_until(events, 7)
    want = [str(i) for i in range(n, n + 7)]
    check("continuation from ContinuationSequenceNumber loses and repeats nothing", got == want, got)

    # ---- SplitShard: the last event carries ChildShards, then the stream ends
    k.split_shard(StreamName=stream, ShardToSplit=SHARD, NewStartingHashKey=str(2**127))
    last = None
    extra = []
    deadline = time.monotonic() + 30
    for event in events:
        e = event["SubscribeToShardEvent"]
        extra.extend(r["Data"].decode() for r in e["Records"])
        if e.get("ChildShards"):
            last = e
            break
        if time.monotonic() > deadline:
            break
    check("no record arrives twice before the shard's end", extra == [], extra)
    check("the final event carries ChildShards", last is not None, last)
    kids = sorted(c["ShardId"] for c in last["ChildShards"])
    check(
        "ChildShards: the two children, each with the parent",
        kids == ["shardId-000000000001", "shardId-000000000002"]
        and all(c["ParentShards"] == [SHARD] for c in last["ChildShards"]),
        last["ChildShards"],
    )
    rest = [ev for ev in events]
    check("the event stream ends after ChildShards", rest == [], rest)
    events.close()

    # ---- DeregisterStreamConsumer
    k.deregister_stream_consumer(ConsumerARN=consumer_arn)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            k.describe_stream_consumer(ConsumerARN=consumer_arn)
            time.sleep(0.1)
        check("DeregisterStreamConsumer: the consumer goes away", False, "still described after 30 s")
    except ClientError as e:
        check(
            "DeregisterStreamConsumer: then ResourceNotFoundException",
            error_code(e) == "ResourceNotFoundException",
            e,
        )
    k.delete_stream(StreamName=stream, EnforceConsumerDeletion=True)

    print(f"boto3_fanout: {CHECKS} checks passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ClientError as e:
        print(f"FAIL unexpected error after {CHECKS} checks: {e}", flush=True)
        raise
