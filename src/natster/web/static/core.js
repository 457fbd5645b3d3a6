// What every view shares: the DOM helper, the /api caller, formats, the status line and
// toasts. Peer-controlled text only ever goes through text nodes (never innerHTML).
export const hosted = document.documentElement.dataset.mode === "hosted";
export const state = { me: null, library: [], view: null, route: 0 }; // route: the latest
export const hooks = { signIn: null }; // set by app.js: the hub's app signs in again on a 401
const main = document.getElementById("main");
const statusLine = document.getElementById("status");

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "style")
      node.style.cssText = value; // CSSOM: allowed by the page's CSP
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function size(bytes) {
  if (bytes === null || bytes === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes,
    unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600),
    m = Math.floor((s % 3600) / 60),
    rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

export function day(unix) {
  if (!Number.isSafeInteger(unix)) return "–";
  return new Date(unix * 1000).toLocaleDateString(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
  });
}

export const short = (key) => key.slice(0, 8) + "…";
export const enc = encodeURIComponent;
export const baseName = (path) => path.slice(path.lastIndexOf("/") + 1);
export const canChange = () => !state.me || state.me.rights !== "read-only";

export async function call(method, url, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && state.me) headers["X-Natster-CSRF"] = state.me.csrf;
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401) {
      if (hosted && hooks.signIn) {
        hooks.signIn(typeof data.error === "string" ? data.error : "");
        throw new Error("sign in first");
      }
      location.reload();
    }
    const message =
      typeof data.error === "string"
        ? data.error
        : data.detail
          ? "the request was not valid"
          : `error ${response.status}`;
    throw new Error(message);
  }
  return data;
}

export function say(message) {
  statusLine.textContent = message || "";
}

/** Put a view on the page, unless the URL moved on while it was loading (``route``:
the navigation it belongs to; a later one wins). */
export function show(...nodes) {
  // replaceChildren would show a null as the text "null": none of them go in
  main.replaceChildren(...nodes.flat().filter((node) => node !== null && node !== undefined));
}
export const stale = (route) => route !== state.route;

const toasts = document.body.appendChild(
  el("div", { class: "toasts", role: "status", "aria-live": "polite" }),
);

/** A short notice in a corner that goes away by itself (a catalog came online...). */
export function toast(message) {
  const note = el("div", { class: "toast" }, message);
  toasts.append(note);
  while (toasts.children.length > 3) toasts.firstChild.remove();
  setTimeout(() => note.remove(), 6000);
}

/** The catalog named in the URL: its card in my library, if it is there. */
export function libraryItem(owner, catalog) {
  return state.library.find((c) => c.owner === owner && c.catalog === catalog) || null;
}

export function dot(item) {
  return el("span", {
    class: item.online ? "dot online" : "dot",
    "data-dot": `${item.owner}/${item.catalog}`,
    role: "img",
    "aria-label": item.online ? "online" : "offline",
    title: item.online ? "online" : "offline",
  });
}

/** Where a file's thumbnail is asked for (made and sealed on its owner's machine). */
export const thumbUrl = (owner, catalog, hash) => `/api/thumbs/${enc(owner)}/${enc(catalog)}/${hash}`;
export const fileUrl = (owner, catalog, entry) =>
  `/api/files/${enc(owner)}/${enc(catalog)}/${entry.hash}?mime=${enc(entry.mime || "")}`;

/** image, video, audio, text, pdf or other: how a file is shown. */
export function kindOf(mime) {
  const type = mime || "";
  if (type.startsWith("video/")) return "video";
  if (type.startsWith("audio/")) return "audio";
  if (type.startsWith("image/") && type !== "image/svg+xml") return "image";
  if (type === "application/pdf") return "pdf";
  if (type.startsWith("text/") || type === "application/json") return "text";
  return "other";
}

const ICONS = { folder: "📁", video: "🎞", audio: "🎵", image: "🖼", pdf: "📄", text: "📄", other: "📦" };
export const icon = (kind) => ICONS[kind] || ICONS.other;
