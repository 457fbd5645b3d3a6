"use strict";
// natster web UI: plain DOM, no build step. Peer-controlled text only ever goes
// through textContent (never innerHTML). One page for both: the local `natster web`
// (its Python server answers /api) and the hub's web app (a service worker, sw.js,
// answers the same /api over NATS in the browser; data-mode="hosted" on <html>).

const hosted = document.documentElement.dataset.mode === "hosted";
const state = { me: null, library: [], view: null };
const main = document.getElementById("main");
const statusLine = document.getElementById("status");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value; // CSSOM: allowed by the page's CSP
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function size(bytes) {
  if (bytes === null || bytes === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

const short = (key) => key.slice(0, 8) + "…";
const enc = encodeURIComponent;

async function call(method, url, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && state.me) headers["X-Natster-CSRF"] = state.me.csrf;
  const response = await fetch(url, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401) {
      if (hosted) { signIn(typeof data.error === "string" ? data.error : ""); throw new Error("sign in first"); }
      location.reload();
    }
    const message = typeof data.error === "string" ? data.error
      : (data.detail ? "the request was not valid" : `error ${response.status}`);
    throw new Error(message);
  }
  return data;
}

function say(message) { statusLine.textContent = message || ""; }

function show(...nodes) {
  main.replaceChildren(...nodes);
}

// --- library ---------------------------------------------------------------------------
async function renderLibrary() {
  state.library = await call("GET", "/api/catalogs");
  const mine = state.library.filter((c) => c.mine);
  const theirs = state.library.filter((c) => !c.mine && c.imported);
  const inbox = state.library.filter((c) => !c.mine && !c.imported);
  show(
    el("h1", {}, "Library"),
    el("h2", {}, "My catalogs"),
    mine.length ? el("div", { class: "cards" }, mine.map(myCard))
      : el("p", { class: "muted" }, "No catalogs yet: make one with `natster catalog new NAME FOLDER`."),
    el("h2", {}, "Shared with me"),
    theirs.length ? el("div", { class: "cards" }, theirs.map(sharedCard))
      : el("p", { class: "muted" }, "Nothing imported yet."),
    el("h2", { id: "inbox" }, "Inbox"),
    inbox.length ? el("div", { class: "cards" }, inbox.map(inboxCard))
      : el("p", { class: "muted" }, "Your inbox is empty: catalogs shared with you appear here."),
  );
}

function dot(item) {
  return el("span", {
    class: item.online ? "dot online" : "dot",
    "data-dot": `${item.owner}/${item.catalog}`,
    role: "img",
    "aria-label": item.online ? "online" : "offline",
    title: item.online ? "online" : "offline",
  });
}

function counts(item) {
  return el("p", { class: "muted" },
    item.files === null ? "offline: contents unknown" : `${item.files} files · ${size(item.bytes)}`);
}

function from(item) {
  return el("p", {}, "from ", item.owner_name ? el("strong", {}, item.owner_name) : null, " ",
    el("span", { class: "key", title: item.owner }, short(item.owner)));
}

function catalogLink(item) {
  return el("a", { href: `#/c/${enc(item.owner)}/${enc(item.catalog)}` }, item.alias);
}

const canChange = () => !state.me || state.me.rights !== "read-only";

function myCard(item) {
  if (!canChange()) {
    return el("article", { class: "card", "data-catalog": item.catalog },
      el("h3", {}, dot(item), catalogLink(item)),
      item.description ? el("p", {}, item.description) : null,
      counts(item),
      el("p", { class: "muted" }, item.shared_with.length
        ? `Shared with ${item.shared_with.length} account${item.shared_with.length > 1 ? "s" : ""}.` : "Not shared with anyone."));
  }
  const input = el("input", { type: "text", placeholder: "account key (A…)", "aria-label": `Share ${item.catalog} with account` });
  const form = el("form", { class: "inline", onsubmit: async (event) => {
    event.preventDefault();
    try { await call("POST", `/api/catalogs/${enc(item.catalog)}/shares`, { account: input.value.trim() });
      say(""); await renderLibrary(); } catch (error) { say(error.message); }
  } }, input, el("button", { type: "submit" }, "Share"));
  return el("article", { class: "card", "data-catalog": item.catalog },
    el("h3", {}, dot(item), catalogLink(item)),
    item.description ? el("p", {}, item.description) : null,
    counts(item),
    item.shared_with.length ? el("ul", { class: "plain", "aria-label": "Shared with" },
      item.shared_with.map((who) => el("li", {}, el("span", { class: "key", title: who }, short(who)),
        el("button", { class: "plain", type: "button", "aria-label": `Unshare with ${who}`, onclick: async () => {
          try { await call("DELETE", `/api/catalogs/${enc(item.catalog)}/shares/${enc(who)}`);
            say(""); await renderLibrary(); } catch (error) { say(error.message); }
        } }, "Unshare"))))
      : el("p", { class: "muted" }, "Not shared with anyone."),
    form,
  );
}

function sharedCard(item) {
  return el("article", { class: "card", "data-catalog": item.catalog },
    el("h3", {}, dot(item), catalogLink(item)),
    from(item),
    item.description ? el("p", {}, item.description) : null,
    counts(item),
  );
}

function inboxCard(item) {
  return el("article", { class: "card", "data-inbox": item.catalog },
    el("h3", {}, dot(item), item.catalog),
    from(item),
    !canChange() ? el("p", { class: "muted" }, "Import it from a signed-in machine: this browser is read-only.") : el("button", { type: "button", onclick: async (event) => {
      event.target.disabled = true;
      try { await call("POST", "/api/imports", { owner: item.owner, catalog: item.catalog });
        say(""); await renderLibrary(); } catch (error) { say(error.message); event.target.disabled = false; }
    } }, `Import ${item.catalog}`),
  );
}

// --- one catalog -------------------------------------------------------------------------
async function renderCatalog(owner, catalog, prefix, query) {
  const item = state.library.find((c) => c.owner === owner && c.catalog === catalog)
    || (await call("GET", "/api/catalogs")).find((c) => c.owner === owner && c.catalog === catalog);
  const crumbs = el("nav", { class: "crumbs", "aria-label": "Folder" },
    el("a", { href: `#/c/${enc(owner)}/${enc(catalog)}` }, item ? item.alias : catalog));
  let path = "";
  for (const part of prefix.split("/").filter(Boolean)) {
    path += part + "/";
    crumbs.append(" / ", el("a", { href: `#/c/${enc(owner)}/${enc(catalog)}?prefix=${enc(path)}` }, part));
  }
  const search = el("input", { type: "search", value: query, placeholder: "Search this catalog", "aria-label": "Search" });
  const toolbar = el("form", { class: "toolbar", role: "search", onsubmit: (event) => {
    event.preventDefault();
    location.hash = `#/c/${enc(owner)}/${enc(catalog)}?prefix=${enc(prefix)}&q=${enc(search.value)}`;
  } }, search, el("button", { type: "submit" }, "Search"));
  const body = el("tbody");
  const table = el("table", { class: "files" },
    el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", { class: "hide-narrow" }, "Type"),
      el("th", { class: "num" }, "Size"), el("th", { class: "hide-narrow" }, "Hash"))), body);
  const more = el("button", { type: "button", class: "plain" }, "Load more");
  const heading = el("h1", {}, item ? dot(item) : null, " ", item ? item.alias : catalog);
  show(heading, crumbs, toolbar, table, el("p", {}, more));
  const view = { owner, catalog, after: "", folder: null, loading: false, done: false };
  state.view = view;
  const load = async () => {
    if (view.loading || view.done || state.view !== view) return;
    view.loading = true;
    try {
      const page = await call("GET", `/api/catalogs/${enc(owner)}/${enc(catalog)}/entries?prefix=${enc(prefix)}&q=${enc(query)}&after=${enc(view.after)}`);
      for (const entry of page.entries) addRow(body, view, owner, catalog, entry, prefix);
      view.after = page.next || "";
      view.done = page.next === null;
      if (view.done) more.remove();
      if (!body.children.length) body.append(el("tr", {}, el("td", { colspan: 4, class: "muted" }, query ? "Nothing matches." : "This catalog is empty.")));
    } catch (error) {
      table.replaceWith(el("div", { class: "offline" }, error.message));
      more.remove();
    } finally { view.loading = false; }
  };
  more.addEventListener("click", load);
  new IntersectionObserver((seen) => { if (seen.some((s) => s.isIntersecting)) load(); }).observe(more);
  await load();
}

function addRow(body, view, owner, catalog, entry, prefix) {
  const slash = entry.path.lastIndexOf("/");
  const folder = slash < 0 ? "" : entry.path.slice(0, slash + 1);
  if (folder !== view.folder) {
    view.folder = folder;
    if (folder && folder !== prefix) {
      const depth = folder.slice(prefix.length).split("/").length - 2;
      body.append(el("tr", { class: "folder" }, el("td", { colspan: 4, style: `padding-left:${0.6 + depth}rem` },
        el("a", { href: `#/c/${enc(owner)}/${enc(catalog)}?prefix=${enc(folder)}` }, "▸ " + folder.slice(prefix.length)))));
    }
  }
  const depth = folder.slice(prefix.length).split("/").length - 1;
  body.append(el("tr", {},
    el("td", { class: "name", style: `padding-left:${0.6 + depth}rem` },
      el("button", { type: "button", onclick: () => openViewer(owner, catalog, entry) }, entry.path.slice(slash + 1))),
    el("td", { class: "type hide-narrow" }, entry.mime),
    el("td", { class: "num" }, size(entry.size)),
    el("td", { class: "hash hide-narrow", title: entry.hash }, entry.hash.slice(0, 10))));
}

// --- viewer ------------------------------------------------------------------------------
const viewer = document.getElementById("viewer");
document.getElementById("viewer-close").addEventListener("click", () => viewer.close());
viewer.addEventListener("close", () => document.getElementById("viewer-body").replaceChildren());

async function openViewer(owner, catalog, entry) {
  const url = `/api/files/${enc(owner)}/${enc(catalog)}/${entry.hash}?mime=${enc(entry.mime)}`;
  const name = entry.path.split("/").pop();
  document.getElementById("viewer-title").textContent = entry.path;
  const download = document.getElementById("viewer-download");
  download.href = url + "&download=1";
  // the hub's app: a navigation reaches the service worker (an <a download> would not),
  // and its answer (an attachment) becomes the download, once its sha256 matched
  if (hosted) download.removeAttribute("download");
  else download.setAttribute("download", name);
  const box = document.getElementById("viewer-body");
  const type = entry.mime || "";
  let content;
  if (type.startsWith("video/")) content = el("video", { src: url, controls: true, autoplay: true, playsinline: true });
  else if (type.startsWith("audio/")) content = el("audio", { src: url, controls: true, autoplay: true });
  else if (type.startsWith("image/") && type !== "image/svg+xml") content = el("img", { src: url, alt: name });
  else if (type === "application/pdf") content = el("iframe", { src: url, title: name });
  else if (type.startsWith("text/") || type === "application/json") {
    content = el("pre", {}, "Loading…");
    fetch(url, { headers: { Range: "bytes=0-262143" } }).then((r) => r.ok ? r.text() : Promise.reject(new Error(`error ${r.status}`)))
      .then((text) => { content.textContent = text; }, (error) => { content.textContent = error.message; });
  } else content = el("p", { class: "muted" }, "No preview for this type: download it.");
  box.replaceChildren(content);
  viewer.showModal();
}

// --- who am I, stats ---------------------------------------------------------------------
function renderMe() {
  const key = el("code", { class: "key", id: "account-key" }, state.me.account);
  show(el("h1", {}, "Who am I"),
    el("p", {}, "Name: ", el("strong", {}, state.me.name)),
    el("p", {}, "Account: ", key, " ",
      el("button", { type: "button", class: "plain", onclick: async (event) => {
        try { await navigator.clipboard.writeText(state.me.account); event.target.textContent = "Copied"; }
        catch { getSelection().selectAllChildren(key); event.target.textContent = "Selected: copy it"; }
      } }, "Copy")),
    el("p", { class: "muted" }, "Give this key to a friend so they can share catalogs with you."),
    el("p", {}, "Hub: ", el("code", {}, state.me.hub)),
    hosted ? thisBrowser() : addBrowser());
}

function thisBrowser() {
  const until = state.me.expires_at ? new Date(state.me.expires_at * 1000).toLocaleString() : "revoked";
  return el("section", { "aria-label": "This browser" },
    el("h2", {}, "This browser"),
    el("p", {}, "Device: ", el("strong", { id: "device-name" }, state.me.device || "–"), " · ",
      el("span", { id: "device-rights" }, state.me.rights), " · signed in until ", until),
    el("button", { type: "button", onclick: async () => {
      await call("POST", "/api/signout").catch(() => {});
      signIn("You signed this browser out.");
    } }, "Sign out"));
}

function addBrowser() {
  const input = el("input", { type: "text", placeholder: "ABCD-EFGH", "aria-label": "Sign-in code", autocomplete: "off" });
  const full = el("input", { type: "checkbox", "aria-label": "Full rights" });
  const result = el("p", { role: "status" });
  return el("section", { "aria-label": "Add this browser" },
    el("h2", {}, "Add a browser"),
    el("p", { class: "muted" }, "A browser on your hub's web app shows a code: enter it to sign that browser in to this account (read-only and for 24 hours unless you choose otherwise)."),
    el("form", { class: "inline", onsubmit: async (event) => {
      event.preventDefault();
      try {
        const device = await call("POST", "/api/browsers", { code: input.value.trim(), full: full.checked });
        result.textContent = `Signed in ${device.name} (${device.rights}). natster device revoke ${device.name} signs it out.`;
        input.value = "";
      } catch (error) { result.textContent = error.message; }
    } }, input, el("label", {}, full, " full rights"), el("button", { type: "submit" }, "Add this browser")),
    result);
}

// --- signing in (the hub's web app) ------------------------------------------------------
let signingIn = null;

function signIn(reason) {
  if (signingIn) return;
  signingIn = {};
  document.body.classList.add("signed-out");
  const area = el("div", { class: "signin" }, el("p", { class: "muted" }, "Making a sign-in code…"));
  show(el("h1", {}, "Sign in"), reason ? el("p", { class: "notice", id: "signin-reason" }, reason) : null, area);
  const begin = async () => {
    try {
      const offered = await call("POST", "/api/signin/start");
      const until = Date.now() + offered.expires_in * 1000;
      const left = el("span", {});
      area.replaceChildren(
        el("p", {}, "On a machine signed in to your account, run:"),
        el("pre", { class: "command" }, "natster login ", el("strong", { id: "signin-code", class: "code" }, offered.code)),
        el("p", { class: "muted" }, "or enter the code in your own natster web under “Who am I” → Add this browser."),
        el("img", { class: "qr", src: `/signin/qr.svg?code=${enc(offered.code)}`, alt: `QR code of ${offered.code}` }),
        el("p", { class: "muted" }, "This browser gets its own key: your account's key never leaves your machine. The code works once, ", left, "."));
      const tick = () => { left.textContent = `for ${Math.max(0, Math.round((until - Date.now()) / 1000))} more seconds`; };
      tick();
      signingIn.timer = setInterval(tick, 1000);
      while (signingIn) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const answer = await call("POST", "/api/signin/wait");
        if (answer.state === "granted") {
          clearInterval(signingIn.timer);
          signingIn = null;
          document.body.classList.remove("signed-out");
          await boot();
          return;
        }
      }
    } catch (error) {
      if (signingIn) clearInterval(signingIn.timer);
      area.replaceChildren(el("p", { class: "notice" }, error.message),
        el("button", { type: "button", onclick: () => { area.replaceChildren(el("p", { class: "muted" }, "Making a sign-in code…")); signingIn = {}; begin(); } }, "New code"));
    }
  };
  begin();
}

async function renderStats() {
  const stats = await call("GET", "/api/stats");
  show(el("h1", {}, "Platform stats"), el("dl", { class: "stats" },
    el("dt", {}, "Accounts"), el("dd", {}, stats.accounts),
    el("dt", {}, "Catalogs online"), el("dd", {}, stats.catalogs_online),
    el("dt", {}, "Shares"), el("dd", {}, stats.shares)));
}

// --- routing and live updates ------------------------------------------------------------
async function route() {
  say("");
  state.view = null;
  const [path, search] = location.hash.slice(1).split("?");
  const params = new URLSearchParams(search || "");
  const parts = (path || "/").split("/").map(decodeURIComponent);
  try {
    if (parts[1] === "c" && parts.length >= 4) await renderCatalog(parts[2], parts[3], params.get("prefix") || "", params.get("q") || "");
    else if (parts[1] === "me") renderMe();
    else if (parts[1] === "stats") await renderStats();
    else await renderLibrary();
  } catch (error) { say(error.message); }
}

function live() {
  const source = new EventSource("/api/events");
  source.addEventListener("signedout", (message) => {
    source.close();
    let reason = "This browser was signed out.";
    try { reason = JSON.parse(message.data).reason || reason; } catch { /* the default */ }
    signIn(reason);
  });
  source.addEventListener("feed", (message) => {
    const event = JSON.parse(message.data);
    if (event.kind === "online" || event.kind === "offline") {
      for (const node of document.querySelectorAll(".dot")) {
        if (node.dataset.dot === `${event.owner}/${event.catalog}`) {
          node.className = event.kind === "online" ? "dot online" : "dot";
          node.setAttribute("aria-label", event.kind);
          node.title = event.kind;
        }
      }
      for (const item of state.library) {
        if (item.owner === event.owner && item.catalog === event.catalog) item.online = event.kind === "online";
      }
    }
    // Counts and lists change with shares and with a catalog coming online (its server
    // can now be asked); an offline dot needs nothing more.
    if (!state.view && ["shared", "unshared", "online"].includes(event.kind)) {
      setTimeout(() => { if (!state.view) renderLibrary().catch((error) => say(error.message)); }, 500);
    }
  });
  source.addEventListener("resync", () => { if (!state.view) renderLibrary(); });
  return source;
}

let events = null;
let routed = false;

async function boot() {
  try { state.me = await call("GET", "/api/me"); } catch (error) { if (!signingIn) say(error.message); return; }
  if (!routed) { window.addEventListener("hashchange", route); routed = true; }
  if (events) events.close();
  events = live();
  await route();
}

async function worker() {
  // the hub's web app: its service worker answers /api; wait until it controls the page
  if (!("serviceWorker" in navigator)) throw new Error("This browser cannot run natster's web app (no service workers).");
  await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  if (navigator.serviceWorker.controller) return;
  await new Promise((resolve) => navigator.serviceWorker.addEventListener("controllerchange", resolve, { once: true }));
}

(async () => {
  if (hosted) {
    try { await worker(); } catch (error) { say(error.message); return; }
  }
  await boot();
})();
