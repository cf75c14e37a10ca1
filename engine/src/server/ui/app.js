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

// Appends a counter sample and returns the recent rates (per second) of that series.
function rates(key, now, value) {
  const points = series.get(key) || [];
  if (value !== null) points.push({ t: now, v: value });
  while (points.length > HISTORY + 1) points.shift();
  series.set(key, points);
  const out = [];
  for (let i = 1; i < points.length; i++) {
    const dt = (points[i].t - points[i - 1].t) / 1000;
    out.push(dt > 0 ? Math.max(0, (points[i].v - points[i - 1].v) / dt) : 0);
  }
  return out;
}

// A small line chart of `values` with the limit drawn as a dashed line.
function chart(values, limit, title) {
  const c = document.createElement("canvas");
  c.width = 160;
  c.height = 32;
  c.title = title;
  const g = c.getContext("2d");
  const top = Math.max(limit || 0, ...values, 1);
  const y = (v) => c.height - 2 - (v / top) * (c.height - 4);
  if (limit) {
    g.strokeStyle = "#d33";
    g.setLineDash([3, 3]);
    g.beginPath();
    g.moveTo(0, y(limit));
    g.lineTo(c.width, y(limit));
    g.stroke();
    g.setLineDash([]);
  }
  g.strokeStyle = "#2a6";
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
  if (n >= 1048576) return (n / 1048576).toFixed(1) + " Mi";
  if (n >= 1024) return (n / 1024).toFixed(1) + " Ki";
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

function drawStream(st, samples, now) {
  const sum = st.summary;
  const name = sum.StreamName;
  const box = el("div", { class: "stream", "data-stream": name });
  box.append(el("h2", {}, name));
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
  const table = el("table", {});
  table.append(
    el("tr", {}, ...["shard", "hash keys", "records/s in", "bytes/s in", "bytes/s out", "throttled writes", "iterator age"].map((h) => el("th", {}, h))),
  );
  for (const s of st.shards) {
    const id = s.ShardId;
    const open = !(s.SequenceNumberRange && s.SequenceNumberRange.EndingSequenceNumber);
    const recIn = rates(`${name}|${id}|in-rec`, now, counter(samples, name, id, "Shard_IncomingRecords"));
    const bytesIn = rates(`${name}|${id}|in-bytes`, now, counter(samples, name, id, "Shard_IncomingBytes"));
    const bytesOut = rates(`${name}|${id}|out-bytes`, now, counter(samples, name, id, "Shard_OutgoingBytes"));
    const throttled = counter(samples, name, id, "Shard_WriteProvisionedThroughputExceeded");
    const age = counter(samples, name, id, "Shard_IteratorAgeMilliseconds");
    const cell = (values, limit) => {
      const last = values.length ? values[values.length - 1] : null;
      return el("td", {}, chart(values, limit, `limit ${fmt(limit)}`), " ", fmt(last));
    };
    const span = (BigInt(s.HashKeyRange.EndingHashKey) - BigInt(s.HashKeyRange.StartingHashKey) + 1n) * 1000n / (1n << 128n);
    table.append(
      el(
        "tr",
        { class: open ? "" : "closed", "data-shard": id },
        el("td", {}, id),
        el("td", {}, `${(Number(span) / 10).toFixed(1)} %`),
        cell(recIn, limits.writeRecordsPerSecond),
        cell(bytesIn, limits.writeBytesPerSecond),
        cell(bytesOut, limits.readBytesPerSecond),
        el("td", {}, throttled === null ? "–" : String(throttled)),
        el("td", {}, age === null ? "–" : `${fmt(age)} ms`),
      ),
    );
  }
  box.append(table);
  if (st.consumers.length) {
    const list = el("div", {}, "consumers: ");
    st.consumers.forEach((c) => list.append(el("span", { class: "tag" }, `${c.ConsumerName} (${c.ConsumerStatus})`)));
    box.append(list);
  }
  box.append(el("div", { class: "tree", "data-lineage": name }, lineage(st.shards)));
  box.append(recordsPanel(name));
  return box;
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
    shown.set(name, { records: body.records || [], error: body.error, format: (shown.get(name) || {}).format || "text" });
    refresh();
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
    refresh();
  };
  panel.append(" data as ", select);
  if (state.error) {
    panel.append(el("div", {}, state.error));
    return panel;
  }
  const table = el("table", {});
  table.append(el("tr", {}, ...["shard", "sequence number", "sub", "partition key", "data"].map((h) => el("th", {}, h))));
  state.records.forEach((r) =>
    table.append(
      el(
        "tr",
        { "data-record": r.sequenceNumber },
        el("td", {}, r.shardId),
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

async function refresh() {
  const status = document.getElementById("status");
  try {
    const resp = await fetch("/ui/state.json", { cache: "no-store" });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    const state = await resp.json();
    limits = state.limits || {};
    const now = Date.now();
    const root = document.getElementById("streams");
    root.replaceChildren(...state.streams.map((s) => drawStream(s, state.metrics, now)));
    status.textContent = `${state.streams.length} stream(s), updated ${new Date(now).toLocaleTimeString()}`;
    status.dataset.streams = String(state.streams.length);
  } catch (e) {
    status.textContent = `cannot read /ui/state.json: ${e.message}`;
  }
}

refresh();
setInterval(refresh, 2000);
