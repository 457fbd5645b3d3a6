// The viewer: the file the URL names (…&open=PATH), over its folder. Back closes it;
// arrow keys, swipes and the big buttons move to the previous or next file; a film
// resumes where this browser left it, with the subtitles beside it as tracks; a format
// this browser cannot play says so and offers the download.
import {
  baseName,
  call,
  clock,
  el,
  enc,
  fileUrl,
  hosted,
  kindOf,
  libraryItem,
  say,
  size,
  thumbUrl,
} from "./core.js";

const dialog = /** @type {HTMLDialogElement} */ (document.getElementById("viewer"));
const body = document.getElementById("viewer-body");
const titleLine = document.getElementById("viewer-title");
const counter = document.getElementById("viewer-count");
const download = /** @type {HTMLAnchorElement} */ (document.getElementById("viewer-download"));
const note = document.getElementById("viewer-note");
const awayLine = document.getElementById("viewer-away"); // the owner is offline, in words
const prevButton = /** @type {HTMLButtonElement} */ (document.getElementById("viewer-prev"));
const nextButton = /** @type {HTMLButtonElement} */ (document.getElementById("viewer-next"));
const RESUME_MIN_S = 2; // resumed from past this, and before 90% of it (then: from the start)
const SUBTITLE_MAX = 2 * 1024 * 1024;
let current = null; // { view, index, entry }
let closingFromRoute = false;
let openedHere = false; // the open URL was pushed by this page: Back returns to the folder

/** Open a file of a listing: the URL changes (so Back closes it); the route shows it. */
export function openViewer(view, index) {
  const entry = view.entries[index];
  const query = new URLSearchParams(location.hash.split("?")[1] || "");
  query.set("open", entry.path);
  openedHere = true;
  location.hash = `${location.hash.split("?")[0]}?${query}`;
}

export const isOpen = () => dialog.open;

/** The route says no file is open: close the viewer without going back again. */
export function closeFromRoute() {
  if (!dialog.open) return;
  closingFromRoute = true;
  dialog.close();
}

dialog.addEventListener("close", () => {
  stopMedia();
  body.replaceChildren();
  current = null;
  if (closingFromRoute) {
    closingFromRoute = false;
    return;
  }
  if (openedHere) {
    openedHere = false;
    history.back();
    return;
  }
  const [where, search] = location.hash.split("?");
  const query = new URLSearchParams(search || "");
  query.delete("open");
  const rest = query.toString();
  history.replaceState(null, "", `${where}${rest ? "?" + rest : ""}`);
});
document.getElementById("viewer-close").addEventListener("click", () => dialog.close());
prevButton.addEventListener("click", () => step(-1));
nextButton.addEventListener("click", () => step(1));
document.addEventListener("keydown", (event) => {
  if (!dialog.open || event.altKey || event.ctrlKey || event.metaKey) return;
  if (
    ["INPUT", "VIDEO", "AUDIO", "SELECT", "TEXTAREA"].includes(/** @type {Element} */ (event.target).tagName)
  )
    return;
  if (event.key === "ArrowRight") {
    event.preventDefault();
    step(1);
  }
  if (event.key === "ArrowLeft") {
    event.preventDefault();
    step(-1);
  }
});
let touchX = null;
body.addEventListener(
  "touchstart",
  (event) => {
    touchX = event.touches.length === 1 ? event.touches[0].clientX : null;
  },
  { passive: true },
);
body.addEventListener("touchend", (event) => {
  if (touchX === null || !current || kindOf(current.entry.mime) !== "image" || zoomed()) return;
  const moved = event.changedTouches[0].clientX - touchX;
  if (Math.abs(moved) > 60) step(moved < 0 ? 1 : -1);
});

function step(delta) {
  if (!current || current.index < 0) return;
  const to = current.index + delta;
  if (to < 0 || to >= current.view.entries.length) return;
  moveTo(current.view, to);
}

/** Show the listing's file at ``index`` in place of the one shown (Back still closes). */
function moveTo(view, index) {
  const entry = view.entries[index];
  const query = new URLSearchParams(location.hash.split("?")[1] || "");
  query.set("open", entry.path);
  history.replaceState(null, "", `${location.hash.split("?")[0]}?${query}`);
  show(view, index, entry);
}

/** Show the file at ``path`` of the folder view (loading its pages until it is found). */
export async function showPath(view, path, loadMore, movedOn = () => false) {
  let index = view.entries.findIndex((e) => e.path === path);
  for (let pages = 0; index < 0 && !view.done && pages < 20; pages++) {
    await loadMore(view);
    index = view.entries.findIndex((e) => e.path === path);
  }
  let entry = index >= 0 ? view.entries[index] : null;
  if (!entry) {
    // not in this listing (a search, or a link from elsewhere): ask for it
    const page = await call(
      "GET",
      `/api/catalogs/${enc(view.owner)}/${enc(view.catalog)}/entries?prefix=${enc(path)}&limit=1`,
    );
    entry = page.entries.find((e) => e.path === path);
    if (!entry) {
      say(`${path} is not in this catalog (any more)`);
      return;
    }
  }
  if (!movedOn()) show(view, index, entry);
}

function stopMedia() {
  for (const media of /** @type {NodeListOf<HTMLMediaElement>} */ (body.querySelectorAll("video, audio"))) {
    media.dataset.stopped = "1"; // its last timeupdate (back to 0) is not where it was left
    media.pause();
    media.removeAttribute("src");
    media.load();
  }
  for (const track of body.querySelectorAll("track")) URL.revokeObjectURL(track.src);
}

function show(view, index, entry) {
  stopMedia();
  current = { view, index, entry };
  const url = fileUrl(view.owner, view.catalog, entry);
  titleLine.textContent = baseName(entry.path);
  titleLine.title = entry.path;
  counter.textContent = index >= 0 ? `${index + 1} / ${view.entries.length}${view.done ? "" : "+"}` : "";
  prevButton.disabled = index <= 0;
  nextButton.disabled = index < 0 || index >= view.entries.length - 1;
  download.href = url + "&download=1";
  // the hub's app: a navigation reaches the service worker (an <a download> would not),
  // and its answer (an attachment) becomes the download, once its sha256 matched
  if (hosted) download.removeAttribute("download");
  else download.setAttribute("download", baseName(entry.path));
  note.textContent = "";
  const item = libraryItem(view.owner, view.catalog);
  awayLine.textContent =
    item && !item.mine && !item.online ? `${item.alias} of ${item.owner_name || "a friend"} is offline` : "";
  body.replaceChildren(content(view, entry, url));
  if (!dialog.open) dialog.showModal();
}

function content(view, entry, url) {
  const name = baseName(entry.path);
  switch (kindOf(entry.mime)) {
    case "video":
      return video(view, entry, url);
    case "audio":
      return el(
        "div",
        { class: "song" },
        el("img", {
          class: "cover",
          src: thumbUrl(view.owner, view.catalog, entry.hash),
          alt: "",
          onerror: (e) => e.target.remove(),
        }),
        songTags(entry.media),
        resumable(audio(entry, url), entry),
      );
    case "image":
      return photo(entry, url);
    case "pdf":
      return el("iframe", { src: url, title: name });
    case "text": {
      const markdown = /\.(md|markdown)$/i.test(entry.path) || entry.mime === "text/markdown";
      const shown = markdown ? el("article", { class: "markdown" }, "Loading…") : el("pre", {}, "Loading…");
      fetch(url, { headers: { Range: "bytes=0-262143" } })
        .then((r) => (r.ok ? r.text() : Promise.reject(new Error(`error ${r.status}`))))
        .then(async (text) => {
          if (!markdown) {
            shown.textContent = text;
            return;
          }
          // markdown-it with raw HTML off, then DOMPurify: a peer's file, shown as a document
          const { renderMarkdown } = await import(MARKDOWN); // built: not type-checked here
          shown.innerHTML = renderMarkdown(text);
        })
        .catch((error) => {
          shown.textContent = error.message;
        });
      return shown;
    }
    default:
      return unplayable(entry, "There is no preview for this kind of file.");
  }
}

const MARKDOWN = "./markdown.js"; // markdown-it and DOMPurify, built by js/build.mjs

const CODECS = {
  h264: "avc1.42E01E",
  hevc: "hvc1.1.6.L93.B0",
  vp9: "vp09.00.10.08",
  vp8: "vp8",
  av1: "av01.0.04M.08",
  mpeg4: "mp4v.20.9",
  theora: "theora",
};
const NAMES = {
  hevc: "HEVC (H.265)",
  h264: "H.264",
  vp9: "VP9",
  av1: "AV1",
  mpeg4: "MPEG-4",
  mpeg2video: "MPEG-2",
  wmv3: "WMV",
  vc1: "VC-1",
};
const CONTAINERS = {
  "video/x-matroska": "Matroska (.mkv)",
  "video/x-msvideo": "AVI",
  "video/x-ms-wmv": "WMV",
  "video/x-flv": "Flash video",
  "video/quicktime": "QuickTime",
};

function describe(entry) {
  const codec = entry.media && entry.media.video;
  const what = [
    codec ? `${NAMES[codec] || codec} video` : "video",
    CONTAINERS[entry.mime] ? `in a ${CONTAINERS[entry.mime]} file` : null,
  ];
  return what.filter(Boolean).join(" ");
}

function canPlay(entry) {
  const probe = document.createElement("video");
  if (!probe.canPlayType(entry.mime)) return false;
  const codec = entry.media && entry.media.video;
  if (codec && CODECS[codec] && !probe.canPlayType(`${entry.mime}; codecs="${CODECS[codec]}"`)) return false;
  if (codec && !CODECS[codec]) return false;
  return true;
}

function unplayable(entry, why) {
  return el(
    "div",
    { class: "unplayable", role: "alert" },
    el("p", {}, why),
    el(
      "p",
      {},
      el(
        "a",
        { class: "button", href: download.href, download: hosted ? null : baseName(entry.path) },
        `Download ${baseName(entry.path)}`,
      ),
    ),
  );
}

/** Why a file does not play: the server's words when it refused (its owner is offline,
 * the share ended), else ``otherwise`` (the browser cannot play what came). */
async function whyNot(url, otherwise) {
  try {
    const response = await fetch(url, { headers: { Range: "bytes=0-0" } });
    if (response.ok) return otherwise;
    const data = await response.json().catch(() => ({}));
    return typeof data.error === "string" ? data.error : `error ${response.status}`;
  } catch {
    return otherwise;
  }
}

/** The owner of what the viewer shows went offline: say so on top of the player. */
export function ownerWentAway(owner, catalog, words) {
  if (!current || !dialog.open || current.view.owner !== owner || current.view.catalog !== catalog) return;
  awayLine.textContent = words;
}

const cannot = (entry) =>
  `This browser cannot play ${describe(entry)}. Download it and play it with VLC or mpv.`;

function audio(entry, url) {
  const player = el("audio", { src: url, controls: true, autoplay: true });
  player.addEventListener("ended", () => nextSong(entry));
  player.addEventListener("error", () =>
    whyNot(url, "This browser cannot play this file.").then((why) => {
      if (current && current.entry === entry) note.replaceChildren(el("strong", { role: "alert" }, why));
    }),
  );
  return player;
}

/** A song ended: the next song plays. Of the same album, by its track number where
 * its tags say them; else the folder's next song (by name: 01-..., 02-...). */
function nextSong(entry) {
  if (!current || current.entry !== entry || current.index < 0) return;
  const { view, index } = current;
  const songs = view.entries.map((e, i) => ({ e, i })).filter(({ e }) => kindOf(e.mime) === "audio");
  const tags = entry.media || {};
  let next = -1;
  if (tags.album && tags.track) {
    const after = songs
      .filter(({ e }) => e.media && e.media.album === tags.album && e.media.track > tags.track)
      .sort((a, b) => a.e.media.track - b.e.media.track || a.i - b.i);
    next = after.length ? after[0].i : -1;
  }
  if (next < 0) next = (songs.find(({ i }) => i > index) || { i: -1 }).i;
  if (next >= 0) moveTo(view, next);
}

/** What a song's tags say: its title, who, and from which album. */
function songTags(media) {
  if (!media || !(media.title || media.artist || media.album)) return null;
  const album = [media.album, media.year].filter(Boolean).join(", ");
  return el(
    "p",
    { class: "tags" },
    media.title ? el("strong", {}, media.title) : null,
    media.artist ? el("span", {}, media.artist) : null,
    album ? el("span", { class: "muted" }, media.track ? `${album} · track ${media.track}` : album) : null,
  );
}

/** A picture: fitted to the viewer; double-click (or Zoom) shows it larger, to pan by
 * dragging or scrolling; full screen; and what its EXIF says (Info). */
function photo(entry, url) {
  const img = el("img", { src: url, alt: baseName(entry.path) });
  const frame = el("div", { class: "photo" }, img);
  const media = entry.media || {};
  const rows = [
    ["Taken", media.taken],
    ["Camera", media.camera],
    ["Size", media.width && media.height ? `${media.width} × ${media.height} pixels` : null],
    ["File", size(entry.size)],
  ].filter(([, value]) => value);
  const info = el(
    "dl",
    { class: "exif", hidden: true },
    ...rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]),
  );
  const zoomButton = el("button", { type: "button", class: "plain", "aria-pressed": "false" }, "Zoom");
  const infoButton = el("button", { type: "button", class: "plain", "aria-pressed": "false" }, "Info");
  const fullButton = el("button", { type: "button", class: "plain" }, "Full screen");
  const box = el(
    "div",
    { class: "photo-view" },
    el("div", { class: "photo-tools" }, zoomButton, fullButton, infoButton),
    frame,
    info,
  );
  const zoom = (x, y) => {
    const wide = frame.classList.toggle("zoomed");
    zoomButton.setAttribute("aria-pressed", String(wide));
    if (!wide) {
      img.style.width = "";
      return;
    }
    const fitted = img.getBoundingClientRect();
    const width = Math.max(img.naturalWidth, fitted.width * 2.5);
    img.style.width = `${width}px`;
    const scale = width / (fitted.width || 1); // the point clicked stays under the pointer
    frame.scrollLeft = (x - fitted.left) * scale - frame.clientWidth / 2;
    frame.scrollTop = (y - fitted.top) * scale - frame.clientHeight / 2;
  };
  frame.addEventListener("dblclick", (event) => zoom(event.clientX, event.clientY));
  zoomButton.addEventListener("click", () => {
    const at = img.getBoundingClientRect();
    zoom(at.left + at.width / 2, at.top + at.height / 2);
  });
  infoButton.addEventListener("click", () => {
    info.hidden = !info.hidden;
    infoButton.setAttribute("aria-pressed", String(!info.hidden));
  });
  fullButton.addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else box.requestFullscreen().catch(() => say("This browser will not show it full screen."));
  });
  let dragging = null; // a mouse drags a zoomed picture around
  frame.addEventListener("pointerdown", (event) => {
    if (!frame.classList.contains("zoomed") || event.pointerType !== "mouse") return;
    dragging = { x: event.clientX, y: event.clientY, left: frame.scrollLeft, top: frame.scrollTop };
    event.preventDefault();
  });
  frame.addEventListener("pointermove", (event) => {
    if (!dragging) return;
    frame.scrollLeft = dragging.left - (event.clientX - dragging.x);
    frame.scrollTop = dragging.top - (event.clientY - dragging.y);
  });
  for (const end of ["pointerup", "pointerleave"]) frame.addEventListener(end, () => (dragging = null));
  return box;
}

/** A zoomed picture is panned by a swipe, not moved on from. */
const zoomed = () => Boolean(body.querySelector(".photo.zoomed"));

function video(view, entry, url) {
  if (!canPlay(entry)) return unplayable(entry, cannot(entry));
  const player = el("video", {
    src: url,
    controls: true,
    autoplay: true,
    playsinline: true,
    preload: "metadata",
  });
  const box = el("div", { class: "film" }, player);
  let started = false;
  const fail = () => {
    whyNot(url, cannot(entry)).then((why) => {
      if (current && current.entry === entry) box.replaceChildren(unplayable(entry, why));
    });
  };
  player.addEventListener("error", fail);
  player.addEventListener("loadedmetadata", () => {
    started = true;
    const soundOnly = entry.media && entry.media.video === null && entry.media.audio; // ffmpeg said so
    if (player.videoWidth === 0 && !soundOnly) fail(); // a container it reads, a picture it cannot
  });
  setTimeout(() => {
    if (!started && current && current.entry === entry && !player.error)
      note.textContent = "Still starting… (the owner's machine may be slow to answer)";
  }, 8000);
  for (const subtitle of subtitlesOf(view, entry)) addTrack(view, player, subtitle);
  return resumable(player, entry);
}

/** Where this browser left a film or song, kept in localStorage by content hash. */
function resumable(player, entry) {
  const key = `natster:at:${entry.hash}`;
  let saved = 0;
  try {
    saved = Number(JSON.parse(localStorage.getItem(key) || "null")?.t) || 0;
  } catch {
    /* none */
  }
  player.addEventListener(
    "loadedmetadata",
    () => {
      if (saved >= RESUME_MIN_S && saved < player.duration * 0.9) {
        player.currentTime = saved;
        note.replaceChildren(
          `Resumed at ${clock(saved)} · `,
          el(
            "button",
            {
              type: "button",
              class: "plain",
              onclick: () => {
                player.currentTime = 0;
                note.textContent = "";
              },
            },
            "Start over",
          ),
        );
      }
    },
    { once: true },
  );
  let last = 0;
  player.addEventListener("timeupdate", () => {
    if (player.dataset.stopped || Math.abs(player.currentTime - last) < 2) return;
    last = player.currentTime;
    try {
      localStorage.setItem(key, JSON.stringify({ t: Math.floor(player.currentTime), at: Date.now() }));
    } catch {
      /* full */
    }
  });
  player.addEventListener("ended", () => localStorage.removeItem(key));
  return player;
}

function subtitlesOf(view, entry) {
  const slash = entry.path.lastIndexOf("/");
  const folder = entry.path.slice(0, slash + 1);
  const stem = baseName(entry.path).replace(/\.[^.]+$/, "");
  return [...(view.tracks || []), ...view.entries].filter((e) => {
    if (!e.path.startsWith(folder) || e.path.slice(folder.length).includes("/")) return false;
    const name = baseName(e.path);
    return name.startsWith(stem + ".") && /\.(srt|vtt)$/i.test(name) && e.size <= SUBTITLE_MAX;
  });
}

export function srtToVtt(text) {
  const lines = text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
  return "WEBVTT\n\n" + lines.replace(/(\d\d:\d\d:\d\d),(\d\d\d)/g, "$1.$2");
}

async function addTrack(view, player, subtitle) {
  try {
    const response = await fetch(fileUrl(view.owner, view.catalog, subtitle));
    if (!response.ok) return;
    let text = await response.text();
    if (/\.srt$/i.test(subtitle.path)) text = srtToVtt(text);
    const name = baseName(subtitle.path);
    const lang = (name.match(/\.([a-z]{2,3})\.(srt|vtt)$/i) || [])[1] || "";
    const track = el("track", {
      kind: "subtitles",
      label: lang ? `${lang} (${name})` : name,
      srclang: lang || null,
      src: URL.createObjectURL(new Blob([text], { type: "text/vtt" })),
    });
    if (!player.querySelector("track")) track.default = true;
    player.append(track);
  } catch {
    /* a subtitle that cannot be read is left out */
  }
}
