// The last 24 hours as an SVG bar chart: per hour, BYOK and shared requests side by side.

import { h, replace, s } from "./dom.js";
import { hour } from "./format.js";

const WIDTH = 720;
const HEIGHT = 160;
const PAD = { top: 10, right: 8, bottom: 22, left: 34 };

export function renderChart(container, summary, usage) {
  const buckets = usage.data;
  const totals = buckets.reduce(
    (sum, b) => ({ byok: sum.byok + b.byok.requests, shared: sum.shared + b.shared.requests }),
    { byok: 0, shared: 0 },
  );
  const cost = buckets.reduce((sum, b) => sum + b.shared.cost, 0);
  replace(
    summary,
    `${totals.byok + totals.shared} requests in the last 24 hours: ${totals.byok} BYOK, ${totals.shared} shared ` +
      `(shared cost $${cost.toFixed(4)}).`,
  );
  const peak = Math.max(1, ...buckets.map((b) => Math.max(b.byok.requests, b.shared.requests)));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / buckets.length;
  const bar = Math.max(1, slot / 2 - 1);
  const y = (n) => PAD.top + plotH - (n / peak) * plotH;
  const bars = buckets.flatMap((b, i) => {
    const x = PAD.left + i * slot;
    const label = `${hour(b.hour)}: ${b.byok.requests} BYOK, ${b.shared.requests} shared`;
    return [
      s("rect", { class: "bar-byok", x, y: y(b.byok.requests), width: bar, height: plotH - (y(b.byok.requests) - PAD.top) }, s("title", {}, label)),
      s(
        "rect",
        { class: "bar-shared", x: x + bar, y: y(b.shared.requests), width: bar, height: plotH - (y(b.shared.requests) - PAD.top) },
        s("title", {}, label),
      ),
    ];
  });
  const ticks = buckets
    .map((b, i) => [b, i])
    .filter(([, i]) => i % 6 === 0 || i === buckets.length - 1)
    .map(([b, i]) =>
      s(
        "text",
        { class: "tick", x: PAD.left + (i + 0.5) * slot, y: HEIGHT - 6, "text-anchor": i === buckets.length - 1 ? "end" : "middle" },
        i === buckets.length - 1 ? "now" : hour(b.hour),
      ),
    );
  const svg = s(
    "svg",
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-labelledby": "chart-summary", class: "chart" },
    s("line", { class: "axis", x1: PAD.left, y1: PAD.top + plotH, x2: WIDTH - PAD.right, y2: PAD.top + plotH }),
    s("text", { class: "tick", x: 2, y: PAD.top + 8 }, String(peak)),
    s("text", { class: "tick", x: 2, y: PAD.top + plotH }, "0"),
    bars,
    ticks,
  );
  const legend = h(
    "ul",
    { class: "legend" },
    h("li", {}, h("span", { class: "swatch swatch-byok", "aria-hidden": "true" }), "BYOK"),
    h("li", {}, h("span", { class: "swatch swatch-shared", "aria-hidden": "true" }), "Shared"),
  );
  replace(container, svg, legend);
}
