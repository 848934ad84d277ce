"""livepush.schema: every supported annotation is checked and typed the same way.

One table drives both sides. For each form: the TypeScript the generator writes, values the
validator accepts, and values it refuses. The tsc test then compiles every accepted value (as JSON,
the way ``DjangoJSONEncoder`` writes it) against the TypeScript type, and every refused one under
``@ts-expect-error``, so the validator never passes what the TypeScript type promises against.
"""

from __future__ import annotations

import collections.abc
import datetime
import decimal
import enum
import json
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, NewType, Optional, TypeVar, Union

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from typing_extensions import NotRequired, ReadOnly, Required, TypedDict

from livepush._typescript import TypeScriptTranslator
from livepush.exceptions import LivePushConfigurationError
from livepush.schema import Object, describe

from .test_typescript import compile_ts, require_tsc


class Color(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


UserId = NewType("UserId", int)
Slug = NewType("Slug", str)


class Address(TypedDict):
    city: str
    zip: str | None


class Person(TypedDict):
    name: str
    home: Address
    # A string under `from __future__ import annotations`, which __required_keys__ misses.
    work: NotRequired[Address]


class Partial(TypedDict, total=False):
    id: Required[int]
    note: str


class Frozen(TypedDict):
    id: ReadOnly[int]
    tags: ReadOnly[NotRequired[list[str]]]


class Tree(TypedDict):
    label: str
    children: list[Tree]


class Painted(TypedDict):
    color: Color
    level: Level


# Functional syntax: the annotations are objects, and a key need not be an identifier.
Plain = TypedDict("Plain", {"count": int, "tag": NotRequired[str], "odd-key": bool})


@dataclass(frozen=True)
class Wider:
    """A value the validator refuses although the TypeScript type accepts its JSON."""

    value: Any


@dataclass
class Form:
    annotation: Any
    typescript: str
    good: list[Any]
    bad: list[Any] = field(default_factory=list)


WHEN = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)
FORMS = [
    Form(str, "string", ["", "x", Color.RED], [1, None, True]),
    Form(int, "number", [0, -3, Level.LOW], ["1", True, None, Wider(1.5)]),
    Form(float, "number", [1, 1.5], ["1", True, None]),
    Form(bool, "boolean", [True, False], [1, "true", None]),
    Form(None, "null", [None], [0, "", False]),
    Form(type(None), "null", [None], [0]),
    Form(Any, "unknown", [1, "x", None, [1], {"a": 1}]),
    Form(object, "unknown", [1, {"a": [None]}]),
    Form(Annotated[int, "metadata"], "number", [1], ["x"]),
    Form(int | None, "number | null", [1, None], ["x", False]),
    Form(Optional[str], "string | null", ["a", None], [1]),  # noqa: UP045
    Form(Union[int, str], "number | string", [1, "a"], [None, [1]]),  # noqa: UP007
    Form(int | float, "number", [1, 1.5], ["1"]),
    Form(Any | None, "unknown", [None, 1]),
    Form(Literal["a", "b"], '"a" | "b"', ["a", "b"], ["c", None]),
    Form(Literal[1, True, None], "1 | true | null", [1, True, None], [2, False, "1"]),
    Form(Literal["a"] | None, '"a" | null', ["a", None], ["b"]),
    Form(Literal[Color.RED], '"red"', ["red", Color.RED], ["blue"]),
    Form(Color, '"red" | "blue"', ["red", Color.BLUE], ["green", None, 1]),
    Form(Level, "1 | 2", [1, Level.HIGH], [3, True, "1"]),
    Form(UserId, "number", [UserId(1), 2], ["1", None]),
    Form(Slug, "string", ["a"], [1]),
    Form(list[int], "number[]", [[], [1, 2], (1, 2)], [[1, "a"], "12", None, {"a": 1}]),
    Form(typing.List[str], "string[]", [["a"]], [[1]]),  # noqa: UP006
    Form(list, "unknown[]", [[], [1, "a"]], ["x", {}]),
    Form(Sequence[int], "number[]", [[1]], [["a"], "1"]),
    Form(collections.abc.MutableSequence[int], "number[]", [[1]], [["a"]]),
    Form(set[str], "string[]", [["a"]], [[1]]),
    Form(frozenset[int], "number[]", [[1]], [["a"]]),
    Form(tuple[int, ...], "number[]", [[], [1, 2]], [["a"], 1]),
    Form(tuple[int, str], "[number, string]", [[1, "a"], (1, "a")], [["a", 1], [1], [1, "a", 2]]),
    Form(tuple[()], "[]", [[]], [[1]]),
    Form(tuple, "unknown[]", [[1, "a"]], ["x"]),
    Form(typing.Tuple, "unknown[]", [[1, "a"]], ["x"]),  # noqa: UP006
    Form(list[list[bool]], "boolean[][]", [[[True], []]], [[[1]], [True]]),
    Form(list[int | None], "(number | null)[]", [[1, None]], [["a"]]),
    Form(dict[str, int], "Record<string, number>", [{}, {"a": 1}], [{"a": "x"}, [1], None]),
    Form(dict[str, str], "Record<string, string>", [{"a": "b"}], [Wider({1: "b"})]),
    Form(typing.Dict[str, list[str]], "Record<string, string[]>", [{"a": ["b"]}], [{"a": "b"}]),  # noqa: UP006
    Form(Mapping[str, float], "Record<string, number>", [{"a": 1.5}], [{"a": "1"}]),
    Form(dict[Slug, int], "Record<string, number>", [{"a": 1}], [{"a": None}]),
    Form(dict, "Record<string, unknown>", [{}, {"a": [1]}], [[1], "x"]),
    Form(dict[str, Any], "Record<string, unknown>", [{"a": None}], [[]]),
    Form(datetime.datetime, "string", [WHEN, "2024-05-01T12:30:00Z"], [1, None]),
    Form(datetime.date, "string", [WHEN.date(), WHEN], [1]),
    Form(datetime.time, "string", [WHEN.time()], [1]),
    Form(datetime.timedelta, "string", [datetime.timedelta(seconds=5)], [5]),
    Form(uuid.UUID, "string", [uuid.UUID(int=1)], [1]),
    Form(decimal.Decimal, "string", [decimal.Decimal("1.50")], [1.5]),
    Form(
        Address,
        "Address",
        [{"city": "x", "zip": None}],
        [{"city": "x"}, {"city": "x", "zip": None, "extra": 1}, {"city": 1, "zip": None}, []],
    ),
    Form(
        Person,
        "Person",
        [
            {"name": "a", "home": {"city": "x", "zip": "1"}},
            {"name": "a", "home": {"city": "x", "zip": "1"}, "work": {"city": "y", "zip": None}},
        ],
        [{"name": "a"}, {"name": "a", "home": {"city": "x", "zip": "1"}, "work": {}}],
    ),
    Form(Partial, "Partial", [{"id": 1}, {"id": 1, "note": "n"}], [{"note": "n"}, {"id": "1"}]),
    Form(Frozen, "Frozen", [{"id": 1}, {"id": 1, "tags": ["a"]}], [{"id": "x"}, {}]),
    Form(
        Tree,
        "Tree",
        [{"label": "a", "children": [{"label": "b", "children": []}]}],
        [{"label": "a", "children": [{"label": 1, "children": []}]}],
    ),
    Form(
        Painted,
        "Painted",
        [{"color": "red", "level": 2}],
        [{"color": "green", "level": 2}, {"color": "red", "level": 3}],
    ),
    Form(Plain, "Plain", [{"count": 1, "odd-key": True}], [{"count": 1}]),
    Form(list[Address] | None, "Address[] | null", [None, [{"city": "x", "zip": None}]], [[{}]]),
]


def _id(form: Form) -> str:
    return form.typescript


@pytest.mark.parametrize("form", FORMS, ids=_id)
def test_each_form_is_typed_and_checked(form: Form) -> None:
    node = describe(form.annotation)
    assert TypeScriptTranslator().translate(node) == form.typescript
    for value in form.good:
        assert node.problem(value, "data") is None, value
    for value in form.bad:
        value = value.value if isinstance(value, Wider) else value
        assert node.problem(value, "data") is not None, value


def _json(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder)


def test_what_the_validator_accepts_is_what_typescript_accepts(tmp_path: Path) -> None:
    """Compile every accepted value against its TypeScript type, every refused one must fail."""
    require_tsc()
    translator = TypeScriptTranslator()
    lines = ["export {};"]
    for index, form in enumerate(FORMS):
        lines.append(f"type T{index} = {translator.translate(describe(form.annotation))};")
        for number, value in enumerate(form.good):
            lines.append(f"const good{index}_{number}: T{index} = {_json(value)};")
        for number, value in enumerate(form.bad):
            if isinstance(value, Wider):
                lines.append(f"const wider{index}_{number}: T{index} = {_json(value.value)};")
            else:
                lines.append(f"// @ts-expect-error the validator refuses {_json(value)}")
                lines.append(f"const bad{index}_{number}: T{index} = {_json(value)};")
    rendered: dict[str, str] = {}
    while len(rendered) < len(translator.interfaces):
        for name, node in list(translator.interfaces.items()):
            if name not in rendered:
                rendered[name] = translator.interface(node)
    (tmp_path / "forms.ts").write_text("\n".join([*lines, *rendered.values()]) + "\n")
    compile_ts(tmp_path)


def test_typeddict_fields_record_required_and_read_only() -> None:
    node = describe(Frozen)
    assert isinstance(node, Object)
    assert {k: (f.required, f.read_only) for k, f in node.fields.items()} == {
        "id": (True, True),
        "tags": (False, True),
    }
    person = describe(Person)
    assert isinstance(person, Object)
    assert [k for k, f in person.fields.items() if f.required] == ["name", "home"]


def test_recursion_ends_in_one_node() -> None:
    tree = describe(Tree)
    assert isinstance(tree, Object)
    children = tree.fields["children"].node
    assert children.item is tree  # type: ignore[attr-defined]


def test_messages_name_the_path_and_what_was_expected() -> None:
    person = describe(Person)
    value = {"name": "a", "home": {"city": "x", "zip": 1}}
    assert person.problem(value, "data") == "data['home']['zip'] must be str | None, got int"
    pair = describe(tuple[int, str])
    assert pair.problem(["a", 1], "data") == "data[0] must be int, got str"
    assert pair.problem([1], "data") == "data must have 2 item(s), got 1"
    assert describe(Color).problem("green", "data") == (
        "data must be one of ('red', 'blue'), got 'green'"
    )
    assert describe(dict[str, int]).problem({1: 1}, "data") == (
        "data has the key 1; object keys must be str"
    )
    assert describe(datetime.datetime).problem(1, "data") == (
        "data must be datetime or str, got int"
    )


class Custom:
    pass


class FloatEnum(enum.Enum):
    HALF = 0.5


T = TypeVar("T")


@pytest.mark.parametrize(
    ("annotation", "form"),
    [
        (bytes, "bytes, which"),
        (list[bytes], "list[bytes]: bytes"),
        (Custom, "tests.test_schema.Custom, which"),
        (FloatEnum, "tests.test_schema.FloatEnum, which"),
        (Literal[b"x"], "Literal[b'x'], which"),
        (T, "~T, which"),
        (Callable[[], int], "collections.abc.Callable[[], int], which"),
        (complex | None, "complex | None: complex"),
    ],
    ids=repr,
)
def test_unsupported_forms_are_refused_naming_the_form(annotation: Any, form: str) -> None:
    with pytest.raises(LivePushConfigurationError) as info:
        describe(annotation)
    assert str(info.value).startswith(
        f"The payload schema is annotated {form} is not supported in a payload schema. Use str, "
    )


def test_dict_keys_must_be_strings() -> None:
    with pytest.raises(
        LivePushConfigurationError, match=r"the keys of dict\[int, str\] must be str"
    ):
        describe(dict[int, str])


class WithBadField(TypedDict):
    id: int
    payload: dict[str, list[bytes]]


def test_an_unsupported_field_names_the_schema_the_field_and_the_form() -> None:
    with pytest.raises(LivePushConfigurationError) as info:
        describe(WithBadField)
    assert str(info.value).startswith(
        "The field 'payload' of the payload schema tests.test_schema.WithBadField is annotated "
        "dict[str, list[bytes]]: bytes is not supported in a payload schema."
    )


class Unresolvable(TypedDict):
    thing: Missing  # type: ignore[name-defined]  # noqa: F821


def test_annotations_that_do_not_resolve_are_refused() -> None:
    with pytest.raises(
        LivePushConfigurationError,
        match=r"Cannot read the annotations of the payload schema tests\.test_schema\."
        r"Unresolvable: name 'Missing' is not defined",
    ):
        describe(Unresolvable)
