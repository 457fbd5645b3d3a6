"""`make demo` as a new user runs it: the whole story, told in names, not keys."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KEY = re.compile(r"\b[ANUOXSCP][A-Z2-7]{55}\b")  # any nkey's public form: 56 characters


@pytest.mark.slow  # ffmpeg makes its media
def test_the_demo_tells_its_story_with_names_not_keys(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "NATSTER_DEMO_DIR": str(tmp_path / "demo"),
        "NATSTER_DEMO_PORT": "",
        "NATSTER_DEMO_WEB_PORT": "",
        "NATSTER_DEMO_SECONDS": "2",
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--no-wait"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    said = result.stdout + result.stderr
    assert result.returncode == 0, said
    assert "videos/test-pattern.mp4" in said  # the story got to its download
    assert "http://127.0.0.1:" in said or "https://127.0.0.1:" in said  # and its login link
    keys = KEY.findall(said)
    assert not keys, [line for line in said.splitlines() if KEY.search(line)]
