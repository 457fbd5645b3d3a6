"""Rules the code keeps that no linter checks: read from the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "natster"
MODULES = sorted(SRC.rglob("*.py"))
LOGS = {"debug", "info", "warning", "error", "exception", "critical"}


def _broad(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return handler.type is None or any(
        isinstance(n, ast.Name) and n.id in ("Exception", "BaseException") for n in names
    )


def _says_or_raises(body: list[ast.stmt]) -> bool:
    for node in ast.walk(ast.Module(body=body, type_ignores=[])):
        if isinstance(node, ast.Raise):
            return True
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and (node.func.attr in LOGS or node.func.attr == "write")  # a log, or stderr
        ):
            return True
    return False


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_a_broad_except_is_never_silent(path: Path) -> None:
    """`except Exception` is for supervising loops and cleanup: it re-raises, or says
    what failed (a log line); errors are never swallowed whole. Shutdown paths use
    natster._quiet.quietly (logged at debug), never contextlib.suppress(Exception)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and _broad(node):
            assert _says_or_raises(node.body), f"{path.name}:{node.lineno} swallows errors"
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "suppress":
            for arg in node.args:
                assert not (
                    isinstance(arg, ast.Name) and arg.id in ("Exception", "BaseException")
                ), f"{path.name}:{node.lineno}: suppress(Exception); use _quiet.quietly"


LAYERS = ["hub", "catalog", "services", "client", "cli", "web"]  # upward
NATS_IO = ("natster._nats", "natster._natsio", "natster._bucket", "natster._service")


def _layer(module: str) -> int:
    """A module's layer: the shared top-level modules (errors, subjects, wire, the NATS
    seam...) and security, which they use for creds, are the base (0)."""
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "natster":
        return -1
    name = parts[1]
    if name in ("cli", "web", "__main__"):
        return len(LAYERS)
    return LAYERS.index(name) + 1 if name in LAYERS else 0


def _module_of(path: Path) -> str:
    relative = path.relative_to(SRC.parent).with_suffix("")
    return ".".join(p for p in relative.parts if p != "__init__")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_layers_only_import_downward(path: Path) -> None:
    """security -> hub -> catalog -> services -> client -> cli and web (CONTRIBUTING.md)."""
    module = _module_of(path)
    mine = _layer(module)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = module.split(".")
            if path.name != "__init__.py":
                base = base[:-1]
            target = ".".join([*base[: len(base) - node.level + 1], node.module or ""])
            targets = [target.rstrip(".")]
        elif isinstance(node, ast.ImportFrom):
            targets = [node.module or ""]
            targets += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for target in targets:
            theirs = _layer(target)
            assert theirs <= mine, f"{module}:{node.lineno} imports {target}, a layer above"
            if module.startswith("natster.security"):  # keys and claims: no I/O
                assert not target.startswith(NATS_IO), f"{module}:{node.lineno} does I/O"
