// The Asset View: GET …/assets with its filters (name prefix, active), page tokens, a link to each agent.
import { S1 } from "../api.js";
import { consoleLink, h } from "../dom.js";
import { badge, when } from "../format.js";
import { pagedList } from "../paged-list.js";

export const title = "Assets";

export function render(main, { params }) {
  return pagedList(main, {
    path: `${S1}/assets`,
    caption: "assets",
    initial: Object.fromEntries(params),
    filters: [
      { name: "name", label: "Computer name starts with", kind: "text" },
      { name: "active", label: "Active", kind: "select", options: [["true", "active"], ["false", "inactive"]] },
    ],
    columns: [
      { label: "Name", cell: (a) => a.name },
      { label: "State", cell: (a) => badge(a.active ? "active" : "inactive") },
      { label: "OS", cell: (a) => [a.osName ?? "–", a.osVersion ? ` ${a.osVersion}` : ""] },
      { label: "IPv4", cell: (a) => (a.ipv4 ?? []).join(", ") || "–" },
      { label: "Group", cell: (a) => a.groupName ?? "–" },
      { label: "Last seen", cell: (a) => when(a.lastSeen) },
      { label: "Open vulnerabilities", cell: (a) => openVulnerabilities(a.openVulnerabilities) },
      { label: "Custom fields", cell: (a) => Object.entries(a.customFields ?? {}).map(([k, v]) => h("div", {}, `${k}: ${v}`)) },
      { label: "SentinelOne", cell: (a) => consoleLink(a.consoleUrl, `Open ${a.name} in SentinelOne`) },
    ],
  });
}

// "2 critical, 5 high" (the non-zero severities), or "none".
function openVulnerabilities(counts) {
  const parts = ["critical", "high", "medium", "low", "info"].filter((s) => (counts?.[s] ?? 0) > 0).map((s) => `${counts[s]} ${s}`);
  return parts.length ? parts.join(", ") : "none";
}
