// Custom fields (SentinelOne tags land in the field named like the tag key): list, add, delete.
import { api, ApiError } from "../api.js";
import { clear, clearFieldErrors, field, h, showFieldError, put } from "../dom.js";

export const title = "Custom fields";

const PATH = "/v1/custom-fields";

export async function render(main) {
  const name = h("input", { type: "text", autocomplete: "off", maxlength: "64" });
  const form = h(
    "form",
    { class: "fields card", novalidate: true, "aria-label": "Add a custom field" },
    field({ id: "name", label: "New field name", input: name, hint: "1 to 64 letters, digits, spaces, _ - or . ; unique in any case. A SentinelOne tag whose key equals the name fills it." }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "add-field" }, "Add field")),
  );
  const status = h("div", { role: "status", "aria-live": "polite" });
  const list = h("section", { "aria-label": "Defined custom fields" });
  put(main, form, status, list);

  async function load() {
    const data = await api("GET", PATH);
    const items = data.items ?? [];
    put(clear(list),
      h("h2", {}, `${items.length} field(s)`),
      items.length
        ? h("table", { id: "fields" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, h("span", { class: "muted" }, "Action")))),
          h("tbody", {}, items.map((f) => h("tr", {}, h("td", {}, f.name), h("td", {},
            h("button", { type: "button", class: "danger", "aria-label": `Delete ${f.name}`, onclick: () => remove(f.name) }, "Delete"))))))
        : h("p", {}, "No custom fields yet."),
    );
  }

  async function remove(fieldName) {
    clear(status);
    try {
      await api("DELETE", `${PATH}/${encodeURIComponent(fieldName)}`);
      put(status, h("p", { class: "message ok" }, `Deleted ${fieldName}.`));
    } catch (e) {
      put(status, h("p", { class: "message bad", role: "alert" }, `Delete failed: ${e.message}`));
    }
    await load();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(status);
    clearFieldErrors(form);
    try {
      const created = await api("POST", PATH, { body: { name: name.value } });
      name.value = "";
      put(status, h("p", { class: "message ok" }, `Added ${created.name}.`));
      await load();
    } catch (e) {
      const placed = e instanceof ApiError && e.fieldErrors.some((err) => showFieldError(form, err.field, err.message));
      if (!placed) showFieldError(form, "name", e.message);
      name.focus();
    }
  });

  await load();
}
