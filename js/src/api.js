// The page's /api answered over NATS in the service worker: the library as the Python
// client's library() builds it (my catalogs: those my servers announce and those I
// share; the ones imported from others; the inbox), folders, search, people, stats.
import { ask, connection } from "./conn.js";
import { refused } from "./errors.js";
import * as check from "./check.js";
import { SUBJECTS } from "./contract.js";

const SUMMARY_TIMEOUT_MS = 2000;
const SERVERS_WAIT_MS = 400;
const GLOBAL = "the hub's global service";
const decoder = new TextDecoder();

/** The subject of a global-service endpoint (one natster.endpoints names). */
export function globalSubject(endpoint) {
  const subject = SUBJECTS.global[endpoint];
  if (!subject) throw new Error(`no global endpoint ${endpoint}`);
  return subject;
}

/** The subject of an account-service endpoint. */
export function accountsSubject(endpoint) {
  const subject = SUBJECTS.accounts[endpoint];
  if (!subject) throw new Error(`no account service endpoint ${endpoint}`);
  return subject;
}

/** Where a catalog answers: mine (in my own account), or an import under its alias. */
export function subjectOf(ref, me, endpoint) {
  const name = SUBJECTS.catalog[endpoint];
  if (!name) throw new Error(`no catalog endpoint ${endpoint}`);
  return ref.local
    ? `${me}.${SUBJECTS.catalogPrefix}.${ref.catalog}.${name}`
    : `${SUBJECTS.remotePrefix}.${ref.alias}.${name}`;
}

export async function me() {
  const { session } = await connection();
  let name = session.account_name;
  try {
    name = (await ask(globalSubject("whoami"))).name;
  } catch {
    /* the name from the sign-in will do */
  }
  return {
    account: session.account,
    name,
    hub: location.host,
    csrf: "",
    device: session.name,
    rights: session.rights,
    expires_at: session.exp || null,
    hosted: true,
  };
}

async function myServers(nc, me) {
  // $SRV.INFO inside my account: my catalog servers say which catalogs they serve
  const names = new Set();
  try {
    const replies = await nc.requestMany(`$SRV.INFO.${SUBJECTS.catalogService}`, new Uint8Array(0), {
      strategy: "timer",
      maxWait: SERVERS_WAIT_MS,
    });
    for await (const msg of replies) {
      try {
        const info = JSON.parse(decoder.decode(msg.data));
        const listed = String((info.metadata && info.metadata.catalogs) || "");
        for (const name of listed.split(",")) if (check.isCatalogName(name)) names.add(name);
      } catch {
        /* a reply that is not an INFO: ignored */
      }
    }
  } catch {
    /* nobody serves: no catalog of mine is online */
  }
  return names;
}

async function summaryOf(ref, me) {
  try {
    const data = await ask(subjectOf(ref, me, "summary"), {}, SUMMARY_TIMEOUT_MS);
    return check.summary(data, `catalog ${ref.catalog}`);
  } catch {
    return null;
  }
}

export async function accountInfo() {
  const info = await ask(accountsSubject("info"));
  return Array.isArray(info && info.catalogs)
    ? info.catalogs.filter(
        (c) => check.isAccount(c.owner) && check.isCatalogName(c.catalog) && check.isCatalogName(c.alias),
      )
    : [];
}

/** What the library and search start from: my shares, my imports, the catalogs my
servers serve, and my catalogs' names (served or shared), sorted. */
async function seen() {
  const { nc, session } = await connection();
  const me = session.account;
  const [rows, imported, served] = await Promise.all([
    ask(globalSubject("my.shares")).then((data) => check.shareRows(data, GLOBAL)),
    accountInfo(),
    myServers(nc, me),
  ]);
  const mine = new Set(served);
  for (const row of rows) if (row.owner === me) mine.add(row.catalog);
  return { session, me, rows, imported, served, mine: [...mine].sort() };
}

export async function library() {
  const { session, me, rows, imported, served, mine } = await seen();
  const mySummaries = await Promise.all(
    mine.map((catalog) => (served.has(catalog) ? summaryOf({ catalog, local: true }, me) : null)),
  );
  const items = mine.map((catalog, i) => {
    const found = mySummaries[i];
    return {
      owner: me,
      owner_name: session.account_name,
      catalog,
      alias: catalog,
      mine: true,
      imported: true,
      online: found !== null,
      description: found ? found.description : "",
      files: found ? found.files : null,
      bytes: found ? found.bytes : null,
      shared_with: [
        ...new Set(rows.filter((r) => r.owner === me && r.catalog === catalog).map((r) => r.to)),
      ].sort(),
      names: Object.fromEntries(
        rows
          .filter(
            (r) => r.owner === me && r.catalog === catalog && typeof r.to_name === "string" && r.to_name,
          )
          .map((r) => [r.to, r.to_name.slice(0, 64)]),
      ),
    };
  });
  const aliases = new Map(imported.map((c) => [`${c.owner}/${c.catalog}`, c.alias]));
  const theirs = rows.filter((r) => r.to === me && r.owner !== me);
  const found = await Promise.all(
    theirs.map((row) => {
      const alias = aliases.get(`${row.owner}/${row.catalog}`);
      return row.online && alias ? summaryOf({ catalog: row.catalog, alias, local: false }, me) : null;
    }),
  );
  theirs.forEach((row, i) => {
    const alias = aliases.get(`${row.owner}/${row.catalog}`);
    items.push({
      owner: row.owner,
      owner_name: String(row.owner_name || "").slice(0, 64),
      catalog: row.catalog,
      alias: alias || row.catalog,
      mine: false,
      imported: Boolean(alias),
      online: row.online,
      description: found[i] ? found[i].description : String(row.description || "").slice(0, 1024),
      files: found[i] ? found[i].files : null,
      bytes: found[i] ? found[i].bytes : null,
      shared_with: [],
      names: {},
    });
  });
  return items;
}

/** The route to owner's catalog: mine, or my import of it (404 and words if none). */
export async function refOf(owner, catalog) {
  const { session } = await connection();
  if (!check.isAccount(owner) || !check.isCatalogName(catalog)) {
    throw refused(400, "that is not a catalog");
  }
  if (owner === session.account) return { owner, catalog, alias: catalog, local: true };
  const found = (await accountInfo()).find((c) => c.owner === owner && c.catalog === catalog);
  if (!found) throw refused(404, `${catalog} is not imported here: import it on a signed-in machine`);
  return { owner, catalog, alias: found.alias, local: false };
}

export async function entries(owner, catalog, params) {
  const ref = await refOf(owner, catalog);
  const { session } = await connection();
  const text = (params.get("q") || "").trim();
  const body = { after: params.get("after") || "", prefix: params.get("prefix") || "", limit: 500, text };
  if (body.after.length > 4096 || body.prefix.length > 4096 || text.length > 256) {
    throw refused(400, "the request was not valid");
  }
  const endpoint = text ? "search" : "contents";
  if (!text) delete body.text;
  try {
    const data = await ask(subjectOf(ref, session.account, endpoint), body);
    return check.contentsPage(data, `catalog ${catalog}`);
  } catch (error) {
    if (error.status === 503)
      throw refused(503, `${catalog} is offline: its owner is not serving it right now`);
    throw error;
  }
}

const SORTS = new Set(["name", "size", "type", "date"]);

export async function folder(owner, catalog, params) {
  const ref = await refOf(owner, catalog);
  const { session } = await connection();
  const path = (params.get("path") || "").replace(/^\/+|\/+$/g, "");
  const sort = params.get("sort") || "name";
  const offset = Number(params.get("offset") || 0);
  if (
    path.length > 4096 ||
    (path && !check.safePath(path)) ||
    !SORTS.has(sort) ||
    !Number.isSafeInteger(offset) ||
    offset < 0
  )
    throw refused(400, "the request was not valid");
  const body = { path, sort, reverse: params.get("reverse") === "true", offset, limit: 500 };
  try {
    const data = await ask(subjectOf(ref, session.account, "folder"), body);
    return check.folderPage(data, `catalog ${catalog}`, path, offset);
  } catch (error) {
    if (error.status === 503)
      throw refused(503, `${catalog} is offline: its owner is not serving it right now`);
    throw error;
  }
}

const KINDS = new Set(["video", "audio", "image", "document"]);
const SEARCH_PER_CATALOG = 50;
const SEARCH_TIMEOUT_MS = 3000;

/** One search over every catalog I can see, as the Python client's search_everywhere. */
export async function searchAll(params) {
  const text = (params.get("q") || "").trim();
  const kind = params.get("kind") || null;
  if (!text || text.length > 256 || (kind && !KINDS.has(kind)))
    throw refused(400, "the request was not valid");
  const { session, me, rows, imported, served, mine } = await seen();
  const targets = mine.map((catalog) => ({
    ref: { owner: me, catalog, alias: catalog, local: true },
    ownerName: session.account_name,
    up: served.has(catalog),
  }));
  const shared = new Map(rows.filter((r) => r.to === me).map((r) => [`${r.owner}/${r.catalog}`, r]));
  for (const item of [...imported].sort((a, b) => a.alias.localeCompare(b.alias))) {
    const row = shared.get(`${item.owner}/${item.catalog}`);
    if (row)
      targets.push({
        ref: { owner: item.owner, catalog: item.catalog, alias: item.alias, local: false },
        ownerName: String(row.owner_name || "").slice(0, 64),
        up: row.online,
      });
  }
  const body = { text, limit: SEARCH_PER_CATALOG };
  if (kind) body.kind = kind;
  const catalogs = await Promise.all(
    targets.map(async ({ ref, ownerName, up }) => {
      const head = {
        owner: ref.owner,
        owner_name: ownerName,
        catalog: ref.catalog,
        alias: ref.alias,
        mine: ref.local,
        error: null,
        entries: [],
        more: false,
      };
      if (!up) return { ...head, state: "offline" };
      try {
        const page = check.contentsPage(
          await ask(subjectOf(ref, me, "search"), body, SEARCH_TIMEOUT_MS),
          `catalog ${ref.catalog}`,
        );
        return { ...head, state: "found", entries: page.entries, more: page.next !== null };
      } catch (error) {
        const offline = error.status === 503;
        return {
          ...head,
          state: offline ? "offline" : "failed",
          error: String(error.message || error).slice(0, 300),
        };
      }
    }),
  );
  return { text, kind, catalogs };
}

/** Members of the hub whose name contains q (checked: a key and a name each). */
export async function people(params) {
  const q = String(params.get("q") || "").slice(0, 64);
  const data = await ask(globalSubject("people"), { text: q });
  const list = data && Array.isArray(data.people) ? data.people : [];
  return {
    people: list
      .filter((p) => check.isObject(p) && check.isAccount(p.account) && typeof p.name === "string")
      .slice(0, 100)
      .map((p) => ({ account: p.account, name: p.name.slice(0, 64) })),
    more: Boolean(data && data.more),
  };
}

export async function stats() {
  return await ask(globalSubject("stats"));
}
