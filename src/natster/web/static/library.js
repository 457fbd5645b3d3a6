// The library: my catalogs, the ones shared with me, the inbox. Dots and counts follow
// the live feed; a card never says "offline" beside a green dot.
import { call, canChange, dot, el, enc, say, short, show, size, stale, state } from "./core.js";

export async function renderLibrary() {
  const route = state.route;
  const library = await call("GET", "/api/catalogs");
  if (stale(route)) return;
  state.library = library;
  const mine = state.library.filter((c) => c.mine);
  const theirs = state.library.filter((c) => !c.mine && c.imported);
  const inbox = state.library.filter((c) => !c.mine && !c.imported);
  const own = [
    el("h2", { id: "mine" }, "My catalogs"),
    mine.length
      ? el("div", { class: "cards" }, mine.map(myCard))
      : el(
          "p",
          { class: "muted" },
          "No catalogs yet: make one with `natster catalog new NAME DESCRIPTION FOLDER`.",
        ),
  ];
  const shared = [
    el("h2", { id: "shared" }, "Shared with me"),
    theirs.length
      ? el("div", { class: "cards" }, theirs.map(sharedCard))
      : el("p", { class: "muted" }, "Nothing imported yet."),
  ];
  show(
    el("h1", {}, "Library"),
    // a device with no catalogs of its own (a phone) has what is shared with it first
    ...(mine.length ? [...own, ...shared] : [...shared, ...own]),
    el("h2", { id: "inbox" }, "Inbox"),
    inbox.length
      ? el("div", { class: "cards" }, inbox.map(inboxCard))
      : el("p", { class: "muted" }, "Your inbox is empty: catalogs shared with you appear here."),
  );
}

function countsText(item) {
  if (item.files !== null && item.files !== undefined) return `${item.files} files · ${size(item.bytes)}`;
  return item.online ? "online: asking for its contents…" : "offline: contents unknown";
}

function counts(item) {
  return el("p", { class: "muted", "data-counts": `${item.owner}/${item.catalog}` }, countsText(item));
}

/** A feed event's online or offline: every dot and count line of that catalog, now. */
export function presence(event) {
  const id = `${event.owner}/${event.catalog}`;
  const online = event.kind === "online";
  for (const item of state.library) {
    if (item.owner === event.owner && item.catalog === event.catalog) item.online = online;
  }
  for (const node of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll(".dot"))) {
    if (node.dataset.dot !== id) continue;
    node.className = online ? "dot online" : "dot";
    node.setAttribute("aria-label", event.kind);
    node.title = event.kind;
  }
  const item = state.library.find((c) => `${c.owner}/${c.catalog}` === id);
  for (const node of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll("[data-counts]"))) {
    if (node.dataset.counts === id && item) node.textContent = countsText(item);
  }
}

function from(item) {
  return el(
    "p",
    {},
    "from ",
    item.owner_name ? el("strong", {}, item.owner_name) : null,
    " ",
    el("span", { class: "key", title: item.owner }, short(item.owner)),
  );
}

function catalogLink(item) {
  return el("a", { href: `#/c/${enc(item.owner)}/${enc(item.catalog)}` }, item.alias);
}

function myCard(item) {
  const head = [
    el("h3", {}, dot(item), catalogLink(item)),
    item.description ? el("p", {}, item.description) : null,
    counts(item),
  ];
  if (!canChange()) {
    return el(
      "article",
      { class: "card", "data-catalog": item.catalog },
      head,
      el(
        "p",
        { class: "muted" },
        item.shared_with.length
          ? `Shared with ${item.shared_with.length} account${item.shared_with.length > 1 ? "s" : ""}.`
          : "Not shared with anyone.",
      ),
    );
  }
  const input = el("input", {
    type: "text",
    placeholder: "name or account key",
    list: "people",
    autocomplete: "off",
    "aria-label": `Share ${item.catalog} with`,
    oninput: () => findPeople(input.value),
  });
  const form = el(
    "form",
    {
      class: "inline",
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          const account = await accountOf(input.value);
          await call("POST", `/api/catalogs/${enc(item.catalog)}/shares`, { account });
          say("");
          await renderLibrary();
        } catch (error) {
          say(error.message);
        }
      },
    },
    input,
    el("button", { type: "submit" }, "Share"),
  );
  const nameOf = (who) => (item.names && item.names[who]) || short(who);
  return el(
    "article",
    { class: "card", "data-catalog": item.catalog },
    head,
    item.shared_with.length
      ? el(
          "ul",
          { class: "plain", "aria-label": "Shared with" },
          item.shared_with.map((who) =>
            el(
              "li",
              {},
              el("span", { class: "person", title: who }, nameOf(who)),
              el(
                "button",
                {
                  class: "plain",
                  type: "button",
                  "aria-label": `Unshare with ${nameOf(who)}`,
                  onclick: async () => {
                    if (
                      !confirm(`Stop sharing ${item.catalog} with ${nameOf(who)}? Their access ends at once.`)
                    )
                      return;
                    try {
                      await call("DELETE", `/api/catalogs/${enc(item.catalog)}/shares/${enc(who)}`);
                      say("");
                      await renderLibrary();
                    } catch (error) {
                      say(error.message);
                    }
                  },
                },
                "Unshare",
              ),
            ),
          ),
        )
      : el("p", { class: "muted" }, "Not shared with anyone."),
    form,
  );
}

// Members of the hub by name, for the share forms (one <datalist> for every card).
let people = [];

async function findPeople(text) {
  const found = await call("GET", `/api/people?q=${enc(text.trim().slice(0, 64))}`);
  if (found.people) people = found.people.filter((p) => p.account !== state.me.account);
  let list = document.getElementById("people");
  if (!list) {
    list = el("datalist", { id: "people" });
    document.body.append(list);
  }
  list.replaceChildren(...people.map((p) => el("option", { value: p.name }, short(p.account))));
}

/** The account a typed name or key means: a key as it is, else exactly one member's name. */
async function accountOf(text) {
  const typed = text.trim();
  if (/^A[A-Z2-7]{55}$/.test(typed)) return typed;
  if (!typed) throw new Error("Type the name of someone on this hub.");
  await findPeople(typed);
  const folded = (name) => name.normalize("NFKC").toLowerCase().split(/\s+/).filter(Boolean).join(" ");
  const same = people.filter((p) => folded(p.name) === folded(typed));
  if (same.length === 1) return same[0].account;
  if (same.length > 1) throw new Error(`Several members are named ${typed}: paste the account key.`);
  throw new Error(
    people.length
      ? `Nobody is named ${typed}; did you mean ${people
          .slice(0, 5)
          .map((p) => p.name)
          .join(", ")}?`
      : `Nobody on this hub is named ${typed}.`,
  );
}

function sharedCard(item) {
  return el(
    "article",
    { class: "card", "data-catalog": item.catalog },
    el("h3", {}, dot(item), catalogLink(item)),
    from(item),
    item.description ? el("p", {}, item.description) : null,
    counts(item),
  );
}

function inboxCard(item) {
  const act = (path, label) =>
    el(
      "button",
      {
        type: "button",
        onclick: async (event) => {
          event.target.disabled = true;
          try {
            await call("POST", path, { owner: item.owner, catalog: item.catalog });
            say("");
            await renderLibrary();
          } catch (error) {
            say(error.message);
            event.target.disabled = false;
          }
        },
      },
      label,
    );
  return el(
    "article",
    { class: "card", "data-inbox": item.catalog },
    el("h3", {}, dot(item), item.catalog),
    from(item),
    !canChange()
      ? el("p", { class: "muted" }, "Import it from a signed-in machine: this browser is read-only.")
      : el(
          "p",
          { class: "inline" },
          act("/api/imports", `Import ${item.catalog}`),
          " ",
          act("/api/declines", `Decline ${item.catalog}`),
        ),
  );
}
