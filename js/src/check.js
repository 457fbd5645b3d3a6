// What peers answer is checked before it is used, as the Python client's wire.parse_reply
// does: a catalog server is as hostile as anyone (docs/protocol.md, "Strict replies").
import { refused } from "./errors.js";
import { LIMITS, PATTERNS } from "./contract.js";

const ACCOUNT = PATTERNS.account;
const XKEY = PATTERNS.xkey;
const HASH = PATTERNS.hash;
const CATALOG = PATTERNS.catalog;
const MAX_PATH = LIMITS.MAX_PATH_CHARS;
const MAX_COUNT = LIMITS.MAX_COUNT;

function fail(who, what) {
  throw refused(502, `${who} sent an answer natster refuses (${what})`);
}

export const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const count = (v) => Number.isSafeInteger(v) && v >= 0 && v <= MAX_COUNT;
const text = (v, max) => typeof v === "string" && v.length <= max;

export function isAccount(v) {
  return typeof v === "string" && ACCOUNT.test(v);
}

export function isCatalogName(v) {
  return typeof v === "string" && CATALOG.test(v);
}

export function isHash(v) {
  return typeof v === "string" && HASH.test(v);
}

export function safePath(v) {
  if (typeof v !== "string" || !v || v.length > MAX_PATH) return false;
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (v.startsWith("/") || v.endsWith("/") || /[\u0000-\u001f\u007f\\]/.test(v)) return false;
  return v.split("/").every((part) => part && part !== "." && part !== "..");
}

export function summary(data, who) {
  if (!isObject(data) || !isCatalogName(data.name) || !isAccount(data.owner)) fail(who, "summary");
  if (!text(data.description, 1024) || !count(data.files) || !count(data.bytes)) fail(who, "summary");
  return data;
}

const optional = (v, ok) => v === null || v === undefined || ok(v);
const CODEC = /^[a-z0-9_]{1,32}$/;
const tag = (v) => typeof v === "string" && PATTERNS.tag.test(v);
const between = (low, high) => (v) => Number.isSafeInteger(v) && v >= low && v <= high;
const pixels = (v) => Number.isSafeInteger(v) && v >= 1 && v <= 1000000;

/** A media fact sheet, copied field by field (nothing a peer adds reaches the page). */
function media(m, who) {
  if (m === null || m === undefined) return null;
  if (
    !isObject(m) ||
    !["image", "video", "audio"].includes(m.kind) ||
    !optional(m.width, pixels) ||
    !optional(m.height, pixels) ||
    !optional(m.duration, (d) => Number.isFinite(d) && d >= 0 && d <= 1e8) ||
    !optional(m.video, (c) => typeof c === "string" && CODEC.test(c)) ||
    !optional(m.audio, (c) => typeof c === "string" && CODEC.test(c)) ||
    !["title", "artist", "album", "camera"].every((name) => optional(m[name], tag)) ||
    !optional(m.track, between(1, 9999)) ||
    !optional(m.year, between(1000, 9999)) ||
    !optional(m.taken, (t) => typeof t === "string" && PATTERNS.taken.test(t))
  )
    fail(who, "media facts");
  return {
    kind: m.kind,
    width: m.width ?? null,
    height: m.height ?? null,
    duration: m.duration ?? null,
    video: m.video ?? null,
    audio: m.audio ?? null,
    title: m.title ?? null,
    artist: m.artist ?? null,
    album: m.album ?? null,
    track: m.track ?? null,
    year: m.year ?? null,
    taken: m.taken ?? null,
    camera: m.camera ?? null,
  };
}

/** An entry, checked and copied field by field. */
function entryRow(entry, who) {
  if (
    !isObject(entry) ||
    !safePath(entry.path) ||
    !count(entry.size) ||
    !isHash(entry.hash) ||
    !text(entry.mime, 255) ||
    !text(entry.description, 1024) ||
    !optional(entry.mtime, count)
  )
    fail(who, "an entry");
  return {
    path: entry.path,
    size: entry.size,
    hash: entry.hash,
    mime: entry.mime,
    description: entry.description,
    mtime: entry.mtime ?? null,
    media: media(entry.media, who),
  };
}

export function contentsPage(data, who) {
  if (!isObject(data) || !Array.isArray(data.entries) || data.entries.length > 2000) fail(who, "page");
  const entries = data.entries.map((entry) => entryRow(entry, who));
  if (data.next !== null && !safePath(data.next)) fail(who, "next");
  if (!count(data.revision)) fail(who, "revision");
  return { entries, next: data.next, revision: data.revision };
}

/** A folder page: every row directly in ``path`` (as the Python client checks it). */
export function folderPage(data, who, path, offset) {
  if (
    !isObject(data) ||
    !Array.isArray(data.folders) ||
    !Array.isArray(data.entries) ||
    data.folders.length > 2000 ||
    data.entries.length > 2000
  )
    fail(who, "folder");
  const prefix = path ? `${path}/` : "";
  const inside = (p) => p.startsWith(prefix) && !p.slice(prefix.length).includes("/");
  const folders = data.folders.map((f) => {
    if (
      !isObject(f) ||
      !safePath(f.path) ||
      !inside(f.path) ||
      !count(f.files) ||
      !count(f.bytes) ||
      !optional(f.mtime, count)
    )
      fail(who, "a folder");
    return { path: f.path, files: f.files, bytes: f.bytes, mtime: f.mtime ?? null };
  });
  const entries = data.entries.map((entry) => entryRow(entry, who));
  if (entries.some((e) => !inside(e.path))) fail(who, "an entry outside the folder");
  if (!count(data.total) || !count(data.revision)) fail(who, "folder");
  if (data.next !== null && !(count(data.next) && data.next > offset)) fail(who, "next");
  return { folders, entries, total: data.total, next: data.next, revision: data.revision };
}

const THUMB_BOX = LIMITS.THUMB_BOX; // pixels a thumbnail's longer side has at most
const THUMB_MAX = LIMITS.THUMB_MAX_BYTES; // a thumbnail's bytes
const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/** A JPEG's [width, height] from its frame header (natster._jpeg.dimensions), or null. */
export function jpegSize(data) {
  if (data.length < 2 || data[0] !== 0xff || data[1] !== 0xd8) return null;
  let at = 2;
  while (at + 4 <= data.length) {
    if (data[at] !== 0xff) return null;
    const marker = data[at + 1];
    if (marker === 0xff) {
      at += 1;
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return null;
    const length = (data[at + 2] << 8) | data[at + 3];
    if (length < 2) return null;
    if (SOF.has(marker)) {
      if (length < 7 || at + 9 > data.length) return null;
      return [(data[at + 7] << 8) | data[at + 8], (data[at + 5] << 8) | data[at + 6]];
    }
    at += 2 + length;
  }
  return null;
}

/** Whether a peer's decrypted thumbnail may be shown: small, and at most the box a side
 * (a picture of 65500 x 65500 pixels fits in a few hundred bytes). */
export function isThumbnail(jpeg) {
  if (jpeg.length > THUMB_MAX) return false;
  const size = jpegSize(jpeg);
  return size !== null && size.every((side) => side >= 1 && side <= THUMB_BOX);
}

export function thumbnail(data, who) {
  if (
    !isObject(data) ||
    !XKEY.test(data.xkey) ||
    typeof data.data !== "string" ||
    data.data.length > 90000 ||
    !/^[A-Za-z0-9+/]*=*$/.test(data.data)
  )
    fail(who, "thumbnail");
  return data;
}

export function transferOpened(data, who, wanted) {
  if (
    !isObject(data) ||
    !text(data.transfer, 64) ||
    !PATTERNS.transfer.test(data.transfer) ||
    !XKEY.test(data.xkey) ||
    !count(data.size) ||
    !count(data.chunks) ||
    !safePath(data.path) ||
    !Number.isSafeInteger(data.chunk_size) ||
    data.chunk_size < 64 * 1024 ||
    data.chunk_size > wanted ||
    (data.span !== undefined && !(Number.isSafeInteger(data.span) && data.span >= 1))
  )
    fail(who, "transfer"); // a span over this browser's own is not asked for (files.js)
  if (data.chunks !== Math.ceil(data.size / data.chunk_size)) fail(who, "chunks");
  return data;
}

export function shareRows(data, who) {
  if (!Array.isArray(data)) fail(who, "shares");
  for (const row of data) {
    if (
      !isObject(row) ||
      !isCatalogName(row.catalog) ||
      !isAccount(row.owner) ||
      !isAccount(row.to) ||
      typeof row.online !== "boolean"
    )
      fail(who, "a share");
  }
  return data;
}
