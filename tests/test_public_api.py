"""natster.client's public API, pinned (as httpx's tests/test_exported_members.py does):
what the CLI and the web UI may use, and all they use. Changing it is a decision made
here, in one place, not a side effect of an edit elsewhere."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import natster.client

SRC = Path(__file__).resolve().parents[1] / "src" / "natster"

API = {
    "natster.client": ["Context", "Home", "NatsterClient", "join", "whoami"],
    "natster.client.autostart": ["Autostart"],
    "natster.client.browse": ["folder", "search_everywhere", "thumbnail"],
    "natster.client.browsers": ["browser_name", "sign_in_browser"],
    "natster.client.context": ["Context", "Home"],
    "natster.client.devices": [
        *("THIS_MACHINE", "Device", "DeviceOffer", "DeviceView", "Rights"),
        *("list_devices", "offer_device", "redeem", "revoke_device"),
    ],
    "natster.client.download": [
        *("Existing", "Progress", "default_target", "download", "find_entry", "locate"),
        *("open_or_locate", "settle_target"),
    ],
    "natster.client.forget": ["Forgotten", "forget"],
    "natster.client.hub_catalog": ["HubCatalog", "serve_hub_catalog"],
    "natster.client.joining": ["default_name", "join"],
    "natster.client.library": ["library"],
    "natster.client.mirror": ["Hooks", "MirrorReport", "keep_in_sync", "mirror_pass"],
    "natster.client.nats_context": ["export_context"],
    "natster.client.people": ["label", "look_alike_accounts", "person"],
    "natster.client.remote": [
        *("CatalogRef", "answering", "ask", "block", "decline", "forget_import"),
        *("import_catalog", "inbox", "page", "pages", "resolve", "share", "sharer"),
        *("summary", "unshare"),
    ],
    "natster.client.recovery": ["LOST", "restore_recovery", "write_recovery"],
    "natster.client.serve_all": ["my_catalogs", "serve_every_catalog"],
    "natster.client.serving": ["Serve", "ServingLink", "serving_grant"],
    "natster.client.transfer": ["Transfer"],
}
PUBLIC_MODULES = sorted(
    f"natster.client.{m.name}"
    for m in pkgutil.iter_modules(natster.client.__path__)
    if not m.name.startswith("_")
)


def test_every_public_module_is_pinned() -> None:
    assert sorted(name for name in API if name != "natster.client") == PUBLIC_MODULES


def test_no_name_the_package_exports_is_also_one_of_its_modules() -> None:
    """Loading a submodule sets the package's attribute of that name, so a function named
    like a module would be the module in any process that loaded the module first
    (`natster init` failed so, once `natster.client.join` was a module)."""
    modules = {m.name for m in pkgutil.iter_modules(natster.client.__path__)}
    assert not modules & set(API["natster.client"])


@pytest.mark.parametrize("module", sorted(API))
def test_each_module_exports_exactly_its_pinned_names(module: str) -> None:
    loaded = importlib.import_module(module)
    assert sorted(loaded.__all__) == sorted(API[module])
    for name in API[module]:
        assert getattr(loaded, name) is not None


def _uses(path: Path) -> list[tuple[str, str, int]]:
    """(module, name, line) for every name ``path`` takes from natster.client."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules: dict[str, str] = {}  # a local name bound to a natster.client module
    used = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("natster.client"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in API:  # `from natster.client import remote`: a module
                    modules[alias.asname or alias.name] = full
                else:
                    used.append((node.module or "", alias.name, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("natster.client"):
                    used.append((alias.name, "", node.lineno))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            used.append((modules[node.value.id], node.attr, node.lineno))
    return used


@pytest.mark.parametrize(
    "path",
    sorted([*(SRC / "cli").rglob("*.py"), *(SRC / "web").rglob("*.py")]),
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_the_cli_and_the_web_use_only_the_public_api(path: Path) -> None:
    for module, name, line in _uses(path):
        assert module in API, f"{path.name}:{line} imports {module}, not a public module"
        assert name in API[module], f"{path.name}:{line} uses {module}.{name}, not public"
