// Shares, unshares and imports, for a browser signed in with full rights. A read-only
// browser's JWT denies these subjects: nats-server refuses them, whatever the page does.
import { ask, connection } from "./conn.js";
import { refused } from "./errors.js";
import * as check from "./check.js";
import { accountsSubject, globalSubject } from "./api.js";
import { EVENTS } from "./contract.js";

async function put(type, data) {
  return await ask(globalSubject("events.put"), { type, data });
}

function target(account, me) {
  if (!check.isAccount(account))
    throw refused(400, "that is not an account public key (A..., 56 characters)");
  if (account === me) throw refused(400, "that is your own account");
  return account;
}

export async function share(catalog, body) {
  const { session } = await connection();
  if (!check.isCatalogName(catalog)) throw refused(400, "that is not a catalog name");
  const to = target(body && body.account, session.account);
  return await put(EVENTS.shared, { owner: session.account, catalog, target: to });
}

export async function unshare(catalog, account) {
  const { session } = await connection();
  if (!check.isCatalogName(catalog)) throw refused(400, "that is not a catalog name");
  const to = target(account, session.account);
  await put(EVENTS.unshared, { owner: session.account, catalog, target: to });
  await ask(accountsSubject("imports.revoke"), { catalog, target: to });
  return { ok: true };
}

export async function importCatalog(body) {
  const { session } = await connection();
  const owner = target(body && body.owner, session.account);
  const catalog = body.catalog;
  const alias = body.alias || catalog;
  if (!check.isCatalogName(catalog) || !check.isCatalogName(alias))
    throw refused(400, "that is not a catalog name");
  const imported = await ask(accountsSubject("imports.add"), { owner, catalog, alias });
  await put(EVENTS.imported, { owner, catalog, importer: session.account });
  return imported;
}

export async function decline(body) {
  const { session } = await connection();
  const owner = target(body && body.owner, session.account);
  if (!check.isCatalogName(body.catalog)) throw refused(400, "that is not a catalog name");
  await put(EVENTS.declined, { owner, catalog: body.catalog, target: session.account });
  return { ok: true };
}
