// A shared file's bytes over NATS, decrypted here, for the page's <video>, <audio>, <img>
// and downloads (the transfer protocol of docs/protocol.md, chunk binding checked).
import { ask, askRaw, connection } from "./conn.js";
import { refused } from "./errors.js";
import * as check from "./check.js";
import { disposition, FILE_CSP, NotSatisfiable, parseRange, presentation } from "./http.js";
import { refOf, subjectOf } from "./api.js";
import { Flow } from "./flow.js";
import { freshKey, openChunk, sha256, sharedKey } from "./xkv1.js";
import { LIMITS } from "./contract.js";

const CHUNK = LIMITS.CHUNK_SIZE; // a transfer's chunks; a request asks for a span of them
const MAX_SPAN = LIMITS.MAX_SPAN;
const TAPER = 2; // a request asks for at most half of the chunks still to ask for
const DOWNLOAD = { firstSpan: 4, firstSpans: 4, maxInFlight: 32 * 1024 * 1024 };
const STREAM = {
  firstSpan: 1, // a player's range: its first byte soon, and less in flight (a seek waits behind it)
  maxInFlight: 4 * 1024 * 1024,
  slack: LIMITS.STREAM_SLACK_S,
  slackSpans: LIMITS.STREAM_SLACK_SPANS,
};
const CHUNK_RETRIES = LIMITS.CHUNK_RETRIES;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

class Transfer {
  constructor(ref, me, hash, wanted) {
    this.ref = ref;
    this.me = me;
    this.hash = hash;
    this.wanted = wanted;
    this.opened = null;
    this.shared = null;
    this.size = null;
  }

  subject(endpoint) {
    return subjectOf(this.ref, this.me, endpoint);
  }

  async open() {
    const kp = freshKey(); // one per transfer, never reused
    try {
      const began = performance.now();
      const data = await ask(this.subject("transfer-open"), {
        hash: this.hash,
        xkey: kp.getPublicKey(),
        chunk_size: this.wanted,
      });
      this.roundTrip = (performance.now() - began) / 1000;
      const opened = check.transferOpened(data, `catalog ${this.ref.catalog}`, this.wanted);
      if (this.opened && (opened.size !== this.size || opened.chunk_size !== this.opened.chunk_size)) {
        throw refused(409, "the file changed on its owner's machine: open it again");
      }
      this.size = opened.size;
      this.opened = opened;
      this.shared = sharedKey(kp, opened.xkey);
    } finally {
      kp.clear();
    }
    return this;
  }

  /** Chunks index .. index + count - 1 (one reply), asked again only when late. */
  async chunk(index, count, flow) {
    const size = Math.min(count * this.opened.chunk_size, this.size - index * this.opened.chunk_size);
    for (let attempt = 0; attempt <= CHUNK_RETRIES; attempt++) {
      const { transfer } = this.opened;
      const body = count > 1 ? { transfer, index, count } : { transfer, index };
      const asked = flow.asking(size);
      let raw;
      try {
        raw = await askRaw(
          this.subject("transfer-chunk"),
          encoder.encode(JSON.stringify(body)),
          asked.allowance,
        );
      } catch (error) {
        flow.givenUp(asked);
        if (error.status === 504 || error.status === 503) continue;
        throw error;
      }
      if (!(raw[0] === 120 && raw[1] === 107 && raw[2] === 118 && raw[3] === 49)) {
        flow.givenUp(asked);
        let envelope = null;
        try {
          envelope = JSON.parse(decoder.decode(raw));
        } catch {
          /* below */
        }
        if (envelope && envelope.code === 404) {
          // the server forgot it (restarted)
          if (this.opened.transfer === transfer) await this.open();
          continue;
        }
        const status = envelope && envelope.code >= 400 && envelope.code < 600 ? envelope.code : 502;
        throw refused(
          status,
          envelope && typeof envelope.error === "string"
            ? envelope.error.slice(0, 300)
            : "the server sent a chunk natster cannot read",
        );
      }
      const aad = count > 1 ? `${transfer}:${index}+${count}` : `${transfer}:${index}`;
      const plain = openChunk(raw, this.shared, aad);
      if (plain.length !== size) throw refused(502, `chunk ${index} has the wrong length`);
      flow.delivered(asked, plain.length);
      return plain;
    }
    throw refused(504, `the transfer stalled: no answer for chunk ${index}`);
  }

  close() {
    // sent, not waited for: a lost one is an abandoned transfer, freed in 30 s
    if (!this.opened) return;
    const body = { transfer: this.opened.transfer };
    this.opened = null;
    ask(this.subject("transfer-close"), body).catch(() => {});
  }
}

/** A stream of bytes [start, end), as much asked ahead as the link allows; hashed if asked. */
function byteStream(transfer, start, end, use, verify, done) {
  const size = transfer.opened.chunk_size;
  const flow = new Flow(size, { ...use, maxSpan: Math.min(MAX_SPAN, transfer.opened.span || 1) });
  flow.roundTrip(transfer.roundTrip);
  let next = Math.floor(start / size);
  const stop = end > start ? Math.floor((end - 1) / size) + 1 : next;
  const pending = [];
  const hash = verify ? sha256() : null;
  const askAhead = () => {
    while (next < stop) {
      // smaller spans towards the end (the hub forwards a message once it has all of it)
      const count = Math.min(flow.span(), Math.max(1, Math.floor((stop - next) / TAPER)));
      const bytes = Math.min(count * size, transfer.size - next * size);
      if (pending.length && !flow.mayAsk(bytes)) break;
      const index = next;
      next += count;
      const promise = transfer.chunk(index, count, flow).then((data) => [index, data]);
      promise.catch(() => {});
      pending.push(promise);
    }
  };
  return new ReadableStream(
    {
      async pull(controller) {
        try {
          askAhead();
          if (!pending.length) {
            if (hash && hash.hex() !== transfer.hash) {
              throw refused(502, "the file does not match its sha256: nothing was kept");
            }
            done(false);
            controller.close();
            return;
          }
          const [index, data] = await pending.shift();
          askAhead();
          const base = index * size;
          const piece = data.subarray(Math.max(start, base) - base, Math.min(end, base + data.length) - base);
          if (hash) hash.update(piece);
          controller.enqueue(piece);
        } catch (error) {
          done(true);
          controller.error(error);
        }
      },
      cancel() {
        // the player went elsewhere (a seek): the transfer is fine for the next range
        done(false);
      },
    },
    { highWaterMark: 0 },
  );
}

const REUSE_MS = 5000; // a file's transfer is kept this long for its next range
const open = new Map(); // `${owner}/${catalog}/${hash}` -> { transfer, users, timer, failed }

/** The file's open transfer (a player's next range reads through it: no transfer-open,
 * a round trip to the owner before its first byte), or a new one. */
async function take(key, opening) {
  const held = open.get(key);
  if (held && !held.failed) {
    clearTimeout(held.timer);
    held.users += 1;
    return held.transfer;
  }
  const transfer = await opening();
  if (!open.has(key) || open.get(key).failed) open.set(key, { transfer, users: 1, timer: 0, failed: false });
  return transfer;
}

/** Done with it (once): kept REUSE_MS for another range; closed after its last if it failed. */
function giveBack(key, transfer) {
  let given = false;
  return (failed) => {
    if (given) return;
    given = true;
    const held = open.get(key);
    if (!held || held.transfer !== transfer) {
      transfer.close();
      return;
    }
    held.users -= 1;
    held.failed = held.failed || failed;
    if (held.users > 0) return;
    if (held.failed) {
      open.delete(key);
      transfer.close();
      return;
    }
    held.timer = setTimeout(() => {
      if (open.get(key) === held && held.users <= 0) {
        open.delete(key);
        transfer.close();
      }
    }, REUSE_MS);
  };
}

export async function file(request, owner, catalog, fileHash, params) {
  if (!check.isHash(fileHash)) throw refused(400, "that is not a sha256");
  const download = params.get("download") === "1";
  const ref = await refOf(owner, catalog);
  const { session } = await connection();
  // the catalog server shrinks it to what its serving account carries (this browser's
  // own account sends small requests only, so its max_payload says nothing of chunks)
  const key = `${owner}/${catalog}/${fileHash}`;
  const transfer = await take(key, () => new Transfer(ref, session.account, fileHash, CHUNK).open());
  const done = giveBack(key, transfer);
  const size = transfer.size;
  const [type, inline] = presentation(params.get("mime"));
  const headers = {
    "Accept-Ranges": "bytes",
    "Content-Type": type,
    "Content-Disposition": disposition(transfer.opened.path, inline && !download),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
  };
  if (type !== "application/pdf") headers["Content-Security-Policy"] = FILE_CSP;
  let range;
  try {
    range = download ? null : parseRange(request.headers.get("range"), size);
  } catch (error) {
    done(false);
    if (error instanceof NotSatisfiable) {
      return new Response(null, { status: 416, headers: { "Content-Range": `bytes */${size}` } });
    }
    throw error;
  }
  const [start, end] = range || [0, size];
  headers["Content-Length"] = String(end - start);
  if (range) headers["Content-Range"] = `bytes ${start}-${end - 1}/${size}`;
  if (request.method === "HEAD") {
    done(false);
    return new Response(null, { status: range ? 206 : 200, headers });
  }
  const body = byteStream(transfer, start, end, download ? DOWNLOAD : STREAM, download, done);
  return new Response(body, { status: range ? 206 : 200, headers });
}

const THUMB_TIMEOUT_MS = 25000;
const THUMBS_KEPT = 400;
const thumbs = new Map(); // decrypted thumbnails, in this worker's memory only (never on disk)

/** A file's thumbnail: made and sealed on its owner's machine, opened here. */
export async function thumb(owner, catalog, fileHash) {
  if (!check.isHash(fileHash)) throw refused(400, "that is not a sha256");
  const ref = await refOf(owner, catalog);
  const key = `${owner}/${catalog}/${fileHash}`;
  let jpeg = thumbs.get(key);
  if (!jpeg) {
    const { session } = await connection();
    const kp = freshKey(); // this request's only
    try {
      const data = check.thumbnail(
        await ask(
          subjectOf(ref, session.account, "thumbnail"),
          { hash: fileHash, xkey: kp.getPublicKey() },
          THUMB_TIMEOUT_MS,
        ),
        `catalog ${catalog}`,
      );
      const sealed = Uint8Array.from(atob(data.data), (c) => c.charCodeAt(0));
      jpeg = openChunk(sealed, sharedKey(kp, data.xkey), `thumb:${fileHash}`);
    } finally {
      kp.clear();
    }
    if (!check.isThumbnail(jpeg)) {
      throw refused(502, `catalog ${catalog} sent a thumbnail that is not a small JPEG`);
    }
    thumbs.set(key, jpeg);
    if (thumbs.size > THUMBS_KEPT) thumbs.delete(thumbs.keys().next().value);
  }
  return new Response(jpeg, {
    headers: {
      "Content-Type": "image/jpeg",
      "X-Content-Type-Options": "nosniff",
      "Cache-Control": "private, max-age=86400",
      "Content-Security-Policy": FILE_CSP,
    },
  });
}
