// One catalog, folder by folder: breadcrumbs, subfolders with their counts and sizes,
// files sorted by name, size, type or date, as a list or a grid of thumbnails. The URL
// says all of it (#/c/OWNER/CATALOG?path=&sort=&rev=&view=&q=&open=), so Back works and
// a link can be shared with someone who has access.
import {
  baseName,
  call,
  clock,
  day,
  dot,
  el,
  enc,
  icon,
  kindOf,
  libraryItem,
  show,
  size,
  stale,
  state,
  thumbUrl,
} from "./core.js";
import { openViewer } from "./viewer.js";

const FIRST_SCREEN = 40; // thumbnails asked for at once; the rest as they scroll into view
const FIRST_SCREEN_WAIT_MS = 3000; // the rest wait for the first screen this long at most
const SORTS = [
  ["name", "Name"],
  ["type", "Type"],
  ["size", "Size"],
  ["date", "Date"],
];

export function folderHash(owner, catalog, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) query.set(key, value);
  const text = query.toString();
  return `#/c/${enc(owner)}/${enc(catalog)}${text ? "?" + text : ""}`;
}

/** The view's URL parameters, without the open file. */
export function listingParams(params) {
  return {
    path: params.path || "",
    sort: params.sort || "",
    rev: params.rev || "",
    view: params.view || "",
    q: params.q || "",
  };
}

export async function renderFolder(owner, catalog, params) {
  const route = state.route;
  if (!state.library.length) state.library = await call("GET", "/api/catalogs").catch(() => []);
  if (stale(route)) return null;
  const item = libraryItem(owner, catalog);
  const path = (params.path || "").replace(/^\/+|\/+$/g, "");
  const sort = SORTS.some(([key]) => key === params.sort) ? params.sort : "name";
  const reverse = params.rev === "1";
  const query = params.q || "";
  const link = (changes) => folderHash(owner, catalog, { ...listingParams(params), ...changes });
  const title = item ? item.alias : catalog;

  const crumbs = el(
    "nav",
    { class: "crumbs", "aria-label": "Folder" },
    el("a", { href: link({ path: "", q: "" }) }, title),
  );
  let so_far = "";
  for (const part of path.split("/").filter(Boolean)) {
    so_far = so_far ? `${so_far}/${part}` : part;
    crumbs.append(
      el("span", { class: "sep", "aria-hidden": "true" }, "›"),
      el("a", { href: link({ path: so_far, q: "" }) }, part),
    );
  }
  const search = el("input", {
    type: "search",
    value: query,
    placeholder: `Search ${title}`,
    "aria-label": "Search this catalog",
  });
  const sortSelect = el(
    "select",
    {
      "aria-label": "Sort by",
      onchange: () => {
        location.hash = link({ sort: sortSelect.value === "name" ? "" : sortSelect.value });
      },
    },
    SORTS.map(([key, label]) => el("option", { value: key, selected: key === sort }, label)),
  );
  const switcher = el(
    "button",
    {
      type: "button",
      class: "plain",
      "data-switch": "",
      onclick: () => {
        location.hash = link({ view: view.grid ? "list" : "grid" });
      },
    },
    params.view === "grid" ? "List" : "Grid",
  );
  const toolbar = el(
    "div",
    { class: "toolbar" },
    el(
      "form",
      {
        class: "grow",
        role: "search",
        onsubmit: (event) => {
          event.preventDefault();
          location.hash = link({ q: search.value.trim() });
        },
      },
      search,
    ),
    sortSelect,
    el(
      "button",
      {
        type: "button",
        class: "plain",
        "aria-label": reverse ? "Ascending" : "Descending",
        title: "Reverse the order",
        onclick: () => {
          location.hash = link({ rev: reverse ? "" : "1" });
        },
      },
      reverse ? "↓" : "↑",
    ),
    switcher,
  );
  const box = el("div", { class: "listing" });
  const more = el("button", { type: "button", class: "plain more" }, "Load more");
  show(el("h1", {}, item ? dot(item) : null, " ", title), crumbs, toolbar, box, el("p", {}, more));

  const view = {
    owner,
    catalog,
    path,
    sort,
    reverse,
    query,
    params,
    box,
    more,
    entries: [],
    tracks: [], // subtitles (.srt, .vtt): a film's tracks, not listed
    folders: 0,
    next: 0,
    loading: false,
    done: false,
    grid: params.view === "grid",
    switcher,
    key: JSON.stringify([owner, catalog, listingParams(params)]),
  };
  firstScreenFirst(view);
  state.view = view;
  more.addEventListener("click", () => loadMore(view));
  new IntersectionObserver((seen) => {
    if (seen.some((s) => s.isIntersecting)) loadMore(view);
  }).observe(more);
  await loadMore(view);
  return view;
}

async function fetchPage(view) {
  const { owner, catalog } = view;
  if (view.query) {
    const page = await call(
      "GET",
      `/api/catalogs/${enc(owner)}/${enc(catalog)}/entries?q=${enc(view.query)}&after=${enc(view.next || "")}`,
    );
    return { folders: [], entries: page.entries, next: page.next, total: null };
  }
  return await call(
    "GET",
    `/api/catalogs/${enc(owner)}/${enc(catalog)}/folder?path=${enc(view.path)}&sort=${view.sort}&reverse=${view.reverse}&offset=${view.next || 0}`,
  );
}

/** The grid/list button names the view it switches to (the one shown is chosen once the
 * first page came, when the URL does not say). */
function labelSwitch(view) {
  view.switcher.textContent = view.grid ? "List" : "Grid";
  view.switcher.setAttribute("aria-label", view.grid ? "Show as a list" : "Show as a grid");
}

export async function loadMore(view) {
  if (view.loading) {
    view.again = true;
    return;
  } // asked while loading: once more after
  if (view.done || state.view !== view) return;
  view.loading = true;
  view.again = false;
  try {
    const page = await fetchPage(view);
    if (state.view !== view) return;
    if (view.params.view === undefined || view.params.view === "") {
      // no choice made: pictures and films come as a grid
      const media = page.entries.filter((e) => ["image", "video"].includes(kindOf(e.mime))).length;
      view.grid = view.entries.length === 0 && page.entries.length > 0 && media * 2 >= page.entries.length;
    }
    labelSwitch(view);
    if (!view.container) {
      view.container = view.grid ? el("ul", { class: "grid", "aria-label": "Files" }) : listTable(view);
      view.box.replaceChildren(view.container);
    }
    for (const folder of page.folders) addFolder(view, folder);
    for (const entry of page.entries) addEntry(view, entry);
    if (!view.firstLeft) view.openGate(); // no picture on the first screen to wait for
    view.next = page.next;
    view.done = page.next === null || page.next === undefined;
    if (view.done) view.more.remove();
    if (!view.folders && !view.entries.length) {
      view.box.replaceChildren(
        el("p", { class: "muted empty" }, view.query ? "Nothing matches." : "This folder is empty."),
      );
    }
  } catch (error) {
    view.box.replaceChildren(el("div", { class: "offline" }, error.message));
    view.more.remove();
  } finally {
    view.loading = false;
  }
  // the observer speaks only when the button comes into view: still in view, go on
  if (!view.done && view.again) loadMore(view);
}

function listTable(view) {
  const header = (key, label, cls) => {
    const active = view.sort === key;
    const rev = active && !view.reverse ? "1" : "";
    return el(
      "th",
      { class: cls, "aria-sort": active ? (view.reverse ? "descending" : "ascending") : "none" },
      view.query
        ? label
        : el(
            "a",
            {
              href: folderHash(view.owner, view.catalog, {
                ...listingParams(view.params),
                sort: key === "name" ? "" : key,
                rev,
              }),
            },
            label,
            active ? (view.reverse ? " ↓" : " ↑") : "",
          ),
    );
  };
  view.body = el("tbody");
  return el(
    "table",
    { class: "files" },
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        header("name", "Name", "name"),
        header("type", "Type", "hide-narrow"),
        header("size", "Size", "num"),
        header("date", "Date", "hide-narrow num"),
      ),
    ),
    view.body,
  );
}

function folderLink(view, folder) {
  return folderHash(view.owner, view.catalog, { ...listingParams(view.params), path: folder.path, q: "" });
}

function addFolder(view, folder) {
  view.folders++;
  const name = baseName(folder.path);
  const detail = `${folder.files} file${folder.files === 1 ? "" : "s"} · ${size(folder.bytes)}`;
  if (view.grid) {
    view.container.append(
      el(
        "li",
        { class: "tile folder", "data-folder": folder.path },
        el(
          "a",
          { href: folderLink(view, folder) },
          el("span", { class: "art icon", "aria-hidden": "true" }, icon("folder")),
          el("span", { class: "title" }, name),
          el("span", { class: "facts" }, detail),
        ),
      ),
    );
    return;
  }
  view.body.append(
    el(
      "tr",
      { class: "folder", "data-folder": folder.path },
      el(
        "td",
        { class: "name" },
        el(
          "a",
          { href: folderLink(view, folder) },
          el("span", { class: "icon", "aria-hidden": "true" }, icon("folder")),
          " ",
          name,
        ),
      ),
      el(
        "td",
        { class: "type hide-narrow" },
        `folder · ${folder.files} file${folder.files === 1 ? "" : "s"}`,
      ),
      el("td", { class: "num" }, size(folder.bytes)),
      el("td", { class: "num hide-narrow" }, day(folder.mtime)),
    ),
  );
}

function facts(entry) {
  const media = entry.media;
  if (!media) return size(entry.size);
  const parts = [];
  if (media.kind === "audio") parts.push(...[media.artist, media.album].filter(Boolean)); // tags
  if (media.kind === "image" && media.taken) parts.push(media.taken.slice(0, 10)); // the day
  if (Number.isFinite(media.duration) && media.duration > 0) parts.push(clock(media.duration));
  if (Number.isSafeInteger(media.width) && Number.isSafeInteger(media.height))
    parts.push(`${media.width}×${media.height}`);
  parts.push(size(entry.size));
  return parts.join(" · ");
}

/**
 * The first screen's thumbnails are asked for first: the others of the view wait until
 * those are in (or FIRST_SCREEN_WAIT_MS), so they don't slow down what is seen first.
 */
function firstScreenFirst(view) {
  view.firstLeft = 0; // first-screen thumbnails still on their way
  view.gate = new Promise((resolve) => {
    view.openGate = resolve;
  });
  setTimeout(view.openGate, FIRST_SCREEN_WAIT_MS);
}

/**
 * A thumbnail, or the kind's icon when the owner's machine has none for it. `after`:
 * a promise to wait for before asking for it; `settled`: called once it loaded or failed.
 */
export function picture(owner, catalog, entry, cls, { eager = false, after = null, settled = null } = {}) {
  const kind = kindOf(entry.mime);
  const fallback = el("span", { class: `${cls} icon`, "aria-hidden": "true" }, icon(kind));
  if (!["image", "video", "audio"].includes(kind)) return fallback;
  const img = el("img", { class: cls, alt: "", loading: eager ? "eager" : "lazy", decoding: "async" });
  const url = thumbUrl(owner, catalog, entry.hash);
  img.addEventListener(
    "error",
    () => {
      img.replaceWith(fallback);
      if (settled) settled();
    },
    { once: true },
  );
  if (settled) img.addEventListener("load", settled, { once: true });
  if (after)
    after.then(() => {
      img.src = url;
    });
  else img.src = url;
  return img;
}

/** The thumbnail of the view's ``index``-th file: first screen now, the rest after it. */
function pictureIn(view, entry, index, cls) {
  if (index >= FIRST_SCREEN) return picture(view.owner, view.catalog, entry, cls, { after: view.gate });
  const img = picture(view.owner, view.catalog, entry, cls, {
    eager: true,
    settled: () => {
      if (--view.firstLeft === 0) view.openGate();
    },
  });
  if (img.tagName === "IMG") view.firstLeft += 1;
  return img;
}

function addEntry(view, entry) {
  if (!view.query && /\.(srt|vtt)$/i.test(entry.path)) {
    view.tracks.push(entry); // shown as the film's subtitles, not as a file of their own
    return;
  }
  const index = view.entries.length;
  view.entries.push(entry);
  const open = () => openViewer(view, index);
  const shown = view.query ? entry.path : baseName(entry.path);
  if (view.grid) {
    view.container.append(
      el(
        "li",
        { class: "tile", "data-path": entry.path },
        el(
          "button",
          { type: "button", onclick: open, title: entry.path, "aria-label": shown },
          pictureIn(view, entry, index, "art"),
          el("span", { class: "title" }, shown),
          el("span", { class: "facts" }, facts(entry)),
        ),
      ),
    );
    return;
  }
  view.body.append(
    el(
      "tr",
      { "data-path": entry.path },
      el(
        "td",
        { class: "name" },
        el(
          "button",
          { type: "button", onclick: open, title: entry.path, "aria-label": shown },
          pictureIn(view, entry, index, "mini"),
          " ",
          el("span", {}, shown),
        ),
      ),
      el("td", { class: "type hide-narrow" }, entry.mime),
      el("td", { class: "num" }, facts(entry)),
      el("td", { class: "num hide-narrow" }, day(entry.mtime)),
    ),
  );
}

/** The owner's folder changed: list it again where it is, keeping the scroll. */
export async function refresh(view) {
  if (state.view !== view) return view;
  const keep = window.scrollY;
  const fresh = await renderFolder(view.owner, view.catalog, view.params);
  if (fresh) window.scrollTo(0, keep);
  return fresh;
}
