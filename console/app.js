// The console's shell: a hash router over one module per screen. A later screen (unmatched agents, dry run,
// vulnerabilities) is one more module in screens/ and one more line in SCREENS; nothing else changes.
import { adoptTokenFromFragment, clearToken, getToken } from "./auth.js";
import { onUnauthorized } from "./api.js";
import { clear, h, put } from "./dom.js";
import * as signIn from "./screens/sign-in.js";
import * as overview from "./screens/overview.js";
import * as settings from "./screens/settings.js";
import * as history from "./screens/history.js";
import * as assets from "./screens/assets.js";
import * as findings from "./screens/findings.js";
import * as customFields from "./screens/custom-fields.js";

// route -> screen module. Each module exports `title` and `render(main, ctx)`, which may return a cleanup function
// (e.g. to stop polling) that runs when the user leaves the screen.
const SCREENS = [
  ["", overview],
  ["settings", settings],
  ["history", history],
  ["assets", assets],
  ["findings", findings],
  ["custom-fields", customFields],
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const signOut = document.getElementById("sign-out");
let cleanup = null;
let forcedSignIn = null;

function currentRoute() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = hash.split("?");
  return { path, params: new URLSearchParams(query) };
}

function renderNav(active) {
  clear(nav);
  for (const [route, screen] of SCREENS) {
    put(nav,
      h("a", { href: `#/${route}`, "aria-current": route === active ? "page" : null }, screen.title),
    );
  }
}

async function show() {
  if (cleanup) {
    try {
      cleanup();
    } catch {
      /* a screen's cleanup must not stop navigation */
    }
    cleanup = null;
  }
  clear(main);
  const signedIn = Boolean(getToken()) && !forcedSignIn;
  signOut.hidden = !signedIn;
  if (!signedIn) {
    clear(nav);
    document.title = `${signIn.title} · SentinelOne connector`;
    signIn.render(main, { reason: forcedSignIn, done: () => { forcedSignIn = null; show(); } });
    return;
  }
  const { path, params } = currentRoute();
  const entry = SCREENS.find(([route]) => route === path) ?? SCREENS[0];
  const [route, screen] = entry;
  renderNav(route);
  document.title = `${screen.title} · SentinelOne connector`;
  const heading = h("h1", { tabindex: "-1" }, screen.title);
  put(main, heading);
  main.dataset.screen = route || "overview";
  try {
    cleanup = (await screen.render(main, { params, navigate })) ?? null;
  } catch (error) {
    // A refused token re-renders the sign-in screen itself (onUnauthorized); anything else is said on the screen.
    if (error?.status === 401) return;
    put(main, h("p", { class: "message bad", role: "alert" }, `This screen could not load: ${error.message}`));
  }
  // Keyboard and screen-reader users land on the new screen's heading, not on the link they left.
  if (document.activeElement === document.body || nav.contains(document.activeElement)) heading.focus();
}

export function navigate(route) {
  if (location.hash === `#/${route}`) show();
  else location.hash = `#/${route}`;
}

onUnauthorized((error) => {
  forcedSignIn = error.message || "The platform refused the token.";
  show();
});

signOut.addEventListener("click", () => {
  clearToken();
  show();
});

adoptTokenFromFragment();
window.addEventListener("hashchange", show);
show();
