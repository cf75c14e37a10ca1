// The page of `rill serve` in a real browser: Debian's chromium driven by playwright-core.
//
// Usage: node ui_check.mjs ENDPOINT SCREENSHOT
//
// Puts records into a two-shard stream (shard-level metrics on) while the page is open,
// checks the figures the page shows against the API's (the JS SDK's DescribeStreamSummary,
// ListShards and DescribeStreamConsumer) and its write rates against the rate the writer
// here keeps, subscribes an enhanced fan-out consumer to a shard (SubscribeToShard over h2c)
// and waits for the page to show the live subscription and a pushed-records rate, splits a
// shard through the API and waits for the lineage tree to show the children under their
// parent, saves a screenshot to SCREENSHOT, then ends the subscription and waits for the page
// to drop it. Prints one line per check and exits 1 on the first failure.

import { createRequire } from "node:module";
import path from "node:path";

const nodeDir = process.env.RILL_PEERS_NODE_DIR;
const chromium = process.env.RILL_PEERS_CHROMIUM;
if (!nodeDir || !chromium) {
  console.error("RILL_PEERS_NODE_DIR and RILL_PEERS_CHROMIUM must be set: run scripts/peers and source .peers/env");
  process.exit(2);
}
const require = createRequire(path.join(nodeDir, "package.json"));
const sdk = require("@aws-sdk/client-kinesis");
const { chromium: browserType } = require("playwright-core");
const { NodeHttp2Handler } = require("@smithy/node-http-handler");

let checks = 0;
function check(name, ok, detail = "") {
  checks += 1;
  if (!ok) {
    console.log(`FAIL ${name}: ${JSON.stringify(detail)}`);
    process.exit(1);
  }
  console.log(`ok   ${name}`);
}

const [endpoint, screenshot] = process.argv.slice(2);
if (!endpoint || !screenshot) {
  console.error("usage: node ui_check.mjs ENDPOINT SCREENSHOT");
  process.exit(2);
}
const kinesis = new sdk.KinesisClient({
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? "AKID", secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? "s" },
});
// HTTP/2 only, for SubscribeToShard's event stream (h2c against an http:// endpoint).
const h2 = new sdk.KinesisClient({
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? "AKID", secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? "s" },
  requestHandler: new NodeHttp2Handler({ requestTimeout: 60000, sessionTimeout: 60000 }),
});
const name = "ui-orders";
const reader = "ui-reader";
const watchedShard = "shardId-000000000001";

async function main() {
  await kinesis.send(new sdk.CreateStreamCommand({ StreamName: name, ShardCount: 2 }));
  await sdk.waitUntilStreamExists({ client: kinesis, maxWaitTime: 20, minDelay: 1 }, { StreamName: name });
  await kinesis.send(new sdk.EnableEnhancedMonitoringCommand({ StreamName: name, ShardLevelMetrics: ["ALL"] }));
  await kinesis.send(new sdk.AddTagsToStreamCommand({ StreamName: name, Tags: { team: "data" } }));
  const { StreamDescriptionSummary: created } = await kinesis.send(new sdk.DescribeStreamSummaryCommand({ StreamName: name }));
  const { Consumer: consumer } = await kinesis.send(
    new sdk.RegisterStreamConsumerCommand({ StreamARN: created.StreamARN, ConsumerName: reader }),
  );

  // Traffic for as long as the page is looked at.
  let writing = true;
  let written = 0;
  let failed = 0; // records the API refused (throttled), over every PutRecords here
  const progress = []; // {t, written}, to know the rate written here
  const traffic = (async () => {
    while (writing) {
      const Records = Array.from({ length: 50 }, (_, i) => ({ PartitionKey: `k${written + i}`, Data: Buffer.from(`record ${written + i}`) }));
      const out = await kinesis.send(new sdk.PutRecordsCommand({ StreamName: name, Records }));
      failed += out.FailedRecordCount ?? 0;
      written += Records.length;
      progress.push({ t: Date.now(), written });
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  const browser = await browserType.launch({ executablePath: chromium, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    await page.goto(`${endpoint}/ui/`);
    await page.waitForSelector(`[data-stream="${name}"]`, { timeout: 20000 });
    check("the page lists the stream", true);

    const summary = (await kinesis.send(new sdk.DescribeStreamSummaryCommand({ StreamName: name }))).StreamDescriptionSummary;
    const fact = async (k) => (await page.textContent(`[data-stream="${name}"] [data-fact="${k}"] b`)).trim();
    check("status as DescribeStreamSummary says", (await fact("status")) === summary.StreamStatus, await fact("status"));
    check("open shards as DescribeStreamSummary says", (await fact("open shards")) === String(summary.OpenShardCount), await fact("open shards"));
    check("retention as DescribeStreamSummary says", (await fact("retention")) === `${summary.RetentionPeriodHours} h`, await fact("retention"));
    const shards = (await kinesis.send(new sdk.ListShardsCommand({ StreamName: name }))).Shards;
    const rows = await page.$$eval(`[data-stream="${name}"] tr[data-shard]`, (trs) => trs.map((t) => t.dataset.shard));
    check("one row per shard, as ListShards says", JSON.stringify(rows) === JSON.stringify(shards.map((s) => s.ShardId)), rows);
    check("the tag is shown", (await page.textContent(`[data-stream="${name}"]`)).includes("team=data"));

    // Write rates appear once two samples of the counters were taken.
    await page.waitForFunction(
      (n) => [...document.querySelectorAll(`[data-stream="${n}"] tr[data-shard]`)].some((tr) => {
        const cell = tr.querySelector('[data-col="records-in"] .rate')?.textContent.trim() ?? "–";
        return cell !== "–" && parseFloat(cell) > 0;
      }),
      name,
      { timeout: 30000 },
    );
    check("a shard shows a non-zero records/s in", true);

    // The rates shown add up to the rate written here (over the last 6 s), within a factor 2.
    const writtenRate = () => {
      const now = Date.now();
      const recent = progress.filter((p) => p.t >= now - 6000);
      if (recent.length < 2) return 0;
      const [a, b] = [recent[0], recent[recent.length - 1]];
      return (1000 * (b.written - a.written)) / Math.max(1, b.t - a.t);
    };
    const shownRate = () =>
      page.$$eval(`[data-stream="${name}"] tr[data-shard]`, (trs) =>
        trs.reduce((sum, tr) => sum + (parseFloat(tr.querySelector('[data-col="records-in"] .rate')?.textContent) || 0), 0),
      );
    let ratio = 0;
    for (let i = 0; i < 20 && !(ratio > 0.5 && ratio < 2); i++) {
      await page.waitForTimeout(1000); // the page samples every 2 s: look again after its next sample
      ratio = (await shownRate()) / Math.max(1, writtenRate());
    }
    check("records/s in add up to the rate written", ratio > 0.5 && ratio < 2, { ratio, written: writtenRate() });

    // A burst over shard 1's 1000 records/s: the throttled writes the page shows add up to
    // the FailedRecordCount the API answered.
    const hashKey = ((1n << 127n) + 5n).toString();
    let burstFailed = 0;
    for (let i = 0; i < 3; i++) {
      const Records = Array.from({ length: 500 }, (_, j) => ({ PartitionKey: `b${j}`, ExplicitHashKey: hashKey, Data: Buffer.from("burst") }));
      const out = await kinesis.send(new sdk.PutRecordsCommand({ StreamName: name, Records }));
      burstFailed += out.FailedRecordCount ?? 0;
    }
    failed += burstFailed;
    check(`the burst is throttled (${burstFailed} of 1500 records)`, burstFailed > 0, burstFailed);
    const shownThrottled = () =>
      page.$$eval(`[data-stream="${name}"] tr[data-shard]`, (trs) =>
        trs.reduce((sum, tr) => sum + (parseInt(tr.querySelector('[data-col="throttled"]').textContent.split("/")[0], 10) || 0), 0),
      );
    let throttled = -1;
    for (let i = 0; i < 20 && throttled !== failed; i++) {
      await page.waitForTimeout(1000); // the page samples every 2 s: look again after its next sample
      throttled = await shownThrottled();
    }
    check("throttled writes add up to the API's FailedRecordCount", throttled === failed, { throttled, failed });

    // An enhanced fan-out subscription shows on the consumer and on its shard.
    let described;
    for (let i = 0; i < 40; i++) {
      described = (await kinesis.send(new sdk.DescribeStreamConsumerCommand({ ConsumerARN: consumer.ConsumerARN }))).ConsumerDescription;
      if (described.ConsumerStatus === "ACTIVE") break;
      await new Promise((r) => setTimeout(r, 500));
    }
    check("the consumer becomes ACTIVE", described.ConsumerStatus === "ACTIVE", described);
    let pushed = 0;
    const unsubscribe = new AbortController();
    const subscription = (async () => {
      const out = await h2.send(
        new sdk.SubscribeToShardCommand({
          ConsumerARN: consumer.ConsumerARN,
          ShardId: watchedShard,
          StartingPosition: { Type: "LATEST" },
        }),
        { abortSignal: unsubscribe.signal },
      );
      for await (const event of out.EventStream) {
        if (event.SubscribeToShardEvent) pushed += event.SubscribeToShardEvent.Records.length;
      }
    })();
    await page.waitForFunction(
      ([r, s]) => document.querySelector(`[data-live="${r}"]`)?.textContent === `1: ${s}`
        && document.querySelector(`tr[data-shard="${s}"] [data-readers="${s}"]`)?.textContent === r,
      [reader, watchedShard],
      { timeout: 30000 },
    );
    check("the live subscription is shown on the consumer and on its shard", true);
    const status = await page.textContent(`[data-consumer="${reader}"] td:nth-child(2)`);
    check("consumer status as DescribeStreamConsumer says", status === described.ConsumerStatus, status);
    await page.waitForFunction(
      (r) => parseFloat(document.querySelector(`[data-consumer="${r}"] td:nth-child(5)`)?.textContent) > 0,
      reader,
      { timeout: 30000 },
    );
    for (let i = 0; i < 100 && pushed === 0; i++) await new Promise((r) => setTimeout(r, 100));
    check(`a non-zero records/s pushed, and the SDK received them (${pushed} so far)`, pushed > 0, pushed);

    // Split, and follow it on the lineage tree.
    await kinesis.send(new sdk.SplitShardCommand({
      StreamName: name,
      ShardToSplit: "shardId-000000000000",
      NewStartingHashKey: ((1n << 126n)).toString(),
    }));
    await page.waitForFunction(
      (n) => {
        const t = document.querySelector(`[data-lineage="${n}"]`);
        return t && t.textContent.includes("shardId-000000000000 (closed)") && t.textContent.includes("└ shardId-000000000003");
      },
      name,
      { timeout: 30000 },
    );
    const tree = await page.textContent(`[data-lineage="${name}"]`);
    check("the lineage tree shows the split's children under their parent", /shardId-000000000000 \(closed\)\n\s+└ shardId-000000000002\n\s+└ shardId-000000000003/.test(tree), tree);
    const after = (await kinesis.send(new sdk.DescribeStreamSummaryCommand({ StreamName: name }))).StreamDescriptionSummary;
    await page.waitForFunction(
      ([n, v]) => document.querySelector(`[data-stream="${n}"] [data-fact="open shards"] b`)?.textContent.trim() === v,
      [name, String(after.OpenShardCount)],
      { timeout: 20000 },
    );
    check("open shards follow the split", true);
    await page.waitForFunction(
      (n) => ["shardId-000000000002", "shardId-000000000003"].every((id) =>
        parseFloat(document.querySelector(`[data-stream="${n}"] tr[data-shard="${id}"]`)?.querySelector('[data-col="records-in"] .rate')?.textContent) > 0),
      name,
      { timeout: 30000 },
    );
    check("writes show on the split's children", true);
    // A stream's box closes on a click and stays closed across refreshes, then opens again.
    await page.click(`[data-stream="${name}"] > summary`);
    const updated = await page.getAttribute("#status", "data-updated");
    await page.waitForFunction((u) => document.querySelector("#status").dataset.updated !== u, updated, { timeout: 10000 });
    check("a closed stream stays closed across a refresh", !(await page.$eval(`[data-stream="${name}"]`, (d) => d.open)));
    await page.click(`[data-stream="${name}"] > summary`);
    check("and opens again", await page.$eval(`[data-stream="${name}"]`, (d) => d.open));

    // The latest records, on demand, then as hex.
    await page.click(`[data-records="${name}"] button`);
    await page.waitForSelector(`[data-records="${name}"] tr[data-record]`, { timeout: 20000 });
    const firstData = await page.textContent(`[data-records="${name}"] tr[data-record] td.data`);
    check("latest records are shown as text", firstData.startsWith("record "), firstData);
    // The first row is the API's record: same data, key and arrival (GetRecords at its number).
    const row = await page.$eval(`[data-records="${name}"] tr[data-record]`, (tr) => ({
      shard: tr.children[0].textContent,
      seq: tr.dataset.record,
      arrival: Number(tr.dataset.arrival),
      arrived: tr.children[1].textContent,
      key: tr.children[4].textContent,
    }));
    const { ShardIterator } = await kinesis.send(new sdk.GetShardIteratorCommand({
      StreamName: name,
      ShardId: row.shard,
      ShardIteratorType: "AT_SEQUENCE_NUMBER",
      StartingSequenceNumber: row.seq,
    }));
    const [rec] = (await kinesis.send(new sdk.GetRecordsCommand({ ShardIterator, Limit: 1 }))).Records;
    check(
      "the first record shown is the API's (data, partition key, arrival)",
      rec && Buffer.from(rec.Data).toString() === firstData && rec.PartitionKey === row.key
        && rec.ApproximateArrivalTimestamp.getTime() === row.arrival
        && row.arrived === await page.evaluate((ms) => new Date(ms).toLocaleTimeString(), row.arrival),
      { row, rec: rec && { key: rec.PartitionKey, arrival: rec.ApproximateArrivalTimestamp, data: Buffer.from(rec.Data).toString() } },
    );
    await page.selectOption(`[data-records="${name}"] select`, "hex");
    await page.waitForFunction(
      (n) => document.querySelector(`[data-records="${n}"] tr[data-record] td.data`)?.textContent.startsWith("72 65 63"),
      name,
      { timeout: 10000 },
    );
    check("and as hex", true);
    await page.selectOption(`[data-records="${name}"] select`, "text");
    await page.screenshot({ path: screenshot });
    check(`screenshot saved to ${screenshot}`, true);

    // Ending the subscription (the SDK resets its HTTP/2 stream) takes it off the page.
    unsubscribe.abort();
    await subscription.catch(() => {});
    await page.waitForFunction(
      (r) => document.querySelector(`[data-live="${r}"]`)?.textContent === "none",
      reader,
      { timeout: 30000 },
    );
    check("an ended subscription leaves the page", true);
  } finally {
    writing = false;
    await traffic.catch(() => {});
    await browser.close();
    h2.destroy();
  }
  console.log(`ui_check: ${checks} checks passed (${written} records written meanwhile)`);
}

main().catch((e) => {
  console.log(`FAIL ${e.stack || e}`);
  process.exit(1);
});
