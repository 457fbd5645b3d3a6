// One search over every catalog I can see (#/search?q=&kind=), grouped by catalog; an
// offline catalog is named, not waited for. A hit opens in its folder's viewer.
import { baseName, call, el, enc, say, show, stale, state } from "./core.js";
import { folderHash, picture } from "./folder.js";

const KINDS = [
  ["", "Everything"],
  ["video", "Films"],
  ["audio", "Music"],
  ["image", "Pictures"],
  ["document", "Documents"],
];

export async function renderSearch(params) {
  const text = (params.q || "").trim();
  const kind = KINDS.some(([k]) => k === params.kind) ? params.kind : "";
  const input = el("input", {
    type: "search",
    value: text,
    placeholder: "Search everything",
    "aria-label": "Search everything",
  });
  const select = el(
    "select",
    { "aria-label": "Kind" },
    KINDS.map(([k, label]) => el("option", { value: k, selected: k === kind }, label)),
  );
  const form = el(
    "form",
    {
      class: "toolbar",
      role: "search",
      onsubmit: (event) => {
        event.preventDefault();
        location.hash = `#/search?q=${enc(input.value.trim())}${select.value ? `&kind=${select.value}` : ""}`;
      },
    },
    input,
    select,
    el("button", { type: "submit" }, "Search"),
  );
  select.addEventListener("change", () => form.requestSubmit());
  const results = el("div", { class: "results" }, text ? el("p", { class: "muted" }, "Searching…") : null);
  show(el("h1", {}, "Search"), form, results);
  if (!text) {
    input.focus();
    return;
  }
  const route = state.route;
  let found;
  try {
    found = await call("GET", `/api/search?q=${enc(text)}${kind ? `&kind=${kind}` : ""}`);
  } catch (error) {
    if (!stale(route)) {
      results.replaceChildren();
      say(error.message);
    }
    return;
  }
  if (stale(route)) return;
  const groups = [];
  const away = [];
  for (const catalog of found.catalogs) {
    if (catalog.state !== "found") {
      away.push(catalog);
      continue;
    }
    if (!catalog.entries.length) continue;
    groups.push(
      el(
        "section",
        { class: "hits", "data-catalog": catalog.catalog },
        el(
          "h2",
          {},
          catalog.alias,
          catalog.mine
            ? null
            : el("span", { class: "muted" }, ` · from ${catalog.owner_name || catalog.owner.slice(0, 8)}`),
        ),
        el(
          "ul",
          { class: "plain" },
          catalog.entries.map((entry) => {
            const slash = entry.path.lastIndexOf("/");
            const href = folderHash(catalog.owner, catalog.catalog, {
              path: slash < 0 ? "" : entry.path.slice(0, slash),
              open: entry.path,
            });
            return el(
              "li",
              { class: "hit" },
              el(
                "a",
                { href },
                picture(catalog.owner, catalog.catalog, entry, "mini"),
                " ",
                el("span", { class: "title" }, baseName(entry.path)),
                " ",
                el("span", { class: "muted where" }, slash < 0 ? "" : entry.path.slice(0, slash)),
              ),
            );
          }),
        ),
        catalog.more ? el("p", { class: "muted" }, `More in ${catalog.alias}: search inside it.`) : null,
      ),
    );
  }
  // replaceChildren would show a null as the text "null": only nodes go in
  results.replaceChildren(
    ...(groups.length ? groups : [el("p", { class: "muted" }, `Nothing matches “${text}”.`)]),
    ...(away.length
      ? [
          el(
            "p",
            { class: "muted away" },
            "Not searched: ",
            away.map((c, i) => [
              i ? ", " : "",
              `${c.alias} (${c.state === "offline" ? "offline" : c.error || "failed"})`,
            ]),
          ),
        ]
      : []),
  );
}
