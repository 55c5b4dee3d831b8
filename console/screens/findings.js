// The Finding View: GET …/findings with its filters (status, severity, asset, verdict, attached), page tokens and
// a link to each threat in the SentinelOne console.
import { S1 } from "../api.js";
import { consoleLink } from "../dom.js";
import { badge, when } from "../format.js";
import { pagedList } from "../paged-list.js";

export const title = "Findings";

const VERDICTS = {
  true_positive: "true positive",
  suspicious: "suspicious",
  undefined: "undefined (no verdict)",
  false_positive: "false positive",
};

export function render(main, { params }) {
  return pagedList(main, {
    path: `${S1}/findings`,
    caption: "findings",
    initial: Object.fromEntries(params),
    filters: [
      { name: "status", label: "Status", kind: "select", options: [["failed", "failed"], ["passed", "passed"]] },
      { name: "severity", label: "Severity", kind: "select", options: ["critical", "high", "medium", "low", "info"].map((s) => [s, s]) },
      { name: "verdict", label: "Analyst verdict", kind: "select", options: [["true_positive", "true positive"], ["suspicious", "suspicious"], ["undefined", "undefined (no verdict)"], ["false_positive", "false positive"]] },
      { name: "asset", label: "Asset (computer name)", kind: "text" },
      { name: "attached", label: "Asset exists", kind: "select", options: [["true", "yes"], ["false", "not yet (unattached)"]] },
    ],
    columns: [
      { label: "Title", cell: (f) => f.title },
      { label: "Status", cell: (f) => badge(f.status) },
      { label: "Severity", cell: (f) => f.severity },
      { label: "Verdict", cell: (f) => VERDICTS[f.analystVerdict] ?? String(f.analystVerdict ?? "–").replaceAll("_", " ") },
      { label: "Asset", cell: (f) => [f.assetName || "–", f.attached === false ? " (unattached)" : ""] },
      { label: "Last seen", cell: (f) => when(f.lastSeen) },
      { label: "SentinelOne", cell: (f) => consoleLink(f.consoleUrl, `Open threat ${f.threatId} in SentinelOne`) },
    ],
  });
}
