// The page of `rill serve` (engine/src/server/ui): polls /ui/state.json every 2 s and draws
// each stream, its shards (rates computed from successive counter samples, against AWS's
// per-shard limits), its consumers, tags and shard lineage. No dependencies.
"use strict";

const HISTORY = 60; // samples kept per series (2 minutes at one per 2 s)
const series = new Map(); // "stream|shard|metric" -> [{t, v}]
const shown = new Map(); // stream -> {records, format} of its latest-records panel
let limits = {};

function counter(samples, stream, shard, name) {
  const s = samples.find(
    (m) => m.name === name && m.labels.stream === stream && (shard === null || m.labels.shard === shard),
  );
  return s ? s.value : null;
}

// The samples of metric `name` of `stream` whose value is above zero.
function positive(samples, stream, name) {
  return samples.filter((m) => m.name === name && m.labels.stream === stream && m.value > 0);
}

// The sample of metric `name` for `consumer` of `stream`.
function ofConsumer(samples, stream, consumer, name) {
  const s = samples.find((m) => m.name === name && m.labels.stream === stream && m.labels.consumer === consumer);
  return s ? s.value : null;
}

// Appends a counter sample and returns the recent rates (per second) of that series.
function rates(key, now, value) {
  const points = series.get(key) || [];
  // A redraw between two samples (a click) adds no point: rates need whole intervals.
  const last = points[points.length - 1];
  if (value !== null && (!last || now - last.t >= 1000)) points.push({ t: now, v: value });
  while (points.length > HISTORY + 1) points.shift();
  series.set(key, points);
  const out = [];
  for (let i = 1; i < points.length; i++) {
    const dt = (points[i].t - points[i - 1].t) / 1000;
    out.push(dt > 0 ? Math.max(0, (points[i].v - points[i - 1].v) / dt) : 0);
  }
  return out;
}

// A small line chart of `values` with the limit drawn as a dashed line. While the rates stay
// under a tenth of the limit the chart is scaled to them (and the limit, off the chart, is
// only named in the title), so that low rates are not a flat line at the bottom.
function chart(values, limit, title) {
  const c = document.createElement("canvas");
  c.width = 96;
  c.height = 32;
  const peak = Math.max(0, ...values);
  const scaled = !limit || peak >= limit / 10;
  const top = scaled ? Math.max(limit || 0, peak, 1) : Math.max(peak * 1.25, 1e-9);
  c.title = `${title}, peak ${fmt(peak)}${scaled ? "" : " (scaled to the rates)"}`;
  c.dataset.peak = String(peak);
  const g = c.getContext("2d");
  const y = (v) => c.height - 2 - (v / top) * (c.height - 4);
  if (limit && scaled) {
    g.strokeStyle = "#d33";
    g.setLineDash([3, 3]);
    g.beginPath();
    g.moveTo(0, y(limit));
    g.lineTo(c.width, y(limit));
    g.stroke();
    g.setLineDash([]);
  }
  g.strokeStyle = scaled ? "#2a6" : "#58a";
  g.beginPath();
  values.forEach((v, i) => {
    const x = (i / Math.max(1, HISTORY - 1)) * c.width;
    if (i === 0) g.moveTo(x, y(v));
    else g.lineTo(x, y(v));
  });
  g.stroke();
  return c;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
  children.forEach((c) => e.append(c));
  return e;
}

function fmt(n) {
  if (n === null || n === undefined) return "–";
  if (n >= 1048576) return (n / 1048576).toFixed(1) + "\u00a0Mi";
  if (n >= 1024) return (n / 1024).toFixed(1) + "\u00a0Ki";
  return n.toFixed(n < 10 ? 1 : 0);
}

// The shard lineage as indented text: roots (no parent among the shards) first, children
// under their parents (a merged child under its first parent).
function lineage(shards) {
  const ids = new Set(shards.map((s) => s.ShardId));
  const children = new Map();
  const roots = [];
  for (const s of shards) {
    const p = s.ParentShardId;
    if (p && ids.has(p)) {
      if (!children.has(p)) children.set(p, []);
      children.get(p).push(s);
    } else roots.push(s);
  }
  const lines = [];
  const walk = (s, depth) => {
    const open = !s.SequenceNumberRange || !s.SequenceNumberRange.EndingSequenceNumber;
    const merge = s.AdjacentParentShardId ? ` (merged with ${s.AdjacentParentShardId})` : "";
    lines.push(`${"  ".repeat(depth)}${depth ? "└ " : ""}${s.ShardId}${open ? "" : " (closed)"}${merge}`);
    (children.get(s.ShardId) || []).forEach((c) => walk(c, depth + 1));
  };
  roots.forEach((r) => walk(r, 0));
  return lines.join("\n");
}

// Streams whose box the user opened or closed (name -> open); others are open while the
// page shows at most FEW streams.
const FEW = 5;
const opened = new Map();

function drawStream(st, samples, now, count) {
  const sum = st.summary;
  const name = sum.StreamName;
  const box = el("details", { class: "stream", "data-stream": name });
  box.open = opened.has(name) ? opened.get(name) : count <= FEW;
  const head = el("summary", {}, el("h2", {}, name), ` ${sum.StreamStatus}, ${sum.OpenShardCount} open shard(s)`);
  // A click (not a redraw) is the user's choice; it toggles the box after this handler.
  head.addEventListener("click", () => opened.set(name, !box.open));
  box.append(head);
  const facts = el("div", { class: "facts" });
  const mode = sum.StreamModeDetails ? sum.StreamModeDetails.StreamMode : "PROVISIONED";
  const closed = st.shards.filter((s) => s.SequenceNumberRange && s.SequenceNumberRange.EndingSequenceNumber).length;
  [
    ["status", sum.StreamStatus],
    ["mode", mode],
    ["open shards", sum.OpenShardCount],
    ["closed shards", closed],
    ["retention", sum.RetentionPeriodHours + " h"],
    ["encryption", sum.EncryptionType || "NONE"],
    ["consumers", st.consumers.length],
    ["iterator age", (() => {
      const age = counter(samples, name, null, "GetRecords_IteratorAgeMilliseconds");
      return age === null ? "–" : `${fmt(age)} ms`;
    })()],
  ].forEach(([k, v]) => facts.append(el("span", { "data-fact": k }, `${k}: `, el("b", {}, String(v)))));
  box.append(facts);
  if (st.tags.length) {
    const tags = el("div", {});
    st.tags.forEach((t) => tags.append(el("span", { class: "tag" }, `${t.Key}=${t.Value || ""}`)));
    box.append(tags);
  }
  const live = positive(samples, name, "SubscribeToShard_Live");
  box.append(shardTable(st, samples, now, live));
  if (st.consumers.length) box.append(consumersTable(name, st.consumers, samples, live, now));
  box.append(el("div", { class: "tree", "data-lineage": name }, lineage(st.shards)));
  box.append(recordsPanel(name));
  return box;
}

// One row per shard: its hash-key share, rates against its limits (charts), throttles,
// iterator age and the fan-out consumers subscribed to it. Cells carry `data-col`.
function shardTable(st, samples, now, live) {
  const sum = st.summary;
  const name = sum.StreamName;
  const table = el("table", {});
  table.append(
    el("tr", {}, ...["shard", "hash keys", "records/s in", "records/s out", "bytes/s in", "bytes/s out", "throttled w / r", "iterator age", "fan-out readers"].map((h) => el("th", {}, h))),
  );
  // The shard-level metrics EnableEnhancedMonitoring turned on ("ALL" is every one).
  const enabled = new Set((sum.EnhancedMonitoring || []).flatMap((m) => m.ShardLevelMetrics || []));
  if (enabled.has("ALL")) limits.shardLevelMetrics.forEach((m) => enabled.add(m));
  const off = enabled.size === 0;
  const offTitle = "shard-level metrics are off: turn them on with EnableEnhancedMonitoring";
  for (const s of st.shards) {
    const id = s.ShardId;
    const open = !(s.SequenceNumberRange && s.SequenceNumberRange.EndingSequenceNumber);
    // A shard-level metric: null when it is off, 0 before its first count.
    const metric = (m) => (enabled.has(m) ? (counter(samples, name, id, `Shard_${m}`) ?? 0) : null);
    const rate = (m) => rates(`${name}|${id}|${m}`, now, metric(m));
    const throttledW = metric("WriteProvisionedThroughputExceeded");
    const throttledR = metric("ReadProvisionedThroughputExceeded");
    const readers = live.filter((m) => m.labels.shard === id).map((m) => m.labels.consumer).sort();
    const age = enabled.has("IteratorAgeMilliseconds") ? counter(samples, name, id, "Shard_IteratorAgeMilliseconds") : null;
    const cell = (col, values, limit) => {
      if (!values.length && off) return el("td", { "data-col": col, title: offTitle }, "–");
      const last = values.length ? values[values.length - 1] : null;
      const share = last !== null && limit ? `${((100 * last) / limit).toFixed(last && last < limit / 100 ? 2 : 0)} %` : "";
      return el(
        "td",
        { class: "rate", "data-col": col },
        chart(values, limit, limit ? `limit ${fmt(limit)}/s` : "no per-shard limit"),
        " ",
        el("span", { class: "rate" }, fmt(last)),
        " ",
        el("small", { title: col === "bytes-out" ? "of the shard's GetRecords limit (2 MiB/s shared by polling readers; fan-out pushes are counted in the rate but each consumer has its own 2 MiB/s)" : "of the shard's limit" }, share),
      );
    };
    const span = (BigInt(s.HashKeyRange.EndingHashKey) - BigInt(s.HashKeyRange.StartingHashKey) + 1n) * 1000n / (1n << 128n);
    table.append(
      el(
        "tr",
        { class: open ? "" : "closed", "data-shard": id },
        el("td", { class: "nowrap" }, id),
        el("td", { class: "nowrap" }, `${(Number(span) / 10).toFixed(1)} %`),
        cell("records-in", rate("IncomingRecords"), limits.writeRecordsPerSecond),
        cell("records-out", rate("OutgoingRecords"), null),
        cell("bytes-in", rate("IncomingBytes"), limits.writeBytesPerSecond),
        // Fan-out pushes count here too, though each consumer has its own 2 MiB/s: the
        // share is of the polling readers' limit.
        cell("bytes-out", rate("OutgoingBytes"), limits.readBytesPerSecond),
        el("td", { "data-col": "throttled", ...(off ? { title: offTitle } : {}) }, `${throttledW ?? "–"} / ${throttledR ?? "–"}`),
        el("td", { "data-col": "age" }, age === null ? "–" : `${fmt(age)} ms`),
        el("td", { "data-col": "readers", "data-readers": id }, readers.join(", ")),
      ),
    );
  }
  return table;
}

// The enhanced fan-out consumers of a stream: status, live subscriptions (shards), the rate
// of records pushed to them and how far behind their last event was.
function consumersTable(name, consumers, samples, live, now) {
  const table = el("table", { class: "consumers", "data-consumers": name });
  table.append(el("tr", {}, ...["consumer", "status", "registered", "live subscriptions", "records/s pushed", "behind latest"].map((h) => el("th", {}, h))));
  for (const c of consumers) {
    const c_name = c.ConsumerName;
    const shards = live.filter((m) => m.labels.consumer === c_name).map((m) => m.labels.shard).sort();
    const pushed = rates(`${name}|${c_name}|pushed`, now, ofConsumer(samples, name, c_name, "SubscribeToShardEvent_Records"));
    // The last event's lag means something only while a subscription is live.
    const behind = shards.length ? ofConsumer(samples, name, c_name, "SubscribeToShardEvent_MillisBehindLatest") : null;
    const registered = c.ConsumerCreationTimestamp ? new Date(c.ConsumerCreationTimestamp * 1000).toLocaleString() : "–";
    table.append(
      el(
        "tr",
        { "data-consumer": c_name },
        el("td", {}, c_name),
        el("td", {}, c.ConsumerStatus),
        el("td", {}, registered),
        el("td", { "data-live": c_name }, shards.length ? `${shards.length}: ${shards.join(", ")}` : "none"),
        el("td", {}, chart(pushed, null, "records pushed per second"), " ", fmt(pushed.length ? pushed[pushed.length - 1] : null)),
        el("td", {}, behind === null ? "–" : `${fmt(behind)} ms`),
      ),
    );
  }
  return table;
}

// Shows data as text (when it is printable UTF-8), JSON (pretty) or hex.
function render(b64, format) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const hex = () => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  if (format === "hex") return hex();
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return hex();
  }
  if (format === "json") {
    try {
      return JSON.stringify(JSON.parse(text), null, 1);
    } catch {
      return text;
    }
  }
  return text;
}

// The latest records of a stream, read when asked (each ask costs one GetRecords per shard).
function recordsPanel(name) {
  const panel = el("div", { class: "records", "data-records": name });
  const state = shown.get(name);
  const button = el("button", { type: "button" }, state ? "refresh latest records" : "show latest records");
  button.onclick = async () => {
    const resp = await fetch(`/ui/records.json?stream=${encodeURIComponent(name)}`, { cache: "no-store" });
    const body = await resp.json();
    shown.set(name, { records: body.records || [], skipped: body.skipped || [], error: body.error, format: (shown.get(name) || {}).format || "text" });
    draw();
  };
  panel.append(button);
  if (!state) return panel;
  const select = el("select", {});
  ["text", "json", "hex"].forEach((f) => {
    const o = el("option", { value: f }, f);
    if (f === state.format) o.selected = true;
    select.append(o);
  });
  select.onchange = () => {
    state.format = select.value;
    draw();
  };
  panel.append(" data as ", select);
  if (state.error) {
    panel.append(el("div", {}, state.error));
    return panel;
  }
  // Shards whose read budget refused the page (its reads count as the shard's).
  state.skipped.forEach((k) => panel.append(el("div", { class: "skipped" }, `${k.shardId} not read: ${k.error}`)));
  const table = el("table", {});
  table.append(el("tr", {}, ...["shard", "arrived", "sequence number", "sub", "partition key", "data"].map((h) => el("th", {}, h))));
  state.records.forEach((r) =>
    table.append(
      el(
        "tr",
        { "data-record": r.sequenceNumber, "data-arrival": String(r.arrival ?? "") },
        el("td", { class: "nowrap" }, r.shardId),
        el("td", { class: "nowrap" }, r.arrival ? new Date(r.arrival).toLocaleTimeString() : "–"),
        el("td", {}, r.sequenceNumber),
        el("td", {}, r.subSequence === null ? "" : String(r.subSequence)),
        el("td", {}, r.partitionKey),
        el("td", { class: "data" }, render(r.data, state.format)),
      ),
    ),
  );
  panel.append(table);
  return panel;
}

let latestState = null; // {state, now}: the latest /ui/state.json and when it was read

// Draws the latest state again (after a click), without taking a sample.
function draw() {
  if (!latestState) return;
  const { state, now } = latestState;
  const root = document.getElementById("streams");
  root.replaceChildren(...state.streams.map((s) => drawStream(s, state.metrics, now, state.streams.length)));
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const resp = await fetch("/ui/state.json", { cache: "no-store" });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    const state = await resp.json();
    limits = state.limits || {};
    const now = Date.now();
    latestState = { state, now };
    draw();
    status.textContent = `${state.streams.length} stream(s), updated ${new Date(now).toLocaleTimeString()}`;
    status.dataset.streams = String(state.streams.length);
    status.dataset.updated = String(now);
  } catch (e) {
    status.textContent = `cannot read /ui/state.json: ${e.message}`;
  }
}

refresh();
setInterval(refresh, 2000);
