"""Media facts: a picture's size, a film's length, resolution and codecs.

Computed on the owner's machine after a scan, in the background (a scan never waits for
them), and kept by content hash in the index's ``media`` table: the same bytes have the
same facts in every catalog. Pictures are read with Pillow; films and sound with ffmpeg
where it is installed (never required: without it they are known by type only).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from natster import limits

MEDIA_SCHEMA = """
CREATE TABLE IF NOT EXISTS media (
    hash      TEXT PRIMARY KEY,
    kind      TEXT NOT NULL,
    width     INTEGER,
    height    INTEGER,
    duration  REAL,
    video     TEXT,
    audio     TEXT
) WITHOUT ROWID;
"""

Kind = Literal["image", "video", "audio"]
FACT_COLUMNS = "kind, width, height, duration, video, audio"


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

    def row(self) -> tuple[object, ...]:
        return (self.kind, self.width, self.height, self.duration, self.video, self.audio)


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
    return _ffmpeg_facts(path, kind)


def _image(path: Path) -> Facts:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: we only read the header
            with Image.open(path) as image:
                width, height = image.size
                orientation = image.getexif().get(0x0112, 1)  # EXIF Orientation
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return Facts("image")
    if orientation in (5, 6, 7, 8):  # shown turned a quarter: width and height swap
        width, height = height, width
    return Facts("image", width, height)


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
