"""The service worker shipped in the package is the one js/ builds (without node here):
js/build.mjs stamps the bundle with the sha256 of its inputs, recomputed below."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from natster import endpoints
from natster.web._contract import render

ROOT = Path(__file__).resolve().parents[1]
JS = ROOT / "js"
BUNDLE = ROOT / "src" / "natster" / "web" / "static" / "sw.js"


def _stamp() -> str:
    inputs = ["package-lock.json", *sorted(f"src/{p.name}" for p in (JS / "src").iterdir())]
    digest = hashlib.sha256()
    for name in inputs:
        digest.update(f"{name}\0".encode())
        digest.update((JS / name).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def test_the_shipped_service_worker_is_built_from_these_sources() -> None:
    for built in (BUNDLE, BUNDLE.with_name("markdown.js")):
        first = built.read_text(encoding="utf-8").split("\n", 1)[0]
        match = re.search(r"inputs sha256 ([0-9a-f]{64})", first)
        assert match is not None, f"{built.name} has no build stamp: run `make bundle`"
        assert match.group(1) == _stamp(), f"js/ changed since {built.name} was built"


def test_the_browsers_copy_of_the_contract_is_generated_from_python() -> None:
    """js/src/contract.js is what natster.web._contract makes from the Python definitions
    (so the bundle, stamped with it, is too)."""
    written = (JS / "src" / "contract.js").read_text(encoding="utf-8")
    assert written == render(), "the contract changed: run `make bundle`"
    for endpoint in endpoints.GLOBAL:
        assert f'"{endpoint.name}": "{endpoint.local()}"' in written


def test_the_browser_libraries_are_pinned_exactly() -> None:
    package = json.loads((JS / "package.json").read_text())
    lock = json.loads((JS / "package-lock.json").read_text())
    for name, version in {**package["dependencies"], **package["devDependencies"]}.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} is not pinned: {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    for name in ("@nats-io/nats-core", "@nats-io/nkeys", "libsodium-wrappers-sumo"):
        assert name in package["dependencies"]
    for name in ("markdown-it", "dompurify"):  # the viewer's Markdown
        assert name in package["dependencies"]
    assert "tweetnacl" in {p.rsplit("node_modules/", 1)[-1] for p in lock["packages"]}
