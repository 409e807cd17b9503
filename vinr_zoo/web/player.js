// vinr-zoo player page: loads onnxruntime-web and model.onnx, renders live at any scale_s / scale_t, zooms
// into dragged regions. Test hook: window.vinr (ready, renderFrame, grid, info). Plain JS, no build step.
"use strict";

(function () {
  const C = window.VinrCore;
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const isolated = window.crossOriginIsolated === true;
  const cores = Math.max(1, navigator.hardwareConcurrency || 1);
  const backend = params.get("backend") === "webgpu" && navigator.gpu ? "webgpu" : "wasm";
  const wantThreads = parseInt(params.get("threads") || String(Math.min(4, cores)), 10);
  const threads = backend === "wasm" && isolated ? Math.max(1, wantThreads || 1) : 1;

  const state = { card: null, renderer: null, scaleS: 1, scaleT: 1, roi: null, frame: 0, instants: [0], playing: false };
  const hook = { info: { backend, threads, crossOriginIsolated: isolated }, error: null };
  window.vinr = hook;

  function showError(message) {
    hook.error = message;
    $("error").textContent = message;
    $("error").hidden = false;
    $("status").textContent = "error";
  }

  function loadScript(src, integrity) {
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      if (integrity) {
        s.integrity = integrity;
        s.crossOrigin = "anonymous";
      }
      s.onload = resolve;
      s.onerror = () => reject(new Error(`could not load ${src}`));
      document.head.appendChild(s);
    });
  }

  async function fetchChecked(url, integrity) {
    const r = await fetch(url, { integrity, mode: "cors" });
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    return r;
  }

  // onnxruntime-web from this folder (what export --web copied), else the pinned version from the CDN with SRI.
  async function loadOrt(ortCard) {
    const gpu = backend === "webgpu";
    const script = gpu ? "ort.webgpu.min.js" : "ort.wasm.min.js";
    const stem = gpu ? "ort-wasm-simd-threaded.asyncify" : "ort-wasm-simd-threaded";
    const local = gpu ? ortCard.webgpu_local : ortCard.local;
    if (local) {
      await loadScript(script);
      ort.env.wasm.wasmPaths = new URL("./", location.href).href;
    } else {
      const sri = ortCard.integrity;
      await loadScript(ortCard.cdn + script, sri[script]);
      const [mjs, wasm] = await Promise.all([
        fetchChecked(ortCard.cdn + stem + ".mjs", sri[stem + ".mjs"]).then((r) => r.blob()),
        fetchChecked(ortCard.cdn + stem + ".wasm", sri[stem + ".wasm"]).then((r) => r.arrayBuffer()),
      ]);
      ort.env.wasm.wasmBinary = wasm;
      ort.env.wasm.wasmPaths = { mjs: URL.createObjectURL(new Blob([mjs], { type: "text/javascript" })) };
    }
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.proxy = false;
    hook.info.ort = ort.env.versions ? ort.env.versions.web || ortCard.version : ortCard.version;
    hook.info.ortLocal = !!local;
  }

  function runtimeLabel() {
    if (backend === "webgpu") return "WebGPU";
    const why = isolated ? "cross-origin isolated" : "not cross-origin isolated: no threads";
    return `WASM, ${threads} thread${threads > 1 ? "s" : ""} (${why})`;
  }

  function fillBackends() {
    const sel = $("backend"), opts = [["wasm-1", "WASM, 1 thread"]];
    if (isolated) for (const n of [2, 4, cores]) if (n > 1 && n <= cores && !opts.some((o) => o[0] === `wasm-${n}`)) opts.push([`wasm-${n}`, `WASM, ${n} threads`]);
    if (navigator.gpu) opts.push(["webgpu", "WebGPU"]);
    for (const [value, label] of opts) sel.add(new Option(label, value));
    sel.value = backend === "webgpu" ? "webgpu" : `wasm-${threads}`;
    sel.onchange = () => {
      const p = new URLSearchParams(location.search);
      if (sel.value === "webgpu") p.set("backend", "webgpu");
      else (p.set("backend", "wasm"), p.set("threads", sel.value.split("-")[1]));
      location.search = p.toString();
    };
  }

  const fmt = (v, digits) => (v == null ? "n/a" : Number(v).toFixed(digits));

  function showCard(card) {
    const s = card.source;
    const rows = [
      ["model", card.name || "model.onnx"],
      ["source", `${s.width}×${s.height}, ${s.frames} frames`],
      ["fps", fmt(s.fps, 3)],
      ["parameters", card.parameters == null ? "n/a" : card.parameters.toLocaleString("en-US")],
      ["PSNR (RGB)", card.psnr_rgb == null ? "n/a" : `${fmt(card.psnr_rgb, 3)} dB`],
      ["ONNX", `opset ${card.opset}`],
      ["onnxruntime-web", `${hook.info.ort} (${hook.info.ortLocal ? "local files" : "CDN"})`],
    ];
    $("card").replaceChildren(...rows.flatMap(([k, v]) => [Object.assign(document.createElement("dt"), { textContent: k }), Object.assign(document.createElement("dd"), { textContent: v })]));
  }

  // ---- rendering ------------------------------------------------------------------------------------------
  const source = () => state.renderer.config.source;
  const region = () => state.roi || [0, 0, source().width, source().height];

  // A zoomed region is rendered at the scale that fills the whole-frame output box: same grid maths, more detail.
  function viewOptions() {
    const s = source(), k = state.instants[state.frame];
    if (!state.roi) return { scale_s: state.scaleS, k };
    const [, , w, h] = state.roi;
    return { scale_s: state.scaleS * Math.min(s.width / w, s.height / h), roi: state.roi, k };
  }

  const times = [];
  let busy = false, pending = false, shown = [];

  async function renderLoop() {
    if (busy) return void (pending = true);
    busy = true;
    try {
      do {
        pending = false;
        const r = await state.renderer.renderRGB(viewOptions());
        draw(r);
      } while (pending);
    } catch (e) {
      showError(`render failed: ${String(e.message || e).split("\n")[0]}`);
      state.playing = false;
    } finally {
      busy = false;
    }
  }

  function draw(r) {
    const canvas = $("canvas");
    if (canvas.width !== r.width || canvas.height !== r.height) [canvas.width, canvas.height] = [r.width, r.height];
    const img = new ImageData(r.width, r.height);
    for (let i = 0, j = 0; i < r.rgb.length; i += 3, j += 4) {
      img.data[j] = r.rgb[i];
      img.data[j + 1] = r.rgb[i + 1];
      img.data[j + 2] = r.rgb[i + 2];
      img.data[j + 3] = 255;
    }
    canvas.getContext("2d").putImageData(img, 0, 0);
    times.push(r.ms);
    if (times.length > 30) times.shift();
    const now = performance.now();
    shown = shown.filter((t) => now - t < 2000).concat([now]);
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    $("ms").textContent = `${r.ms.toFixed(1)} (mean ${mean.toFixed(1)})`;
    $("out-size").textContent = `${r.width}×${r.height}`;
    const fpsOut = source().fps * state.scaleT;
    const achieved = shown.length > 1 ? ((shown.length - 1) * 1000) / (now - shown[0]) : 0;
    $("fps").textContent = `${fpsOut.toFixed(2)} target` + (state.playing ? `, ${achieved.toFixed(1)} shown` : "");
    const n = state.instants.length;
    $("frame-label").textContent = `frame ${state.frame + 1}/${n} (t = ${r.k.toFixed(2)})`;
    const [x, y, w, h] = region();
    $("roi-label").textContent = state.roi ? `${x.toFixed(1)},${y.toFixed(1)} ${w.toFixed(1)}×${h.toFixed(1)} px` : "whole frame";
  }

  function setTiming() {
    const s = Number($("scale-s").value), t = Number($("scale-t").value);
    if (!(s > 0) || !(t > 0)) return;
    const position = state.instants[state.frame] || 0;
    state.scaleS = s;
    state.scaleT = t;
    state.instants = Array.from(C.instants(source().frames, t));
    state.frame = Math.min(state.instants.length - 1, Math.round(position * t));
    $("scrub").max = String(state.instants.length - 1);
    $("scrub").value = String(state.frame);
    renderLoop();
  }

  let last = 0;
  function tick(now) {
    if (state.playing && !busy && now - last >= 1000 / (source().fps * state.scaleT)) {
      last = now;
      state.frame = (state.frame + 1) % state.instants.length;
      $("scrub").value = String(state.frame);
      renderLoop();
    }
    requestAnimationFrame(tick);
  }

  // ---- zoom by dragging -----------------------------------------------------------------------------------
  function wireZoom() {
    const stage = $("stage"), sel = $("selection");
    let start = null;
    const at = (e) => {
      const r = stage.getBoundingClientRect();
      return [Math.min(Math.max(e.clientX - r.left, 0), r.width), Math.min(Math.max(e.clientY - r.top, 0), r.height), r];
    };
    stage.addEventListener("pointerdown", (e) => {
      start = at(e);
      stage.setPointerCapture(e.pointerId);
    });
    stage.addEventListener("pointermove", (e) => {
      if (!start) return;
      const [x, y] = at(e);
      Object.assign(sel.style, { left: `${Math.min(x, start[0])}px`, top: `${Math.min(y, start[1])}px`, width: `${Math.abs(x - start[0])}px`, height: `${Math.abs(y - start[1])}px` });
      sel.hidden = false;
    });
    stage.addEventListener("pointerup", (e) => {
      if (!start) return;
      const [x, y, rect] = at(e), [sx, sy] = start;
      start = null;
      sel.hidden = true;
      if (Math.abs(x - sx) < 4 || Math.abs(y - sy) < 4 || !state.renderer) return;
      const [rx, ry, rw, rh] = region(), s = source();
      const px = (v) => rx + (v / rect.width) * rw, py = (v) => ry + (v / rect.height) * rh;
      const x0 = Math.max(0, px(Math.min(x, sx))), x1 = Math.min(s.width, px(Math.max(x, sx)));
      const y0 = Math.max(0, py(Math.min(y, sy))), y1 = Math.min(s.height, py(Math.max(y, sy)));
      state.roi = [x0, y0, x1 - x0, y1 - y0];
      renderLoop();
    });
    const reset = () => { state.roi = null; renderLoop(); };
    stage.addEventListener("dblclick", reset);
    $("reset").onclick = reset;
  }

  // ---- models ---------------------------------------------------------------------------------------------
  async function useModel(bytes, label, card) {
    const renderer = await C.createRenderer(ort, bytes, label, { backend });
    state.renderer = renderer;
    state.card = card || {
      name: label,
      source: renderer.config.source,
      parameters: C.numParams(renderer.config),
      psnr_rgb: (renderer.config.training || {}).final_psnr_rgb,
      opset: renderer.info.opset,
    };
    state.roi = null;
    state.frame = 0;
    showCard(state.card);
    $("error").hidden = true;
    hook.error = null;
    $("play").disabled = false;
    $("status").textContent = `${label}: ready`;
    $("runtime").textContent = runtimeLabel();
    setTiming();
  }

  function wireControls() {
    $("scale-s").onchange = setTiming;
    $("scale-t").onchange = setTiming;
    $("play").onclick = () => {
      state.playing = !state.playing;
      $("play").textContent = state.playing ? "Pause" : "Play";
    };
    $("scrub").oninput = () => {
      state.frame = Number($("scrub").value);
      renderLoop();
    };
    $("file").onchange = async () => {
      const f = $("file").files[0];
      if (!f) return;
      try {
        await useModel(await f.arrayBuffer(), f.name, null);
      } catch (e) {
        showError(String(e.message || e));
      }
    };
  }

  async function main() {
    fillBackends();
    wireControls();
    wireZoom();
    const r = await fetch("card.json");
    if (!r.ok) throw new Error(`card.json: HTTP ${r.status} (not a folder written by 'vinr export --web')`);
    const card = await r.json();
    await loadOrt(card.ort);
    const name = params.get("model") || card.model;
    const m = await fetch(name);
    if (!m.ok) throw new Error(`${name}: HTTP ${m.status}`);
    await useModel(await m.arrayBuffer(), name, params.get("model") ? null : card);
    requestAnimationFrame(tick);
  }

  hook.grid = (opts) => {
    const g = C.grid(state.renderer.config.source, opts);
    return { width: g.width, height: g.height, xs: Array.from(g.xs), ys: Array.from(g.ys), t: g.t };
  };
  // {scale_s | width, height, roi: [x, y, w, h] source pixels, k: source frame instant} → uint8 RGB, base64.
  hook.renderFrame = async (opts) => {
    const ready = await hook.ready;
    if (!ready.ok || !state.renderer) throw new Error(ready.error || "no model loaded");
    const r = await state.renderer.renderRGB(opts);
    return { width: r.width, height: r.height, k: r.k, t: r.t, ms: r.ms, run_ms: r.runMs, rgb: C.toBase64(r.rgb) };
  };
  hook.ready = main().then(
    () => ({ ok: true }),
    (e) => {
      showError(String(e.message || e));
      return { ok: false, error: hook.error };
    },
  );
})();
