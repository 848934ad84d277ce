"""The suite's fixtures, and only fixtures: what tests import is in helpers.py.

Two kinds of users: ``live_user_ids`` are ids in the SQLite file the live servers share (made
once per session, in another process), ``db_users`` are User objects in pytest-django's test
database (made for each test that asks).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.test import override_settings

from livepush.tokens import issue_access_token

from .servers import (
    LIVE_LAYERS,
    AsgiServer,
    RedisSentinel,
    RedisServer,
    create_database,
    manage,
)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisSentinel]:
    """A Redis Sentinel and the master it monitors, a redis-server of its own (so the sentinel's
    PINGs, INFOs and hellos stay out of the Redis whose commands test_broadcast_many counts)."""
    master = RedisServer(tmp_path_factory.mktemp("sentinel-master"))
    master.start()
    sentinel = RedisSentinel(tmp_path_factory.mktemp("sentinel"), master)
    try:
        sentinel.start()
        yield sentinel
    finally:
        sentinel.stop()
        master.stop()


@pytest.fixture(scope="session")
def live_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("db") / "live.sqlite3"
    return path, create_database(path)


@pytest.fixture(scope="session")
def live_user_ids(live_db: tuple[Path, dict[str, int]]) -> dict[str, int]:
    """Ids by username in the live database: alice, bob, carol (inactive) and dave."""
    return live_db[1]


@pytest.fixture
def db_users(transactional_db: None) -> dict[str, Any]:
    """User objects by username in the test database: alice, bob and carol (inactive).

    Committed (``transactional_db``), so that the middleware's lookup thread, whose database
    connection cannot see another connection's open transaction, finds them.
    """
    model = get_user_model()
    return {
        "alice": model.objects.create_user("alice"),
        "bob": model.objects.create_user("bob"),
        "carol": model.objects.create_user("carol", is_active=False),
    }


@pytest.fixture(scope="session", params=LIVE_LAYERS)
def live_layer(request: pytest.FixtureRequest) -> str:
    """The channel layer of the live servers: every test that starts one runs once with each.

    "core" is livepush.layers.RedisChannelLayer (``redis_channel_layer()``), "pubsub"
    channels-redis's RedisPubSubChannelLayer (tests/project/settings.py). Session-scoped, so
    pytest runs every test of one layer, then every test of the other, and keeps one set of
    servers at a time.
    """
    return str(request.param)


@pytest.fixture(scope="session")
def redis_env(redis_server: RedisServer, live_db: tuple[Path, dict[str, int]]) -> dict[str, str]:
    """Environment for a process of the live project (same database, same Redis) with the
    default layer, for tests about one layer configuration; the others use ``live_env``."""
    return {"LIVEPUSH_TEST_DB": str(live_db[0]), "LIVEPUSH_TEST_REDIS_URL": redis_server.url}


@pytest.fixture(scope="session")
def live_env(redis_env: dict[str, str], live_layer: str) -> dict[str, str]:
    """Environment for every process of the live project: same database, same Redis, the
    ``live_layer`` of this run."""
    return {**redis_env, "LIVEPUSH_TEST_LAYER": live_layer}


@pytest.fixture(scope="session")
def daphne_server(
    live_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AsgiServer]:
    server = AsgiServer(tmp_path_factory.mktemp("daphne"), live_env)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def push_from_other_process(live_env: dict[str, str]):
    """Run Python code in a new ``django-admin shell`` process of the live project."""

    def run(code: str) -> str:
        return manage(live_env, "shell", "-c", code)

    return run


@pytest.fixture
def token_for():
    def make(user_id: int, **kwargs: Any) -> str:
        return issue_access_token(user_id, **kwargs)

    return make


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed (pip install playwright)"
    if reason is None and not os.path.exists(CHROMIUM):
        reason = "chromium is not installed (apt-get install chromium)"
    if reason is not None:
        if os.environ.get("LIVEPUSH_REQUIRE_BROWSER") == "1":
            pytest.fail(f"LIVEPUSH_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def layer() -> Iterator[Any]:
    """A fresh in-memory channel layer for a test (and its event loop)."""
    config = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    with override_settings(CHANNEL_LAYERS=config):
        yield get_channel_layer()
