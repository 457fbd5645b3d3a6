// Signing this browser in (docs/protocol.md, "Signing a browser in"): a fresh user key
// and xkey made here, their public halves offered through the hub as its guest, the
// grant opened with the xkey. No seed leaves the browser; no other seed enters it.
import { createUser, fromCurveSeed } from "@nats-io/nkeys";
import { ask, connectAs, dropConnection, hubConfig } from "./conn.js";
import { refused } from "./errors.js";
import { globalSubject } from "./api.js";
import { PATTERNS, SUBJECTS } from "./contract.js";
import { forget, load, save } from "./store.js";
import { freshKey, openFrom } from "./xkv1.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
let guest = null; // { nc, code }

function label(userAgent) {
  const browser = /Firefox\//.test(userAgent)
    ? "Firefox"
    : /Edg\//.test(userAgent)
      ? "Edge"
      : /Chrom(e|ium)\//.test(userAgent)
        ? "Chromium"
        : /Safari\//.test(userAgent)
          ? "Safari"
          : "Browser";
  const system = /Android/.test(userAgent)
    ? "Android"
    : /iPhone|iPad/.test(userAgent)
      ? "iOS"
      : /Mac OS X/.test(userAgent)
        ? "macOS"
        : /Windows/.test(userAgent)
          ? "Windows"
          : /Linux/.test(userAgent)
            ? "Linux"
            : "";
  return system ? `${browser} on ${system}` : browser;
}

/** base64url (padded or not) to bytes: JWT parts and sealed grants. */
function fromBase64url(text) {
  const b64 = String(text).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, "=")), (c) => c.charCodeAt(0));
}

function payloadOf(jwt) {
  return JSON.parse(decoder.decode(fromBase64url(String(jwt).split(".")[1] || "")));
}

async function guestConnection(pending) {
  if (guest && guest.code === pending.code && !guest.nc.isClosed()) return guest.nc;
  const { servers } = await hubConfig();
  const nc = await connectAs(servers, pending.guest_jwt, pending.user_seed, {
    name: "natster-signin-page",
    inboxPrefix: `${SUBJECTS.inbox}${pending.user}`,
    reconnect: false,
  });
  guest = { nc, code: pending.code };
  return nc;
}

function closeGuest() {
  if (guest) guest.nc.close().catch(() => {});
  guest = null;
}

/** A new code to show (a new pair of keys each time). */
export async function start(userAgent) {
  closeGuest();
  const user = createUser();
  const xkey = freshKey();
  const userKey = user.getPublicKey();
  const response = await fetch("/signin/guest", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: userKey }),
  });
  if (!response.ok) {
    const said = await response.json().catch(() => ({}));
    throw refused(
      response.status,
      typeof said.error === "string" ? said.error : "the hub refused to start a sign-in",
    );
  }
  const { jwt } = await response.json();
  const pending = {
    user: userKey,
    user_seed: decoder.decode(user.getSeed()),
    xkey_seed: decoder.decode(xkey.getSeed()),
    guest_jwt: jwt,
    code: null,
  };
  const nc = await guestConnection(pending);
  const offered = await ask(
    globalSubject("signin.offer"),
    { user: userKey, xkey: xkey.getPublicKey(), label: label(userAgent) },
    5000,
    nc,
  );
  pending.code = offered.code;
  guest.code = offered.code;
  pending.expires_at = Date.now() / 1000 + offered.expires_in;
  await save("pending", pending);
  return { code: offered.code, expires_in: offered.expires_in };
}

/** Granted yet? Once it is, this browser is signed in (its session saved). */
export async function wait() {
  const pending = await load("pending");
  if (!pending || !pending.code || Date.now() / 1000 > pending.expires_at) {
    await forget("pending");
    throw refused(410, "That code expired: start again for a new one.");
  }
  let answer;
  try {
    answer = await ask(
      globalSubject("signin.wait"),
      { code: pending.code },
      5000,
      await guestConnection(pending),
    );
  } catch (error) {
    if (error.status === 404) {
      await forget("pending");
      closeGuest();
      throw refused(410, "That code expired or was used: start again for a new one.");
    }
    throw error;
  }
  if (answer.state !== "granted") return { state: "waiting" };
  const sealed = fromBase64url(answer.sealed);
  const xkey = fromCurveSeed(encoder.encode(pending.xkey_seed));
  let grant;
  try {
    grant = JSON.parse(decoder.decode(openFrom(sealed, answer.xkey, xkey)));
  } finally {
    xkey.clear();
  }
  const claims = payloadOf(grant.jwt);
  if (claims.sub !== pending.user || !PATTERNS.account.test(claims.iss)) {
    throw refused(502, "the sign-in grant is not for this browser's key");
  }
  await save("session", {
    jwt: grant.jwt,
    seed: pending.user_seed,
    user: pending.user,
    account: claims.iss,
    account_name: String(grant.account_name || "").slice(0, 64),
    name: String(grant.name || ""),
    rights: grant.rights === "full" ? "full" : "read-only",
    exp: claims.exp || null,
  });
  await forget("pending");
  closeGuest();
  await dropConnection();
  return { state: "granted" };
}

export async function signOut() {
  await forget("session");
  await forget("pending");
  closeGuest();
  await dropConnection();
}
