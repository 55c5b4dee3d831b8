// The integration card: connected or not, console URL, token, schedule, last sync; Sync now with live progress of
// the run (polled from its sync-run view) and Disconnect behind a confirmation.
import { api, ApiError, S1 } from "../api.js";
import { clear, h, put } from "../dom.js";
import { badge, count, isFinished, runCounts, when } from "../format.js";

export const title = "Overview";

const POLL_MS = 1000;

// What the last connection test said about the token's expiry (the API tells it only there); see settings.js.
export const EXPIRY_KEY = "s1-console.tokenExpiry";

export async function render(main, { navigate }) {
  const card = h("section", { class: "card", "aria-labelledby": "card-title" });
  const progress = h("section", { class: "card progress", "aria-labelledby": "progress-title", hidden: true });
  const status = h("div", { role: "status", "aria-live": "polite" });
  put(main, card, progress, status);
  let timer = null;
  let stopped = false;

  async function load() {
    clear(card);
    let config = null;
    try {
      config = await api("GET", `${S1}/config`);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    }
    let last = null;
    try {
      last = (await api("GET", `${S1}/sync-runs`, { query: { limit: 1 } })).items?.[0] ?? null;
    } catch {
      last = null;
    }
    put(card, h("h2", { id: "card-title" }, "SentinelOne"));
    if (!config) {
      put(card,
        h("p", {}, badge("not connected"), " No SentinelOne console is configured for this tenant."),
        h("div", { class: "actions" }, h("button", { type: "button", class: "primary", onclick: () => navigate("settings") }, "Configure")),
      );
      appendLastSync(card, last);
      return null;
    }
    const expiry = sessionStorage.getItem(EXPIRY_KEY);
    put(card,
      h("p", { id: "connection-state" }, badge("connected")),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Console URL"), h("dd", { id: "card-console-url" }, config.consoleUrl),
        h("dt", {}, "API token"), h("dd", {}, config.tokenSet ? "set" : "not set", config.tokenUpdatedAt ? [" · changed ", when(config.tokenUpdatedAt)] : null),
        h("dt", {}, "Token expiry"), h("dd", {}, expiry ?? "unknown (run Test connection on Settings to check it)"),
        h("dt", {}, "Auto-sync"), h("dd", {}, config.autoSyncDays ? `every ${config.autoSyncDays} day(s)` : "off"),
        h("dt", {}, "Next scheduled sync"), h("dd", { id: "card-next-sync" }, config.nextSyncDueAt ? when(config.nextSyncDueAt) : "none scheduled"),
        h("dt", {}, "Groups"), h("dd", {}, config.groupNames?.length ? config.groupNames.join(", ") : "all groups"),
      ),
    );
    appendLastSync(card, last);
    const syncButton = h("button", { type: "button", class: "primary", id: "sync-now", onclick: () => syncNow(syncButton) }, "Sync now");
    put(card,
      h(
        "div",
        { class: "actions" },
        syncButton,
        h("button", { type: "button", onclick: () => navigate("settings") }, "Edit configuration"),
        h("button", { type: "button", class: "danger", id: "disconnect", onclick: confirmDisconnect }, "Disconnect"),
      ),
    );
    return last;
  }

  function appendLastSync(el, run) {
    put(el, h("h2", {}, "Last sync"));
    if (!run) {
      put(el, h("p", { id: "last-sync" }, "No sync has run yet."));
      return;
    }
    const c = runCounts(run);
    put(el,
      h(
        "p",
        { id: "last-sync" },
        badge(run.status), " ", when(run.finishedAt ?? run.startedAt ?? run.createdAt),
        ` · assets ${count(c.assetsCreated)} created, ${count(c.assetsUpdated)} updated · findings ${count(c.findingsCreated)} created, ${count(c.findingsUpdated)} updated, ${count(c.findingsFailed)} failed`,
      ),
      run.message ? h("p", { class: "muted" }, run.message) : null,
    );
  }

  async function syncNow(button) {
    button.disabled = true;
    clear(status);
    try {
      const accepted = await api("POST", `${S1}/sync`);
      follow(accepted.runId);
    } catch (e) {
      if (e instanceof ApiError && e.status === 409 && e.problem.runningRunId) {
        put(status, h("p", { class: "message" }, "A sync is already running; following it."));
        follow(e.problem.runningRunId);
      } else {
        put(status, h("p", { class: "message bad", role: "alert" }, `Sync now failed: ${e.message}`));
        button.disabled = false;
      }
    }
  }

  function follow(runId) {
    progress.hidden = false;
    const poll = async () => {
      if (stopped) return;
      let run;
      try {
        run = await api("GET", `${S1}/sync-runs/${encodeURIComponent(runId)}`);
      } catch (e) {
        put(clear(progress), h("p", { class: "message bad", role: "alert" }, `Could not read the run: ${e.message}`));
        return;
      }
      drawProgress(run);
      if (isFinished(run)) {
        await load();
        drawProgress(run);
      } else {
        timer = setTimeout(poll, POLL_MS);
      }
    };
    poll();
  }

  function drawProgress(run) {
    const c = runCounts(run);
    const done = isFinished(run);
    put(clear(progress),
      h("h2", { id: "progress-title" }, done ? "Sync finished" : "Sync in progress"),
      h("p", { id: "run-status", "data-status": run.status }, badge(run.status), " run ", h("code", {}, run.id)),
      done ? null : h("progress", { "aria-label": "Sync running" }),
      h(
        "dl",
        { class: "facts", id: "run-progress" },
        h("dt", {}, "Phase"), h("dd", { id: "run-phase" }, run.phase ?? (done ? "done" : "waiting for the worker")),
        h("dt", {}, "Pages"), h("dd", { id: "run-pages" }, count(run.pages)),
        h("dt", {}, "Records fetched"), h("dd", {}, count(c.fetched)),
        h("dt", {}, "Assets"), h("dd", { id: "run-assets" }, `${count(c.assetsCreated)} created, ${count(c.assetsUpdated)} updated`),
        h("dt", {}, "Findings"), h("dd", { id: "run-findings" }, `${count(c.findingsCreated)} created, ${count(c.findingsUpdated)} updated, ${count(c.findingsFailed)} failed, ${count(c.findingsPassed)} passed`),
      ),
      run.message ? h("p", { class: done && run.status !== "succeeded" ? "message bad" : "message" }, run.message) : null,
      (run.warnings ?? []).length ? h("ul", {}, run.warnings.map((w) => h("li", { class: "warning" }, w))) : null,
    );
  }

  function confirmDisconnect() {
    const dialog = h(
      "dialog",
      { "aria-labelledby": "disconnect-title", id: "disconnect-dialog" },
      h("h2", { id: "disconnect-title" }, "Disconnect SentinelOne?"),
      h("p", {}, "The API token and the configuration are deleted. Imported assets and findings stay, marked as from a disconnected source."),
      // Plain buttons (no method="dialog" form): Escape and Cancel both close it with nothing done.
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", autofocus: true, onclick: () => dialog.close("cancel") }, "Cancel"),
        h("button", { type: "button", class: "danger", id: "confirm-disconnect", onclick: () => dialog.close("confirm") }, "Disconnect"),
      ),
    );
    dialog.addEventListener("close", async () => {
      const confirmed = dialog.returnValue === "confirm";
      dialog.remove();
      if (!confirmed) return;
      clear(status);
      try {
        await api("DELETE", `${S1}/config`);
        sessionStorage.removeItem(EXPIRY_KEY);
        put(status, h("p", { class: "message ok" }, "Disconnected. Imported data was kept."));
        progress.hidden = true;
        await load();
      } catch (e) {
        put(status, h("p", { class: "message bad", role: "alert" }, `Disconnect failed: ${e.message}`));
      }
    });
    put(main, dialog);
    dialog.showModal();
  }

  const last = await load();
  // A run still going when the screen opens is followed right away.
  if (last && !isFinished(last)) follow(last.id);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
