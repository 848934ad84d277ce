"""The package's shape: one owner per concept, so no module reaches into another's private names.

A name that two modules need is an internal API with a public name and a docstring (it may live
in a ``_private`` module); ``from livepush.x import _helper`` or ``x._helper`` from outside ``x``
means the knowledge has two owners.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "livepush"
MODULES = sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)
#: Lines a module may have; past it, it holds more than one concept.
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def resolve(module: str, node: ast.ImportFrom, path: Path) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def private_uses(path: Path) -> list[str]:
    """Private names of other livepush modules that ``path`` imports or reads."""
    module = module_name(path)
    tree = ast.parse(path.read_text(), str(path))
    found: list[str] = []
    imported_modules: dict[str, str] = {}  # local name -> livepush module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = resolve(module, node, path)
            if not source.startswith("livepush"):
                continue
            for alias in node.names:
                target = f"{source}.{alias.name}"
                if (SRC.parent / Path(*target.split("."))).with_suffix(".py").exists() or (
                    SRC.parent / Path(*target.split("."))
                ).is_dir():
                    imported_modules[alias.asname or alias.name] = target
                elif is_private(alias.name) and source != module:
                    found.append(f"{module} imports {source}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("livepush") and alias.asname:
                    imported_modules[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in imported_modules
            and is_private(node.attr)
        ):
            found.append(f"{module} reads {imported_modules[node.value.id]}.{node.attr}")
    return found


def test_the_walk_sees_every_module():
    names = {module_name(p) for p in MODULES}
    assert {"livepush", "livepush.consumers", "livepush._fanout", "livepush.presence"} <= names


def test_the_check_catches_a_private_import(tmp_path):
    bad = SRC / "_structure_probe.py"
    assert not bad.exists()
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from livepush.push import _secret\nfrom livepush import _fanout\n_fanout._x\n"
    )
    # Checked as if it were a module of the package.
    found = private_uses(sample.rename(SRC.parent / "livepush" / "_structure_probe.py"))
    try:
        assert found == [
            "livepush._structure_probe imports livepush.push._secret",
            "livepush._structure_probe reads livepush._fanout._x",
        ]
    finally:
        bad.unlink()


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_module_uses_another_modules_private_names(path):
    assert private_uses(path) == []


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_module_holds_more_than_one_concept(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{module_name(path)} has {lines} lines; split it by concept"
