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
import livepush.registry
import livepush.wiring
from livepush.checks import check_settings
from livepush.conf import SETTINGS, Rule, Setting
from livepush.consumers import LivePushConsumer, handles
from livepush.exceptions import DuplicateMessageType
from livepush.layers import redis_channel_layer
from livepush.registry import MessageTypeRegistry

ROOT = Path(__file__).resolve().parent.parent
CHECKS_DOC = ROOT / "docs" / "reference" / "checks.md"
CHANNELS_REDIS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [("localhost", 6379)]},
    }
}

#: channels-redis's own layer with a socket timeout that W002 accepts.
SAFE_HOSTS = {"hosts": [{"address": "redis://localhost", "socket_timeout": 15}]}
SAFE_CHANNELS_REDIS = {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": SAFE_HOSTS}

#: W002 is only raised with redis-py 8, whose 5 s socket timeout is the trap.
NEEDS_REDIS_8 = pytest.mark.skipif(
    int(redis.__version__.split(".")[0]) < 8, reason="W002 only applies to redis-py >= 8"
)


# Misconfigurations that need importable objects (dotted paths "tests.test_checks.<name>").


class IntMessageType(int, enum.Enum):
    ONE = 1


class ClashingMessageType(str, enum.Enum):
    PING = "PING"  # already taken by the built-in WebSocketMessageType


class EmptyNameMessageType(str, enum.Enum):
    EMPTY = " "


class TakenInCodeMessageType(str, enum.Enum):
    TAKEN_IN_CODE = "TAKEN_IN_CODE"


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
    pytest.param({"HEARTBEAT_TIMEOUT": -1}, {}, ["livepush.E004"], id="E004-negative-timeout"),
    pytest.param(
        {"HEARTBEAT_INTERVAL": 10, "HEARTBEAT_TIMEOUT": 10}, {}, ["livepush.E020"], id="E020"
    ),
    pytest.param({"JWT_ALGORITHMS": []}, {}, ["livepush.E005"], id="E005-empty"),
    pytest.param({"JWT_ALGORITHMS": ["HS256", "NONE"]}, {}, ["livepush.E005"], id="E005-none"),
    pytest.param(
        {"JWT_ALGORITHMS": ["ES999"], "JWT_VERIFYING_KEY": "pem"},
        {},
        ["livepush.E021"],
        id="E021",
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
        {"MESSAGE_TYPES": ["tests.test_checks.NotAnEnum"]}, {}, ["livepush.E022"], id="E022-class"
    ),
    pytest.param(
        {"MESSAGE_TYPES": ["tests.test_checks.IntMessageType"]},
        {},
        ["livepush.E022"],
        id="E022-int-enum",
    ),
    pytest.param(
        {"MESSAGE_TYPES": [EmptyNameMessageType]}, {}, ["livepush.E022"], id="E022-empty-name"
    ),
    pytest.param({"MESSAGE_TYPES": [42]}, {}, ["livepush.E022"], id="E022-not-a-path"),
    pytest.param(
        {"MESSAGE_TYPES": ["tests.test_checks.ClashingMessageType"]},
        {},
        ["livepush.E011"],
        id="E011",
    ),
    pytest.param(
        {"CONSUMER": "tests.test_checks.Missing"}, {}, ["livepush.E012"], id="E012-import"
    ),
    pytest.param({"CONSUMER": "tests.test_checks.NotAConsumer"}, {}, ["livepush.E023"], id="E023"),
    pytest.param({"CONSUMER": NotAConsumer}, {}, ["livepush.E023"], id="E023-class"),
    pytest.param(
        {"CONSUMER": "tests.test_checks.UnregisteredHandlerConsumer"},
        {},
        ["livepush.E013"],
        id="E013",
    ),
    pytest.param({"JSON_ENCODER": "json.Missing"}, {}, ["livepush.E014"], id="E014-import"),
    pytest.param({"JSON_ENCODER": "json.JSONDecoder"}, {}, ["livepush.E024"], id="E024"),
    pytest.param({"USER_GROUP": "user"}, {}, ["livepush.E015"], id="E015-no-id"),
    pytest.param({"USER_GROUP": "user {id}"}, {}, ["livepush.E015"], id="E015-space"),
    pytest.param({"BROADCAST_GROUP": "every one"}, {}, ["livepush.E015"], id="E015-broadcast"),
    pytest.param({"MAX_MESSAGE_SIZE": 0}, {}, ["livepush.E016"], id="E016"),
    pytest.param({"SHUTDOWN_GRACE": -1}, {}, ["livepush.E034"], id="E034"),
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
        ["livepush.E025"],
        id="E025",
    ),
    pytest.param({"PRESENCE_WINDOW": -0.25}, {}, ["livepush.E032"], id="E032"),
    pytest.param({"PRESENCE_WINDOW": 0}, {}, [], id="E032-zero-is-fine"),
    pytest.param({"CHANNEL_LAYER_WAIT": -1}, {}, ["livepush.E036"], id="E036"),
    pytest.param({"CHANNEL_LAYER_WAIT": 0}, {}, [], id="E036-zero-is-fine"),
    pytest.param({"HISTORY_SIZE": 0}, {}, ["livepush.E037"], id="E037"),
    pytest.param({"HISTORY_TTL": -5}, {}, ["livepush.E038"], id="E038"),
    pytest.param({"HISTORY_META_TTL": 0}, {}, ["livepush.E039"], id="E039"),
    pytest.param({"INBOUND_RATE": 0}, {}, ["livepush.E028"], id="E028"),
    pytest.param({"INBOUND_BURST": 0}, {}, ["livepush.E029"], id="E029"),
    pytest.param({"MAX_BACKLOG_FRAMES": 0}, {}, ["livepush.E030"], id="E030-frames"),
    pytest.param({"MAX_BACKLOG_BYTES": -1}, {}, ["livepush.E030"], id="E030-bytes"),
    pytest.param({"MAX_CONNECTIONS_PER_USER": 0}, {}, ["livepush.E031"], id="E031"),
    pytest.param({}, {"DEBUG": False}, ["livepush.W001"], id="W001"),
    pytest.param(
        {},
        # The seed's configuration: redis-py 8's timeout, and channels-redis's capacity of 100.
        {"CHANNEL_LAYERS": CHANNELS_REDIS},
        ["livepush.W002", "livepush.W004"],
        id="W002",
        marks=NEEDS_REDIS_8,
    ),
    pytest.param({"JWT_SIGNING_KEY": "short"}, {}, ["livepush.W003"], id="W003"),
    pytest.param(
        {},
        {"CHANNEL_LAYERS": {"default": redis_channel_layer(channel_capacity={"*!*": 100})}},
        ["livepush.W004"],
        id="W004",
    ),
    pytest.param(
        {},
        {"CHANNEL_LAYERS": {"default": redis_channel_layer(channel_capacity={"specific.*": 500})}},
        ["livepush.W004"],
        id="W004-a-pattern-of-yours",
    ),
    pytest.param(
        {},
        {"CHANNEL_LAYERS": {"default": SAFE_CHANNELS_REDIS}},
        ["livepush.W004"],
        id="W004-channels-redis-default-capacity",
    ),
    pytest.param(
        {},
        {"CHANNEL_LAYERS": {"default": redis_channel_layer(capacity=100)}},
        ["livepush.W004"],
        id="W004-capacity",
    ),
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
            {"default": {**SAFE_CHANNELS_REDIS, "CONFIG": {**SAFE_HOSTS, "capacity": 10_000}}},
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
            "CONFIG": {"hosts": [{"address": "redis://localhost"}], "capacity": 10_000},
        }
    }
    assert ids(CHANNEL_LAYERS=layers) == ["livepush.W002"]


# Misconfigurations that once crashed the checks or were misreported.


def test_e006_for_empty_secret_key() -> None:
    assert ids(SECRET_KEY="") == ["livepush.E006"]


def test_non_string_channel_layer_alias_is_only_e003() -> None:
    assert ids({"CHANNEL_LAYER": ["default"]}) == ["livepush.E003"]


def test_both_heartbeat_values_not_positive_is_one_e004_each() -> None:
    messages = checks({"HEARTBEAT_INTERVAL": 0, "HEARTBEAT_TIMEOUT": 0})
    assert [m.id for m in messages] == ["livepush.E004", "livepush.E004"]
    assert "'HEARTBEAT_INTERVAL'" in messages[0].msg
    assert "'HEARTBEAT_TIMEOUT'" in messages[1].msg


def test_an_enum_class_in_message_types_is_accepted_like_its_path() -> None:
    assert ids({"MESSAGE_TYPES": [ClashingMessageType]}) == ["livepush.E011"]


def test_non_dict_channel_layer_entry_is_reported() -> None:
    assert ids(CHANNEL_LAYERS={"default": "redis://localhost:6379"}) == ["livepush.E009"]


def test_unknown_hmac_algorithm_is_only_e021() -> None:
    assert ids({"JWT_ALGORITHMS": ["HS256", "HS265"]}) == ["livepush.E021"]


def test_none_among_unknown_algorithms_is_only_e005() -> None:
    assert ids({"JWT_ALGORITHMS": ["none", "HS265"]}) == ["livepush.E005"]


def test_a_missing_message_types_path_is_e010_before_the_next_entry() -> None:
    # Each setting reports its first broken rule: the import, not the next entry's kind.
    paths = ["tests.test_checks.NotAnEnum", "tests.test_checks.Missing"]
    assert ids({"MESSAGE_TYPES": paths}) == ["livepush.E010"]


def test_a_duplicate_type_name_is_e011_and_not_e013() -> None:
    # The registry raises DuplicateMessageType for it; the consumer check then stays quiet.
    assert ids(
        {
            "MESSAGE_TYPES": [ClashingMessageType],
            "CONSUMER": "tests.test_checks.UnregisteredHandlerConsumer",
        }
    ) == ["livepush.E011"]


def test_a_clash_with_a_type_registered_in_code_does_not_crash_the_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = MessageTypeRegistry()
    registry.register("TAKEN_IN_CODE")
    monkeypatch.setattr(livepush.registry, "get_registry", lambda: registry)
    settings = {
        "MESSAGE_TYPES": [TakenInCodeMessageType],
        "CONSUMER": "tests.test_checks.UnregisteredHandlerConsumer",
    }
    # The first lookup at run time raises DuplicateMessageType; the checks skip E013 meanwhile.
    assert ids(settings) == []


def test_the_registry_raises_duplicate_message_type_for_a_clash() -> None:
    with pytest.raises(DuplicateMessageType, match="registered twice"):
        MessageTypeRegistry().register(ClashingMessageType)


def test_a_new_table_entry_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    def problem(name: str, value: Any) -> str | None:
        return None if value > 0 else f"LIVEPUSH[{name!r}] is {value!r}; it must be positive."

    rule = Rule("livepush.E016", problem, "A positive number.")
    monkeypatch.setitem(SETTINGS, "EXAMPLE_LIMIT", Setting(5, (int,), (rule,)))
    assert ids() == []
    assert ids({"EXAMPLE_LIMIT": "5"}) == ["livepush.E003"]
    [message] = checks({"EXAMPLE_LIMIT": 0})
    assert (message.id, message.msg) == (
        "livepush.E016",
        "LIVEPUSH['EXAMPLE_LIMIT'] is 0; it must be positive.",
    )
    assert message.hint == "A positive number. The default is 5."


def test_a_rule_error_hint_gives_the_default() -> None:
    [message] = checks({"MAX_MESSAGE_SIZE": 0})
    assert message.hint.endswith("The default is 65536.")


# The IDs themselves: every ID checks.py can emit, from its Error/Warning calls and from the rules
# of the settings table.


def _call_site_ids(module: Any = livepush.checks) -> list[tuple[str, str]]:
    """(level, ID) of each Error(...) / Warning(...) call in ``module``, one entry per call."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("Error", "Warning"):
            [check_id] = [k.value for k in node.keywords if k.arg == "id"]
            if ast.unparse(check_id) == "rule.check_id":
                continue  # the settings table's rules, read by _rule_ids()
            assert isinstance(check_id, ast.Constant), ast.unparse(node)
            found.append((node.func.id, check_id.value))
    return found


def _rule_ids() -> dict[str, set[str]]:
    """ID -> the kinds of rule (the factory that made it) that report it."""
    kinds: dict[str, set[str]] = {}
    for setting in SETTINGS.values():
        for rule in setting.rules:
            kinds.setdefault(rule.check_id, set()).add(rule.problem.__qualname__)
    return kinds


def _emitted_ids() -> set[str]:
    """The IDs of livepush.checks (tested here) and livepush.wiring (tests/test_wiring.py)."""
    wiring = {check_id for _, check_id in _call_site_ids(livepush.wiring)}
    return {check_id for _, check_id in _call_site_ids()} | set(_rule_ids()) | wiring


def _documented_ids() -> list[str]:
    doc = CHECKS_DOC.read_text(encoding="utf-8")
    return re.findall(r"^### `(livepush\.[EW]\d{3})`$", doc, re.M)


def test_each_id_is_one_problem() -> None:
    # One call site in checks.py per ID, or one kind of rule in the settings table; never both.
    call_sites = [i for _, i in _call_site_ids() + _call_site_ids(livepush.wiring)]
    assert sorted(call_sites) == sorted(set(call_sites))
    rules = _rule_ids()
    assert {i: k for i, k in rules.items() if len(k) > 1} == {}
    assert set(call_sites).isdisjoint(rules)


def test_ids_match_their_level() -> None:
    # Every Error(...) carries an E id and every Warning(...) a W id; rules are errors.
    for level, check_id in _call_site_ids() + _call_site_ids(livepush.wiring):
        assert re.fullmatch(r"livepush\.[EW]\d{3}", check_id)
        assert check_id[len("livepush.")] == level[0], (level, check_id)
    assert all(re.fullmatch(r"livepush\.E\d{3}", i) for i in _rule_ids())


def test_every_id_is_tested_here() -> None:
    tested = {expected_id for case in CASES for expected_id in case.values[2]}
    assert {i for _, i in _call_site_ids()} | set(_rule_ids()) == tested


def test_the_checks_reference_documents_exactly_the_ids_in_order() -> None:
    documented = _documented_ids()
    assert len(documented) == len(set(documented))
    assert set(documented) == _emitted_ids()
    errors = [i for i in documented if i.startswith("livepush.E")]
    warnings = [i for i in documented if i.startswith("livepush.W")]
    assert documented == sorted(errors) + sorted(warnings)


def test_every_documented_id_says_the_fix() -> None:
    doc = CHECKS_DOC.read_text(encoding="utf-8")
    sections = re.split(r"^### ", doc, flags=re.M)[1:]
    assert len(sections) == len(_documented_ids())
    for section in sections:
        assert "\nFix:" in section, section.splitlines()[0]
