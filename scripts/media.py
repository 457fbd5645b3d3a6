"""Small, real media for the demo, the browser tests and the screenshots.

A few seconds of H.264 video with AAC sound, an MP3, images, text and a PDF, made with
the ffmpeg that the ``imageio-ffmpeg`` wheel ships and with Pillow. Existing files are
kept, so a second run costs nothing.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
from PIL import Image, ImageDraw


def _ffmpeg(*args: str, out: Path) -> None:
    if out.exists():
        return
    tmp = out.with_name(out.name + ".tmp" + out.suffix)
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    subprocess.run([*command, *args, str(tmp)], check=True)
    tmp.replace(out)


def _picture(
    out: Path,
    colour: tuple[int, int, int],
    label: str,
    orientation: int | None = None,
    *,
    taken: str | None = None,
    camera: tuple[str, str] | None = None,
) -> None:
    if out.exists():
        return
    image = Image.new("RGB", (640, 400), colour)
    draw = ImageDraw.Draw(image)
    for i in range(0, 640, 40):
        draw.line([(i, 0), (640 - i, 400)], fill=(255, 255, 255), width=2)
    draw.rectangle([(170, 160), (470, 240)], fill=(20, 20, 20))
    draw.text((190, 190), label, fill=(255, 255, 255))
    tmp = out.with_name("tmp-" + out.name)
    if orientation is None and taken is None:
        image.save(tmp)
    else:  # a camera's photo: its EXIF (a portrait stored sideways, turned by Orientation)
        exif = Image.Exif()
        if orientation is not None:
            exif[0x0112] = orientation
        if camera is not None:
            exif[0x010F], exif[0x0110] = camera  # Make, Model
        if taken is not None:
            exif.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal, "YYYY:MM:DD HH:MM:SS"
        image.save(tmp, "JPEG", exif=exif)
    tmp.replace(out)


SUBTITLES = """1
00:00:00,500 --> 00:00:02,500
A test pattern, from alice's machine

2
00:00:03,000 --> 00:00:05,000
Nothing was uploaded
"""


def make_media(root: Path, seconds: int = 8) -> Path:
    """Fill ``root`` with the demo media and return it."""
    for folder in ("videos", "music", "pictures", "documents/notes"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    _ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25"),
        *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"),
        *("-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"),
        *("-g", "25", "-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart"),
        out=root / "videos" / "test-pattern.mp4",
    )
    _ffmpeg(
        *("-f", "lavfi", "-i", "sine=frequency=330:sample_rate=44100"),
        *("-t", str(seconds), "-c:a", "libmp3lame", "-b:a", "128k"),
        *("-metadata", "title=A Note", "-metadata", "artist=The Sines"),
        *("-metadata", "album=Test Tones", "-metadata", "track=1/2", "-metadata", "date=2021"),
        out=root / "music" / "a-note.mp3",
    )
    subtitles = root / "videos" / "test-pattern.srt"
    if not subtitles.exists():
        subtitles.write_text(SUBTITLES)
    _ffmpeg(  # HEVC in Matroska: what most browsers cannot play
        *("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=10", "-t", "1"),
        *("-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=none"),
        out=root / "videos" / "hevc-sample.mkv",
    )
    _picture(root / "pictures" / "sunset.png", (214, 104, 65), "natster: sunset.png")
    _picture(
        root / "pictures" / "sea.jpg",
        (40, 110, 170),
        "natster: sea.jpg",
        taken="2019:08:14 18:30:05",
        camera=("FUJIFILM", "X-T30"),
    )
    _picture(root / "pictures" / "Été à la plage.jpg", (230, 190, 90), "natster: été", 6)
    pdf = root / "documents" / "leaflet.pdf"
    if not pdf.exists():
        page = Image.new("RGB", (595, 842), (255, 255, 255))
        draw = ImageDraw.Draw(page)
        draw.text((60, 80), "natster: a leaflet in a PDF", fill=(0, 0, 0))
        draw.text((60, 110), "Files stay on their owner's machine.", fill=(0, 0, 0))
        tmp = pdf.with_name("tmp-" + pdf.name)
        page.save(tmp, "PDF")
        tmp.replace(pdf)
    notes = root / "documents" / "notes"
    if not (notes / "welcome.txt").exists():
        (notes / "welcome.txt").write_text("Hello from alice's machine.\nNothing was uploaded.\n")
        (notes / "recipe.md").write_text("# Pancakes\n\nFlour, milk, eggs.\n")
    return root
