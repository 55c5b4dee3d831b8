// Fallback when the platform handed no token over (see ../auth.js): paste one. It is kept in sessionStorage only.
import { setToken } from "../auth.js";
import { field, h, put } from "../dom.js";

export const title = "Sign in";

export function render(main, { reason, done }) {
  const input = h("input", { type: "password", name: "platform-token", autocomplete: "off", required: true });
  const form = h(
    "form",
    { class: "fields card", "aria-labelledby": "sign-in-title" },
    field({
      id: "platform-token",
      label: "Platform access token",
      input,
      hint: "The platform normally opens this console signed in. Otherwise paste the bearer token (JWT) of your platform session; it stays in this browser tab only.",
    }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Sign in")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!input.value.trim()) return;
    setToken(input.value);
    input.value = "";
    done();
  });
  put(main,
    h("h1", { id: "sign-in-title", tabindex: "-1" }, title),
    reason ? h("p", { class: "message bad", role: "alert" }, reason) : null,
    form,
  );
  input.focus();
}
