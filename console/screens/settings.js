// The configuration form: every field of PUT …/config with its default, Test connection (one line per check) and
// Save. Field errors come from the API's problem+json (`errors[].field`) and are shown beside their field; the API
// token is write-only: the form shows only whether one is set and never receives it back.
import { api, ApiError, S1 } from "../api.js";
import { clear, clearFieldErrors, field, h, showFieldError, put } from "../dom.js";
import { badge, when } from "../format.js";
import { EXPIRY_KEY } from "./overview.js";

export const title = "Settings";

const VERDICTS = [
  ["true_positive", "True positive"],
  ["suspicious", "Suspicious"],
  ["undefined", "Undefined (no verdict yet)"],
  ["false_positive", "False positive"],
];
// The API's defaults for a first save (docs/openapi.yaml, PUT …/config).
const DEFAULTS = {
  consoleUrl: "",
  analystVerdicts: ["true_positive", "suspicious", "undefined"],
  autoSyncDays: null,
  autoOnboard: true,
  updateMetadata: true,
  groupNames: [],
  importVulnerabilities: true,
  minimumVulnerabilitySeverity: "low",
  tokenSet: false,
};
// The severities a minimum may name (SentinelOne's four; `info` is refused by the API).
const SEVERITIES = [
  ["critical", "Critical"],
  ["high", "High"],
  ["medium", "Medium"],
  ["low", "Low"],
];

const CHECK_NAMES = {
  url_allowed: "URL allowed",
  console_reachable: "Console reachable",
  token_accepted: "Token accepted",
  permission_agents: "Can read agents",
  permission_threats: "Can read threats",
  permission_groups: "Can read groups",
  permission_vulnerabilities: "Can read vulnerabilities",
  token_expiry: "Token expiry",
  groups_resolved: "Groups found",
};

export async function render(main) {
  let stored = null;
  try {
    stored = await api("GET", `${S1}/config`);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }
  const current = { ...DEFAULTS, ...(stored ?? {}) };

  const consoleUrl = h("input", { type: "text", inputmode: "url", autocomplete: "off", spellcheck: "false", value: current.consoleUrl });
  const apiToken = h("input", { type: "password", autocomplete: "new-password", spellcheck: "false" });
  const tokenState = h("span", { id: "token-state" }, current.tokenSet ? "set" : "not set");
  const advice = (set) => (set ? "; leave blank to keep it." : "; required for the first save.");
  const tokenAdvice = h("span", {}, advice(current.tokenSet));
  const verdictBoxes = VERDICTS.map(([value, label]) =>
    h("label", {}, h("input", { type: "checkbox", name: "analystVerdicts", value, checked: current.analystVerdicts.includes(value) }), label),
  );
  const autoSyncDays = h("input", { type: "number", min: "0", max: "30", step: "1", value: current.autoSyncDays ?? "" });
  const autoOnboard = h("input", { type: "checkbox", checked: current.autoOnboard });
  const updateMetadata = h("input", { type: "checkbox", checked: current.updateMetadata });
  const groupNames = h("input", { type: "text", autocomplete: "off", value: (current.groupNames ?? []).join(", ") });
  const importVulnerabilities = h("input", { type: "checkbox", checked: current.importVulnerabilities });
  const minimumVulnerabilitySeverity = h(
    "select",
    {},
    SEVERITIES.map(([value, label]) => h("option", { value, selected: value === current.minimumVulnerabilitySeverity }, label)),
  );

  const verdictError = h("p", { class: "error", id: "analystVerdicts-error", hidden: true });
  const form = h(
    "form",
    { class: "fields card", novalidate: true, "aria-label": "SentinelOne configuration" },
    field({ id: "consoleUrl", label: "Console URL", input: consoleUrl, hint: "Your console's address, e.g. https://usea1-acme.sentinelone.net (https only; a pasted path is removed)." }),
    field({
      id: "apiToken",
      label: "API token",
      input: apiToken,
      hint: h("span", {}, "Service-user token with the Viewer role. Currently ", tokenState,
        current.tokenUpdatedAt ? [" (changed ", when(current.tokenUpdatedAt), ")"] : null,
        tokenAdvice),
    }),
    h(
      "div",
      { class: "field", "data-field": "analystVerdicts" },
      h(
        "fieldset",
        { id: "analystVerdicts", "aria-describedby": "analystVerdicts-hint analystVerdicts-error" },
        h("legend", {}, "Verdicts that make a threat a failed finding"),
        verdictBoxes,
      ),
      h("p", { class: "hint", id: "analystVerdicts-hint" }, "Default: true positive, suspicious, undefined (everything not called a false positive)."),
      verdictError,
    ),
    field({ id: "autoSyncDays", label: "Auto-sync interval (days)", input: autoSyncDays, hint: "1 to 30 days between scheduled syncs (01:15 UTC); 0 or blank turns auto-sync off. Default: off." }),
    h("div", { class: "field checkbox", "data-field": "autoOnboard" },
      h("label", {}, autoOnboard, "Auto-onboard: create assets for machines the platform does not have"),
      h("p", { class: "hint" }, "Default: on."), h("p", { class: "error", id: "autoOnboard-error", hidden: true })),
    h("div", { class: "field checkbox", "data-field": "updateMetadata" },
      h("label", {}, updateMetadata, "Update metadata: let SentinelOne overwrite existing assets' details"),
      h("p", { class: "hint" }, "Default: on."), h("p", { class: "error", id: "updateMetadata-error", hidden: true })),
    field({ id: "groupNames", label: "Group names", input: groupNames, hint: "Only these groups, comma-separated. Blank = all groups (default)." }),
    h("div", { class: "field checkbox", "data-field": "importVulnerabilities" },
      h("label", {}, importVulnerabilities, "Import vulnerabilities: SentinelOne's application vulnerabilities (CVEs) as findings"),
      h("p", { class: "hint" }, "Needs the Applications Page.viewRisks permission. Default: on."),
      h("p", { class: "error", id: "importVulnerabilities-error", hidden: true })),
    field({
      id: "minimumVulnerabilitySeverity",
      label: "Minimum vulnerability severity",
      input: minimumVulnerabilitySeverity,
      hint: "Vulnerabilities below this severity are not imported. Default: low (everything SentinelOne rates).",
    }),
  );
  autoOnboard.id = "autoOnboard";
  updateMetadata.id = "updateMetadata";
  autoOnboard.setAttribute("aria-describedby", "autoOnboard-error");
  updateMetadata.setAttribute("aria-describedby", "updateMetadata-error");
  importVulnerabilities.id = "importVulnerabilities";
  importVulnerabilities.setAttribute("aria-describedby", "importVulnerabilities-error");

  const testButton = h("button", { type: "button", id: "test-connection" }, "Test connection");
  const saveButton = h("button", { type: "submit", class: "primary", id: "save" }, "Save");
  put(form, h("div", { class: "actions" }, testButton, saveButton));
  const outcome = h("div", { id: "outcome", role: "status", "aria-live": "polite" });
  const report = h("section", { id: "connection-report", "aria-label": "Connection test" });
  put(main, form, outcome, report);

  function autoSyncValue() {
    const raw = autoSyncDays.value.trim();
    if (raw === "") return null;
    // Anything that is not a whole number goes to the API as typed, so its error message is the one shown.
    return /^-?\d+$/.test(raw) ? Number(raw) : raw;
  }

  function body({ forTest }) {
    const b = {
      consoleUrl: consoleUrl.value.trim(),
      groupNames: groupNames.value,
    };
    if (apiToken.value !== "") b.apiToken = apiToken.value;
    if (!forTest) {
      b.analystVerdicts = verdictBoxes.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
      b.autoSyncDays = autoSyncValue();
      b.autoOnboard = autoOnboard.checked;
      b.updateMetadata = updateMetadata.checked;
      b.importVulnerabilities = importVulnerabilities.checked;
      b.minimumVulnerabilitySeverity = minimumVulnerabilitySeverity.value;
    }
    return b;
  }

  function showProblem(e, action) {
    let unplaced = [];
    for (const err of e instanceof ApiError ? e.fieldErrors : []) {
      if (!showFieldError(form, err.field, err.message)) unplaced.push(`${err.field}: ${err.message}`);
    }
    const first = form.querySelector("[aria-invalid=true]");
    put(outcome,
      h("p", { class: "message bad", role: "alert" }, `${action} failed: ${e.message}`, unplaced.length ? h("ul", {}, unplaced.map((u) => h("li", {}, u))) : null),
    );
    if (first) first.focus();
  }

  function showReport(result) {
    clear(report);
    if (!result) return;
    put(report,
      h("h2", {}, "Connection test ", badge(result.passed ? "passed" : "failed")),
      h(
        "ul",
        { class: "checks" },
        (result.checks ?? []).map((c) =>
          h("li", { "data-check": c.check, "data-status": c.status }, h("span", { class: "name" }, CHECK_NAMES[c.check] ?? c.check), " ", badge(c.status), " ", c.detail),
        ),
      ),
    );
    const expiry = (result.checks ?? []).find((c) => c.check === "token_expiry");
    if (expiry && expiry.status !== "skipped") sessionStorage.setItem(EXPIRY_KEY, expiry.detail);
  }

  async function busy(button, work) {
    testButton.disabled = saveButton.disabled = true;
    clearFieldErrors(form);
    clear(outcome);
    const label = button.textContent;
    button.textContent = `${label}…`;
    try {
      await work();
    } finally {
      button.textContent = label;
      testButton.disabled = saveButton.disabled = false;
    }
  }

  testButton.addEventListener("click", () =>
    busy(testButton, async () => {
      try {
        showReport(await api("POST", `${S1}/test-connection`, { body: body({ forTest: true }) }));
      } catch (e) {
        showProblem(e, "Test connection");
      }
    }),
  );

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(saveButton, async () => {
      try {
        const saved = await api("PUT", `${S1}/config`, { body: body({ forTest: false }) });
        // The typed token has done its job: drop it from the page at once.
        apiToken.value = "";
        tokenState.textContent = saved.config?.tokenSet ? "set" : "not set";
        tokenAdvice.textContent = advice(saved.config?.tokenSet);
        showReport(saved.connectionTest);
        put(outcome,
          h("p", { class: "message ok", id: "saved" }, "Saved.", saved.reevaluation?.runId ? " Stored findings are re-evaluated under the new verdict list by the queued run." : ""),
        );
      } catch (e) {
        if (e instanceof ApiError && e.problem.connectionTest) showReport(e.problem.connectionTest);
        showProblem(e, "Save");
      }
    });
  });
}
