// cotrl view: polls the server for what each run appended since the last poll and redraws in place.
// No reload, no network beyond this server: plotly.js comes from the plotly Python package.
"use strict";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"];
const FIRST = ["reward_mean", "accuracy", "step_accuracy", "loss", "eval_loss", "heldout_accuracy", "kl", "entropy"];
const STABILITY = ["grad_norm", "skipped_updates", "kl", "kl_ref", "clip_frac", "sync_probe_max_abs_diff",
                   "reward_fault_frac", "zero_variance_frac"];
const TIME_SPLIT = ["time_rollout", "time_reward", "time_update", "time_sync"];
const MAX_SAMPLES_SHOWN = 150;

const state = { runs: [], dirty: true, samplesDirty: true };

function isHardware(k) {
  return k.startsWith("hw/") || k.startsWith("time_") || k.startsWith("tokens_per_second") || k.includes("latency") ||
         k === "seconds" || k === "step_time" || k === "rollout_tokens";
}

function num(v) { return typeof v === "number" && isFinite(v); }

function fmt(v, d = 3) {
  if (!num(v)) return "–";
  return Math.abs(v) >= 1000 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toFixed(d);
}

// ------------------------------------------------------------------ data

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  if (!r.ok) throw new Error(url + ": " + r.status);
  return r.json();
}

function resetRun(run) {
  run.records = []; run.metricsOffset = 0;
  run.samples = []; run.samplesOffset = 0;
}

// A shorter file (offset went down) or a rewritten one (new identity: a resume) starts over
function restarted(resp, offset, ident) {
  return resp.reset || resp.offset < offset || (ident && resp.ident !== ident);
}

async function pollRun(run) {
  const m = await getJSON(`/api/runs/${run.id}/metrics?offset=${run.metricsOffset}&ident=${run.metricsIdent || ""}`);
  if (restarted(m, run.metricsOffset, run.metricsIdent)) { run.records = []; state.dirty = true; }
  if (m.records.length) { run.records.push(...m.records); state.dirty = true; }
  run.metricsOffset = m.offset; run.metricsIdent = m.ident;
  const s = await getJSON(`/api/runs/${run.id}/samples?offset=${run.samplesOffset}&ident=${run.samplesIdent || ""}`);
  if (restarted(s, run.samplesOffset, run.samplesIdent)) { run.samples = []; state.samplesDirty = true; }
  for (const rec of s.records) {
    // SFT's held-out evaluations write {"step", "samples": [...]}; the RL loops write one sample a line
    if (Array.isArray(rec.samples)) {
      rec.samples.forEach(x => run.samples.push({
        step: rec.step, task: rec.set === "validation" ? "validation eval" : "held-out eval", outcome: typeof x.correct === "boolean" ? Number(x.correct) : null, ...x,
      }));
    } else run.samples.push(rec);
  }
  if (s.records.length) state.samplesDirty = true;
  run.samplesOffset = s.offset; run.samplesIdent = s.ident;
  if (!run.evals || state.tick % 10 === 0) run.evals = await getJSON(`/api/runs/${run.id}/evals`);
}

// x positions: the step, or the training time elapsed at the end of that step (sum of per-step seconds)
function xOf(run) {
  const elapsed = new Map();
  let t = 0;
  for (const r of run.records) {
    const dt = num(r.seconds) ? r.seconds : (num(r.step_time) ? r.step_time : null);
    if (dt !== null && !elapsed.has(r.step)) { t += dt; elapsed.set(r.step, t); }
  }
  const byTime = document.getElementById("xaxis").value === "time";
  return step => (byTime ? (elapsed.has(step) ? elapsed.get(step) : null) : step);
}

function series(run, key) {
  const x = [], y = [], toX = xOf(run);
  for (const r of run.records) {
    if (!num(r[key])) continue;
    const xv = toX(r.step);
    if (xv === null) continue;
    x.push(xv); y.push(r[key]);
  }
  return { x, y };
}

// TensorBoard's smoothing: an exponential moving average, debiased at the start
function smooth(y, w) {
  const out = []; let last = 0, n = 0;
  for (const v of y) { last = last * w + (1 - w) * v; n += 1; out.push(last / (1 - Math.pow(w, n))); }
  return out;
}

function metricKeys() {
  const keys = new Set();
  for (const run of state.runs) for (const r of run.records) for (const [k, v] of Object.entries(r)) if (k !== "step" && num(v)) keys.add(k);
  return [...keys];
}

// ------------------------------------------------------------------ charts

function chartDiv(container, id) {
  let div = document.getElementById(id);
  if (!div) {
    div = document.createElement("div");
    div.id = id; div.className = "chart"; container.appendChild(div);
  }
  return div;
}

function drawMetric(container, key, extraShapes) {
  const w = parseFloat(document.getElementById("smooth").value);
  const traces = [];
  state.runs.forEach((run, i) => {
    const s = series(run, key);
    if (!s.x.length) return;
    const color = PALETTE[i % PALETTE.length];
    traces.push({ x: s.x, y: s.y, name: run.name + " raw", mode: s.x.length < 30 ? "lines+markers" : "lines",
                  line: { color, width: 1 }, marker: { size: 4 }, opacity: 0.35, showlegend: false, hoverinfo: "x+y" });
    traces.push({ x: s.x, y: smooth(s.y, w), name: run.name, mode: "lines", line: { color, width: 2.5 } });
  });
  if (!traces.length) return false;
  const div = chartDiv(container, "chart-" + key.replace(/[^a-zA-Z0-9_-]/g, "_"));
  div.dataset.metric = key;
  div.dataset.points = String(Math.max(...traces.map(t => t.x.length)));
  const shapes = extraShapes || [];
  const layout = {
    title: { text: key, font: { size: 13 } }, margin: { l: 50, r: 10, t: 30, b: 30 }, uirevision: key,
    xaxis: { title: { text: document.getElementById("xaxis").value === "time" ? "seconds" : "step", font: { size: 11 } } },
    showlegend: state.runs.length > 1, legend: { font: { size: 10 } }, shapes: shapes.map(s => s.shape),
    annotations: shapes.map(s => s.note),
  };
  Plotly.react(div, traces, layout, { displaylogo: false, responsive: true });
  return true;
}

function thresholdShape(key) {
  const out = [];
  const seen = new Set();
  for (const run of state.runs) {
    const t = (run.thresholds || {})[key];
    if (!t || seen.has(t.value)) continue;
    seen.add(t.value);
    out.push({
      shape: { type: "line", xref: "paper", x0: 0, x1: 1, y0: t.value, y1: t.value, line: { color: "#d62728", dash: "dash", width: 1.5 } },
      note: { xref: "paper", x: 1, y: t.value, text: t.label, showarrow: false, xanchor: "right", yanchor: "bottom", font: { size: 10, color: "#d62728" } },
    });
  }
  return out;
}

function drawTimeSplit(container) {
  state.runs.forEach((run, i) => {
    const traces = TIME_SPLIT.map(k => ({ ...series(run, k), name: k.replace("time_", ""), type: "bar" })).filter(t => t.x.length);
    if (!traces.length) return;
    const div = chartDiv(container, "chart-time-split-" + run.id);
    div.dataset.metric = "time_split";
    Plotly.react(div, traces, {
      barmode: "stack", title: { text: `time per step (s): ${run.name}`, font: { size: 13 } },
      margin: { l: 50, r: 10, t: 30, b: 30 }, uirevision: "split", legend: { font: { size: 10 } },
    }, { displaylogo: false, responsive: true });
  });
}

function drawCharts() {
  const filter = document.getElementById("metric-filter").value.trim().toLowerCase();
  const keys = metricKeys().filter(k => !filter || k.toLowerCase().includes(filter));
  const rank = k => (FIRST.includes(k) ? FIRST.indexOf(k) : FIRST.length);
  keys.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const curves = document.getElementById("curves"), stab = document.getElementById("stability"), hw = document.getElementById("hardware");
  const wanted = new Set();
  const constant = [];
  for (const k of keys) {
    const values = new Set(state.runs.flatMap(run => series(run, k).y));
    if (values.size === 1 && !STABILITY.includes(k) && !FIRST.includes(k)) {  // a flat line says less than its value
      constant.push(`${k} = ${fmt([...values][0])}`);
      continue;
    }
    const where = STABILITY.includes(k) ? stab : isHardware(k) ? hw : curves;
    if (drawMetric(where, k, STABILITY.includes(k) ? thresholdShape(k) : null)) wanted.add("chart-" + k.replace(/[^a-zA-Z0-9_-]/g, "_"));
  }
  document.getElementById("constant").textContent = constant.length ? "constant so far: " + constant.join(", ") : "";
  drawTimeSplit(hw);
  for (const c of [curves, stab, hw]) {
    for (const div of [...c.querySelectorAll(".chart")]) {
      if (!wanted.has(div.id) && div.dataset.metric !== "time_split") div.remove();
    }
  }
}

// ------------------------------------------------------------------ evaluations

function drawEvals() {
  const box = document.getElementById("evals");
  const parts = [];
  const curveTraces = [];
  state.runs.forEach((run, i) => {
    const ev = run.evals || {};
    for (const t of ev.tables || []) {
      parts.push(`<tr><td style="text-align:left">${esc(run.name)}/${esc(t.file)}</td><td>${fmt(t.accuracy)}</td><td>${fmt(t.step_accuracy)}</td><td>${fmt(t.format_rate)}</td><td>${t.n_problems ?? "–"}</td></tr>`);
    }
    for (const c of ev.curves || []) {
      const pts = c.points || [];
      curveTraces.push({ x: pts.map(p => p.step), y: pts.map(p => p.accuracy), name: `${run.name}: accuracy (${c.file})`, mode: "lines+markers", line: { color: PALETTE[i % PALETTE.length] } });
      curveTraces.push({ x: pts.map(p => p.step), y: pts.map(p => p.step_accuracy), name: `${run.name}: step accuracy`, mode: "lines+markers", line: { color: PALETTE[i % PALETTE.length], dash: "dot" } });
    }
  });
  const plots = state.runs.flatMap(run => ((run.evals || {}).plots || []).map(p => `<figure><figcaption>${esc(run.name)}/${esc(p)}</figcaption><img loading="lazy" src="/api/runs/${run.id}/files/${p}"></figure>`));
  let html = "";
  if (parts.length) html += `<table class="evals"><tr><th>result</th><th>accuracy</th><th>step accuracy</th><th>format rate</th><th>problems</th></tr>${parts.join("")}</table>`;
  if (curveTraces.length) html += `<div id="heldout-curve" class="chart"></div>`;
  if (plots.length) html += `<details class="plots"><summary>plots written by the runs (${plots.length})</summary>${plots.join("")}</details>`;
  const key = html + JSON.stringify(curveTraces.map(t => [t.x, t.y]));
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.innerHTML = html || `<p class="empty">none yet: results of <code>cotrl eval --out RUN/eval.json</code> and the demo's checkpoint curve show here</p>`;
  if (curveTraces.length) Plotly.react("heldout-curve", curveTraces, { title: { text: "held-out accuracy by checkpoint", font: { size: 13 } }, margin: { l: 50, r: 10, t: 30, b: 30 }, yaxis: { range: [0, 1] } }, { displaylogo: false });
}

// ------------------------------------------------------------------ samples

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function badge(label, v) {
  if (!num(v)) return "";
  return `<span class="badge ${v < 0 ? "neg" : v > 0 ? "pos" : ""}">${label} ${v > 0 ? "+" : ""}${fmt(v, 2)}</span>`;
}

function stepSpan(st) {
  const verdict = st.verdict || (st.score === null || st.score === undefined ? "unverifiable" : st.score >= 0.5 ? "right" : "wrong");
  const tip = `verdict ${verdict}; score ${fmt(st.score, 2)}; advantage ${fmt(st.advantage, 3)}`;
  return `<span class="step verdict-${verdict}" data-verdict="${verdict}" title="${esc(tip)}">${esc(st.text)}</span>` +
         badge("s", st.score) + badge("A", st.advantage);
}

// The completion with each step highlighted where its text sits; text between steps stays plain
function renderCompletion(s) {
  const text = s.completion ?? s.text ?? "";
  const steps = Array.isArray(s.steps) ? s.steps : [];
  if (!steps.length) return esc(text);
  let out = "", cursor = 0;
  const placed = steps.every(st => num(st.char_start) && st.char_start >= 0);
  if (!placed) return esc(text) + "<br>" + steps.map(stepSpan).join(" ");
  for (const st of steps) {
    out += esc(text.slice(cursor, st.char_start)) + stepSpan(st);
    cursor = st.char_start + (st.text || "").length;
  }
  return out + esc(text.slice(cursor));
}

function outcomeClass(o) { return o === null || o === undefined ? "none" : o >= 0.5 ? "right" : "wrong"; }

function refreshSelect(id, values) {
  const sel = document.getElementById(id);
  const have = new Set([...sel.options].map(o => o.value));
  for (const v of values) if (!have.has(String(v))) { const o = document.createElement("option"); o.value = String(v); o.textContent = String(v); sel.appendChild(o); }
}

function drawSamples() {
  const all = state.runs.flatMap(run => run.samples.map(s => ({ run, s })));
  refreshSelect("f-step", [...new Set(all.map(x => x.s.step))].sort((a, b) => a - b));
  refreshSelect("f-task", [...new Set(all.map(x => x.s.task).filter(Boolean))].sort());
  const fr = document.getElementById("f-run").value, fs = document.getElementById("f-step").value;
  const ft = document.getElementById("f-task").value, fo = document.getElementById("f-outcome").value;
  const fw = document.getElementById("f-wrongstep").checked;
  const latest = Math.max(-1, ...all.map(x => x.s.step));
  const shown = all.filter(({ run, s }) =>
    (!fr || String(run.id) === fr) &&
    (!fs || (fs === "latest" ? s.step === latest : String(s.step) === fs)) &&
    (!ft || s.task === ft) &&
    (!fo || outcomeClass(s.outcome) === fo) &&
    (!fw || (s.steps || []).some(st => (st.verdict || (num(st.score) && st.score < 0.5 ? "wrong" : "")) === "wrong")));
  shown.sort((a, b) => b.s.step - a.s.step);
  document.getElementById("sample-count").textContent = `${shown.length} of ${all.length} samples` + (shown.length > MAX_SAMPLES_SHOWN ? ` (newest ${MAX_SAMPLES_SHOWN} shown)` : "");
  document.getElementById("samples").innerHTML = shown.slice(0, MAX_SAMPLES_SHOWN).map(({ run, s }) => `
    <div class="sample" data-step="${s.step}" data-run="${run.id}" data-outcome="${outcomeClass(s.outcome)}">
      <div class="meta"><b>${esc(run.name)}</b> · step <b>${s.step}</b> · ${esc(s.task || "")} ${esc(s.problem_id || "")}
        · outcome <b>${fmt(s.outcome, 2)}</b> ${badge("advantage", s.advantage)} · answer <code>${esc(s.answer ?? s.target ?? "")}</code>
        ${s.finish_reason ? "· " + esc(s.finish_reason) : ""}</div>
      <details><summary>prompt</summary><pre>${esc(s.prompt || "")}</pre></details>
      <div class="completion">${renderCompletion(s)}</div>
    </div>`).join("");
}

// ------------------------------------------------------------------ loop

function drawRunList() {
  document.getElementById("runs").innerHTML = state.runs.map((r, i) =>
    `<span class="run-chip" title="${esc(r.path)}"><span class="swatch" style="background:${PALETTE[i % PALETTE.length]}"></span>${esc(r.name)}${r.trainer ? " (" + esc(r.trainer) + ")" : ""}</span>`).join("");
  refreshSelect("f-run", []);
  const sel = document.getElementById("f-run");
  for (const r of state.runs) { const o = document.createElement("option"); o.value = String(r.id); o.textContent = r.name; sel.appendChild(o); }
}

function drawStatus(error) {
  const parts = state.runs.map(r => { const last = r.records.length ? Math.max(...r.records.map(x => x.step)) : null; return `${r.name}: step ${last ?? "–"}`; });
  document.getElementById("latest-step").textContent = parts.join(" · ");
  document.getElementById("status").firstChild.textContent = error ? `poll failed (${error}); retrying · ` : `live, updated ${new Date().toLocaleTimeString()} · `;
}

async function tick() {
  state.tick = (state.tick || 0) + 1;
  let error = null;
  try {
    for (const run of state.runs) await pollRun(run);
  } catch (e) { error = e.message; }
  if (state.dirty) { drawCharts(); state.dirty = false; }
  if (state.samplesDirty) { drawSamples(); state.samplesDirty = false; }
  drawEvals();
  drawStatus(error);
  setTimeout(tick, window.COTRL_POLL_MS || 2000);
}

async function start() {
  state.runs = await getJSON("/api/runs");
  state.runs.forEach(resetRun);
  drawRunList();
  for (const id of ["xaxis", "smooth", "metric-filter"]) document.getElementById(id).addEventListener("input", () => {
    document.getElementById("smooth-val").textContent = document.getElementById("smooth").value;
    drawCharts();
  });
  for (const id of ["f-run", "f-step", "f-task", "f-outcome", "f-wrongstep"]) document.getElementById(id).addEventListener("input", drawSamples);
  tick();
}

start();
