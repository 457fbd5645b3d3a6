// natster web UI: plain DOM in ES modules, no build step. One page for both: the local
// `natster web` (its Python server answers /api) and the hub's web app (a service
// worker, sw.js, answers the same /api over NATS in the browser; data-mode="hosted").
import { renderMe, renderStats, signIn, signing } from "./account.js";
import { call, el, hooks, hosted, libraryItem, say, show, state, toast } from "./core.js";
import { listingParams, loadMore, refresh, renderFolder } from "./folder.js";
import { presence, renderLibrary } from "./library.js";
import { renderSearch } from "./search.js";
import { closeFromRoute, ownerWentAway, showPath } from "./viewer.js";

hooks.signIn = signIn;

function parse() {
  const [path, search] = location.hash.slice(1).split("?");
  const params = Object.fromEntries(new URLSearchParams(search || ""));
  return { parts: (path || "/").split("/").map(decodeURIComponent), params };
}

async function route() {
  say("");
  const route = ++state.route;
  const { parts, params } = parse();
  try {
    if (parts[1] === "c" && parts.length >= 4) {
      const [owner, catalog] = [parts[2], parts[3]];
      const key = JSON.stringify([owner, catalog, listingParams(params)]);
      let view = state.view;
      if (!view || view.key !== key) view = await renderFolder(owner, catalog, params);
      if (!view || route !== state.route) return;
      if (params.open) await showPath(view, params.open, loadMore, () => route !== state.route);
      else closeFromRoute();
      return;
    }
    closeFromRoute();
    state.view = null;
    if (parts[1] === "search") await renderSearch(params);
    else if (parts[1] === "me") renderMe();
    else if (parts[1] === "stats") await renderStats();
    else await renderLibrary();
  } catch (error) {
    if (route === state.route) say(error.message);
  }
}

function named(event) {
  const item = libraryItem(event.owner, event.catalog);
  if (!item) return event.catalog;
  return item.mine ? item.alias : `${item.alias} of ${item.owner_name || "a friend"}`;
}

const refreshing = new Map();

/** Whether the library is what the page shows now (not a catalog, search, me or stats):
 * only then may a change redraw it, however late the change arrives. */
function onLibrary() {
  return !state.view && location.hash.replace("#", "").replace(/^\/?$/, "/") === "/";
}

/** The share of the open catalog ended: the player stops and the page says so in words. */
function ended(item, message) {
  closeFromRoute();
  state.view = null;
  show(
    el("h1", {}, item.alias),
    el("p", { class: "ended", role: "alert" }, message),
    el("p", {}, el("a", { href: "#/" }, "Back to the library")),
  );
}

function feed(event) {
  if (event.kind === "online" || event.kind === "offline") presence(event);
  const known = libraryItem(event.owner, event.catalog);
  if (event.kind === "offline") ownerWentAway(event.owner, event.catalog, `${named(event)} is offline`);
  if (event.kind === "online" && known && !known.mine) toast(`${named(event)} is online`);
  if (event.kind === "revision" && known) toast(`${named(event)} has new files`);
  const view = state.view;
  if (event.kind === "unshared" && known && !known.mine && state.me && event.target === state.me.account) {
    const message = `${known.owner_name || "Its owner"} stopped sharing ${known.alias} with you.`;
    toast(message);
    if (view && view.owner === event.owner && view.catalog === event.catalog) ended(known, message);
    return;
  }
  if (
    view &&
    view.owner === event.owner &&
    view.catalog === event.catalog &&
    ["revision", "online"].includes(event.kind)
  ) {
    clearTimeout(refreshing.get(view.key)); // one listing again per burst of changes
    refreshing.set(
      view.key,
      setTimeout(() => refresh(state.view).catch((error) => say(error.message)), 300),
    );
  }
  // Counts and lists change with shares and with a catalog coming online (its server
  // can now be asked); an offline dot needs nothing more.
  if (onLibrary() && ["shared", "unshared", "online", "revision"].includes(event.kind)) {
    setTimeout(() => {
      if (onLibrary()) renderLibrary().catch((error) => say(error.message));
    }, 500);
  }
}

/** While the hub is away every page says so, and no dot stays green. */
function hubAway(away) {
  document.getElementById("hub-away").hidden = !away;
  document.body.classList.toggle("hub-away", away);
}

function live() {
  const source = new EventSource("/api/events");
  source.addEventListener("signedout", (message) => {
    source.close();
    closeFromRoute(); // no player plays on behind the sign-in page
    let reason = "This browser was signed out.";
    try {
      reason = JSON.parse(message.data).reason || reason;
    } catch {
      /* the default */
    }
    signIn(reason);
  });
  source.addEventListener("feed", (message) => {
    try {
      feed(JSON.parse(message.data));
    } catch (error) {
      console.warn("feed", error);
    }
  });
  source.addEventListener("resync", () => {
    if (onLibrary()) renderLibrary();
  });
  source.addEventListener("hub", (message) => {
    let reachable = true;
    try {
      reachable = JSON.parse(message.data).reachable !== false;
    } catch {
      /* the default */
    }
    hubAway(!reachable);
    if (reachable && onLibrary()) renderLibrary().catch((error) => say(error.message));
  });
  return source;
}

let events = null;
let routed = false;

async function boot() {
  try {
    state.me = await call("GET", "/api/me");
  } catch (error) {
    if (!signing.active) say(error.message);
    return;
  }
  if (!routed) {
    window.addEventListener("hashchange", route);
    routed = true;
  }
  if (events) events.close();
  events = live();
  await route();
}
signing.boot = boot;

document.getElementById("search-all").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = /** @type {HTMLFormElement} */ (event.target);
  const text = /** @type {HTMLInputElement} */ (form.elements.namedItem("q")).value.trim();
  if (text) location.hash = `#/search?q=${encodeURIComponent(text)}`;
});

async function worker() {
  // the hub's web app: its service worker answers /api; wait until it controls the page
  if (!("serviceWorker" in navigator))
    throw new Error("This browser cannot run natster's web app (no service workers).");
  await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  if (navigator.serviceWorker.controller) return;
  await new Promise((resolve) =>
    navigator.serviceWorker.addEventListener("controllerchange", resolve, { once: true }),
  );
}

(async () => {
  if (hosted) {
    try {
      await worker();
    } catch (error) {
      say(error.message);
      return;
    }
  }
  await boot();
})();
