"""Media facts: a picture's size, when and with what it was taken, a film's length,
resolution and codecs, a song's tags (title, artist, album, track, year).

Computed on the owner's machine after a scan, in the background (a scan never waits for
them), and kept by content hash in the index's ``media`` table: the same bytes have the
same facts in every catalog. Pictures are read with Pillow (their EXIF too); films and
sound with ffmpeg where it is installed (never required: without it they are known by
type only), and sound's tags with mutagen (ID3, FLAC, MP4, Ogg...). Tags are text from
anyone's files: each is cut to ``MAX_TAG_CHARS`` printable characters, or dropped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from natster import limits
from natster.names import fold

log = logging.getLogger(__name__)

MEDIA_SCHEMA = """
CREATE TABLE IF NOT EXISTS media (
    hash      TEXT PRIMARY KEY,
    kind      TEXT NOT NULL,
    width     INTEGER,
    height    INTEGER,
    duration  REAL,
    video     TEXT,
    audio     TEXT,
    title     TEXT,
    artist    TEXT,
    album     TEXT,
    track     INTEGER,
    year      INTEGER,
    taken     TEXT,
    camera    TEXT,
    folded    TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
"""
TAG_COLUMNS = ("title", "artist", "album", "track", "year", "taken", "camera")

Kind = Literal["image", "video", "audio"]
FACT_COLUMNS = "kind, width, height, duration, video, audio, " + ", ".join(TAG_COLUMNS)


def kind_of(mime: str) -> Kind | None:
    """Which media a MIME type is (None: not media)."""
    top = mime.split("/", 1)[0]
    if top == "image" and mime != "image/svg+xml":
        return "image"
    if top in ("video", "audio"):
        return top  # type: ignore[return-value]
    return None


@dataclass(frozen=True, slots=True)
class Facts:
    kind: Kind
    width: int | None = None
    height: int | None = None
    duration: float | None = None  # seconds
    video: str | None = None  # codec names as ffmpeg says them: h264, hevc, vp9, ...
    audio: str | None = None
    title: str | None = None  # a song's tags
    artist: str | None = None
    album: str | None = None
    track: int | None = None
    year: int | None = None
    taken: str | None = None  # a picture's EXIF: "YYYY-MM-DD HH:MM:SS", when it was taken
    camera: str | None = None  # ...and with what

    def row(self) -> tuple[object, ...]:
        return (
            self.kind,
            self.width,
            self.height,
            self.duration,
            self.video,
            self.audio,
            *(getattr(self, column) for column in TAG_COLUMNS),
        )

    def searchable(self) -> str:
        """What search matches besides the path: the tags, and the year taken."""
        words = [self.title, self.artist, self.album, self.camera, self.taken]
        return fold(" ".join(w for w in [*words, str(self.year or "")] if w))


def ffmpeg() -> str | None:
    """The ffmpeg to use: ``$NATSTER_FFMPEG``, else one on the PATH, else none."""
    named = os.environ.get("NATSTER_FFMPEG")
    if named:
        return named if os.access(named, os.X_OK) else None
    return shutil.which("ffmpeg")


def probe(path: Path, mime: str) -> Facts | None:
    """The facts of the file at ``path`` (None: not media). Never raises for bad files:
    what cannot be read is known by its kind only."""
    kind = kind_of(mime)
    if kind is None:
        return None
    if kind == "image":
        return _image(path)
    facts = _ffmpeg_facts(path, kind)
    return _with_song_tags(path, facts) if kind == "audio" else facts


def _image(path: Path) -> Facts:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: we only read the header
            with Image.open(path) as image:
                width, height = image.size
                exif = image.getexif()
                orientation = exif.get(_ORIENTATION, 1)
                shot = exif.get_ifd(_EXIF_IFD)
                taken = _exif_time(shot.get(_TAKEN) or exif.get(_CHANGED))
                camera = _camera(exif.get(_MAKE), exif.get(_MODEL))
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return Facts("image")
    if orientation in (5, 6, 7, 8):  # shown turned a quarter: width and height swap
        width, height = height, width
    return Facts("image", width, height, taken=taken, camera=camera)


# EXIF tags: Orientation, Make, Model, DateTime (IFD0); the Exif IFD, DateTimeOriginal
_ORIENTATION, _MAKE, _MODEL, _CHANGED, _EXIF_IFD, _TAKEN = (
    0x0112,
    0x010F,
    0x0110,
    0x0132,
    0x8769,
    0x9003,
)
_EXIF_TIME = re.compile(r"^(\d{4})[:-](\d\d)[:-](\d\d)(?:[ T](\d\d):(\d\d)(?::(\d\d))?)?")


def _exif_time(value: object) -> str | None:
    """EXIF's "2024:06:01 14:03:22" as "2024-06-01 14:03:22" (None: absent or nonsense)."""
    found = _EXIF_TIME.match(value) if isinstance(value, str) else None
    if found is None:
        return None
    year, month, day, hour, minute, second = found.groups()
    if not (1800 <= int(year) <= 9999 and 1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return None
    date = f"{year}-{month}-{day}"
    return date if hour is None else f"{date} {hour}:{minute}:{second or '00'}"


def _camera(make: object, model: object) -> str | None:
    """ "Canon EOS R6" from make "Canon" and model "Canon EOS R6" (or "EOS R6")."""
    make_text, model_text = tag_text(make), tag_text(model)
    if make_text and model_text and not model_text.lower().startswith(make_text.lower()):
        return tag_text(f"{make_text} {model_text}")
    return model_text or make_text


def tag_text(value: object) -> str | None:
    """A tag as natster keeps it: printable, spaces collapsed, at most MAX_TAG_CHARS."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = " ".join("".join(c if c.isprintable() else " " for c in value).split())
    text = text[: limits.MAX_TAG_CHARS]
    while len(text.encode("utf-16-le")) > 2 * limits.MAX_TAG_CHARS:  # as a browser counts
        text = text[:-1]
    return text.strip() or None


def _with_song_tags(path: Path, facts: Facts) -> Facts:
    """``facts`` with the title, artist, album, track and year the file's tags say
    (mutagen's common names for ID3, FLAC, MP4, Ogg...); none that cannot be read."""
    try:
        import mutagen
    except ImportError:  # pragma: no cover - a declared dependency
        return facts
    try:
        found = mutagen.File(path, easy=True)
        tags = dict(found.tags or {}) if found is not None else {}
    except Exception:  # a damaged file raises any of mutagen's many errors, or others
        log.debug("the tags of %s cannot be read", path, exc_info=True)
        return facts

    def first(*names: str) -> str | None:
        for name in names:
            values = tags.get(name)
            if isinstance(values, list) and values:
                return tag_text(values[0])
        return None

    track = re.match(r"\s*(\d{1,4})", first("tracknumber") or "")  # "3" or "3/12"
    year = re.match(r"\s*(\d{4})", first("date", "originaldate", "year") or "")
    length = getattr(getattr(found, "info", None), "length", None)
    if facts.duration is None and isinstance(length, float) and 0 < length <= 10**8:
        facts = replace(facts, duration=round(length, 3))  # no ffmpeg: mutagen's length
    return replace(
        facts,
        title=first("title"),
        artist=first("artist", "albumartist"),
        album=first("album"),
        track=int(track.group(1)) if track and int(track.group(1)) > 0 else None,
        year=int(year.group(1)) if year and int(year.group(1)) >= 1000 else None,
    )


_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\d+:\d+.*?: Video: ([a-z0-9_]+).*?, (\d{1,5})x(\d{1,5})")
_AUDIO = re.compile(r"Stream #\d+:\d+.*?: Audio: ([a-z0-9_]+)")
_ATTACHED = "(attached pic)"


def _ffmpeg_facts(path: Path, kind: Kind) -> Facts:
    exe = ffmpeg()
    if exe is None:
        return Facts(kind)
    try:
        done = subprocess.run(
            [exe, "-hide_banner", "-nostdin", "-i", str(path)],
            capture_output=True,
            timeout=limits.PROBE_TIMEOUT_S,
            preexec_fn=lower_priority,
        )
    except (OSError, subprocess.SubprocessError):
        return Facts(kind)
    text = done.stderr.decode(errors="replace")[: 64 * 1024]
    duration = None
    if found := _DURATION.search(text):
        hours, minutes, seconds = found.groups()
        duration = round(int(hours) * 3600 + int(minutes) * 60 + float(seconds), 3)
    width = height = None
    video = audio = None
    for line in text.splitlines():
        if (seen := _VIDEO.search(line)) and _ATTACHED not in line and video is None:
            video, width, height = seen.group(1), int(seen.group(2)), int(seen.group(3))
        elif (heard := _AUDIO.search(line)) and audio is None:
            audio = heard.group(1)
    if kind == "audio":
        width = height = video = None  # album art is not the file's picture
    return Facts(kind, width, height, duration, video, audio)


def lower_priority() -> None:
    """In a helper process: let the catalog server's transfers go first."""
    with contextlib.suppress(OSError):
        os.nice(limits.MEDIA_NICE)
