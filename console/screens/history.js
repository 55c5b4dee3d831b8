// Sync history: the last runs as a table and a small bar chart of findings created / updated / failed per run.
import { api, S1 } from "../api.js";
import { h, svg, put } from "../dom.js";
import { badge, count, runCounts, when } from "../format.js";

export const title = "Sync history";

const RUNS = 20;

export async function render(main) {
  const data = await api("GET", `${S1}/sync-runs`, { query: { limit: RUNS } });
  const runs = data.items ?? [];
  if (!runs.length) {
    put(main, h("p", { id: "no-runs" }, "No sync has run yet."));
    return;
  }
  put(main,
    h("h2", { id: "chart-title" }, "Findings per run"),
    chart(runs.slice().reverse()),
    h("h2", {}, `Runs, newest first (${runs.length})`),
    h(
      "table",
      { id: "runs" },
      h("thead", {}, h("tr", {}, ["Started", "Trigger", "Status", "Pages", "Assets created", "Assets updated", "Findings created", "Findings updated", "Failed findings", "Message"].map((l, i) =>
        h("th", { scope: "col", class: i >= 3 && i <= 8 ? "num" : null }, l)))),
      h("tbody", {}, runs.map((run) => {
        const c = runCounts(run);
        return h(
          "tr",
          { "data-run": run.id },
          h("td", {}, when(run.startedAt ?? run.createdAt)),
          h("td", {}, String(run.trigger).replaceAll("_", " ")),
          h("td", {}, badge(run.status)),
          h("td", { class: "num" }, count(run.pages)),
          h("td", { class: "num" }, count(c.assetsCreated)),
          h("td", { class: "num" }, count(c.assetsUpdated)),
          h("td", { class: "num" }, count(c.findingsCreated)),
          h("td", { class: "num" }, count(c.findingsUpdated)),
          h("td", { class: "num" }, count(c.findingsFailed)),
          h("td", {}, run.message ?? ""),
        );
      })),
    ),
  );
}

// Grouped bars, oldest run on the left; inline SVG so it needs no library and obeys the page's CSP.
function chart(runs) {
  const series = [
    ["created", (r) => runCounts(r).findingsCreated],
    ["updated", (r) => runCounts(r).findingsUpdated],
    ["failed", (r) => runCounts(r).findingsFailed],
  ];
  const max = Math.max(1, ...runs.flatMap((r) => series.map(([, f]) => f(r))));
  const width = 640, height = 180, left = 44, bottom = 24, top = 10;
  const slot = (width - left - 10) / runs.length;
  const bar = Math.max(2, Math.min(18, (slot - 6) / 3));
  const y = (v) => top + (height - top - bottom) * (1 - v / max);
  const summary = runs.map((r) => {
    const c = runCounts(r);
    return `${r.id}: ${c.findingsCreated} created, ${c.findingsUpdated} updated, ${c.findingsFailed} failed`;
  }).join("; ");
  const el = svg(
    "svg",
    { class: "chart", id: "runs-chart", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-labelledby": "chart-title chart-desc" },
    svg("desc", { id: "chart-desc" }, `Oldest run first. ${summary}`),
    svg("line", { x1: left, x2: width - 5, y1: y(0), y2: y(0), stroke: "#8c959f" }),
    svg("text", { x: left - 6, y: y(max) + 4, "text-anchor": "end" }, String(max)),
    svg("text", { x: left - 6, y: y(0) + 4, "text-anchor": "end" }, "0"),
    runs.map((r, i) => {
      const x0 = left + i * slot + (slot - 3 * bar) / 2;
      const started = new Date(r.startedAt ?? r.createdAt);
      const label = Number.isNaN(started.getTime()) ? "" : started.toLocaleDateString(undefined, { month: "short", day: "numeric" });
      // Dates under the bars while they fit; the table below names every run anyway.
      const caption = runs.length <= 10 ? svg("text", { x: x0 + 1.5 * bar, y: height - 6, "text-anchor": "middle" }, label) : null;
      return [caption, ...series.map(([name, f], k) => {
        const v = f(r);
        return svg(
          "rect",
          { class: name, x: x0 + k * bar, y: y(v), width: bar - 1, height: Math.max(0, y(0) - y(v)), "data-value": v },
          svg("title", {}, `${r.id}: ${v} findings ${name}`),
        );
      })];
    }),
  );
  const legend = h("p", { class: "legend", "aria-hidden": "true" },
    series.map(([name]) => h("span", {}, h("i", { class: name }), `findings ${name}`)));
  return h("figure", {}, el, legend);
}
