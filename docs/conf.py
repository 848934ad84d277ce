"""Sphinx configuration: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.

The pages are Markdown (MyST); the generated API reference (``reference/autoapi.md``) imports
``livepush`` under a minimal Django settings module, ``docs/_settings.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import django

if TYPE_CHECKING:
    from sphinx.application import Sphinx

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS), str(DOCS.parent / "src")]
# Always the docs settings, whatever the shell has: the build is the same everywhere.
os.environ["DJANGO_SETTINGS_MODULE"] = "_settings"
django.setup()

import livepush  # noqa: E402  (after django.setup())

project = "django-livepush"
author = "django-livepush developers"
copyright = "django-livepush developers"
release = livepush.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Markdown: GitHub-style anchors for headings down to ###, so `page.md#section` links resolve;
# a link to a missing page or anchor is a warning (myst.xref_missing), and -W makes it an error.
myst_heading_anchors = 3
# Not nitpicky: without intersphinx (the build is offline) every stdlib, Django and Channels type
# in a signature would be a missing reference. Broken Markdown links and anchors still fail.
nitpicky = False

# Docstrings are Google style (Args:/Returns:/Raises:).
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# Attributes: sections as fields, so they do not describe the attributes :undoc-members: lists too.
napoleon_use_ivar = True
autodoc_member_order = "bysource"
autodoc_typehints = "signature"

html_theme = "furo"
html_title = f"django-livepush {release}"


# Napoleon reads an attribute's one-line docstring "text: more" as "type: description", and the
# attributes here say "The server is restarting: ..." with their types in the annotations. Give
# attribute and data docstrings back to autodoc as they are written.
_attribute_docs: dict[str, list[str]] = {}


def _keep_attribute_doc(
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    if what in {"attribute", "data"}:
        _attribute_docs[name] = list(lines)


def _restore_attribute_doc(
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    if what in {"attribute", "data"}:
        lines[:] = _attribute_docs.pop(name, lines)


def setup(app: Sphinx) -> None:
    # Napoleon's handler has the default priority, 500: keep before it, restore after it.
    app.connect("autodoc-process-docstring", _keep_attribute_doc, priority=400)
    app.connect("autodoc-process-docstring", _restore_attribute_doc, priority=600)
