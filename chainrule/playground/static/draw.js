// Drawing for the chainrule playground: everything here only paints what the server sent.
// Heatmaps arrive as base64 bytes 0..255 with the value range [lo, hi] they cover.
"use strict";

const Draw = (() => {
  const BLUE = [8, 119, 189], ORANGE = [232, 113, 10], WHITE = [255, 255, 255];
  const CLASS = [[232, 113, 10], [8, 119, 189], [47, 158, 68], [142, 68, 173], [200, 40, 40]];

  function bytes(b64) {
    const s = atob(b64), out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  function mix(a, b, t) {
    return [0, 1, 2].map((i) => Math.round(a[i] + (b[i] - a[i]) * t));
  }
  // a diverging scale: byte 0 -> orange, 127.5 -> white, 255 -> blue
  function diverging(q) {
    const t = q / 127.5 - 1;
    return t >= 0 ? mix(WHITE, BLUE, t) : mix(WHITE, ORANGE, -t);
  }
  function rgb(c, alpha) {
    return alpha === undefined ? `rgb(${c[0]},${c[1]},${c[2]})` : `rgba(${c[0]},${c[1]},${c[2]},${alpha})`;
  }

  // an offscreen G x G canvas holding one map, to be scaled with drawImage
  function mapCanvas(G, colourOf) {
    const c = document.createElement("canvas");
    c.width = G; c.height = G;
    const ctx = c.getContext("2d"), img = ctx.createImageData(G, G);
    for (let i = 0; i < G * G; i++) {
      const col = colourOf(i);
      img.data[4 * i] = col[0]; img.data[4 * i + 1] = col[1]; img.data[4 * i + 2] = col[2];
      img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    return c;
  }
  function heatmap(map, G) {
    const q = bytes(map.q);
    return mapCanvas(G, (i) => diverging(q[i]));
  }
  function boundaryCanvas(b, K) {
    const p = bytes(b.p.q);
    if (K === 2) return mapCanvas(b.grid, (i) => mix(WHITE, diverging(p[i]), 0.8));
    const cls = bytes(b.cls);
    return mapCanvas(b.grid, (i) => {
      const conf = Math.max(0, (p[i] / 255 - 1 / K) / (1 - 1 / K));
      return mix(WHITE, CLASS[cls[i] % CLASS.length], 0.15 + 0.6 * conf);
    });
  }
  function classColour(y, K) {
    return K === 2 ? (y === 1 ? BLUE : ORANGE) : CLASS[y % CLASS.length];
  }

  function boundary(canvas, state, points) {
    const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
    ctx.clearRect(0, 0, W, H);
    if (!state.plane) {
      ctx.fillStyle = "#666"; ctx.font = "13px sans-serif";
      ctx.fillText("more than two features: no input plane to draw", 12, H / 2);
      return;
    }
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(boundaryCanvas(state.boundary, state.n_classes), 0, 0, W, H);
    if (!points) return;
    const [x0, x1, y0, y1] = state.extent;
    const px = (x) => ((x - x0) / (x1 - x0)) * W, py = (y) => ((y1 - y) / (y1 - y0)) * H;
    const dot = (X, Y, ring) => {
      for (let i = 0; i < X.length; i++) {
        ctx.beginPath();
        ctx.arc(px(X[i][0]), py(X[i][1]), 3.2, 0, 2 * Math.PI);
        ctx.fillStyle = rgb(classColour(Y[i], state.n_classes));
        ctx.fill();
        ctx.lineWidth = ring ? 1.6 : 1; ctx.strokeStyle = ring ? "#111" : "#fff";
        ctx.stroke();
      }
    };
    dot(points.train, points.train_y, false);
    dot(points.test, points.test_y, true);
  }

  // node positions of the network diagram: one column per layer, l = 0 (features) .. L
  function layout(canvas, sizes) {
    const W = canvas.width, H = canvas.height, cols = sizes.length, colW = W / cols;
    const size = Math.min(40, (H - 20) / 8 - 8);
    return sizes.map((n, l) => {
      const gap = (H - n * size) / (n + 1);
      return Array.from({ length: n }, (_, j) => ({
        x: colW * (l + 0.5) - size / 2, y: gap + j * (size + gap), s: size,
      }));
    });
  }

  function network(canvas, state, selected) {
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const pos = layout(canvas, state.sizes);
    state.weights.forEach((layer, i) => {
      const from = pos[i], to = pos[i + 1];
      layer.W.forEach((row, j) => row.forEach((w, k) => {
        const a = from[k], b = to[j];
        ctx.beginPath();
        ctx.moveTo(a.x + a.s, a.y + a.s / 2);
        ctx.lineTo(b.x, b.y + b.s / 2);
        ctx.strokeStyle = rgb(w >= 0 ? BLUE : ORANGE, 0.35 + Math.min(0.6, Math.abs(w) / 3));
        ctx.lineWidth = Math.min(7, 0.4 + Math.abs(w) * 1.5);
        ctx.stroke();
      }));
    });
    const G = state.plane ? Math.round(Math.sqrt(bytes(state.neurons[0][0].q).length)) : 0;
    pos.forEach((col, l) => col.forEach((p, j) => {
      if (state.plane) {
        ctx.imageSmoothingEnabled = false;
        ctx.drawImage(heatmap(state.neurons[l][j], G), p.x, p.y, p.s, p.s);
      } else {
        ctx.fillStyle = "#ddd"; ctx.fillRect(p.x, p.y, p.s, p.s);
      }
      const health = l > 0 && l < pos.length - 1 ? state.health[l - 1][j] : "";
      ctx.setLineDash(health === "dead" ? [3, 3] : []);
      ctx.lineWidth = health ? 3 : l === selected ? 2 : 1;
      ctx.strokeStyle = health === "saturated" ? "#d62728" : health === "dead" ? "#888"
        : l === selected ? "#3366cc" : "#999";
      ctx.strokeRect(p.x, p.y, p.s, p.s);
      ctx.setLineDash([]);
      if (l === 0 && state.features.length) {
        ctx.fillStyle = "#333"; ctx.font = "11px sans-serif";
        ctx.fillText(state.features[j], p.x, p.y + p.s + 11);
      }
    }));
  }

  function columnAt(canvas, state, clientX) {
    const r = canvas.getBoundingClientRect();
    return Math.floor(((clientX - r.left) / r.width) * state.sizes.length);
  }

  function curves(canvas, history) {
    const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
    ctx.clearRect(0, 0, W, H);
    ctx.strokeStyle = "#ccc"; ctx.strokeRect(0.5, 0.5, W - 1, H - 1);
    const pts = history.filter((h) => h[1] !== null && h[2] !== null);
    if (pts.length < 2) return;
    const maxX = pts[pts.length - 1][0] || 1;
    const maxY = Math.max(...pts.map((h) => Math.max(h[1], h[2])), 1e-6);
    const line = (k, colour) => {
      ctx.beginPath();
      pts.forEach((h, i) => {
        const x = (h[0] / maxX) * (W - 4) + 2, y = H - 4 - (h[k] / maxY) * (H - 16);
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.strokeStyle = colour; ctx.lineWidth = 1.5; ctx.stroke();
    };
    line(1, "#333"); line(2, "#0877bd");
    ctx.fillStyle = "#666"; ctx.font = "10px sans-serif";
    ctx.fillText(maxY.toPrecision(3), 4, 10);
    ctx.fillText(`step ${maxX}`, W - 60, H - 6);
  }

  // per-layer gradient norms on a log scale (vanishing gradients show as short bars)
  function gradients(canvas, norms) {
    const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
    ctx.clearRect(0, 0, W, H);
    const n = norms.length, rowH = Math.min(18, H / n);
    ctx.font = "10px sans-serif";
    norms.forEach((g, i) => {
      const y = i * rowH;
      ctx.fillStyle = "#333";
      ctx.fillText(`W[${i + 1}]`, 2, y + rowH - 5);
      if (g === null) return;
      const frac = Math.max(0, Math.min(1, (Math.log10(g + 1e-12) + 6) / 7)); // 1e-6 .. 10
      ctx.fillStyle = "#0877bd";
      ctx.fillRect(40, y + 3, frac * (W - 110), rowH - 6);
      ctx.fillStyle = "#333";
      ctx.fillText(g.toExponential(2), W - 64, y + rowH - 5);
    });
  }

  return { boundary, network, columnAt, curves, gradients };
})();
