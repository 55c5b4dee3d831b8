// The caller's platform token (a JWT the API Gateway authorizer checks). How it arrives:
//  1. the platform opens the console as  /console/#token=<jwt>  : a URL fragment is never sent to a server, so the
//     token is in no access log; the page moves it to sessionStorage and removes it from the address bar at once;
//  2. a platform page on the same origin may set sessionStorage["s1-console.token"] itself before opening /console;
//  3. otherwise the sign-in screen lets the user paste one.
// The token lives only in this tab's sessionStorage (gone when the tab closes) and in memory, never in a cookie or
// localStorage, and is sent only as the Authorization header of same-origin API calls.
const KEY = "s1-console.token";

export function adoptTokenFromFragment() {
  const hash = location.hash.startsWith("#") ? location.hash.slice(1) : "";
  if (!hash || hash.startsWith("/")) return false;
  const params = new URLSearchParams(hash);
  const token = params.get("token") ?? params.get("access_token");
  if (!token) return false;
  setToken(token);
  history.replaceState(null, "", `${location.pathname}${location.search}#/`);
  return true;
}

export function getToken() {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function setToken(token) {
  sessionStorage.setItem(KEY, token.trim());
}

export function clearToken() {
  sessionStorage.removeItem(KEY);
}
