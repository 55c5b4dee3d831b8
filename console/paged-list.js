// A filtered, paginated table over one of the API's list views. The API pages with opaque, signed page tokens:
// "Next" sends the last page's nextPageToken, "Previous" goes back through the tokens already seen (the API has no
// backwards token). Changing a filter starts again at page 1, since a token is valid only for its filters.
import { api, ApiError } from "./api.js";
import { clear, clearFieldErrors, field, h, showFieldError, put } from "./dom.js";

const PAGE_SIZE = 25;

// filters: [{ name, label, kind: "text" | "select", options?: [[value, label]] }]
// columns: [{ label, cell: (item) => Node | string, num?: bool }]
export function pagedList(main, { path, filters, columns, caption, initial = {} }) {
  const inputs = {};
  const form = h("form", { class: "filters", role: "search", "aria-label": `Filter ${caption}` });
  for (const f of filters) {
    const input =
      f.kind === "select"
        ? h("select", {}, h("option", { value: "" }, "any"), f.options.map(([v, l]) => h("option", { value: v }, l)))
        : h("input", { type: "text", autocomplete: "off" });
    input.value = initial[f.name] ?? "";
    inputs[f.name] = input;
    put(form, field({ id: `filter-${f.name}`, label: f.label, input }));
  }
  put(form, h("button", { type: "submit", class: "primary" }, "Apply filters"));

  const status = h("p", { role: "status", "aria-live": "polite", class: "muted", id: "list-status" });
  const table = h("table", {});
  const prev = h("button", { type: "button", id: "prev-page" }, "Previous page");
  const next = h("button", { type: "button", id: "next-page" }, "Next page");
  const pageLabel = h("span", { id: "page-number" });
  put(main, form, status, table, h("nav", { class: "pager", "aria-label": "Pages" }, prev, pageLabel, next));

  // tokens[i] is the token that fetches page i+1 (page 1 needs none).
  let tokens = [null];
  let page = 0;
  let nextToken = null;

  function query() {
    const q = { limit: PAGE_SIZE };
    for (const f of filters) q[f.name] = inputs[f.name].value.trim();
    if (tokens[page]) q.pageToken = tokens[page];
    return q;
  }

  async function load() {
    prev.disabled = next.disabled = true;
    clearFieldErrors(form);
    status.textContent = "Loading…";
    let data;
    try {
      data = await api("GET", path, { query: query() });
    } catch (e) {
      for (const err of e instanceof ApiError ? e.fieldErrors : []) showFieldError(form, `filter-${err.field}`, err.message);
      status.textContent = `Could not load ${caption}: ${e.message}`;
      status.setAttribute("role", "alert");
      prev.disabled = page === 0;
      return;
    }
    status.setAttribute("role", "status");
    nextToken = data.nextPageToken ?? null;
    const items = data.items ?? [];
    put(clear(table),
      h("caption", { class: "muted" }, `${caption}, page ${page + 1}`, data.source?.state === "disconnected" ? " (from a disconnected source)" : ""),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
      h("tbody", {}, items.map((item) => h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : null }, c.cell(item)))))),
    );
    status.textContent = items.length ? `${items.length} ${caption} on page ${page + 1}${nextToken ? "; more on the next page" : ""}.` : `No ${caption} match.`;
    pageLabel.textContent = `Page ${page + 1}`;
    prev.disabled = page === 0;
    next.disabled = !nextToken;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    tokens = [null];
    page = 0;
    load();
  });
  next.addEventListener("click", () => {
    if (!nextToken) return;
    tokens[page + 1] = nextToken;
    page += 1;
    load();
  });
  prev.addEventListener("click", () => {
    if (page === 0) return;
    page -= 1;
    load();
  });
  return load();
}
