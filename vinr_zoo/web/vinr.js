// vinr-zoo player core: read an ONNX file's contract and metadata, build SpaceTimeGrid coordinates exactly as
// vinr_zoo/coords.py does (float64 maths, one float32 cast per axis; docs/CONVENTIONS.md), run onnxruntime-web,
// map the output to 8 bits as vinr_zoo.metrics.to_uint8 does. No build step, no dependencies but `ort`.
"use strict";

(function () {
  const META_CONFIG = "vinr_zoo.config";
  const EPS = 1e-9;
  const MAX_SIDE = 32768;
  const CHUNK = 131072; // rows per session.run: bounds WASM memory at large output sizes

  class ContractError extends Error {}

  // ---- a minimal protobuf reader: just the ONNX fields the contract needs ----------------------------
  function fields(buf, start, end, visit) {
    let p = start;
    const varint = () => {
      let v = 0, mul = 1, b;
      do {
        if (p >= end) throw new ContractError("truncated protobuf");
        b = buf[p++];
        v += (b & 0x7f) * mul;
        mul *= 128;
      } while (b & 0x80);
      return v;
    };
    while (p < end) {
      const key = varint(), num = Math.floor(key / 8), wire = key & 7;
      if (wire === 0) visit(num, 0, varint());
      else if (wire === 1) p += 8;
      else if (wire === 5) p += 4;
      else if (wire === 2) {
        const len = varint();
        if (p + len > end) throw new ContractError("truncated protobuf");
        visit(num, 2, [p, p + len]);
        p += len;
      } else throw new ContractError(`unsupported protobuf wire type ${wire}`);
    }
    if (p !== end) throw new ContractError("truncated protobuf");
  }
  const text = (buf, [s, e]) => new TextDecoder().decode(buf.subarray(s, e));

  function valueInfo(buf, range) {
    const vi = { name: "", dtype: "not a tensor", shape: null };
    fields(buf, range[0], range[1], (n, w, v) => {
      if (n === 1 && w === 2) vi.name = text(buf, v);
      if (n !== 2 || w !== 2) return;
      fields(buf, v[0], v[1], (tn, tw, tv) => {
        if (tn !== 1 || tw !== 2) return; // TypeProto.tensor_type
        fields(buf, tv[0], tv[1], (en, ew, ev) => {
          if (en === 1 && ew === 0) vi.dtype = ev === 1 ? "float32" : ev === 10 ? "float16" : ev === 11 ? "float64" : `type ${ev}`;
          if (en === 2 && ew === 2) {
            vi.shape = [];
            fields(buf, ev[0], ev[1], (dn, dw, dv) => {
              if (dn !== 1 || dw !== 2) return;
              let dim = null;
              fields(buf, dv[0], dv[1], (xn, xw, xv) => {
                if (xn === 1 && xw === 0) dim = xv;
                if (xn === 2 && xw === 2 && dim === null) dim = text(buf, xv) || null;
              });
              vi.shape.push(dim);
            });
          }
        });
      });
    });
    return vi;
  }

  function readOnnx(bytes, label = "the file") {
    const buf = new Uint8Array(bytes);
    const info = { irVersion: 0, opset: 0, inputs: [], outputs: [], metadata: {}, nodes: 0 };
    const inits = new Set();
    try {
      fields(buf, 0, buf.length, (n, w, v) => {
        if (n === 1 && w === 0) info.irVersion = v;
        else if (n === 8 && w === 2) {
          let domain = "", version = 0;
          fields(buf, v[0], v[1], (on, ow, ov) => {
            if (on === 1 && ow === 2) domain = text(buf, ov);
            if (on === 2 && ow === 0) version = ov;
          });
          if (domain === "" || domain === "ai.onnx") info.opset = version;
        } else if (n === 14 && w === 2) {
          let key = "", value = "";
          fields(buf, v[0], v[1], (mn, mw, mv) => {
            if (mn === 1 && mw === 2) key = text(buf, mv);
            if (mn === 2 && mw === 2) value = text(buf, mv);
          });
          info.metadata[key] = value;
        } else if (n === 7 && w === 2) {
          fields(buf, v[0], v[1], (gn, gw, gv) => {
            if (gw !== 2) return;
            if (gn === 1) info.nodes++;
            else if (gn === 5) fields(buf, gv[0], gv[1], (tn, tw, tv) => { if (tn === 8 && tw === 2) inits.add(text(buf, tv)); });
            else if (gn === 11) info.inputs.push(valueInfo(buf, gv));
            else if (gn === 12) info.outputs.push(valueInfo(buf, gv));
          });
        }
      });
    } catch (e) {
      throw new ContractError(`${label} is not an ONNX model (${e.message})`);
    }
    if (info.irVersion < 3 || !info.opset || !info.nodes) throw new ContractError(`${label} is not an ONNX model (no graph, opset or IR version in it)`);
    info.inputs = info.inputs.filter((vi) => !inits.has(vi.name));
    return info;
  }

  const fmtShape = (s) => (s === null ? "unknown" : "[" + s.map((d) => (d === null ? "?" : String(d))).join(", ") + "]");

  // The same phrases as vinr_zoo.contract.contract_problems.
  function contractProblems(info) {
    const problems = [];
    for (const [kind, got, name, width] of [["input", info.inputs, "coords", 3], ["output", info.outputs, "rgb", 3]]) {
      if (got.length !== 1) {
        problems.push(`expected one ${kind} '${name}', found ${got.length} (${got.map((g) => `'${g.name}'`).join(", ") || "none"})`);
        continue;
      }
      const g = got[0];
      if (g.name !== name) problems.push(`${kind} is named '${g.name}', expected '${name}'`);
      if (g.dtype !== "float32") problems.push(`${kind} '${g.name}' is ${g.dtype}, expected float32`);
      if (g.shape === null || g.shape.length !== 2) {
        problems.push(`${kind} '${g.name}' has shape ${fmtShape(g.shape)}, expected [N, ${width}]`);
        continue;
      }
      if (typeof g.shape[0] === "number") problems.push(`${kind} '${g.name}' has a fixed first dimension ${g.shape[0]}, expected a dynamic N`);
      if (g.shape[1] !== width) problems.push(`${kind} '${g.name}' has shape ${fmtShape(g.shape)}, expected [N, ${width}]`);
    }
    return problems;
  }

  // Contract + metadata → the config (what vinr_zoo.onnx_file.inspect_onnx checks); throws a one-line ContractError.
  function inspect(bytes, label) {
    const info = readOnnx(bytes, label);
    const problems = contractProblems(info);
    if (problems.length) throw new ContractError(`${label} does not follow the ONNX contract: ${problems.join("; ")}`);
    if (!(META_CONFIG in info.metadata)) {
      throw new ContractError(`${label} has no ${META_CONFIG} entry in metadata_props (not written by 'vinr export'), so its source video size is unknown`);
    }
    let config;
    try {
      config = JSON.parse(info.metadata[META_CONFIG]);
    } catch (e) {
      throw new ContractError(`${label}: ${META_CONFIG} metadata is not JSON (${e.message})`);
    }
    const s = config && config.source;
    const ok = (v) => Number.isInteger(v) && v >= 1;
    if (!s || !ok(s.width) || !ok(s.height) || !ok(s.frames) || !(s.fps > 0)) {
      throw new ContractError(`${label}: ${META_CONFIG} metadata has no valid source video (width, height, frames, fps)`);
    }
    return { info, config };
  }

  // ---- SpaceTimeGrid (vinr_zoo/coords.py) ------------------------------------------------------------
  // Python's round(): halves to the even integer. v - floor(v) is exact for doubles.
  function roundHalfEven(v) {
    const f = Math.floor(v), d = v - f;
    if (d > 0.5) return f + 1;
    if (d < 0.5) return f;
    return f % 2 === 0 ? f : f + 1;
  }

  function side(explicit, scaled) {
    const n = explicit != null ? explicit : Math.max(1, roundHalfEven(scaled));
    if (!Number.isInteger(n) || n < 1 || n > MAX_SIDE) throw new Error(`output side ${n} outside [1, ${MAX_SIDE}]`);
    return n;
  }

  function centres(n, lo, hi, src) {
    const out = new Float32Array(n);
    const full = lo === 0 && hi === src;
    for (let i = 0; i < n; i++) {
      // Same operation order as numpy: (2 i + 1) / n - 1, or lo + ((i + 0.5) (hi - lo)) / n, then 2 px / src - 1.
      out[i] = full ? (2 * i + 1) / n - 1 : (2 * (lo + ((i + 0.5) * (hi - lo)) / n)) / src - 1;
    }
    return out;
  }

  const frameInstantToT = (k, frames) => (frames === 1 ? 0 : (2 * k) / (frames - 1) - 1);

  // opts: {scale_s = 1, width, height, roi: [x, y, w, h] in source pixels, k: source frame instant}.
  function grid(source, opts) {
    const W = source.width, H = source.height, T = source.frames;
    let x0 = 0, y0 = 0, x1 = W, y1 = H;
    if (opts.roi) {
      const [rx, ry, rw, rh] = opts.roi.map(Number);
      if (!(rw > 0 && rh > 0 && rx >= 0 && ry >= 0 && rx + rw <= W + EPS && ry + rh <= H + EPS)) {
        throw new Error(`roi ${opts.roi} must have a positive size and lie inside the ${W}x${H} source`);
      }
      [x0, y0, x1, y1] = [rx, ry, rx + rw, ry + rh];
    }
    const s = opts.scale_s == null ? 1 : opts.scale_s;
    const width = side(opts.width, (x1 - x0) * s), height = side(opts.height, (y1 - y0) * s);
    const k = opts.k == null ? 0 : opts.k;
    if (!(k >= 0 && k <= T - 1 + EPS)) throw new Error(`frame instant ${k} outside 0..${T - 1}`);
    return { width, height, k, xs: centres(width, x0, x1, W), ys: centres(height, y0, y1, H), t: Math.fround(frameInstantToT(k, T)) };
  }

  // Output frame instants at scale_t over [0, T - 1]: floor(span scale_t + 1e-9) + 1 frames at j / scale_t.
  function instants(frames, scaleT) {
    const span = frames - 1, n = Math.floor(span * scaleT + EPS) + 1, out = new Float64Array(n);
    for (let j = 0; j < n; j++) out[j] = Math.min(j / scaleT, span);
    return out;
  }

  function coords(g, start, stop) {
    const out = new Float32Array((stop - start) * 3), W = g.width;
    for (let n = start, o = 0; n < stop; n++, o += 3) {
      const r = Math.floor(n / W);
      out[o] = g.xs[n - r * W];
      out[o + 1] = g.ys[r];
      out[o + 2] = g.t;
    }
    return out;
  }

  // vinr_zoo.metrics.to_uint8 in float32 steps: clip((v + 1) * 0.5, 0, 1) * 255, round half to even.
  function toU8(v) {
    let u = Math.fround(Math.fround(v + 1) * 0.5);
    u = u < 0 ? 0 : u > 1 ? 1 : u;
    return roundHalfEven(Math.fround(u * 255));
  }

  // ---- the renderer ----------------------------------------------------------------------------------
  async function createRenderer(ort, bytes, label, { backend = "wasm" } = {}) {
    const { info, config } = inspect(bytes, label);
    let session;
    try {
      session = await ort.InferenceSession.create(new Uint8Array(bytes), { executionProviders: [backend] });
    } catch (e) {
      throw new ContractError(`${label}: onnxruntime-web could not open it (${String(e.message || e).split("\n")[0]})`);
    }
    // One frame at a time on the session: onnxruntime-web does not promise concurrent run()s (the UI's render
    // loop and the test hook share it).
    let queue = Promise.resolve();
    const renderRGB = (opts) => {
      const next = queue.then(() => renderNow(opts));
      queue = next.catch(() => {});
      return next;
    };
    async function renderNow(opts) {
      const g = grid(config.source, opts), N = g.width * g.height;
      const rgb = new Uint8Array(N * 3);
      const t0 = performance.now();
      let runMs = 0;
      for (let s = 0; s < N; s += CHUNK) {
        const e = Math.min(s + CHUNK, N);
        const input = new ort.Tensor("float32", coords(g, s, e), [e - s, 3]);
        const r0 = performance.now();
        const out = await session.run({ coords: input });
        runMs += performance.now() - r0;
        const v = out.rgb.data;
        for (let i = 0; i < v.length; i++) rgb[s * 3 + i] = toU8(v[i]);
        input.dispose && input.dispose();
        out.rgb.dispose && out.rgb.dispose();
      }
      return { width: g.width, height: g.height, k: g.k, t: g.t, rgb, ms: performance.now() - t0, runMs };
    }
    return { info, config, session, renderRGB, label };
  }

  function toBase64(u8) {
    let s = "";
    for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
    return btoa(s);
  }

  function numParams(c) {
    if (c.architecture !== "sine_mlp") return null;
    const w = c.hidden_features, L = c.hidden_layers, o = c.out_features || 3;
    return 3 * w + w + (L - 1) * (w * w + w) + (w * o + o);
  }

  window.VinrCore = { ContractError, readOnnx, contractProblems, inspect, roundHalfEven, grid, instants, coords, toU8, createRenderer, toBase64, numParams };
})();
