// The page of `rill serve` in a real browser: Debian's chromium driven by playwright-core.
//
// Usage: node ui_check.mjs ENDPOINT SCREENSHOT
//
// Puts records into a two-shard stream (shard-level metrics on) while the page is open,
// checks the figures the page shows against the API's (the JS SDK's DescribeStreamSummary
// and ListShards), waits for non-zero write rates, splits a shard through the API and waits
// for the lineage tree to show the children under their parent, then saves a screenshot to
// SCREENSHOT. Prints one line per check and exits 1 on the first failure.

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
const name = "ui-orders";

async function main() {
  await kinesis.send(new sdk.CreateStreamCommand({ StreamName: name, ShardCount: 2 }));
  await sdk.waitUntilStreamExists({ client: kinesis, maxWaitTime: 20, minDelay: 1 }, { StreamName: name });
  await kinesis.send(new sdk.EnableEnhancedMonitoringCommand({ StreamName: name, ShardLevelMetrics: ["ALL"] }));
  await kinesis.send(new sdk.AddTagsToStreamCommand({ StreamName: name, Tags: { team: "data" } }));

  // Traffic for as long as the page is looked at.
  let writing = true;
  let written = 0;
  const traffic = (async () => {
    while (writing) {
      const Records = Array.from({ length: 50 }, (_, i) => ({ PartitionKey: `k${written + i}`, Data: Buffer.from(`record ${written + i}`) }));
      await kinesis.send(new sdk.PutRecordsCommand({ StreamName: name, Records }));
      written += Records.length;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  const browser = await browserType.launch({ executablePath: chromium, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
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
        const cell = tr.children[2].textContent.trim();
        return cell !== "–" && parseFloat(cell) > 0;
      }),
      name,
      { timeout: 30000 },
    );
    check("a shard shows a non-zero records/s in", true);

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
    // The latest records, on demand, then as hex.
    await page.click(`[data-records="${name}"] button`);
    await page.waitForSelector(`[data-records="${name}"] tr[data-record]`, { timeout: 20000 });
    const firstData = await page.textContent(`[data-records="${name}"] tr[data-record] td.data`);
    check("latest records are shown as text", firstData.startsWith("record "), firstData);
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
  } finally {
    writing = false;
    await traffic.catch(() => {});
    await browser.close();
  }
  console.log(`ui_check: ${checks} checks passed (${written} records written meanwhile)`);
}

main().catch((e) => {
  console.log(`FAIL ${e.stack || e}`);
  process.exit(1);
});
