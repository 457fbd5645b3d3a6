// The browser's NATS connection, over wss to the hub, as this browser's own user (a
// device of the account: its JWT and seed, from IndexedDB). Requests use natster's
// envelope; a connection the hub cut off (revoked, expired) says so in words.
import { wsconnect, jwtAuthenticator, errors as natsErrors } from "@nats-io/nats-core";
import { forget, load } from "./store.js";
import { refused } from "./errors.js";
import { SUBJECTS } from "./contract.js";

export const REQUEST_TIMEOUT_MS = 5000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

let config = null;
let current = null; // { nc, session }
let connecting = null;
let cutOff = null; // why this browser was signed out, once the hub said so
const listeners = new Set();

export async function hubConfig() {
  if (config === null) {
    const response = await fetch("/config.json", { cache: "no-store" });
    if (!response.ok) throw refused(503, "the hub's web server did not answer: try again");
    config = await response.json();
  }
  return config;
}

export function onSignedOut(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function signedOutReason() {
  return cutOff;
}

export function reasonFor(session, error) {
  const expired = session.exp && Date.now() / 1000 >= session.exp;
  if (expired) return "This browser's sign-in expired. Sign in again with a new code.";
  const text = String(error && (error.message || error)).toLowerCase();
  if (text.includes("revoked")) {
    return "This browser was signed out: its key was revoked (natster device revoke).";
  }
  return "This browser was signed out: the hub no longer accepts its key (revoked or expired).";
}

function authFailure(error) {
  return (
    error instanceof natsErrors.AuthorizationError ||
    error instanceof natsErrors.UserAuthenticationExpiredError ||
    /authoriz|authenticat|revoked|expired/i.test(String(error && error.message))
  );
}

async function signOut(session, error) {
  cutOff = reasonFor(session, error);
  const nc = current && current.nc;
  current = null;
  await forget("session").catch(() => {}); // dead for good: a new sign-in makes new keys
  if (nc) nc.close().catch(() => {});
  for (const listener of [...listeners]) {
    try {
      listener(cutOff);
    } catch {
      /* a stream already gone */
    }
  }
}

export async function connectAs(servers, jwt, seed, options = {}) {
  return await wsconnect({
    servers,
    authenticator: jwtAuthenticator(jwt, encoder.encode(seed)),
    name: options.name || "natster-browser",
    inboxPrefix: options.inboxPrefix,
    timeout: 5000,
    maxReconnectAttempts: options.reconnect === false ? 0 : -1,
    reconnectTimeWait: 1000,
  });
}

export async function session() {
  return (await load("session")) || null;
}

/** The open connection (made on first use), or 401 when this browser is not signed in. */
export async function connection() {
  if (current && !current.nc.isClosed()) return current;
  if (connecting) return await connecting;
  connecting = (async () => {
    const signedIn = await session();
    if (!signedIn) throw refused(401, cutOff || "This browser is not signed in.");
    if (signedIn.exp && Date.now() / 1000 >= signedIn.exp) {
      await signOut(signedIn, null);
      throw refused(401, cutOff);
    }
    const { servers } = await hubConfig();
    let nc;
    try {
      // its own inbox: the only one its JWT lets it read (docs/security.md)
      nc = await connectAs(servers, signedIn.jwt, signedIn.seed, {
        inboxPrefix: signedIn.user ? `${SUBJECTS.inbox}${signedIn.user}` : undefined,
      });
    } catch (error) {
      if (authFailure(error)) {
        await signOut(signedIn, error);
        throw refused(401, cutOff);
      }
      throw refused(503, "the hub cannot be reached: try again in a moment");
    }
    cutOff = null;
    current = { nc, session: signedIn };
    watch(nc, signedIn);
    return current;
  })();
  try {
    return await connecting;
  } finally {
    connecting = null;
  }
}

async function watch(nc, signedIn) {
  (async () => {
    for await (const status of nc.status()) {
      if (status.type === "error" && authFailure(status.error)) {
        await signOut(signedIn, status.error);
        return;
      }
    }
  })().catch(() => {});
  const closed = await nc.closed();
  if (current && current.nc === nc) {
    if (closed && authFailure(closed)) await signOut(signedIn, closed);
    else current = null;
  }
}

export async function dropConnection() {
  const nc = current && current.nc;
  current = null;
  cutOff = null;
  if (nc) await nc.close().catch(() => {});
}

/** A natster request: JSON in, the envelope's data out (ApiError with its code). */
export async function ask(subject, body = {}, timeout = REQUEST_TIMEOUT_MS, nc = null) {
  const reply = await askRaw(subject, encoder.encode(JSON.stringify(body)), timeout, nc);
  let envelope;
  try {
    envelope = JSON.parse(decoder.decode(reply));
  } catch {
    throw refused(502, "the service sent a reply natster cannot read");
  }
  if (!envelope || typeof envelope !== "object" || typeof envelope.code !== "number") {
    throw refused(502, "the service sent a reply natster cannot read");
  }
  if (envelope.code !== 200) {
    const status = envelope.code >= 400 && envelope.code < 600 ? envelope.code : 502;
    throw refused(
      status,
      typeof envelope.error === "string"
        ? envelope.error.slice(0, 500)
        : `the service refused (code ${envelope.code})`,
    );
  }
  return envelope.data;
}

export async function askRaw(subject, payload, timeout = REQUEST_TIMEOUT_MS, nc = null) {
  const conn = nc || (await connection()).nc;
  try {
    return (await conn.request(subject, payload, { timeout })).data;
  } catch (error) {
    if (
      error instanceof natsErrors.NoRespondersError ||
      (error && error.cause instanceof natsErrors.NoRespondersError)
    ) {
      throw refused(503, "nobody answers there right now (offline?)");
    }
    if (
      error instanceof natsErrors.TimeoutError ||
      (error && error.cause instanceof natsErrors.TimeoutError)
    ) {
      throw refused(504, "no answer in time: try again");
    }
    if (
      error instanceof natsErrors.PermissionViolationError ||
      error?.cause instanceof natsErrors.PermissionViolationError ||
      /permissions violation/i.test(String(error?.message))
    ) {
      throw refused(403, "this browser may not do that (its rights are read-only)");
    }
    throw refused(503, `the connection to the hub failed: ${error && error.message}`);
  }
}
