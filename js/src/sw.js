// natster's service worker: the hub's web app's backend, in the browser. The page (the
// same views as the local `natster web`) asks /api/... as it would ask the local UI;
// this worker answers over NATS (wss to the hub) as this browser's own user, and
// decrypts files here, with HTTP Range for the player. Nothing is decrypted by the hub.
import { connection, onSignedOut, signedOutReason } from "./conn.js";
import { refused } from "./errors.js";
import { SUBJECTS } from "./contract.js";
import { file, thumb } from "./files.js";
import { json, problem } from "./http.js";
import { entries, folder, library, me, people, searchAll, stats } from "./api.js";
import * as changes from "./changes.js";
import * as signin from "./signin.js";
import { ready } from "./xkv1.js";

const encoder = new TextEncoder();
const KEEPALIVE_MS = 15000;

const worker = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));

worker.addEventListener("install", () => worker.skipWaiting());
worker.addEventListener("activate", (event) => event.waitUntil(worker.clients.claim()));

worker.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== worker.location.origin) return;
  if (url.pathname.startsWith("/api/")) {
    event.respondWith(answer(event.request, url).catch(problem)); // downloads too
  } else if (event.request.mode === "navigate") {
    // a reload while the hub is down: words from here, not the browser's error page
    event.respondWith(fetch(event.request).catch(() => offline()));
  }
});

const OFFLINE_RETRY_S = 5;

/** The page shown when the hub's web app cannot be reached: it tries again by itself. */
function offline() {
  const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>natster: can't reach the hub</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1a202c}</style>
</head><body><h1 id="hub-away">Can't reach the hub, reconnecting...</h1>
<p>natster tries again every ${OFFLINE_RETRY_S} seconds; this page comes back by itself when the hub does.</p>
<script>setTimeout(() => location.reload(), ${OFFLINE_RETRY_S * 1000});</script>
</body></html>`;
  return new Response(page, {
    status: 503,
    headers: {
      "Content-Type": "text/html; charset=utf-8",
      "Cache-Control": "no-store",
      "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
    },
  });
}

/** @type {Array<[string, RegExp, (req: Request, url: URL, m: string[]) => Promise<Response>]>} */
const routes = [
  ["GET", /^\/api\/me$/, () => me().then(json)],
  [
    "POST",
    /^\/api\/signin\/start$/,
    (req) => signin.start(req.headers.get("user-agent") || navigator.userAgent).then(json),
  ],
  ["POST", /^\/api\/signin\/wait$/, () => signin.wait().then(json)],
  ["POST", /^\/api\/signout$/, () => signin.signOut().then(() => json({ ok: true }))],
  ["GET", /^\/api\/catalogs$/, () => library().then(json)],
  [
    "GET",
    /^\/api\/catalogs\/([^/]+)\/([^/]+)\/entries$/,
    (req, url, m) => entries(m[1], m[2], url.searchParams).then(json),
  ],
  [
    "GET",
    /^\/api\/catalogs\/([^/]+)\/([^/]+)\/folder$/,
    (req, url, m) => folder(m[1], m[2], url.searchParams).then(json),
  ],
  ["GET", /^\/api\/search$/, (req, url) => searchAll(url.searchParams).then(json)],
  ["GET", /^\/api\/thumbs\/([^/]+)\/([^/]+)\/([^/]+)$/, (req, url, m) => thumb(m[1], m[2], m[3])],
  [
    "GET",
    /^\/api\/files\/([^/]+)\/([^/]+)\/([^/]+)$/,
    (req, url, m) => file(req, m[1], m[2], m[3], url.searchParams),
  ],
  [
    "HEAD",
    /^\/api\/files\/([^/]+)\/([^/]+)\/([^/]+)$/,
    (req, url, m) => file(req, m[1], m[2], m[3], url.searchParams),
  ],
  ["GET", /^\/api\/stats$/, () => stats().then(json)],
  ["GET", /^\/api\/people$/, (req, url) => people(url.searchParams).then(json)],
  ["GET", /^\/api\/events$/, () => events()],
  [
    "POST",
    /^\/api\/catalogs\/([^/]+)\/shares$/,
    async (req, url, m) => json(await changes.share(m[1], await req.json())),
  ],
  [
    "DELETE",
    /^\/api\/catalogs\/([^/]+)\/shares\/([^/]+)$/,
    (req, url, m) => changes.unshare(m[1], m[2]).then(json),
  ],
  ["POST", /^\/api\/imports$/, async (req) => json(await changes.importCatalog(await req.json()))],
  ["POST", /^\/api\/declines$/, async (req) => json(await changes.decline(await req.json()))],
];

async function answer(request, url) {
  await ready;
  for (const [method, pattern, handler] of routes) {
    const match = pattern.exec(url.pathname);
    if (match && method === request.method) {
      const parts = match.map((part, i) => (i ? decodeURIComponent(part) : part));
      return await handler(request, url, parts);
    }
  }
  throw refused(404, "no such page");
}

/** Server-sent events, as the local UI's /api/events: `feed`, `hub` (`{reachable}`: the
 * connection dropped, or is back), and `signedout` in words. */
async function events() {
  const { nc } = await connection();
  let sub = null;
  let timer = null;
  let stopWatching = null;
  const stream = new ReadableStream({
    start(controller) {
      const send = (event, data) =>
        controller.enqueue(encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
      controller.enqueue(encoder.encode("retry: 2000\n\n"));
      sub = nc.subscribe(SUBJECTS.feed, {
        callback: (error, msg) => {
          if (error) return;
          try {
            const event = msg.json();
            if (event && typeof event.kind === "string" && typeof event.owner === "string")
              send("feed", event);
          } catch {
            /* not an event: dropped */
          }
        },
      });
      (async () => {
        for await (const status of nc.status()) {
          if (status.type === "disconnect") send("hub", { reachable: false });
          if (status.type === "reconnect") send("hub", { reachable: true });
        }
      })().catch(() => {
        /* the connection closed: the stream ends with it */
      });
      timer = setInterval(() => controller.enqueue(encoder.encode(": keepalive\n\n")), KEEPALIVE_MS);
      stopWatching = onSignedOut((reason) => {
        stopWatching();
        clearInterval(timer);
        if (sub) sub.unsubscribe();
        send("signedout", { reason });
        controller.close();
      });
      nc.closed().then(() => {
        if (signedOutReason()) return;
        stopWatching();
        clearInterval(timer);
        try {
          controller.close();
        } catch {
          /* already closed */
        }
      });
    },
    cancel() {
      clearInterval(timer);
      if (stopWatching) stopWatching();
      if (sub) sub.unsubscribe();
    },
  });
  return new Response(stream, {
    headers: { "Content-Type": "text/event-stream", "Cache-Control": "no-store" },
  });
}
