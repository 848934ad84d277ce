from __future__ import annotations

import datetime
import enum
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Literal, NewType

import pytest
from django.core.management import CommandError, call_command
from typing_extensions import NotRequired, Required, TypedDict

from livepush._typescript import (
    FILENAMES,
    HEADER,
    TypeScriptTranslator,
    generate,
    pascal_case,
    property_name,
)
from livepush.exceptions import LivePushConfigurationError
from livepush.protocol import ProtocolType
from livepush.registry import MessageTypeRegistry, RegisteredType
from livepush.schema import Object, describe

from .servers import ROOT

TS_DIR = Path(__file__).resolve().parent / "ts"
LIVEPUSH_D_TS = ROOT / "src" / "livepush" / "static" / "livepush" / "livepush.d.ts"


class Color(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


UserId = NewType("UserId", int)


class Address(TypedDict):
    city: str
    zip: str | None


class Person(TypedDict):
    name: str
    home: Address
    work: NotRequired[Address]


class Node(TypedDict):
    label: str
    children: list[Node]


class Partial(TypedDict, total=False):
    id: Required[int]
    note: str


# Functional syntax: the annotations are objects, not strings as in the classes above.
Plain = TypedDict("Plain", {"count": int, "tag": NotRequired[str], "odd-key": bool})


def translate(tp: Any) -> str:
    return TypeScriptTranslator().translate(describe(tp))


# Every form, with the values it accepts and refuses, is in tests/test_schema.py.
@pytest.mark.parametrize(
    ("tp", "expected"),
    [
        (list[int | None], "(number | null)[]"),
        (Any | None, "unknown"),
        (datetime.datetime, "string"),
        (Color, '"red" | "blue"'),
        (UserId, "number"),
        (Address, "Address"),
        (list[Address] | None, "Address[] | null"),
    ],
)
def test_translates_a_description(tp: Any, expected: str) -> None:
    assert translate(tp) == expected


def interface(translator: TypeScriptTranslator, tp: type) -> str:
    node = describe(tp)
    assert isinstance(node, Object)
    return translator.interface(node)


def test_interface_marks_not_required_keys_optional_also_under_future_annotations() -> None:
    translator = TypeScriptTranslator()
    assert interface(translator, Person) == (
        "export interface Person {\n  name: string;\n  home: Address;\n  work?: Address;\n}"
    )
    assert (
        interface(translator, Partial)
        == "export interface Partial {\n  id: number;\n  note?: string;\n}"
    )
    assert interface(translator, Plain) == (
        'export interface Plain {\n  count: number;\n  tag?: string;\n  "odd-key": boolean;\n}'
    )


def test_nested_typeddicts_are_collected_once_and_recursion_ends() -> None:
    translator = TypeScriptTranslator()
    interface(translator, Person)
    assert {name: node.cls for name, node in translator.interfaces.items()} == {
        "Person": Person,
        "Address": Address,
    }
    assert interface(translator, Node) == (
        "export interface Node {\n  label: string;\n  children: Node[];\n}"
    )


def another_address() -> type:
    class Address(TypedDict):
        street: str

    return Address


def test_two_schemas_with_one_name_are_an_error() -> None:
    other = another_address()
    translator = TypeScriptTranslator()
    translator.translate(describe(Address))
    with pytest.raises(
        LivePushConfigurationError, match=r"Two payload schemas are named 'Address'"
    ):
        translator.translate(describe(other))


def test_a_schema_named_like_a_generated_type_is_an_error() -> None:
    class WebSocketMessages(TypedDict):
        x: int

    with pytest.raises(LivePushConfigurationError, match=r"'WebSocketMessages'.*rename it"):
        translate(WebSocketMessages)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("PHOTO_UPLOADED", "PhotoUploaded"),
        ("ECHO", "Echo"),
        ("chat.message", "ChatMessage"),
        ("order-v2-created", "OrderV2Created"),
        ("2FA_REQUIRED", "_2faRequired"),
    ],
)
def test_pascal_case(name: str, expected: str) -> None:
    assert pascal_case(name) == expected


def test_pascal_case_needs_a_letter_or_digit() -> None:
    with pytest.raises(LivePushConfigurationError, match=r"'\.\.\.' has no letters or digits"):
        pascal_case("...")


def test_property_names_are_quoted_unless_identifiers() -> None:
    assert property_name("CHAT_MESSAGE") == "CHAT_MESSAGE"
    assert property_name("chat.message") == '"chat.message"'


def reg(name: str, schema: type | None = None) -> RegisteredType:
    return RegisteredType(name, None, schema, "tests")


def protocol_types() -> list[RegisteredType]:
    """The protocol's registrations, with their schemas, as every registry starts."""
    registry = MessageTypeRegistry()
    return [registry.resolve(t) for t in ProtocolType]


def test_generate_writes_enum_interfaces_and_message_map() -> None:
    files = generate(
        [
            *protocol_types(),
            reg("PERSON_SAVED", Person),
            reg("PHOTO_UPLOADED"),
            reg("chat.message", Plain),
        ]
    )
    assert list(files) == list(FILENAMES)
    assert files["websockets.ts"] == HEADER + (
        "\n"
        "export enum WebSocketMessageType {\n"
        '  Error = "ERROR",\n'
        '  PersonSaved = "PERSON_SAVED",\n'
        '  PhotoUploaded = "PHOTO_UPLOADED",\n'
        '  Ping = "PING",\n'
        '  Pong = "PONG",\n'
        '  PresenceDiff = "PRESENCE_DIFF",\n'
        '  PresenceSnapshot = "PRESENCE_SNAPSHOT",\n'
        '  Recovery = "RECOVERY",\n'
        '  RefreshToken = "REFRESH_TOKEN",\n'
        '  UserPresenceConnected = "USER_PRESENCE_CONNECTED",\n'
        '  UserPresenceDisconnected = "USER_PRESENCE_DISCONNECTED",\n'
        '  ChatMessage = "chat.message",\n'
        "}\n"
    )
    assert files["websocket-interfaces.ts"] == HEADER + (
        "\n"
        "export interface Address {\n  city: string;\n  zip: string | null;\n}\n"
        "\n"
        "export interface ErrorPayload {\n  code: string;\n  detail: string;\n  reason?: string;\n}\n"
        "\n"
        "export interface Person {\n  name: string;\n  home: Address;\n  work?: Address;\n}\n"
        "\n"
        "export interface Plain {\n"
        '  count: number;\n  tag?: string;\n  "odd-key": boolean;\n}\n'
        "\n"
        "export interface PresenceDiffPayload {\n"
        "  joins: (number | string)[];\n  leaves: (number | string)[];\n}\n"
        "\n"
        "export interface PresenceSnapshotPayload {\n  user_ids: (number | string)[];\n}\n"
        "\n"
        "export interface RecoveryPayload {\n  recovered: boolean;\n"
        "  streams: Record<string, StreamPosition>;\n  resync: string[];\n}\n"
        "\n"
        "export interface StreamPosition {\n  offset: number;\n  epoch: string;\n}\n"
        "\n"
        "export interface UserPresencePayload {\n  user_id: number | string;\n}\n"
    )
    assert files["websocket-messages.ts"] == HEADER + (
        "\n"
        "import type { Address, ErrorPayload, Person, Plain, PresenceDiffPayload, "
        "PresenceSnapshotPayload, RecoveryPayload, StreamPosition, UserPresencePayload } "
        'from "./websocket-interfaces.js";\n'
        "\n"
        "/** The payload type of each message type a client receives, for LivePush<M>. */\n"
        "export type WebSocketMessages = {\n"
        "  ERROR: ErrorPayload;\n"
        "  PERSON_SAVED: Person;\n"
        "  PHOTO_UPLOADED: unknown;\n"
        "  PRESENCE_DIFF: PresenceDiffPayload;\n"
        "  PRESENCE_SNAPSHOT: PresenceSnapshotPayload;\n"
        "  RECOVERY: RecoveryPayload;\n"
        "  USER_PRESENCE_CONNECTED: UserPresencePayload;\n"
        "  USER_PRESENCE_DISCONNECTED: UserPresencePayload;\n"
        '  "chat.message": Plain;\n'
        "};\n"
    )


def test_generate_is_deterministic_and_independent_of_registration_order() -> None:
    types = [reg("B", Person), reg("A", Node), reg("C")]
    assert generate(types) == generate(list(reversed(types)))
    for content in generate(types).values():
        assert content.startswith("// Generated by `manage.py livepush_typescript`")
        assert content.endswith(("}\n", "};\n"))
        assert "\t" not in content


def test_generate_without_schemas_still_makes_a_module() -> None:
    files = generate([reg("PHOTO_UPLOADED")])
    assert "export {};" in files["websocket-interfaces.ts"]
    assert "import" not in files["websocket-messages.ts"]


def test_a_schema_for_a_presence_type_replaces_the_default_payload() -> None:
    files = generate([reg("USER_PRESENCE_CONNECTED", Address)])
    assert "  USER_PRESENCE_CONNECTED: Address;\n" in files["websocket-messages.ts"]


def test_enum_member_clash_is_an_error() -> None:
    with pytest.raises(LivePushConfigurationError, match=r"'FOO_BAR' and 'foo.bar' both become"):
        generate([reg("FOO_BAR"), reg("foo.bar")])


def test_generate_defaults_to_the_registry() -> None:
    files = generate()
    assert '  ChatMessage = "CHAT_MESSAGE",\n' in files["websockets.ts"]
    assert '  PhotoUploaded = "PHOTO_UPLOADED",\n' in files["websockets.ts"]
    assert "  CHAT_MESSAGE: ChatMessage;\n" in files["websocket-messages.ts"]
    assert "  mentions?: number[];\n" in files["websocket-interfaces.ts"]


# The command ---------------------------------------------------------------------------------


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("livepush_typescript", *args, stdout=out)
    return out.getvalue()


def test_command_writes_the_three_files(tmp_path: Path) -> None:
    out = run("--output", str(tmp_path))
    expected = generate()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILENAMES)
    for name in FILENAMES:
        assert (tmp_path / name).read_bytes() == expected[name].encode()
        assert f"Wrote {tmp_path / name}" in out


def test_command_creates_the_output_directory_and_reports_unchanged_files(tmp_path: Path) -> None:
    target = tmp_path / "frontend" / "src" / "types"
    run("--output", str(target))
    before = {name: (target / name).stat().st_mtime_ns for name in FILENAMES}
    out = run("-o", str(target))
    assert out.count("Unchanged ") == 3
    assert {name: (target / name).stat().st_mtime_ns for name in FILENAMES} == before


def test_command_defaults_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILENAMES)


def test_an_unwritable_output_is_a_command_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a directory")
    with pytest.raises(CommandError, match=r"Cannot write the TypeScript files to '.*taken'"):
        run("--output", str(tmp_path / "taken"))


def test_check_passes_after_a_run(tmp_path: Path) -> None:
    run("--output", str(tmp_path))
    assert "up to date" in run("--output", str(tmp_path), "--check")


def test_check_fails_naming_an_edited_file(tmp_path: Path) -> None:
    run("--output", str(tmp_path))
    edited = tmp_path / "websocket-messages.ts"
    edited.write_text(edited.read_text().replace("unknown", "any", 1))
    with pytest.raises(CommandError) as excinfo:
        run("--output", str(tmp_path), "--check")
    message = str(excinfo.value)
    assert f"{edited} (out of date)" in message
    assert "websockets.ts" not in message
    assert f"python manage.py livepush_typescript --output {tmp_path}" in message


def test_check_fails_naming_a_missing_file(tmp_path: Path) -> None:
    run("--output", str(tmp_path))
    (tmp_path / "websockets.ts").unlink()
    with pytest.raises(CommandError, match=r"websockets\.ts \(missing\)"):
        run("--output", str(tmp_path), "--check")


def test_check_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"missing.*missing.*missing"):
        run("--output", str(tmp_path), "--check")
    assert list(tmp_path.iterdir()) == []


def test_check_sees_changed_line_endings(tmp_path: Path) -> None:
    run("--output", str(tmp_path))
    path = tmp_path / "websockets.ts"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    with pytest.raises(CommandError, match=r"websockets\.ts \(out of date\)"):
        run("--output", str(tmp_path), "--check")


def test_configuration_errors_become_command_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def clash(registered: Any = None) -> dict[str, str]:
        return generate([reg("FOO_BAR"), reg("foo.bar")])

    monkeypatch.setattr("livepush.management.commands.livepush_typescript.generate", clash)
    with pytest.raises(CommandError, match=r"both become the TypeScript enum member 'FooBar'"):
        run("--output", str(tmp_path))


# The real TypeScript compiler ----------------------------------------------------------------


def require_tsc() -> Path:
    tsc = ROOT / "node_modules" / ".bin" / "tsc"
    reason = None
    if shutil.which("node") is None:
        reason = "node is not installed"
    elif not tsc.exists():
        reason = f"{tsc.relative_to(ROOT)} is missing (npm ci installs TypeScript)"
    if reason is not None:
        if os.environ.get("LIVEPUSH_REQUIRE_NODE") == "1":
            pytest.fail(f"LIVEPUSH_REQUIRE_NODE=1 but {reason}")
        pytest.skip(reason)
    return tsc


def compile_ts(directory: Path, resolution: str = "bundler") -> None:
    module = "es2020" if resolution == "bundler" else resolution
    files = sorted(str(p) for p in directory.glob("*.ts"))
    result = subprocess.run(
        [
            str(require_tsc()),
            *("--noEmit", "--strict", "--target", "es2020"),
            *("--module", module, "--moduleResolution", resolution),
            *files,
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("resolution", ["bundler", "nodenext"])
def test_generated_files_type_a_livepush_client_under_tsc(tmp_path: Path, resolution: str) -> None:
    require_tsc()
    run("--output", str(tmp_path))
    for name in ("livepush.d.ts", "collection.d.ts", "react.d.ts"):
        shutil.copy(LIVEPUSH_D_TS.with_name(name), tmp_path / name)
    for usage in ("usage.ts", "collection-usage.ts"):
        shutil.copy(TS_DIR / usage, tmp_path / usage)
    compile_ts(tmp_path, resolution)


def test_tsc_rejects_usage_that_breaks_an_expectation(tmp_path: Path) -> None:
    """The usage file's @ts-expect-error lines only prove something if tsc really checks them."""
    require_tsc()
    run("--output", str(tmp_path))
    shutil.copy(LIVEPUSH_D_TS, tmp_path / "livepush.d.ts")
    usage = (TS_DIR / "usage.ts").read_text()
    usage = usage.replace('{ room: "lobby" });', '{ room: "lobby", text: "hi" });')
    (tmp_path / "usage.ts").write_text(usage)
    with pytest.raises(AssertionError, match=r"TS2578: Unused '@ts-expect-error' directive"):
        compile_ts(tmp_path)


def test_every_translated_form_compiles_under_tsc(tmp_path: Path) -> None:
    class Everything(TypedDict):
        text: str
        number: float
        flag: bool
        nothing: None
        maybe: int | None
        choice: Literal["a", "b"]
        color: Color
        tags: list[str]
        matrix: list[list[int]]
        mixed: list[int | str]
        pair: tuple[int, str]
        scores: dict[str, float]
        anything: Any
        when: datetime.datetime
        person: Person
        tree: Node
        partial: NotRequired[Partial]
        plain: Plain | None

    for name, content in generate([reg("EVERYTHING", Everything), reg("x-y")]).items():
        (tmp_path / name).write_text(content)
    compile_ts(tmp_path)
