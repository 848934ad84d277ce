"""The public API is what ``__all__`` and the docs say; the docs say every code and setting."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from livepush.auth import AuthError
from livepush.conf import DEFAULTS
from livepush.protocol import CloseCode, ErrorCode, ProtocolType
from livepush.seed import WebSocketMessageType

DOCS = Path(__file__).resolve().parent.parent / "docs"
PUBLIC_MODULES = [
    "livepush",
    "livepush.auth",
    "livepush.conf",
    "livepush.consumers",
    "livepush.exceptions",
    "livepush.heartbeat",
    "livepush.history",
    "livepush.layers",
    "livepush.live",
    "livepush.metrics",
    "livepush.presence",
    "livepush.protocol",
    "livepush.push",
    "livepush.registry",
    "livepush.routing",
    "livepush.schema",
    "livepush.seed",
    "livepush.status",
    "livepush.testing",
    "livepush.tokens",
    "livepush.views",
    "livepush.wiring",
]


def _doc(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_all_names_exist_and_are_documented(module_name):
    module = importlib.import_module(module_name)
    api = _doc("reference/api.md")
    assert module.__all__, f"{module_name} has an empty __all__"
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.__all__ names missing {name!r}"
        assert name in api, f"{module_name}.{name} is not in docs/reference/api.md"


def test_livepush_exports_the_seed_helpers_with_the_seed_signatures():
    import inspect

    import livepush

    for name in ("send_ws_message_to_user", "broadcast_ws_message"):
        params = list(inspect.signature(getattr(livepush, name)).parameters)
        first = "user_id" if name == "send_ws_message_to_user" else "user_ids"
        assert params[:3] == [first, "event_type", "data"]


def test_every_close_code_is_in_the_protocol_reference():
    protocol = _doc("reference/protocol.md")
    for code in CloseCode:
        assert re.search(rf"\b{code.value}\b", protocol), f"close code {code.value} undocumented"


def test_every_error_code_is_in_the_protocol_reference():
    protocol = _doc("reference/protocol.md")
    for code in ErrorCode:
        assert f"`{code.value}`" in protocol, f"ERROR code {code.value!r} undocumented"


def test_every_auth_reason_is_in_the_protocol_reference():
    protocol = _doc("reference/protocol.md")
    for reason in AuthError:
        assert reason.value in protocol


def test_every_message_type_is_in_the_protocol_reference():
    protocol = _doc("reference/protocol.md")
    for member in [*ProtocolType, *WebSocketMessageType]:
        assert f"`{member.value}`" in protocol


def test_every_setting_has_a_heading_in_the_settings_reference():
    headings = set(re.findall(r"^#+\s+`?([A-Z_]+)`?\s*$", _doc("reference/settings.md"), re.M))
    assert set(DEFAULTS) <= headings, sorted(set(DEFAULTS) - headings)


def test_readme_test_command_is_what_ci_runs():
    root = DOCS.parent
    assert "python scripts/run_tests.py" in (root / "README.md").read_text(encoding="utf-8")
    assert "scripts/run_tests.py" in (root / ".ci" / "run").read_text(encoding="utf-8")
