// The chainrule playground page: its set-up lives in the URL's hash, training runs on the
// server (chainrule's engine), and this file only sends requests and draws the replies.
"use strict";

const DEFAULTS = {
  data: "moons", noise: 0.15, points: 400, ratio: 0.5, classes: 3, seed: 0,
  features: ["x1", "x2"], layers: [4, 4], activation: "tanh", optimizer: "adam",
  lr: 0.03, batch: 10, l2: 0,
};
const FEATURES = ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin x1", "sin x2"];
const NUMBERS = ["noise", "points", "ratio", "classes", "seed", "lr", "batch", "l2"];
const BATCHES_PER_FRAME = 10;
const MAX_LAYERS = 6, MAX_NEURONS = 8;

let cfg = readHash();
let sessionId = null, state = null, points = null;
let playing = false, selectedLayer = null;
let queue = Promise.resolve();

const $ = (id) => document.getElementById(id);

// --- the URL holds the whole set-up -------------------------------------------------------------
function readHash() {
  const out = JSON.parse(JSON.stringify(DEFAULTS));
  const params = new URLSearchParams(location.hash.slice(1));
  for (const [k, v] of params) {
    if (!(k in DEFAULTS)) continue;
    if (k === "features") out[k] = v ? v.split(",") : [];
    else if (k === "layers") out[k] = v ? v.split(",").map(Number) : [];
    else if (NUMBERS.includes(k)) out[k] = Number(v);
    else out[k] = v;
  }
  return out;
}
function writeHash() {
  const params = new URLSearchParams();
  for (const k of Object.keys(DEFAULTS)) {
    params.set(k, Array.isArray(cfg[k]) ? cfg[k].join(",") : String(cfg[k]));
  }
  history.replaceState(null, "", "#" + params.toString());
}

// --- talking to the server: one request at a time, errors shown on the page ---------------------
function showMessage(text) {
  const box = $("message");
  box.textContent = text || "";
  box.classList.toggle("hidden", !text);
}
async function api(method, path, body, type) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = type || "application/json";
    init.body = type ? body : JSON.stringify(body);
  }
  const reply = await fetch(path, init);
  const data = await reply.json();
  if (!reply.ok) throw new Error(data.error || `HTTP ${reply.status}`);
  return data;
}
function enqueue(task) {
  queue = queue.then(task).catch((err) => {
    showMessage(err.message);
    setPlaying(false);
  });
  return queue;
}
function accept(next) {
  state = next;
  if (next.points !== undefined) points = next.points;
  if (next.points === undefined && !next.plane) points = null;
  draw();
}

async function startSession() {
  if (cfg.data === "csv") {  // an uploaded file is not part of the URL
    cfg.data = DEFAULTS.data;
    writeHash();
    syncControls();
  }
  const reply = await api("POST", "/api/sessions", cfg);
  sessionId = reply.id;
  selectedLayer = null;
  showMessage("");
  accept(reply.state);
}
function reconfigure() {
  writeHash();
  syncControls();
  enqueue(async () => {
    if (sessionId === null) return startSession();
    accept(await api("POST", `/api/sessions/${sessionId}/config`, cfg));
    showMessage("");
    if (selectedLayer !== null) await showFormulas(selectedLayer);
  });
}

// --- training controls ---------------------------------------------------------------------------
function setPlaying(on) {
  playing = on;
  $("play").innerHTML = on ? "&#10074;&#10074; Pause" : "&#9654; Play";
  if (on) loop();
}
function loop() {
  if (!playing) return;
  enqueue(async () => {
    if (!playing || sessionId === null) return;
    accept(await api("POST", `/api/sessions/${sessionId}/step`, { batches: BATCHES_PER_FRAME }));
    if (state.diverged) {
      showMessage("training diverged (the cost is no longer finite): lower the learning rate and reset");
      setPlaying(false);
    }
  }).then(() => requestAnimationFrame(loop));
}
function stepOnce() {
  enqueue(async () => {
    accept(await api("POST", `/api/sessions/${sessionId}/step`, { batches: 1 }));
    if (selectedLayer !== null) await showFormulas(selectedLayer);
  });
}
function resetRun() {
  enqueue(async () => accept(await api("POST", `/api/sessions/${sessionId}/reset`)));
}
function upload(file) {
  if (!file) return;
  if (file.size > 1000000) {
    showMessage(`the CSV must be at most 1,000,000 bytes, got ${file.size.toLocaleString()}`);
    return;
  }
  enqueue(async () => {
    const content = await file.arrayBuffer();
    accept(await api("POST", `/api/sessions/${sessionId}/upload`, content, "text/csv"));
    cfg.data = "csv";
    writeHash();
    syncControls();
    showMessage("");
  });
}

// --- the formula panel ---------------------------------------------------------------------------
function matrix(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return String(value);
  return value.map((row) => row.map((v) => v.toFixed(4).padStart(8)).join(" ")).join("\n");
}
function formulaTable(title, lines) {
  const rows = lines.map((ln) => {
    const norm = ln.norm === null ? "" : `||.|| = ${ln.norm.toPrecision(4)}`;
    return `<tr><td class="f">${esc(ln.formula)}</td><td class="s">${esc(ln.shape)}</td>` +
      `<td><pre>${esc(matrix(ln.value))}</pre></td><td class="note">${esc(norm)}<br>${esc(ln.note)}</td></tr>`;
  }).join("");
  return `<div><h3>${title}</h3><table>${rows}</table></div>`;
}
function esc(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}
async function showFormulas(l) {
  const f = await api("GET", `/api/sessions/${sessionId}/formulas?layer=${l}`);
  $("formula-body").innerHTML =
    `<p><b>${esc(f.title)}</b> &middot; m = ${f.m} (the last batch) &middot; ${f.params} parameters ` +
    `&middot; ${f.forward_flops} FLOPs forward, ${f.backward_flops} backward per example</p>` +
    `<div class="cols">${formulaTable("forward", f.forward)}${formulaTable("backward", f.backward)}</div>`;
}
function selectLayer(l) {
  if (l < 1 || l > cfg.layers.length + 1) return;
  selectedLayer = l;
  draw();
  enqueue(() => showFormulas(l));
}

// --- controls <-> cfg ----------------------------------------------------------------------------
function syncControls() {
  for (const id of ["data", "activation", "optimizer", "noise", "ratio", "points", "seed", "classes", "batch"]) {
    $(id).value = cfg[id];
  }
  for (const id of ["lr", "l2"]) {
    const sel = $(id);
    if (![...sel.options].some((o) => Number(o.value) === cfg[id])) sel.add(new Option(String(cfg[id])));
    sel.value = [...sel.options].find((o) => Number(o.value) === cfg[id]).value;
  }
  $("noise-out").textContent = cfg.noise;
  $("ratio-out").textContent = `${Math.round(cfg.ratio * 100)}%`;
  $("classes-row").classList.toggle("hidden", !["spirals", "gaussians"].includes(cfg.data));
  $("features").innerHTML = FEATURES.map((f) =>
    `<label><input type="checkbox" data-feature="${f}" ${cfg.features.includes(f) ? "checked" : ""}> ${f}</label>`).join("");
  $("layer-count").textContent = `${cfg.layers.length} hidden layer${cfg.layers.length === 1 ? "" : "s"}`;
  const heads = ["features"].concat(cfg.layers.map((n, i) =>
    `<button data-layer="${i}" data-delta="1">+</button><button data-layer="${i}" data-delta="-1">&minus;</button><br>layer ${i + 1}: ${n}`))
    .concat([`output (layer ${cfg.layers.length + 1})`]);
  const box = $("layer-headers");
  box.style.gridTemplateColumns = `repeat(${heads.length}, 1fr)`;
  box.innerHTML = heads.map((h, c) =>
    `<div data-column="${c}" class="${c === selectedLayer ? "selected" : ""}">${h}</div>`).join("");
}
function bindControls() {
  $("play").onclick = () => setPlaying(!playing);
  $("step").onclick = stepOnce;
  $("reset").onclick = resetRun;
  $("regenerate").onclick = () => { cfg.seed += 1; reconfigure(); };
  for (const id of ["data", "activation", "optimizer"]) {
    $(id).onchange = () => { cfg[id] = $(id).value; reconfigure(); };
  }
  for (const id of ["noise", "ratio", "points", "seed", "classes", "batch", "lr", "l2"]) {
    $(id).onchange = () => { cfg[id] = Number($(id).value); reconfigure(); };
  }
  $("upload").onchange = () => upload($("upload").files[0]);
  $("features").onchange = (e) => {
    const f = e.target.dataset.feature;
    cfg.features = FEATURES.filter((g) => (g === f ? e.target.checked : cfg.features.includes(g)));
    reconfigure();
  };
  $("add-layer").onclick = () => {
    if (cfg.layers.length < MAX_LAYERS) { cfg.layers.push(2); reconfigure(); }
  };
  $("remove-layer").onclick = () => {
    if (cfg.layers.length > 0) { cfg.layers.pop(); reconfigure(); }
  };
  $("layer-headers").onclick = (e) => {
    const b = e.target.closest("button");
    if (b) {
      const i = Number(b.dataset.layer), n = cfg.layers[i] + Number(b.dataset.delta);
      if (n >= 1 && n <= MAX_NEURONS) { cfg.layers[i] = n; reconfigure(); }
      return;
    }
    const col = e.target.closest("[data-column]");
    if (col) selectLayer(Number(col.dataset.column));
  };
  $("net").onclick = (e) => { if (state) selectLayer(Draw.columnAt($("net"), state, e.clientX)); };
}

// --- drawing -------------------------------------------------------------------------------------
function percent(v) { return v === null ? "–" : `${(100 * v).toFixed(1)}%`; }
function fixed(v) { return v === null ? "–" : v.toFixed(3); }
function draw() {
  if (!state) return;
  const m = state.metrics;
  $("steps").textContent = state.steps;
  $("epoch").textContent = state.epoch.toFixed(1);
  $("test-acc").textContent = percent(m.test_accuracy);
  $("train-acc").textContent = percent(m.train_accuracy);
  $("test-cost").textContent = fixed(m.test_cost);
  $("train-cost").textContent = fixed(m.train_cost);
  $("description").textContent = `${state.description}: ${state.n_train} train, ${state.n_test} test, ` +
    `${state.n_classes} classes, ${state.output} output`;
  document.querySelectorAll("#layer-headers [data-column]").forEach((d) =>
    d.classList.toggle("selected", Number(d.dataset.column) === selectedLayer));
  Draw.boundary($("boundary"), state, points);
  Draw.network($("net"), state, selectedLayer);
  Draw.curves($("curves"), state.history);
  Draw.gradients($("grads"), state.grad_norms);
}

window.addEventListener("hashchange", () => {  // a pasted link: its set-up, in this tab
  cfg = readHash();
  if (cfg.data === "csv") cfg.data = DEFAULTS.data;
  reconfigure();
});
bindControls();
syncControls();
writeHash();
enqueue(startSession);
