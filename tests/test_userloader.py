"""Batched user lookups: connects arriving together share a query and get what get() gives."""

from __future__ import annotations

import asyncio

import pytest
from django.contrib.auth import get_user_model

from livepush._userloader import UserNotFound, load_user

pytestmark = pytest.mark.django_db(transaction=True)


async def test_concurrent_lookups_get_what_one_by_one_lookups_get(db_users):
    alice, bob, carol = db_users["alice"], db_users["bob"], db_users["carol"]
    keys = [alice.pk, bob.pk, carol.pk, 999_999, alice.pk]
    results = await asyncio.gather(*(load_user(k) for k in keys), return_exceptions=True)
    assert [getattr(r, "username", None) for r in results] == [
        "alice",
        "bob",
        "carol",  # inactive users are found; the caller decides (4001 for a connect)
        None,
        "alice",
    ]
    assert isinstance(results[3], UserNotFound)
    assert results[2].is_active is False
    # Two connects of one user get two instances, as two get() calls would.
    assert results[0] == results[4]
    assert results[0] is not results[4]


async def test_more_lookups_than_a_batch_all_resolve(db_users):
    model = get_user_model()
    pks = [u.pk async for u in model.objects.all()]
    keys = pks * 300  # 900+ lookups: several batches
    results = await asyncio.gather(*(load_user(k) for k in keys))
    assert [r.pk for r in results] == keys


async def test_a_cancelled_lookup_does_not_disturb_the_others(db_users):
    alice = db_users["alice"]
    doomed = asyncio.ensure_future(load_user(alice.pk))
    others = [asyncio.ensure_future(load_user(alice.pk)) for _ in range(3)]
    doomed.cancel()
    results = await asyncio.gather(*others)
    assert [r.username for r in results] == ["alice"] * 3
    assert doomed.cancelled()
