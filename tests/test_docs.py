"""The tutorial's code blocks are excerpts of the example project's files, kept in step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(
    r"```(?:python|html)\n(?:#|<!--) (example_project/\S+?)(?: -->)?\n(.*?)```", re.S
)
BLOCKS = BLOCK.findall((ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8"))


def test_the_tutorial_has_excerpts():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize(("path", "code"), BLOCKS, ids=[p for p, _ in BLOCKS])
def test_tutorial_excerpt_is_in_its_file(path, code):
    source = (ROOT / path).read_text(encoding="utf-8")
    assert code.strip("\n") in source, f"the tutorial's excerpt of {path} no longer matches it"
