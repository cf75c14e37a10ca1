// Conformance of `rill serve` with the AWS SDK for JavaScript v3 (a client nobody here wrote).
//
// Usage: node js_check.mjs ENDPOINT
//
// The SDK is loaded from RILL_PEERS_NODE_DIR (installed by scripts/peers). Two clients share
// the work: one with NodeHttp2Handler, which speaks HTTP/2 only, so that against an http://
// endpoint every one of its calls is cleartext HTTP/2 with prior knowledge (h2c); and one
// with the default NodeHttpHandler (HTTP/1.1). Credentials come from AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY. Prints one line per check and exits 1 on the first failure.

import { createRequire } from "node:module";
import { createHash, randomBytes } from "node:crypto";
import path from "node:path";

const nodeDir = process.env.RILL_PEERS_NODE_DIR;
if (!nodeDir) {
  console.error("RILL_PEERS_NODE_DIR is not set: run scripts/peers and source .peers/env");
  process.exit(2);
}
const require = createRequire(path.join(nodeDir, "package.json"));
const sdk = require("@aws-sdk/client-kinesis");
const { NodeHttp2Handler, NodeHttpHandler } = require("@smithy/node-http-handler");
const sdkVersion = require("@aws-sdk/client-kinesis/package.json").version;
const handlerVersion = require("@smithy/node-http-handler/package.json").version;

const ACCOUNT = "000000000000";
const REGION = "us-east-1";
const MAX_HASH = (1n << 128n) - 1n;
let checks = 0;

class CheckFailed extends Error {}

function check(name, ok, detail = "") {
  checks += 1;
  if (ok) {
    console.log(`ok   ${name}`);
  } else {
    console.log(`FAIL ${name}: ${typeof detail === "string" ? detail : show(detail)}`);
    throw new CheckFailed(name);
  }
}

function show(v) {
  return JSON.stringify(v, (_, x) =>
    typeof x === "bigint" ? x.toString() : x instanceof Uint8Array ? `<${x.length} bytes>` : x,
  );
}

async function expectError(name, code, fn, { message, contains } = {}) {
  let out;
  try {
    out = await fn();
  } catch (e) {
    if (e instanceof CheckFailed) throw e;
    check(name, e.name === code, `expected ${code}, got ${e.name}: ${e.message}`);
    if (message !== undefined) {
      check(`${name}: message`, e.message === message, `expected ${show(message)}, got ${show(e.message)}`);
    }
    if (contains !== undefined) {
      check(`${name}: message`, contains.every((c) => e.message.includes(c)), `${show(e.message)} lacks ${show(contains)}`);
    }
    return e;
  }
  check(name, false, `expected ${code}, the call succeeded: ${show(out)}`);
}

const eq = (a, b) => show(a) === show(b);
const bytesEq = (a, b) => Buffer.from(a).equals(Buffer.from(b));
const md5Hash = (key) => BigInt("0x" + createHash("md5").update(key, "utf8").digest("hex"));

function shardFor(shards, hash) {
  for (const s of shards) {
    if (BigInt(s.HashKeyRange.StartingHashKey) <= hash && hash <= BigInt(s.HashKeyRange.EndingHashKey)) {
      return s.ShardId;
    }
  }
  return undefined;
}

function client(endpoint, requestHandler) {
  return new sdk.KinesisClient({
    region: REGION,
    endpoint,
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? "AKIDPEERS",
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? "peers-secret",
    },
    maxAttempts: 1,
    requestHandler,
  });
}

async function readAll(k, input, limit) {
  let it = (await k.send(new sdk.GetShardIteratorCommand(input))).ShardIterator;
  const records = [];
  for (let i = 0; i < 1000; i++) {
    const out = await k.send(new sdk.GetRecordsCommand({ ShardIterator: it, Limit: limit }));
    records.push(...out.Records);
    if (out.Records.length === 0) return { records, last: out };
    it = out.NextShardIterator;
  }
  throw new Error("shard never ran dry");
}

async function main() {
  const endpoint = process.argv[2];
  if (!endpoint) {
    console.error("usage: node js_check.mjs ENDPOINT");
    return 2;
  }
  console.log(
    `@aws-sdk/client-kinesis ${sdkVersion}, @smithy/node-http-handler ${handlerVersion}, node ${process.version}, endpoint ${endpoint}`,
  );
  const h2 = client(endpoint, new NodeHttp2Handler({ requestTimeout: 30000, sessionTimeout: 30000 }));
  const h1 = client(endpoint, new NodeHttpHandler({ requestTimeout: 30000 }));
  try {
    await run(h1, h2);
  } finally {
    h1.destroy();
    h2.destroy();
  }
  console.log(`js_check: ${checks} checks passed`);
  return 0;
}

async function run(h1, h2) {
  const tag = randomBytes(5).toString("hex");
  const name = `js-${tag}`;
  const other = `js-${tag}-other`;
  const arn = `arn:aws:kinesis:${REGION}:${ACCOUNT}:stream/${name}`;
  const ids = ["shardId-000000000000", "shardId-000000000001", "shardId-000000000002"];

  // ---- CreateStream (h2), waiter (h1), DescribeStream (h2)
  await h2.send(new sdk.CreateStreamCommand({ StreamName: name, ShardCount: 3 }));
  await h1.send(new sdk.CreateStreamCommand({ StreamName: other, ShardCount: 1 }));
  check("CreateStream over h2c and over HTTP/1.1", true);
  const w = await sdk.waitUntilStreamExists({ client: h1, maxWaitTime: 10, minDelay: 1 }, { StreamName: name });
  check("waitUntilStreamExists", w.state === "SUCCESS", w);
  await expectError("CreateStream of an existing name -> ResourceInUseException (h2c)", "ResourceInUseException", () =>
    h2.send(new sdk.CreateStreamCommand({ StreamName: name, ShardCount: 1 })),
  );

  const d = (await h2.send(new sdk.DescribeStreamCommand({ StreamName: name }))).StreamDescription;
  check("DescribeStream (h2c): name, ARN, ACTIVE, retention 24", d.StreamName === name && d.StreamARN === arn && d.StreamStatus === "ACTIVE" && d.RetentionPeriodHours === 24, d);
  check("DescribeStream: creation timestamp is a recent Date", d.StreamCreationTimestamp instanceof Date && Math.abs(Date.now() - d.StreamCreationTimestamp.getTime()) < 300000, d.StreamCreationTimestamp);
  const shards = d.Shards;
  check("DescribeStream: shard ids", eq(shards.map((s) => s.ShardId), ids), shards);
  const ranges = shards.map((s) => [BigInt(s.HashKeyRange.StartingHashKey), BigInt(s.HashKeyRange.EndingHashKey)]);
  check(
    "DescribeStream: hash key ranges cover 0..2^128-1",
    ranges[0][0] === 0n && ranges[2][1] === MAX_HASH && ranges[0][1] + 1n === ranges[1][0] && ranges[1][1] + 1n === ranges[2][0],
    ranges,
  );
  const p1 = (await h1.send(new sdk.DescribeStreamCommand({ StreamName: name, Limit: 1 }))).StreamDescription;
  check("DescribeStream Limit=1: one shard, HasMoreShards", p1.Shards.length === 1 && p1.HasMoreShards === true, p1);
  const p2 = (await h2.send(new sdk.DescribeStreamCommand({ StreamName: name, ExclusiveStartShardId: ids[0] }))).StreamDescription;
  check("DescribeStream ExclusiveStartShardId: the rest", eq(p2.Shards.map((s) => s.ShardId), ids.slice(1)) && p2.HasMoreShards === false, p2);

  // ---- DescribeStreamSummary
  let s = (await h2.send(new sdk.DescribeStreamSummaryCommand({ StreamName: name }))).StreamDescriptionSummary;
  check("DescribeStreamSummary (h2c): OpenShardCount 3", s.OpenShardCount === 3 && s.StreamStatus === "ACTIVE", s);
  s = (await h1.send(new sdk.DescribeStreamSummaryCommand({ StreamARN: arn }))).StreamDescriptionSummary;
  check("DescribeStreamSummary by StreamARN", s.StreamName === name, s);

  // ---- ListStreams (pagination)
  const ls = await h2.send(new sdk.ListStreamsCommand({}));
  check("ListStreams (h2c): both streams", ls.StreamNames.includes(name) && ls.StreamNames.includes(other), ls.StreamNames);
  const one = await h2.send(new sdk.ListStreamsCommand({ Limit: 1 }));
  check("ListStreams Limit=1: HasMoreStreams and NextToken", one.StreamNames.length === 1 && one.HasMoreStreams === true && !!one.NextToken, one);
  const rest = await h1.send(new sdk.ListStreamsCommand({ NextToken: one.NextToken }));
  check("ListStreams NextToken: the rest", eq([...one.StreamNames, ...rest.StreamNames], ls.StreamNames), rest);
  const names = [];
  for await (const page of sdk.paginateListStreams({ client: h2, pageSize: 1 }, {})) names.push(...page.StreamNames);
  check("paginateListStreams, page size 1", eq(names, ls.StreamNames), names);

  // ---- ListShards (pagination)
  const l1 = await h2.send(new sdk.ListShardsCommand({ StreamName: name, MaxResults: 1 }));
  check("ListShards MaxResults=1 (h2c): one shard and a NextToken", eq(l1.Shards.map((x) => x.ShardId), ids.slice(0, 1)) && !!l1.NextToken, l1);
  const l2 = await h1.send(new sdk.ListShardsCommand({ NextToken: l1.NextToken }));
  check("ListShards NextToken: the rest, no NextToken", eq(l2.Shards.map((x) => x.ShardId), ids.slice(1)) && l2.NextToken === undefined, l2);
  await expectError(
    "ListShards with NextToken and StreamName -> InvalidArgumentException, as AWS",
    "InvalidArgumentException",
    () => h2.send(new sdk.ListShardsCommand({ StreamName: name, NextToken: l1.NextToken })),
    { message: "NextToken and StreamName cannot be provided together." },
  );

  // ---- PutRecord, PutRecords
  const put = []; // { data, key, shard, seq } in put order
  const cases = [
    [Uint8Array.from({ length: 1024 }, (_, i) => i % 256), "binary-key", h2],
    [new Uint8Array(0), "empty-data", h1],
    [randomBytes(1000), "\u043a\u043b\u044e\u0447-\u2713", h2],
    [new TextEncoder().encode("hello rill"), "k".repeat(256), h1],
  ];
  for (const [data, key, k] of cases) {
    const r = await k.send(new sdk.PutRecordCommand({ StreamName: name, Data: data, PartitionKey: key }));
    const want = shardFor(shards, md5Hash(key));
    check(`PutRecord (${data.length} bytes, ${k === h2 ? "h2c" : "HTTP/1.1"}): shard by MD5 of the key, decimal sequence number`, r.ShardId === want && /^\d+$/.test(r.SequenceNumber), [r, want]);
    put.push({ data, key, shard: r.ShardId, seq: r.SequenceNumber });
  }
  for (const [ehk, want] of [["0", ids[0]], [MAX_HASH.toString(), ids[2]], [ranges[1][0].toString(), ids[1]]]) {
    const data = new TextEncoder().encode(`ehk-${ehk}`);
    const r = await h2.send(new sdk.PutRecordCommand({ StreamName: name, Data: data, PartitionKey: "p", ExplicitHashKey: ehk }));
    check(`PutRecord ExplicitHashKey ${ehk.slice(0, 12)}: ${want}`, r.ShardId === want, r);
    put.push({ data, key: "p", shard: r.ShardId, seq: r.SequenceNumber });
  }
  const entries = Array.from({ length: 20 }, (_, i) => ({
    Data: Buffer.concat([Buffer.from(`batch-${i}`), randomBytes(i)]),
    PartitionKey: `pk-${i}`,
  }));
  // A large entry: ~1 MiB of base64 JSON crosses HTTP/2 flow-control windows.
  entries.push({ Data: randomBytes(700 * 1024), PartitionKey: "large" });
  const pr = await h2.send(new sdk.PutRecordsCommand({ StreamName: name, Records: entries }));
  check("PutRecords (h2c, ~1 MiB body): FailedRecordCount 0, one result per entry", (pr.FailedRecordCount ?? 0) === 0 && pr.Records.length === entries.length, pr.FailedRecordCount);
  entries.forEach((e, i) => {
    const r = pr.Records[i];
    const want = shardFor(shards, md5Hash(e.PartitionKey));
    if (r.ShardId !== want || !/^\d+$/.test(r.SequenceNumber ?? "")) check(`PutRecords entry ${i}`, false, [r, want]);
    put.push({ data: e.Data, key: e.PartitionKey, shard: r.ShardId, seq: r.SequenceNumber });
  });
  check("PutRecords: every entry on the shard its key hashes to", true);
  const pr2 = await h1.send(new sdk.PutRecordsCommand({ StreamARN: arn, Records: [{ Data: Buffer.from("by-arn"), PartitionKey: "arn" }] }));
  check("PutRecords by StreamARN (HTTP/1.1)", (pr2.FailedRecordCount ?? 0) === 0, pr2);
  put.push({ data: Buffer.from("by-arn"), key: "arn", shard: pr2.Records[0].ShardId, seq: pr2.Records[0].SequenceNumber });

  const byShard = Object.fromEntries(ids.map((id) => [id, put.filter((p) => p.shard === id)]));
  check(
    "sequence numbers increase in put order within each shard",
    Object.values(byShard).every((v) => v.every((p, i) => i === 0 || BigInt(v[i - 1].seq) < BigInt(p.seq))),
    Object.fromEntries(Object.entries(byShard).map(([k, v]) => [k, v.map((p) => p.seq)])),
  );

  // ---- GetShardIterator + GetRecords: read back byte-exact (h2c for one half, HTTP/1.1 for the other)
  for (const [i, id] of ids.entries()) {
    const k = i % 2 === 0 ? h2 : h1;
    const { records, last } = await readAll(k, { StreamName: name, ShardId: id, ShardIteratorType: "TRIM_HORIZON" });
    const want = byShard[id];
    const same =
      records.length === want.length &&
      records.every((r, j) => bytesEq(r.Data, want[j].data) && r.PartitionKey === want[j].key && r.SequenceNumber === want[j].seq);
    check(`GetRecords TRIM_HORIZON ${id} (${k === h2 ? "h2c" : "HTTP/1.1"}): ${want.length} records byte-exact, keys, sequence numbers`, same, `got ${records.length}, want ${want.length}`);
    check(`GetRecords ${id}: arrival timestamps are recent Dates`, records.every((r) => r.ApproximateArrivalTimestamp instanceof Date && Math.abs(Date.now() - r.ApproximateArrivalTimestamp.getTime()) < 300000), records.map((r) => r.ApproximateArrivalTimestamp));
    check(`GetRecords ${id}: MillisBehindLatest 0 and a NextShardIterator`, last.MillisBehindLatest === 0 && !!last.NextShardIterator, last);
  }
  const sid = put[0].shard;
  const mine = byShard[sid];
  let r = await readAll(h2, { StreamName: name, ShardId: sid, ShardIteratorType: "AT_SEQUENCE_NUMBER", StartingSequenceNumber: mine[1].seq });
  check("GetShardIterator AT_SEQUENCE_NUMBER", r.records.length === mine.length - 1 && r.records[0].SequenceNumber === mine[1].seq, r.records.length);
  r = await readAll(h1, { StreamName: name, ShardId: sid, ShardIteratorType: "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber: mine[1].seq });
  check("GetShardIterator AFTER_SEQUENCE_NUMBER", r.records.length === mine.length - 2 && r.records[0].SequenceNumber === mine[2].seq, r.records.length);
  r = await readAll(h2, { StreamName: name, ShardId: sid, ShardIteratorType: "AT_TIMESTAMP", Timestamp: new Date(Date.now() - 300000) });
  check("GetShardIterator AT_TIMESTAMP (5 minutes ago): everything", r.records.length === mine.length, r.records.length);
  const latest = (await h2.send(new sdk.GetShardIteratorCommand({ StreamName: name, ShardId: sid, ShardIteratorType: "LATEST" }))).ShardIterator;
  const late = await h1.send(new sdk.PutRecordCommand({ StreamName: name, Data: Buffer.from("after-latest"), PartitionKey: put[0].key }));
  const got = await h2.send(new sdk.GetRecordsCommand({ ShardIterator: latest }));
  check("LATEST iterator sees a record put after it", got.Records.length === 1 && got.Records[0].SequenceNumber === late.SequenceNumber && bytesEq(got.Records[0].Data, Buffer.from("after-latest")), got.Records);
  r = await readAll(h2, { StreamName: name, ShardId: sid, ShardIteratorType: "TRIM_HORIZON" }, 1);
  check("GetRecords Limit=1, following NextShardIterator (h2c)", r.records.length === mine.length + 1, r.records.length);

  // ---- Tags
  await h2.send(new sdk.AddTagsToStreamCommand({ StreamName: name, Tags: { team: "rill", env: "test", cost: "0", b: "2" } }));
  let t = await h1.send(new sdk.ListTagsForStreamCommand({ StreamName: name }));
  check("AddTagsToStream + ListTagsForStream: sorted by key", eq(t.Tags.map((x) => [x.Key, x.Value]), [["b", "2"], ["cost", "0"], ["env", "test"], ["team", "rill"]]) && t.HasMoreTags === false, t);
  t = await h2.send(new sdk.ListTagsForStreamCommand({ StreamName: name, Limit: 2 }));
  check("ListTagsForStream Limit=2: HasMoreTags", eq(t.Tags.map((x) => x.Key), ["b", "cost"]) && t.HasMoreTags === true, t);
  t = await h2.send(new sdk.ListTagsForStreamCommand({ StreamName: name, ExclusiveStartTagKey: "cost" }));
  check("ListTagsForStream ExclusiveStartTagKey", eq(t.Tags.map((x) => x.Key), ["env", "team"]), t);
  await h1.send(new sdk.AddTagsToStreamCommand({ StreamARN: arn, Tags: { env: "prod" } }));
  await h2.send(new sdk.RemoveTagsFromStreamCommand({ StreamName: name, TagKeys: ["b", "cost"] }));
  t = await h2.send(new sdk.ListTagsForStreamCommand({ StreamARN: arn }));
  check("AddTagsToStream overwrite + RemoveTagsFromStream", eq(t.Tags.map((x) => [x.Key, x.Value]), [["env", "prod"], ["team", "rill"]]), t);

  // ---- Retention
  await h2.send(new sdk.IncreaseStreamRetentionPeriodCommand({ StreamName: name, RetentionPeriodHours: 72 }));
  s = (await h1.send(new sdk.DescribeStreamSummaryCommand({ StreamName: name }))).StreamDescriptionSummary;
  check("IncreaseStreamRetentionPeriod to 72 (h2c)", s.RetentionPeriodHours === 72, s.RetentionPeriodHours);
  await h1.send(new sdk.DecreaseStreamRetentionPeriodCommand({ StreamARN: arn, RetentionPeriodHours: 25 }));
  s = (await h2.send(new sdk.DescribeStreamSummaryCommand({ StreamName: name }))).StreamDescriptionSummary;
  check("DecreaseStreamRetentionPeriod to 25 (HTTP/1.1)", s.RetentionPeriodHours === 25, s.RetentionPeriodHours);
  await expectError("DecreaseStreamRetentionPeriod above the current -> InvalidArgumentException", "InvalidArgumentException", () =>
    h2.send(new sdk.DecreaseStreamRetentionPeriodCommand({ StreamName: name, RetentionPeriodHours: 48 })),
  );
  await expectError("IncreaseStreamRetentionPeriod beyond 8760 -> InvalidArgumentException", "InvalidArgumentException", () =>
    h1.send(new sdk.IncreaseStreamRetentionPeriodCommand({ StreamName: name, RetentionPeriodHours: 8761 })),
  );

  // ---- Error paths, over both transports
  const missing = `js-missing-${tag}`;
  for (const [k, via] of [[h2, "h2c"], [h1, "HTTP/1.1"]]) {
    const e = await expectError(
      `DescribeStream of an unknown stream -> ResourceNotFoundException (${via})`,
      "ResourceNotFoundException",
      () => k.send(new sdk.DescribeStreamCommand({ StreamName: missing })),
      { message: `Stream ${missing} under account ${ACCOUNT} not found.` },
    );
    check(
      `ResourceNotFoundException (${via}): the modelled class, HTTP 400, a request id`,
      e instanceof sdk.ResourceNotFoundException && e.$metadata.httpStatusCode === 400 && !!e.$metadata.requestId,
      e.$metadata,
    );
    await expectError(
      `GetRecords with a forged iterator -> InvalidArgumentException (${via})`,
      "InvalidArgumentException",
      () => k.send(new sdk.GetRecordsCommand({ ShardIterator: randomBytes(96).toString("base64") })),
    );
    await expectError(
      `PutRecords with 501 entries -> ValidationException (${via})`,
      "ValidationException",
      () =>
        k.send(
          new sdk.PutRecordsCommand({
            StreamName: name,
            Records: Array.from({ length: 501 }, () => ({ Data: Buffer.from("x"), PartitionKey: "k" })),
          }),
        ),
      { contains: ["records", "500"] },
    );
  }
  await expectError("PutRecord to an unknown stream -> ResourceNotFoundException", "ResourceNotFoundException", () =>
    h2.send(new sdk.PutRecordCommand({ StreamName: missing, Data: Buffer.from("x"), PartitionKey: "k" })),
    { message: `Stream ${missing} under account ${ACCOUNT} not found.` },
  );

  // ---- DeleteStream
  await h2.send(new sdk.DeleteStreamCommand({ StreamName: name }));
  await h1.send(new sdk.DeleteStreamCommand({ StreamName: other }));
  const gone = await sdk.waitUntilStreamNotExists({ client: h2, maxWaitTime: 10, minDelay: 1 }, { StreamName: name });
  check("DeleteStream + waitUntilStreamNotExists", gone.state === "SUCCESS", gone);
  const after = await h1.send(new sdk.ListStreamsCommand({}));
  check("ListStreams after DeleteStream: both gone", !after.StreamNames.includes(name) && !after.StreamNames.includes(other), after.StreamNames);
  await expectError("DeleteStream of a deleted stream -> ResourceNotFoundException", "ResourceNotFoundException", () =>
    h2.send(new sdk.DeleteStreamCommand({ StreamName: name })),
    { message: `Stream ${name} under account ${ACCOUNT} not found.` },
  );
}

main().then(
  (code) => process.exit(code),
  (e) => {
    if (!(e instanceof CheckFailed)) console.log(`FAIL unexpected error after ${checks} checks: ${e?.name}: ${e?.message}\n${e?.stack}`);
    process.exit(1);
  },
);
