"""The system checks in livepush.checks: one ID per problem, exact lists, a hint on each."""

from __future__ import annotations

import ast
import enum
import re
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.checks import CheckMessage, Tags, run_checks
from django.test import override_settings

import livepush.checks
from livepush.checks import check_settings
from livepush.consumers import LivePushConsumer, handles
from livepush.layers import redis_channel_layer

ROOT = Path(__file__).resolve().parent.parent
CHECKS_DOC = ROOT / "docs" / "reference" / "checks.md"
CHANNELS_REDIS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [("localhost", 6379)]},
    }
}

#: W002 is only raised with redis-py 8, whose 5 s socket timeout is the trap.
NEEDS_REDIS_8 = pytest.mark.skipif(
    int(redis.__version__.split(".")[0]) < 8, reason="W002 only applies to redis-py >= 8"
)


# Misconfigurations that need importable objects (dotted paths "tests.test_checks.<name>").


class IntMessageType(int, enum.Enum):
    ONE = 1


class ClashingMessageType(str, enum.Enum):
    PING = "PING"  # already taken by the built-in WebSocketMessageType


class NotAnEnum:
    pass


class NotAConsumer:
    pass


class UnregisteredHandlerConsumer(LivePushConsumer):
    @handles("NOT_REGISTERED")
    async def not_registered(self, data: Any) -> None:
        pass


@pytest.fixture(autouse=True)
def _debug_as_in_project_settings():
    # pytest-django runs tests with DEBUG=False; the test project sets DEBUG=True, under
    # which its in-memory channel layer is fine (W001 is tested on its own).
    with override_settings(DEBUG=True):
        yield


def checks(livepush: dict[str, Any] | None = None, **django: Any) -> list[CheckMessage]:
    """Run the checks with ``livepush`` merged over the project's LIVEPUSH and ``django``."""
    if livepush is not None:
        django.setdefault("LIVEPUSH", {**settings.LIVEPUSH, **livepush})
    with override_settings(**django):
        return check_settings()


def ids(livepush: dict[str, Any] | None = None, **django: Any) -> list[str]:
    return [m.id for m in checks(livepush, **django)]


CASES = [
    pytest.param({}, {"LIVEPUSH": [("HEARTBEAT_INTERVAL", 30)]}, ["livepush.E001"], id="E001"),
    pytest.param({"HEARTBEAT_INTERVALL": 30}, {}, ["livepush.E002"], id="E002"),
    pytest.param({"HEARTBEAT_INTERVAL": "30"}, {}, ["livepush.E003"], id="E003-str"),
    pytest.param({"MAX_MESSAGE_SIZE": True}, {}, ["livepush.E003"], id="E003-bool"),
    pytest.param({"CONSUMER": 42}, {}, ["livepush.E003"], id="E003-consumer"),
    pytest.param({"HEARTBEAT_INTERVAL": 0}, {}, ["livepush.E004"], id="E004-zero"),
    pytest.param(
        {"HEARTBEAT_INTERVAL": 10, "HEARTBEAT_TIMEOUT": 10}, {}, ["livepush.E004"], id="E004-order"
    ),
    pytest.param({"JWT_ALGORITHMS": []}, {}, ["livepush.E005"], id="E005-empty"),
    pytest.param({"JWT_ALGORITHMS": ["HS256", "NONE"]}, {}, ["livepush.E005"], id="E005-none"),
    pytest.param(
        {"JWT_ALGORITHMS": ["ES999"], "JWT_VERIFYING_KEY": "pem"},
        {},
        ["livepush.E005"],
        id="E005-unknown",
    ),
    pytest.param({"JWT_SIGNING_KEY": ""}, {}, ["livepush.E006"], id="E006"),
    pytest.param({"JWT_ALGORITHMS": ["RS256"]}, {}, ["livepush.E007"], id="E007"),
    pytest.param(
        {"JWT_ALGORITHMS": ["HS256", "RS256"], "JWT_VERIFYING_KEY": "pem"},
        {},
        ["livepush.E008"],
        id="E008",
    ),
    pytest.param({}, {"CHANNEL_LAYERS": {}}, ["livepush.E009"], id="E009-no-layers"),
    pytest.param({"CHANNEL_LAYER": "push"}, {}, ["livepush.E009"], id="E009-alias"),
    pytest.param(
        {"MESSAGE_TYPES": ["tests.test_checks.Missing"]}, {}, ["livepush.E010"], id="E010-import"
    ),
    pytest.param(
        {"MESSAGE_TYPES": ["tests.test_checks.NotAnEnum"]}, {}, ["livepush.E010"], id="E010-class"
    ),
    pytest.param(
        {"MESSAGE_TYPES": ["tests.test_checks.IntMessageType"]},
        {},
        ["livepush.E010"],
        id="E010-int-enum",
    ),
    pytest.param(
        {"MESSAGE_TYPES": ["tests.test_checks.ClashingMessageType"]},
        {},
        ["livepush.E011"],
        id="E011",
    ),
    pytest.param(
        {"CONSUMER": "tests.test_checks.Missing"}, {}, ["livepush.E012"], id="E012-import"
    ),
    pytest.param(
        {"CONSUMER": "tests.test_checks.NotAConsumer"}, {}, ["livepush.E012"], id="E012-class"
    ),
    pytest.param(
        {"CONSUMER": "tests.test_checks.UnregisteredHandlerConsumer"},
        {},
        ["livepush.E013"],
        id="E013",
    ),
    pytest.param({"JSON_ENCODER": "json.Missing"}, {}, ["livepush.E014"], id="E014-import"),
    pytest.param({"JSON_ENCODER": "json.JSONDecoder"}, {}, ["livepush.E014"], id="E014-class"),
    pytest.param({"USER_GROUP": "user"}, {}, ["livepush.E015"], id="E015-no-id"),
    pytest.param({"USER_GROUP": "user {id}"}, {}, ["livepush.E015"], id="E015-space"),
    pytest.param({"BROADCAST_GROUP": "every one"}, {}, ["livepush.E015"], id="E015-broadcast"),
    pytest.param({"MAX_MESSAGE_SIZE": 0}, {}, ["livepush.E016"], id="E016"),
    pytest.param({"JWT_USER_ID_CLAIM": ""}, {}, ["livepush.E017"], id="E017-claim"),
    pytest.param({"JWT_QUERY_PARAM": ""}, {}, ["livepush.E017"], id="E017-query-param"),
    pytest.param({"PRESENCE_TTL": 0}, {}, ["livepush.E018"], id="E018-ttl"),
    pytest.param({"PRESENCE_SWEEP_INTERVAL": 60}, {}, ["livepush.E018"], id="E018-sweep"),
    pytest.param({"PRESENCE_GRACE": -1}, {}, ["livepush.E018"], id="E018-grace"),
    pytest.param(
        {"PRESENCE_AUDIENCE": "no.such.audience"}, {}, ["livepush.E019"], id="E019-import"
    ),
    pytest.param(
        {"PRESENCE_AUDIENCE": "livepush.conf.DEFAULTS"},
        {},
        ["livepush.E019"],
        id="E019-not-callable",
    ),
    pytest.param({}, {"DEBUG": False}, ["livepush.W001"], id="W001"),
    pytest.param(
        {},
        {"CHANNEL_LAYERS": CHANNELS_REDIS},
        ["livepush.W002"],
        id="W002",
        marks=NEEDS_REDIS_8,
    ),
    pytest.param({"JWT_SIGNING_KEY": "short"}, {}, ["livepush.W003"], id="W003"),
    pytest.param(
        {"JWT_ALGORITHMS": ["HS512"], "JWT_SIGNING_KEY": b"k" * 48},
        {},
        ["livepush.W003"],
        id="W003-hs512",
    ),
]


def test_project_settings_pass() -> None:
    assert checks() == []


@pytest.mark.parametrize(("livepush", "django", "expected"), CASES)
def test_misconfiguration_gets_its_id(
    livepush: dict[str, Any], django: dict[str, Any], expected: list[str]
) -> None:
    assert ids(livepush, **django) == expected


def test_every_message_has_a_hint() -> None:
    for case in CASES:
        livepush, django, _ = case.values
        for message in checks(livepush, **django):
            assert isinstance(message.hint, str), message
            assert message.hint.strip(), message


def test_unknown_key_suggests_the_closest() -> None:
    [message] = checks({"HEARTBEAT_INTERVALL": 30})
    assert "'HEARTBEAT_INTERVALL'" in message.msg
    assert message.hint.startswith("Did you mean 'HEARTBEAT_INTERVAL'?")


def test_check_is_registered_with_django() -> None:
    with override_settings(LIVEPUSH={**settings.LIVEPUSH, "MAX_MESSAGE_SIZE": 0}):
        assert "livepush.E016" in [m.id for m in run_checks(tags=[Tags.compatibility])]


# W002: channels_redis with redis-py 8 (django/channels_redis#422).


@pytest.mark.parametrize(
    "layers",
    [
        pytest.param(
            {
                "default": {
                    **CHANNELS_REDIS["default"],
                    "BACKEND": "livepush.layers.RedisChannelLayer",
                }
            },
            id="livepush-backend",
        ),
        pytest.param({"default": redis_channel_layer([("localhost", 6379)])}, id="helper"),
        pytest.param(
            {
                "default": {
                    "BACKEND": "channels_redis.core.RedisChannelLayer",
                    "CONFIG": {"hosts": [{"address": "redis://localhost", "socket_timeout": 15}]},
                }
            },
            id="socket-timeout-15",
        ),
    ],
)
def test_w002_not_raised_for_safe_layers(layers: dict[str, Any]) -> None:
    assert ids(CHANNEL_LAYERS=layers) == []


@NEEDS_REDIS_8
def test_w002_raised_for_a_host_dict_with_the_default_timeout() -> None:
    layers = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": "redis://localhost"}]},
        }
    }
    assert ids(CHANNEL_LAYERS=layers) == ["livepush.W002"]


# Misconfigurations that once crashed the checks or were misreported.


def test_e006_for_empty_secret_key() -> None:
    assert ids(SECRET_KEY="") == ["livepush.E006"]


def test_non_string_channel_layer_alias_is_only_e003() -> None:
    assert ids({"CHANNEL_LAYER": ["default"]}) == ["livepush.E003"]


def test_non_string_message_type_entry_is_e010() -> None:
    assert ids({"MESSAGE_TYPES": [42]}) == ["livepush.E010"]


def test_an_enum_class_in_message_types_is_accepted_like_its_path() -> None:
    assert ids({"MESSAGE_TYPES": [ClashingMessageType]}) == ["livepush.E011"]


def test_non_dict_channel_layer_entry_is_reported() -> None:
    assert ids(CHANNEL_LAYERS={"default": "redis://localhost:6379"}) == ["livepush.E009"]


def test_unknown_hmac_algorithm_is_only_e005() -> None:
    assert ids({"JWT_ALGORITHMS": ["HS256", "HS265"]}) == ["livepush.E005"]


# The IDs themselves.


def _source_ids() -> list[str]:
    source = Path(livepush.checks.__file__).read_text(encoding="utf-8")
    return re.findall(r"\"(livepush\.[A-Z]\d{3})\"", source)


def test_ids_match_their_level() -> None:
    # Every Error(...) carries an E id and every Warning(...) a W id, so no ID is shared
    # between an error and a warning.
    tree = ast.parse(Path(livepush.checks.__file__).read_text(encoding="utf-8"))
    levels: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("Error", "Warning"):
            for keyword in node.keywords:
                if keyword.arg == "id":
                    for const in ast.walk(keyword.value):
                        if isinstance(const, ast.Constant) and isinstance(const.value, str):
                            levels.setdefault(const.value, set()).add(node.func.id)
    assert set(levels) == set(_source_ids())
    for check_id, classes in levels.items():
        assert classes == ({"Warning"} if check_id.startswith("livepush.W") else {"Error"})


def test_every_id_in_the_source_is_tested_here() -> None:
    found = set(_source_ids())
    assert all(re.fullmatch(r"livepush\.[EW]\d{3}", i) for i in found), found
    tested = {expected_id for case in CASES for expected_id in case.values[2]}
    assert found == tested


def test_every_id_is_documented() -> None:
    if not CHECKS_DOC.exists():
        pytest.skip(f"{CHECKS_DOC.relative_to(ROOT)} does not exist yet")
    doc = CHECKS_DOC.read_text(encoding="utf-8")
    missing = sorted(i for i in set(_source_ids()) if i not in doc)
    assert missing == []
