"""Thumbnails of my own files: made on first request, kept under ``$NATSTER_HOME/thumbs``.

A picture's thumbnail is the picture itself, turned as its EXIF says and made small; a
film's is one frame from a tenth of the way in; a song's is its album art. Pictures are
read with Pillow (a JPEG is decoded straight at a fraction of its size, so a 12 MP
photo costs milliseconds); films and songs need ffmpeg, where installed. Every result,
including "this file has no picture", is cached by content hash; the cache is bounded
(the least recently used go first). Callers run :meth:`Thumbnails.get` on worker
threads of lowered priority: making thumbnails never starves a transfer.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import threading
import warnings
from pathlib import Path

from natster import limits
from natster._jpeg import is_thumbnail

from .facts import Facts, ffmpeg, kind_of, lower_priority

BOX = limits.THUMB_BOX


class Thumbnails:
    """The thumbnail cache of one ``$NATSTER_HOME``."""

    def __init__(self, home: Path, max_bytes: int = limits.THUMBS_MAX_BYTES) -> None:
        self.folder = home / "thumbs"
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._total: int | None = None  # bytes in the cache, counted on first write

    def _path(self, digest: str, suffix: str) -> Path:
        return self.folder / digest[:2] / f"{digest}{suffix}"

    def get(self, source: Path, digest: str, mime: str, facts: Facts | None = None) -> bytes | None:
        """The JPEG thumbnail of ``source`` (whose sha256 is ``digest``), or None if it
        has no picture. Blocking: call it on a worker thread."""
        kept = self._path(digest, ".jpg")
        try:
            cached: bytes | None = kept.read_bytes()
        except FileNotFoundError:
            cached = None
        if cached is not None and is_thumbnail(cached):  # else not one this cache made: remade
            with contextlib.suppress(OSError):
                os.utime(kept)  # recently used: evicted last
            return cached
        if self._path(digest, ".none").exists():
            return None
        made = make_thumbnail(source, mime, facts)
        self._keep(digest, made)
        return made

    def _keep(self, digest: str, data: bytes | None) -> None:
        target = self._path(digest, ".jpg" if data is not None else ".none")
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = target.with_name(f".{target.name}.{threading.get_ident()}")
        temporary.write_bytes(data or b"")  # a cache: no fsync, a torn file is remade
        os.chmod(temporary, 0o600)
        temporary.replace(target)
        with self._lock:
            if self._total is None:
                self._total = sum(f.stat().st_size for f in self.folder.glob("*/*"))
            else:
                self._total += len(data or b"")
            if self._total > self.max_bytes:
                self._evict()

    def _evict(self) -> None:
        """Remove the least recently used thumbnails until the cache is at 3/4 of its
        bound (so eviction runs now and then, not on every write)."""
        files = []
        for found in self.folder.glob("*/*.jpg"):
            with contextlib.suppress(OSError):
                stat = found.stat()
                files.append((stat.st_mtime, stat.st_size, found))
        files.sort()
        total = sum(size for _, size, _ in files)
        for _, size, found in files:
            if total <= self.max_bytes * 3 // 4:
                break
            with contextlib.suppress(OSError):
                found.unlink()
                total -= size
        self._total = total


def make_thumbnail(source: Path, mime: str, facts: Facts | None = None) -> bytes | None:
    """A JPEG of at most ``BOX`` pixels a side, or None (no picture, or unreadable)."""
    kind = kind_of(mime)
    if kind == "image":
        return _shrink(source)
    if kind is None or (exe := ffmpeg()) is None:
        return None
    if kind == "video":
        at = min((facts.duration or 0) / 10, 30.0) if facts and facts.duration else 1.0
        frame = _ffmpeg_frame(exe, source, at) or _ffmpeg_frame(exe, source, 0.0)
    else:  # audio: its album art, if it has one
        frame = _ffmpeg_frame(exe, source, None)
    return _shrink(io.BytesIO(frame)) if frame else None


def _ffmpeg_frame(exe: str, source: Path, at: float | None) -> bytes | None:
    # a keyframe at or after ``at``: no frames decoded in between (a third faster)
    seek = ["-skip_frame", "nokey", "-ss", f"{at:.3f}"] if at else []
    # one thread: for one frame, starting ffmpeg's decoding threads costs more than they
    # save (49 -> 34 ms for a 720p H.264 frame here), and THUMB_WORKERS already run side by side
    command = [
        *(exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-threads", "1"),
        *(*seek, "-i", str(source)),
        *("-map", "0:v:0", "-frames:v", "1", "-an", "-sn"),
        *("-vf", f"scale='min({BOX * 2},iw)':-2", "-f", "image2pipe", "-c:v", "mjpeg", "-"),
    ]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            timeout=limits.THUMB_TIMEOUT_S,
            preexec_fn=lower_priority,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout[: limits.THUMB_SOURCE_MAX] if done.stdout else None


def _shrink(source: Path | io.BytesIO) -> bytes | None:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(source) as image:
                image.draft("RGB", (BOX, BOX))  # a JPEG decodes at 1/2..1/8 of its size
                turned = ImageOps.exif_transpose(image)
                turned.thumbnail((BOX, BOX))
                if turned.mode != "RGB":
                    flat = Image.new("RGB", turned.size, (255, 255, 255))
                    alpha = turned.convert("RGBA")
                    flat.paste(alpha, mask=alpha.getchannel("A"))
                    turned = flat
                for quality in (80, 60, 40):
                    out = io.BytesIO()
                    turned.save(out, "JPEG", quality=quality, optimize=True)
                    if is_thumbnail(made := out.getvalue()):
                        return made
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None
    return None
