// Builds DOM nodes from data. Every text goes through text nodes and every attribute through setAttribute, so
// nothing the API returns can ever become markup or script (no module parses HTML strings; a unit test of
// functions/console-assets checks for the usual sinks).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "value") el.value = value;
    else if (key === "checked") el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const SVG = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// A link to a record in the SentinelOne console: only http(s) URLs become links (never javascript: or data:), and
// they open in a new tab without telling the console where they came from.
export function consoleLink(url, label = "Open in SentinelOne") {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return h("span", { class: "muted" }, "–");
    // Short visible text in a narrow column; the accessible name says which record it opens.
    return h("a", { href: parsed.href, target: "_blank", rel: "noopener noreferrer", "aria-label": label, title: label }, "Open ↗");
  } catch {
    return h("span", { class: "muted" }, "–");
  }
}

// A labelled form field with a hint and an error slot the screen fills from the API's problem+json.
export function field({ id, label, input, hint }) {
  const error = h("p", { class: "error", id: `${id}-error`, hidden: true });
  const hintEl = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  input.id = id;
  input.setAttribute("aria-describedby", [hintEl ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(" "));
  return h("div", { class: "field", "data-field": id }, h("label", { for: id }, label), input, hintEl, error);
}

export function showFieldError(container, fieldId, message) {
  const error = container.querySelector(`#${fieldId}-error`);
  const input = container.querySelector(`#${fieldId}`);
  if (!error) return false;
  error.textContent = message;
  error.hidden = false;
  if (input) input.setAttribute("aria-invalid", "true");
  return true;
}

export function clearFieldErrors(container) {
  for (const e of container.querySelectorAll(".field .error")) {
    e.textContent = "";
    e.hidden = true;
  }
  for (const i of container.querySelectorAll("[aria-invalid]")) i.removeAttribute("aria-invalid");
}

// Element.append with the same rules as h(): null, undefined and false children are skipped (the DOM's own append
// would print them as text).
export function put(el, ...children) {
  return append(el, children);
}
