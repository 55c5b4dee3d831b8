// The Finding View: GET …/findings with its filters (kind, status, severity, asset, verdict, attached, CVE, state),
// page tokens and a link to each finding in the SentinelOne console. Threats and vulnerabilities share the table:
// each row says its kind; a threat-only filter lists threats, a CVE lists vulnerabilities (the API's kind rule).
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

const isVulnerability = (f) => f.kind === "vulnerability";

// "CVE-2025-0411 in 7-Zip 24.08 (CVSS 7.0)".
function vulnerabilityTitle(f) {
  const app = [f.application?.name, f.application?.version].filter(Boolean).join(" ");
  const score = f.cvss ? ` (CVSS ${f.cvss.baseScore})` : "";
  return `${f.cveId ?? "Vulnerability"}${app ? ` in ${app}` : ""}${score}`;
}

export function render(main, { params }) {
  return pagedList(main, {
    path: `${S1}/findings`,
    caption: "findings",
    initial: Object.fromEntries(params),
    filters: [
      { name: "kind", label: "Kind", kind: "select", options: [["threat", "threats"], ["vulnerability", "vulnerabilities"]] },
      { name: "status", label: "Status", kind: "select", options: [["failed", "failed"], ["passed", "passed"]] },
      { name: "severity", label: "Severity", kind: "select", options: ["critical", "high", "medium", "low", "info"].map((s) => [s, s]) },
      { name: "verdict", label: "Analyst verdict", kind: "select", options: [["true_positive", "true positive"], ["suspicious", "suspicious"], ["undefined", "undefined (no verdict)"], ["false_positive", "false positive"]] },
      { name: "asset", label: "Asset (computer name)", kind: "text" },
      { name: "attached", label: "Asset exists", kind: "select", options: [["true", "yes"], ["false", "not yet (unattached)"]] },
      { name: "cve", label: "CVE id", kind: "text" },
      { name: "state", label: "State", kind: "select", options: ["open", "reopened", "resolved", "closed", "fixed"].map((s) => [s, s]) },
    ],
    columns: [
      { label: "Title", cell: (f) => (isVulnerability(f) ? vulnerabilityTitle(f) : f.title) },
      { label: "Status", cell: (f) => badge(isVulnerability(f) ? f.lifecycle?.state ?? "open" : f.status) },
      { label: "Kind", cell: (f) => f.kind ?? "threat" },
      { label: "Severity", cell: (f) => f.severity },
      { label: "Verdict", cell: (f) => (isVulnerability(f) ? "–" : VERDICTS[f.analystVerdict] ?? String(f.analystVerdict ?? "–").replaceAll("_", " ")) },
      { label: "Asset", cell: (f) => [(isVulnerability(f) ? f.assetKey ?? f.endpointName : f.assetName) || "–", f.attached === false ? " (unattached)" : ""] },
      { label: "Last seen", cell: (f) => when(isVulnerability(f) ? f.lastScanAt ?? f.detectedAt : f.lastSeen) },
      {
        label: "SentinelOne",
        cell: (f) => consoleLink(f.consoleUrl, isVulnerability(f) ? `Open endpoint ${f.endpointName ?? f.endpointId} in SentinelOne` : `Open threat ${f.threatId} in SentinelOne`),
      },
    ],
  });
}
