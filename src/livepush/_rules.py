"""The pieces the ``LIVEPUSH`` settings table (``livepush.conf.SETTINGS``) is built from.

:class:`Setting` describes one key (default, accepted types, rules); a :class:`Rule` is one
check of its value with its own check ID. The builders below make the rules the table uses;
``livepush.checks`` runs them.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.module_loading import import_string

from livepush.exceptions import SettingImportError

__all__ = [
    "Rule",
    "Setting",
    "each_entry_a_str_enum",
    "each_entry_importable",
    "group_name",
    "import_path",
    "importable",
    "imports_a",
    "known_algorithms",
    "not_empty",
    "positive",
    "resolve_path",
    "signing_algorithms",
    "subclass_of",
]


@dataclass(frozen=True)
class Rule:
    """A condition one setting's value must meet, reported as system check ``check_id``.

    Rules run only on a value of an accepted type other than ``None``, in order, and stop at the
    first one broken, so a later rule can rely on the earlier ones (a dotted path imports before
    the class it names is inspected).
    """

    check_id: str
    #: Takes the setting's name and value; returns what is wrong, naming the setting, or ``None``.
    problem: Callable[[str, Any], str | None]
    #: How to fix it; the check adds the setting's default.
    hint: str


@dataclass(frozen=True)
class Setting:
    """One ``LIVEPUSH`` key: its default, the types its value may have, and its rules."""

    default: Any
    #: Accepted types; ``None`` in the tuple means the value may be ``None``. A ``bool`` is only
    #: accepted where ``bool`` is listed, never as a number.
    types: tuple[type | None, ...]
    rules: tuple[Rule, ...] = ()

    def accepts(self, value: object) -> bool:
        """Whether ``value`` has one of the accepted types."""
        if value is None:
            return None in self.types
        if isinstance(value, bool) and bool not in self.types:
            return False
        return isinstance(value, tuple(t for t in self.types if t is not None))


# Rules shared by several settings. Each factory is one kind of problem; the check ID says which
# setting's problem it is.


def positive(check_id: str, unit: str, hint: str, *, zero: bool = False) -> Rule:
    def problem(name: str, value: Any) -> str | None:
        if value > 0 or (zero and value == 0):
            return None
        least = "0 or a positive" if zero else "a positive"
        return f"LIVEPUSH[{name!r}] is {value!r}; it must be {least} number of {unit}."

    return Rule(check_id, problem, hint)


def not_empty(check_id: str, hint: str) -> Rule:
    def problem(name: str, value: Any) -> str | None:
        return f"LIVEPUSH[{name!r}] is an empty string." if value == "" else None

    return Rule(check_id, problem, hint)


_GROUP_NAME = re.compile(r"^[a-zA-Z\d\-_.]{1,99}$")


def group_name(check_id: str, *, needs_id: bool) -> Rule:
    def problem(name: str, value: Any) -> str | None:
        if needs_id and "{id}" not in value:
            reason = " (it needs '{id}')."
        elif not _GROUP_NAME.match(value.replace("{id}", "1")):
            reason = "."
        else:
            return None
        return f"LIVEPUSH[{name!r}] is {value!r}, which does not make valid group names{reason}"

    return Rule(
        check_id,
        problem,
        "Group names are ASCII letters, digits, '-', '_' and '.', under 100 characters.",
    )


def import_path(name: str, path: str, *, entry: bool = False) -> Any:
    """Import ``path``, the value of setting ``name`` (or, with ``entry``, one of its entries).

    Raises:
        SettingImportError: naming the setting, with the ``ImportError`` as ``__cause__``.
    """
    try:
        return import_string(path)
    except ImportError as exc:
        raise SettingImportError(
            f"LIVEPUSH[{name!r}] {'names' if entry else 'is'} {path!r}, which could not be "
            f"imported: {exc}"
        ) from exc


def resolve_path(name: str, value: Any) -> Any:
    return import_path(name, value) if isinstance(value, str) else value


def importable(check_id: str, hint: str) -> Rule:
    def problem(name: str, value: Any) -> str | None:
        try:
            resolve_path(name, value)
        except SettingImportError as exc:
            return str(exc)
        return None

    return Rule(check_id, problem, hint)


def imports_a(check_id: str, what: str, test: Callable[[Any], bool], hint: str) -> Rule:
    """The object a dotted-path setting names passes ``test``; follows an ``importable`` rule."""

    def problem(name: str, value: Any) -> str | None:
        obj = resolve_path(name, value)
        return None if test(obj) else f"LIVEPUSH[{name!r}] is {value!r}, which is not {what}."

    return Rule(check_id, problem, hint)


def subclass_of(base: str | type) -> Callable[[Any], bool]:
    def test(obj: Any) -> bool:
        cls = import_string(base) if isinstance(base, str) else base
        return isinstance(obj, type) and issubclass(obj, cls)

    return test


def each_entry_importable(check_id: str, hint: str) -> Rule:
    def problem(name: str, value: Any) -> str | None:
        for entry in value:
            if isinstance(entry, str):
                try:
                    import_path(name, entry, entry=True)
                except SettingImportError as exc:
                    return str(exc)
        return None

    return Rule(check_id, problem, hint)


def each_entry_a_str_enum(check_id: str, hint: str) -> Rule:
    """Each entry is a ``str`` enum class (or its path) whose values are non-empty strings."""

    def problem(name: str, value: Any) -> str | None:
        for entry in value:
            if not isinstance(entry, (str, type)):
                return (
                    f"LIVEPUSH[{name!r}] has {entry!r}, which is neither a dotted path nor a class."
                )
            obj = import_path(name, entry, entry=True) if isinstance(entry, str) else entry
            if not (isinstance(obj, type) and issubclass(obj, enum.Enum)):
                return f"LIVEPUSH[{name!r}] has {entry!r}, which is {obj!r}, not an enum class."
            for member in obj:
                if not (isinstance(member.value, str) and member.value.strip()):
                    return (
                        f"LIVEPUSH[{name!r}] has {entry!r}, whose member {member.name} has the "
                        f"value {member.value!r}; message type values must be non-empty strings."
                    )
        return None

    return Rule(check_id, problem, hint)


def signing_algorithms(check_id: str, hint: str) -> Rule:
    def problem(name: str, value: Any) -> str | None:
        algorithms = [str(a) for a in value]
        if algorithms and not any(a.lower() == "none" for a in algorithms):
            return None
        return (
            f"LIVEPUSH[{name!r}] is {algorithms!r}; it must name at least one signing algorithm "
            "and never 'none'."
        )

    return Rule(check_id, problem, hint)


def known_algorithms(check_id: str, hint: str) -> Rule:
    def problem(name: str, value: Any) -> str | None:
        import jwt.algorithms

        known = set(jwt.algorithms.get_default_algorithms()) - {"none"}
        unknown = [str(a) for a in value if str(a) not in known]
        if not unknown:
            return None
        return (
            f"LIVEPUSH[{name!r}] has algorithm(s) PyJWT does not know: {unknown!r}. Known "
            f"algorithms: {', '.join(sorted(known))}."
        )

    return Rule(check_id, problem, hint)
