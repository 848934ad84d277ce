"""The Sphinx site builds from docs/ with warnings as errors, and has what it promises.

Needs the ``docs`` extra (``pip install -e '.[docs]'``); skipped without it unless
``LIVEPUSH_REQUIRE_DOCS=1``, as in CI.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .test_public_api import PUBLIC_MODULES as ALL_PUBLIC_MODULES

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# The modules the generated API reference must cover (each with everything in its __all__): the
# public ones, but for livepush.presence (its own page, topics/presence.md) and livepush.schema.
PUBLIC_MODULES = set(ALL_PUBLIC_MODULES) - {"livepush.presence", "livepush.schema"}


def require_sphinx() -> None:
    missing = [m for m in ("sphinx", "myst_parser", "furo") if importlib.util.find_spec(m) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed (pip install -e '.[docs]')"
        if os.environ.get("LIVEPUSH_REQUIRE_DOCS") == "1":
            pytest.fail(f"LIVEPUSH_REQUIRE_DOCS=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_sphinx()
    out = tmp_path_factory.mktemp("docs-html")
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    result = subprocess.run(
        [*command, str(DOCS), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"sphinx-build failed:\n{result.stdout}\n{result.stderr}"
    return out


def test_the_site_builds_without_warnings(site):
    assert (site / "index.html").is_file()


def test_index_links_every_section(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    for page in (
        "tutorial.html",
        "quickstart.html",
        "howto/deploy.html",
        "topics/delivery.html",
        "reference/api.html",
        "reference/autoapi.html",
        "changelog.html",
    ):
        assert f'href="{page}' in index, page


def test_the_quick_start_and_changelog_are_included(site):
    quickstart = (site / "quickstart.html").read_text(encoding="utf-8")
    assert "JWTAuthMiddlewareStack" in quickstart
    changelog = (site / "changelog.html").read_text(encoding="utf-8")
    assert "Unreleased" in changelog
    assert 'href="topics/redis.html' in changelog  # docs/ links made relative to the site


def test_the_generated_api_reference_documents_the_public_api(site):
    page = (site / "reference" / "autoapi.html").read_text(encoding="utf-8")
    assert 'id="livepush.push.send_ws_message_to_user"' in page
    documented = set(
        re.findall(
            r"^\.\. automodule:: (\S+)$",
            (DOCS / "reference" / "autoapi.md").read_text(encoding="utf-8"),
            re.M,
        )
    )
    assert documented >= PUBLIC_MODULES
    missing = []
    for name in sorted(documented):
        module = importlib.import_module(name)
        for member in getattr(module, "__all__", ()):
            obj = getattr(module, member)
            home = getattr(obj, "__module__", name) if name == "livepush" else name
            if f'id="{home}.{member}"' not in page:
                missing.append(f"{name}.{member}")
    assert not missing, f"not in the generated API reference: {missing}"
