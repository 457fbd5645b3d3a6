// What peers answer is checked before it is used, as the Python client's wire.parse_reply
// does: a catalog server is as hostile as anyone (docs/protocol.md, "Strict replies").
import { refused } from "./errors.js";

const ACCOUNT = /^A[A-Z2-7]{55}$/;
const XKEY = /^X[A-Z2-7]{55}$/;
const HASH = /^[0-9a-f]{64}$/;
const CATALOG = /^[a-z0-9_-]{1,64}$/;
const MAX_PATH = 4096;
const MAX_COUNT = 2 ** 53;

function fail(who, what) {
  throw refused(502, `${who} sent an answer natster refuses (${what})`);
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
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
  if (v.startsWith("/") || v.endsWith("/") || /[\u0000-\u001f\u007f\\]/.test(v)) return false;
  return v.split("/").every((part) => part && part !== "." && part !== "..");
}

export function summary(data, who) {
  if (!isObject(data) || !isCatalogName(data.name) || !isAccount(data.owner)) fail(who, "summary");
  if (!text(data.description, 1024) || !count(data.files) || !count(data.bytes)) fail(who, "summary");
  return data;
}

export function contentsPage(data, who) {
  if (!isObject(data) || !Array.isArray(data.entries) || data.entries.length > 2000) fail(who, "page");
  for (const entry of data.entries) {
    if (!isObject(entry) || !safePath(entry.path) || !count(entry.size) || !isHash(entry.hash)
      || !text(entry.mime, 255) || !text(entry.description, 1024)) fail(who, "an entry");
  }
  if (data.next !== null && !safePath(data.next)) fail(who, "next");
  if (!count(data.revision)) fail(who, "revision");
  return data;
}

export function transferOpened(data, who, wanted) {
  if (!isObject(data) || !text(data.transfer, 64) || !/^[0-9a-f]{32}$/.test(data.transfer)
    || !XKEY.test(data.xkey) || !count(data.size) || !count(data.chunks) || !safePath(data.path)
    || !Number.isSafeInteger(data.chunk_size) || data.chunk_size < 64 * 1024
    || data.chunk_size > wanted) fail(who, "transfer");
  if (data.chunks !== Math.ceil(data.size / data.chunk_size)) fail(who, "chunks");
  return data;
}

export function shareRows(data, who) {
  if (!Array.isArray(data)) fail(who, "shares");
  for (const row of data) {
    if (!isObject(row) || !isCatalogName(row.catalog) || !isAccount(row.owner) || !isAccount(row.to)
      || typeof row.online !== "boolean") fail(who, "a share");
  }
  return data;
}
