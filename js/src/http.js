// HTTP for the page, as the local web UI answers it (src/natster/web/_ranges.py): one
// byte range, what renders inline, the file's own name, JSON errors.
const RANGE = /^bytes=(\d{0,18})-(\d{0,18})$/;
const INLINE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp", "image/avif"]);
const PLAIN_TEXT = new Set(["text/plain", "text/markdown", "text/csv", "application/json"]);
export const FILE_CSP =
  "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'";

export class NotSatisfiable extends Error {}

/** [start, end) asked for, or null for the whole file. */
export function parseRange(header, size) {
  if (!header || header.length > 200) return null;
  const match = RANGE.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return null;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0) throw new NotSatisfiable();
    return size ? [Math.max(0, size - suffix), size] : null;
  }
  const start = Number(match[1]);
  if (start >= size) throw new NotSatisfiable();
  const end = match[2] === "" ? size : Math.min(size, Number(match[2]) + 1);
  return end <= start ? null : [start, end];
}

/** [Content-Type, inline?]: only safe types render on the app's origin. */
/** @returns {[string, boolean]} the type to answer with, and whether it shows inline */
export function presentation(mime) {
  const type = String(mime || "application/octet-stream")
    .toLowerCase()
    .split(";")[0]
    .trim();
  if (INLINE_TYPES.has(type) || type.startsWith("video/") || type.startsWith("audio/")) return [type, true];
  if (type === "application/pdf") return [type, true];
  if (PLAIN_TEXT.has(type) || type.startsWith("text/")) return ["text/plain; charset=utf-8", true];
  return ["application/octet-stream", false];
}

export function disposition(path, inline) {
  const name = path.split("/").pop() || "download";
  const ascii = [...name]
    .map((c) => (c.charCodeAt(0) >= 32 && c.charCodeAt(0) < 127 && c !== '"' && c !== "\\" ? c : "_"))
    .join("");
  return `${inline ? "inline" : "attachment"}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

export function json(data, status = 200) {
  return new Response(JSON.stringify(data), {
    status,
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store" },
  });
}

export function problem(error) {
  const status = Number.isInteger(error && error.status) ? error.status : 500;
  const message = status === 500 ? "internal error" : String(error.message || "error");
  if (status === 500) console.error(error);
  return json({ error: message }, status);
}
