// Formatting shared by the screens: times in the browser's locale (UTC kept in the title), counts, run status.
import { h } from "./dom.js";

export function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return h("time", { datetime: d.toISOString(), title: d.toISOString() }, d.toLocaleString());
}

export function badge(status) {
  const s = String(status ?? "unknown");
  return h("span", { class: `badge ${s}` }, s.replaceAll("_", " "));
}

export function count(n) {
  return typeof n === "number" ? n.toLocaleString() : "–";
}

// The run counters the screens show, from a SyncRun as the API returns it (camelCase).
export function runCounts(run) {
  const c = run?.counters ?? {};
  return {
    fetched: c.itemsFetched ?? 0,
    assetsCreated: c.assets?.created ?? 0,
    assetsUpdated: c.assets?.updated ?? 0,
    findingsCreated: c.findings?.created ?? 0,
    findingsUpdated: c.findings?.updated ?? 0,
    findingsFailed: c.findingsFailed ?? 0,
    findingsPassed: c.findingsPassed ?? 0,
  };
}

export function isFinished(run) {
  return ["succeeded", "failed", "partial"].includes(run?.status);
}
