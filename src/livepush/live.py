"""Model changes as pushes: register a model once, its saves and deletes notify its audience.

::

    from livepush.live import live_model

    live_model(
        Photo,
        created="PHOTO_UPLOADED",
        updated="PHOTO_UPDATED",
        deleted="PHOTO_DELETED",
        serializer=lambda photo: {"id": photo.pk, "album_id": photo.album_id},
        audience=lambda photo: photo.album.member_ids(),  # user ids and/or group names
    )

Pushes wait for the transaction to commit (a rolled-back change notifies no one). A deleted
object's payload and audience are computed before it is gone (``pre_delete``).

Limits: ``QuerySet.update()``, ``bulk_create()``, ``bulk_update()`` and raw SQL send no model
signals; call :func:`push_change` on those paths.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from django.db import models, router
from django.db.models.signals import post_save, pre_delete

from livepush._publish import publish_sync
from livepush.push import audience_groups, encode_push
from livepush.registry import TypeRef, get_registry

__all__ = ["LiveModel", "live_model", "payload", "push_change", "unregister"]

Action = Literal["created", "updated", "deleted"]


@dataclass(frozen=True)
class LiveModel:
    """How one model's changes become pushes."""

    model: type[models.Model]
    types: dict[str, TypeRef | None]
    serializer: Callable[[Any], Any]
    audience: Callable[[Any], Iterable[Any]]
    version: str | Callable[[Any], Any] | None = None

    def push(self, instance: Any, action: Action) -> None:
        event_type = self.types.get(action)
        if event_type is None:
            return
        groups = audience_groups(self.audience(instance))
        if not groups:
            return
        text, ephemeral = encode_push(event_type, self.payload(instance))
        using = router.db_for_write(type(instance), instance=instance)
        publish_sync(groups, text, on_commit=True, using=using, ephemeral=ephemeral)

    def payload(self, instance: Any) -> Any:
        """What the pushes about ``instance`` carry: the serializer's payload, with its version.

        A page's list view returns the same (``[live.payload(photo) for photo in photos]``), so
        the fetched items and the pushed ones compare key for key and version for version.
        """
        payload = self.serializer(instance)
        if self.version is not None:
            payload = self._versioned(instance, payload)
        return payload

    def _versioned(self, instance: Any, payload: Any) -> Any:
        if not isinstance(payload, dict):
            raise TypeError(
                f"live_model({self.model.__name__}, version=...) needs a serializer that returns a "
                f"dict, to add 'version' to; it returned {type(payload).__name__}"
            )
        version = self.version
        assert version is not None
        value = getattr(instance, version) if isinstance(version, str) else version(instance)
        if isinstance(value, dt.datetime):
            # A number, so clients compare versions as numbers (ISO strings drop zero
            # microseconds and do not sort).
            value = int(value.timestamp() * 1_000_000)
        return {**payload, "version": value}


_live: dict[type[models.Model], LiveModel] = {}


def live_model(
    model: type[models.Model],
    *,
    created: TypeRef | None = None,
    updated: TypeRef | None = None,
    deleted: TypeRef | None = None,
    serializer: Callable[[Any], Any],
    audience: Callable[[Any], Iterable[Any]],
    version: str | Callable[[Any], Any] | None = None,
) -> LiveModel:
    """Push ``created``/``updated``/``deleted`` messages when ``model`` instances change.

    Args:
        model: the model class (subclasses are not included; register them too).
        created, updated, deleted: registered message types; ``None`` sends nothing for that
            action.
        serializer: ``instance -> payload`` (JSON-serialisable).
        audience: ``instance -> iterable`` of user ids and group names (``str``) to notify.
        version: a field name (``"updated_at"``, a counter) or ``instance -> value``; each
            payload (a dict) then carries it as ``"version"``, a datetime as microseconds since
            the epoch, so live collections (``livepush/collection.js``) never let an older event
            overwrite a newer state. It must grow with every save.

    Raises:
        UnknownMessageType: a type is not registered (checked here, not at the first save).
        TypeError: the model is already registered.
    """
    if model in _live:
        raise TypeError(f"{model.__name__} is already registered with livepush.live_model()")
    registry = get_registry()
    for event_type in (created, updated, deleted):
        if event_type is not None:
            registry.resolve(event_type)
    types: dict[str, TypeRef | None] = {"created": created, "updated": updated, "deleted": deleted}
    live = LiveModel(model, types, serializer, audience, version)
    _live[model] = live
    uid = f"livepush.live.{model._meta.label}"
    post_save.connect(_on_save, sender=model, dispatch_uid=uid, weak=False)
    pre_delete.connect(_on_delete, sender=model, dispatch_uid=uid, weak=False)
    return live


def unregister(model: type[models.Model]) -> None:
    """Stop pushing changes of ``model`` (for tests)."""
    _live.pop(model, None)
    uid = f"livepush.live.{model._meta.label}"
    post_save.disconnect(sender=model, dispatch_uid=uid)
    pre_delete.disconnect(sender=model, dispatch_uid=uid)


def payload(instance: models.Model) -> Any:
    """What the pushes about ``instance`` carry (its registered serializer, with its version).

    For the view a live collection fetches its list from, so fetched and pushed items match::

        return JsonResponse({"points": [payload(point) for point in bucket_list.points.all()]})

    Raises:
        TypeError: the instance's model is not registered with :func:`live_model`.
    """
    return _registered(instance).payload(instance)


def _registered(instance: Any) -> LiveModel:
    live = _live.get(type(instance))
    if live is None:
        raise TypeError(f"{type(instance).__name__} is not registered with live_model()")
    return live


def push_change(instances: Any, action: Action) -> None:
    """Push a change the model signals do not see (``update()``, ``bulk_create()``, raw SQL).

    ``instances`` is one instance or an iterable of them (a queryset re-read after ``update()``,
    the list ``bulk_create()`` returned). For ``"deleted"``, call it before deleting.
    """
    items = [instances] if isinstance(instances, models.Model) else list(instances)
    for instance in items:
        _registered(instance).push(instance, action)


def _on_save(
    sender: type[models.Model], instance: Any, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if raw:  # loaddata: fixtures are not changes anyone watches
        return
    _live[sender].push(instance, "created" if created else "updated")


def _on_delete(sender: type[models.Model], instance: Any, **kwargs: Any) -> None:
    # pre_delete: the audience (album members, owners) still exists; the push itself waits for
    # the delete's transaction to commit.
    _live[sender].push(instance, "deleted")
