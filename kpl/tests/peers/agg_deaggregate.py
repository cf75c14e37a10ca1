"""Deaggregates Kinesis records with aws_kinesis_agg (the reference implementation).

stdin: one Kinesis record per line, tab-separated: sequence number, partition key, data hex.
stdout: one user record per line, tab-separated: sequence number, sub-sequence number
("-" for a record that is not an aggregate), partition key, explicit hash key ("-" if none),
data hex.
"""
import base64
import sys

from aws_kinesis_agg.deaggregator import iter_deaggregate_records

records = []
for line in sys.stdin:
    seq, pk, data = line.rstrip("\n").split("\t")
    records.append({
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "sequenceNumber": seq,
            "partitionKey": pk,
            "approximateArrivalTimestamp": 0,
            "data": base64.b64encode(bytes.fromhex(data)).decode(),
        }
    })
for r in iter_deaggregate_records(records):
    k = r["kinesis"]
    sub = k.get("subSequenceNumber")
    ehk = k.get("explicitHashKey")
    print("\t".join([
        k["sequenceNumber"],
        "-" if sub is None else str(sub),
        k["partitionKey"],
        "-" if ehk is None else ehk,
        base64.b64decode(k["data"]).hex(),
    ]))
