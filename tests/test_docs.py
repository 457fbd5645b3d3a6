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
    value = SUBJECTS[name].replace("{account}", "<account>")
    assert f"`{value}`" in PROTOCOL or value in PROTOCOL, f"{name} = {value!r} is undocumented"


MESSAGES = [
    obj
    for obj in vars(wire).values()
    if isinstance(obj, type)
    and issubclass(obj, BaseModel)
    and obj.__module__ == wire.__name__
    and obj not in (wire.Request, wire.Envelope)
]


@pytest.mark.parametrize("model", MESSAGES, ids=lambda m: m.__name__)
def test_every_message_and_field_is_in_the_protocol_doc(model: type[BaseModel]) -> None:
    assert model.__name__ in PROTOCOL
    for field in model.model_fields:
        assert re.search(rf"`{field}`|\"{field}\"", PROTOCOL), f"{model.__name__}.{field}"


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
    assert f"natster {command}" in README
