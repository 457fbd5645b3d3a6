"""The docs say what the code does: every subject, message and command is documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from natster import endpoints, subjects, wire
from natster.cli import app
from natster.endpoints import Endpoint, Service

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
    """Named in backticks, whole, or as the first tokens of a subject (a prefix)."""
    value = SUBJECTS[name].replace("{account}", "<account>").replace("{server}", "<server>")
    named = re.search(rf"`{re.escape(value)}([.<][^`]*)?`", PROTOCOL)
    assert named, f"{name} = {value!r} is undocumented"


def _service_section(service: endpoints.Service) -> str:
    """protocol.md's section on a service: from its heading (which names it in
    backticks) to the next section."""
    found = re.search(rf"^## [^\n]*`{service.value}`.*?(?=^## )", PROTOCOL, re.M | re.S)
    assert found, f"docs/protocol.md has no section on `{service.value}`"
    return found.group(0)


def _where_endpoint(section: str, name: str) -> str:
    """What the section says where it names ``name`` in backticks: its table row, the
    subsection its heading opens, or the paragraph."""
    parts = re.split(r"^(?=#)", section, flags=re.M)
    found = []
    for part in parts:
        head, _, body = part.partition("\n")
        if head.startswith("#") and f"`{name}`" in head:
            found.append(part)
            continue
        for block in re.split(r"\n\s*\n", body):
            if block.lstrip().startswith("|"):
                found += [line for line in block.splitlines() if f"`{name}`" in line]
            elif f"`{name}`" in block:
                found.append(block)
    return "\n".join(found)


@pytest.mark.parametrize("endpoint", endpoints.ALL, ids=lambda e: e.name)
def test_every_endpoint_is_in_its_services_section(endpoint: Endpoint[Any]) -> None:
    """Named exactly (its name, or the subject a member asks it on), in its service's
    section, with its request and reply messages where it is described."""
    section = _service_section(endpoint.service)
    names = [endpoint.name] + ([] if endpoint.service is Service.CATALOG else [endpoint.local()])
    where = "\n".join(_where_endpoint(section, name) for name in names)
    assert where.strip(), f"`{endpoint.name}` is not in the {endpoint.service.value} section"
    for model in (endpoint.request, endpoint.reply):
        if model is not None:
            assert f"`{model.__name__}`" in where, f"{endpoint.name}: `{model.__name__}`"


@pytest.mark.parametrize("service", list(Service), ids=lambda s: s.value)
def test_every_endpoint_a_section_tables_is_in_the_code(service: Service) -> None:
    """No endpoint documented that the service does not have (a first column of a table
    headed `endpoint`)."""
    table = {e.name for e in endpoints.ALL if e.service is service}
    documented = set()
    for block in re.split(r"\n\s*\n", _service_section(service)):
        rows = block.strip().splitlines()
        if rows and rows[0].startswith("| endpoint"):
            documented |= {m.group(1) for r in rows[2:] if (m := re.match(r"\| `([^`]+)`", r))}
    assert documented, f"the {service.value} section has no endpoint table"
    assert documented - {"transfer-*"} <= table, sorted(documented - table)


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
