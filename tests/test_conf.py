"""livepush.conf: LIVEPUSH merged over the defaults, read from settings on every access."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.test import override_settings

from livepush.conf import DEFAULTS, SETTINGS, Rule, Setting, livepush_settings
from livepush.consumers import LivePushConsumer
from livepush.exceptions import LivePushConfigurationError, SettingImportError
from tests.project.consumers import TestConsumer


def test_defaults_for_unset_keys() -> None:
    assert "MAX_MESSAGE_SIZE" not in settings.LIVEPUSH
    assert livepush_settings.MAX_MESSAGE_SIZE == 65536
    assert livepush_settings.JWT_ALGORITHMS == ["HS256"]
    assert livepush_settings.USER_GROUP == "user_{id}"


@override_settings(LIVEPUSH={})
def test_empty_livepush_gives_every_default() -> None:
    assert {name: getattr(livepush_settings, name) for name in DEFAULTS} == DEFAULTS


@override_settings(LIVEPUSH=None)
def test_non_dict_livepush_falls_back_to_defaults() -> None:
    # checks.py reports it as E001; reading settings must not crash meanwhile.
    assert livepush_settings.CONSUMER == "livepush.consumers.LivePushConsumer"


def test_project_values_override_defaults() -> None:
    assert livepush_settings.CONSUMER == "tests.project.consumers.TestConsumer"


def test_override_settings_applies_immediately_and_is_undone() -> None:
    with override_settings(LIVEPUSH={"MAX_MESSAGE_SIZE": 10, "HEARTBEAT_INTERVAL": 5}):
        assert livepush_settings.MAX_MESSAGE_SIZE == 10
        assert livepush_settings.max_message_size == 10
        assert livepush_settings.heartbeat_interval == 5.0
        assert isinstance(livepush_settings.heartbeat_interval, float)
    assert livepush_settings.MAX_MESSAGE_SIZE == 65536


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="HEARTBEAT_INTERVALL"):
        livepush_settings.HEARTBEAT_INTERVALL  # noqa: B018
    assert not hasattr(livepush_settings, "NOT_A_SETTING")


@override_settings(LIVEPUSH={"NOT_A_SETTING": 1})
def test_unknown_keys_in_livepush_are_not_exposed() -> None:
    assert not hasattr(livepush_settings, "NOT_A_SETTING")


def test_import_setting_imports_the_dotted_path() -> None:
    assert livepush_settings.import_setting("CONSUMER") is TestConsumer
    assert livepush_settings.import_setting("JSON_ENCODER") is DjangoJSONEncoder


@override_settings(LIVEPUSH={"CONSUMER": LivePushConsumer, "JSON_ENCODER": json.JSONEncoder})
def test_import_setting_returns_objects_as_they_are() -> None:
    assert livepush_settings.import_setting("CONSUMER") is LivePushConsumer
    assert livepush_settings.import_setting("JSON_ENCODER") is json.JSONEncoder


@pytest.mark.parametrize("path", ["tests.project.consumers.Missing", "no_such_module.Consumer"])
def test_import_setting_bad_path_names_the_setting(path: str) -> None:
    with (
        override_settings(LIVEPUSH={"CONSUMER": path}),
        pytest.raises(SettingImportError) as excinfo,
    ):
        livepush_settings.import_setting("CONSUMER")
    message = str(excinfo.value)
    assert "LIVEPUSH['CONSUMER']" in message
    assert repr(path) in message
    assert isinstance(excinfo.value.__cause__, ImportError)
    assert isinstance(excinfo.value, LivePushConfigurationError)
    assert isinstance(excinfo.value, ImproperlyConfigured)


def test_signing_key_falls_back_to_secret_key() -> None:
    assert livepush_settings.JWT_SIGNING_KEY is None
    assert livepush_settings.signing_key == settings.SECRET_KEY
    with override_settings(SECRET_KEY="another-secret-key"):
        assert livepush_settings.signing_key == "another-secret-key"


@override_settings(LIVEPUSH={"JWT_SIGNING_KEY": "jwt-only-key"})
def test_signing_key_setting_wins_over_secret_key() -> None:
    assert livepush_settings.signing_key == "jwt-only-key"


@override_settings(LIVEPUSH={"JWT_SIGNING_KEY": ""})
def test_empty_signing_key_is_kept_not_replaced() -> None:
    # Only None falls back; an empty key is reported by check E006 instead.
    assert livepush_settings.signing_key == ""


def test_verifying_key_falls_back_to_signing_key() -> None:
    assert livepush_settings.verifying_key == settings.SECRET_KEY
    with override_settings(LIVEPUSH={"JWT_SIGNING_KEY": "jwt-only-key"}):
        assert livepush_settings.verifying_key == "jwt-only-key"


@override_settings(LIVEPUSH={"JWT_SIGNING_KEY": "private-pem", "JWT_VERIFYING_KEY": "public-pem"})
def test_verifying_key_setting_wins() -> None:
    assert livepush_settings.verifying_key == "public-pem"
    assert livepush_settings.signing_key == "private-pem"


def test_user_group_uses_the_template() -> None:
    assert livepush_settings.user_group(42) == "user_42"
    assert livepush_settings.user_group("7") == "user_7"
    with override_settings(LIVEPUSH={"USER_GROUP": "app.u-{id}"}):
        assert livepush_settings.user_group(42) == "app.u-42"


def test_broadcast_group() -> None:
    assert livepush_settings.broadcast_group == "broadcast"
    with override_settings(LIVEPUSH={"BROADCAST_GROUP": "everyone"}):
        assert livepush_settings.broadcast_group == "everyone"


# The settings table: one entry per key gives its default, its types and its rules.

SETTINGS_DOC = Path(__file__).resolve().parent.parent / "docs" / "reference" / "settings.md"


def test_defaults_come_from_the_table() -> None:
    assert {name: setting.default for name, setting in SETTINGS.items()} == DEFAULTS


@pytest.mark.parametrize("name", list(SETTINGS))
def test_each_default_has_an_accepted_type_and_keeps_the_rules(name: str) -> None:
    setting = SETTINGS[name]
    assert setting.accepts(setting.default)
    if setting.default is not None:
        problems = [rule.problem(name, setting.default) for rule in setting.rules]
        assert [p for p in problems if p is not None] == []


def test_accepts_a_bool_only_where_bool_is_listed() -> None:
    number = Setting(1, (int, float))
    assert number.accepts(0)
    assert number.accepts(1.5)
    assert not number.accepts(True)
    assert not number.accepts(None)
    assert Setting(True, (bool,)).accepts(False)
    assert Setting(None, (str, None)).accepts(None)


def test_a_new_table_entry_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    rule = Rule("livepush.E016", lambda name, value: None, "Never broken.")
    monkeypatch.setitem(SETTINGS, "EXAMPLE_LIMIT", Setting(5, (int,), (rule,)))
    assert livepush_settings.EXAMPLE_LIMIT == 5
    with override_settings(LIVEPUSH={"EXAMPLE_LIMIT": 7}):
        assert livepush_settings.EXAMPLE_LIMIT == 7


def _livepush_part_of_the_settings_reference() -> str:
    return SETTINGS_DOC.read_text(encoding="utf-8").split("## Settings outside `LIVEPUSH`")[0]


def test_the_settings_reference_documents_exactly_the_table() -> None:
    headings = re.findall(r"^### `([A-Z_]+)`$", _livepush_part_of_the_settings_reference(), re.M)
    assert sorted(headings) == sorted(SETTINGS)


def test_the_settings_reference_gives_each_default() -> None:
    # Each setting's heading is followed by "Default: `<Python literal>`".
    sections = re.findall(
        r"^### `([A-Z_]+)`\n\nDefault: `([^`]*)`", _livepush_part_of_the_settings_reference(), re.M
    )
    assert {name: ast.literal_eval(default) for name, default in sections} == DEFAULTS
