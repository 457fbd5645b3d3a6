"""The docs say what the code does: every subject, message and command is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from natster import subjects, wire
from natster.cli import app

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text()
README = (ROOT / "README.md").read_text()

SUBJECTS = {
    name: value
    for name, value in vars(subjects).items()
    if name.isupper() and isinstance(value, str)
}


@pytest.mark.parametrize("name", sorted(SUBJECTS))
def test_every_subject_is_in_the_protocol_doc(name: str) -> None:
    value = SUBJECTS[name].replace("{account}", "<account>").replace("{server}", "<server>")
    assert f"`{value}`" in PROTOCOL or value in PROTOCOL, f"{name} = {value!r} is undocumented"


MESSAGES = [
    obj
    for obj in vars(wire).values()
    if isinstance(obj, type)
    and issubclass(obj, BaseModel)
    and obj.__module__ == wire.__name__
    and obj not in (wire.Model, wire.Request, wire.Envelope)
]


def _where_named(name: str) -> str:
    """What protocol.md says where it names `name` in backticks: the table rows, or the
    paragraphs (with the table or list a paragraph ending in ':' introduces)."""
    blocks = re.split(r"\n\s*\n", PROTOCOL)
    found = []
    for i, block in enumerate(blocks):
        if block.lstrip().startswith("|"):
            found += [line for line in block.splitlines() if f"`{name}`" in line]
        elif f"`{name}`" in block:
            found.append(block)
            if block.rstrip().endswith(":") and i + 1 < len(blocks):
                found.append(blocks[i + 1])
    return "\n".join(found)


@pytest.mark.parametrize("model", MESSAGES, ids=lambda m: m.__name__)
def test_every_message_and_field_is_in_the_protocol_doc(model: type[BaseModel]) -> None:
    where = _where_named(model.__name__)
    assert where, f"`{model.__name__}` is not named in docs/protocol.md"
    for field in model.model_fields:  # each field where the message is described
        assert re.search(rf"`{field}`|\"{field}\"", where), f"{model.__name__}.{field}"


def _commands() -> list[str]:
    import typer.main

    group = typer.main.get_command(app)
    names = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        names += [f"{name} {sub}" for sub in subcommands] if subcommands else [name]
    return names


@pytest.mark.parametrize("command", _commands())
def test_every_command_is_in_the_readme(command: str) -> None:
    assert re.search(rf"natster {command}(?![\w-])", README), f"natster {command}"
