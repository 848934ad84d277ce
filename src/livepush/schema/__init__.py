"""Payload schemas: one description of a ``TypedDict`` that the validator and TypeScript both read.

:func:`describe` reads an annotation once, at registration, into a small tree of nodes
(:class:`Scalar`, :class:`OneOf`, :class:`ListOf`, :class:`Object`, ...). The registry checks
payloads with :meth:`Node.problem`; ``manage.py livepush_typescript`` turns the same nodes into
TypeScript. An annotation neither of them could handle is refused with
:class:`~livepush.exceptions.LivePushConfigurationError` naming the schema, the field and the form,
so a schema never passes payloads its TypeScript type would reject.

The supported forms, and what each becomes on the wire and in TypeScript:

=========================================================  ======================================
Annotation                                                 Checked as / TypeScript
=========================================================  ======================================
``str``, ``int``, ``float``, ``bool``, ``None``            the JSON scalar (``bool`` is not an
                                                           ``int``) / ``string``, ``number``,
                                                           ``boolean``, ``null``
``Any``, ``object``                                        anything / ``unknown``
a ``TypedDict`` (``total=False``, ``Required``,            an object with exactly its keys /
``NotRequired``, ``ReadOnly``, nested, recursive)          an ``interface``, ``key?:`` if optional
``Annotated[X, ...]``, ``NewType("N", X)``                 as ``X``
``X | Y``, ``Optional[X]``, ``Union[X, Y]``                either / ``X | Y``
``Literal["a", 1]``, a ``str`` or ``int`` enum             one of the values / their literal union
``list[X]``, ``Sequence[X]``, ``set[X]``,                  a list or tuple of ``X`` / ``X[]``
``frozenset[X]``, ``tuple[X, ...]``
``tuple[X, Y]``                                            a list of exactly those / ``[X, Y]``
``dict[str, X]``, ``Mapping[str, X]``                      an object of ``X`` /
                                                           ``Record<string, X>``
``datetime``, ``date``, ``time``, ``timedelta``,           the object, or a string / ``string``
``UUID``, ``Decimal``                                      (``DjangoJSONEncoder`` writes them as
                                                           strings)
=========================================================  ======================================
"""

from __future__ import annotations

from livepush.schema.nodes import (
    ENCODED_TYPES,
    AnyValue,
    Encoded,
    Field,
    ListOf,
    MappingOf,
    Node,
    Object,
    OneOf,
    Scalar,
    TupleOf,
    UnionOf,
)
from livepush.schema.reading import describe

__all__ = [
    "ENCODED_TYPES",
    "AnyValue",
    "Encoded",
    "Field",
    "ListOf",
    "MappingOf",
    "Node",
    "Object",
    "OneOf",
    "Scalar",
    "TupleOf",
    "UnionOf",
    "describe",
]
