// Charts as inline SVG built node by node (no library, nothing for the CSP to allow).

import { h, svg } from "./dom.js";

const PALETTE = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777",
  "#65a30d", "#ea580c", "#475569", "#0d9488", "#9333ea"];

export function colour(i) { return PALETTE[i % PALETTE.length]; }

/** Stacked bars over time. series: {name: [counts per bucket]}; labels: one per bucket. */
export function stackedBars(series, labels, { title = "", height = 180 } = {}) {
  const names = Object.keys(series).sort((a, b) => sum(series[b]) - sum(series[a]));
  const n = labels.length;
  const totals = labels.map((_, i) => names.reduce((acc, k) => acc + series[k][i], 0));
  const max = Math.max(1, ...totals);
  const width = Math.max(320, n * 14);
  const pad = { l: 32, r: 8, t: 8, b: 22 };
  const bw = (width - pad.l - pad.r) / n;
  const y = (v) => pad.t + (height - pad.t - pad.b) * (1 - v / max);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
    "aria-label": title, preserveAspectRatio: "none" });
  for (const tick of [0, Math.ceil(max / 2), max]) {
    chart.append(svg("line", { x1: pad.l, x2: width - pad.r, y1: y(tick), y2: y(tick), class: "grid" }),
      svg("text", { x: pad.l - 4, y: y(tick) + 3, class: "axis", "text-anchor": "end" }, tick));
  }
  labels.forEach((label, i) => {
    let base = 0;
    names.forEach((name, k) => {
      const v = series[name][i];
      if (!v) return;
      chart.append(svg("rect", { x: pad.l + i * bw + 1, width: Math.max(1, bw - 2), y: y(base + v),
        height: y(base) - y(base + v), fill: colour(k) },
      svg("title", {}, `${label} · ${name}: ${v}`)));
      base += v;
    });
    if (n <= 16 || i % Math.ceil(n / 12) === 0) {
      chart.append(svg("text", { x: pad.l + i * bw + bw / 2, y: height - 6, class: "axis",
        "text-anchor": "middle" }, label));
    }
  });
  const legend = h("ul", { class: "legend" }, names.map((name, k) =>
    h("li", {}, h("span", { class: "swatch", dataset: { c: String(k % PALETTE.length) } }), `${name} (${sum(series[name])})`)));
  return h("figure", { class: "chart-box" }, title ? h("figcaption", {}, title) : null, chart, legend);
}

/** Horizontal bars for one number per name (e.g. metrics, per-class F1). */
export function hbars(values, { max = null, format = (v) => String(v) } = {}) {
  const entries = Object.entries(values);
  const top = max ?? Math.max(1e-9, ...entries.map(([, v]) => v));
  return h("table", { class: "hbars" }, h("tbody", {}, entries.map(([name, v], i) =>
    h("tr", {}, h("th", {}, name), h("td", {},
      meter(v / top, i)), h("td", { class: "num" }, format(v))))));
}

/** A bar as SVG (CSP forbids inline style attributes; SVG geometry attributes are fine). */
export function meter(fraction, colourIndex = 0) {
  const f = Math.max(0, Math.min(1, fraction || 0));
  return svg("svg", { viewBox: "0 0 100 8", class: "meter", preserveAspectRatio: "none" },
    svg("rect", { x: 0, y: 0, width: 100, height: 8, class: "meter-bg" }),
    svg("rect", { x: 0, y: 0, width: 100 * f, height: 8, fill: colour(colourIndex) }));
}

/** Confusion matrix as a heat map: rows = actual, columns = predicted. */
export function confusion(matrix, labels, { actual = "actual", predicted = "predicted" } = {}) {
  const n = labels.length;
  const cell = 36;
  const left = 110;
  const top = 90;
  const size = svg("svg", { viewBox: `0 0 ${left + n * cell + top} ${top + n * cell + 4}`, class: "confusion",
    role: "img", "aria-label": `${actual} × ${predicted}` });
  const max = Math.max(1, ...matrix.flat());
  labels.forEach((label, j) => {
    size.append(svg("text", { x: left + j * cell + cell / 2, y: top - 6, class: "axis",
      transform: `rotate(-45 ${left + j * cell + cell / 2} ${top - 6})` }, label));
  });
  matrix.forEach((row, i) => {
    size.append(svg("text", { x: left - 6, y: top + i * cell + cell / 2 + 4, class: "axis", "text-anchor": "end" }, labels[i]));
    row.forEach((v, j) => {
      const a = v / max;
      size.append(svg("rect", { x: left + j * cell, y: top + i * cell, width: cell - 2, height: cell - 2,
        fill: i === j ? "#16a34a" : "#dc2626", "fill-opacity": (0.08 + 0.9 * a).toFixed(2) },
      svg("title", {}, `${actual} ${labels[i]} → ${predicted} ${labels[j]}: ${v}`)));
      size.append(svg("text", { x: left + j * cell + cell / 2 - 1, y: top + i * cell + cell / 2 + 4,
        class: a > 0.6 ? "cell light" : "cell", "text-anchor": "middle" }, v));
    });
  });
  return h("figure", { class: "chart-box" }, size);
}

function sum(xs) { return xs.reduce((a, b) => a + b, 0); }
