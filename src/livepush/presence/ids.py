"""User ids as presence stores them: strings in the backend, primary-key values outside.

Backends keep ``str(user.pk)``; events, signals and queries give back the value the user model's
primary-key field makes of it (``int`` for an ``AutoField``, ``UUID`` for a ``UUIDField``, the
string itself for a ``CharField``, so ``"007"`` stays ``"007"``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["user_id_from_key", "user_id_key", "user_ids_from_keys"]


def user_id_key(user_id: Any) -> str:
    """The string a backend stores for the primary key ``user_id``."""
    return str(user_id)


def user_id_from_key(key: str) -> Any:
    """The primary-key value of the user a backend stored as ``key``.

    Converted with ``AUTH_USER_MODEL``'s primary-key field (``to_python``).

    Raises:
        django.core.exceptions.ValidationError: ``key`` is not a value of that field (an entry
            no presence of this project wrote).
    """
    return user_ids_from_keys([key])[0]


def user_ids_from_keys(keys: Iterable[str]) -> list[Any]:
    """:func:`user_id_from_key` for many keys, looking the user model up once."""
    from django.contrib.auth import get_user_model

    pk = get_user_model()._meta.pk
    if pk is None:  # only an abstract model has none
        return list(keys)
    return [pk.to_python(key) for key in keys]
