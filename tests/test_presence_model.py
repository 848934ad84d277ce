"""Presence against a model: a hypothesis state machine of connect, close, crash and time.

The memory backend with a clock the machine moves; the live connections' server refreshes them
as the tracker would. Whatever the sequence, a user is announced online exactly when they go from
no live connection to one, offline exactly once after their last one is gone (closed, or crashed
and lapsed), and after things settle the backend's online set is the model's.
"""

from __future__ import annotations

import asyncio
import itertools

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from livepush.presence import MemoryPresence

TTL, GRACE = 9.0, 2.0


class PresenceMachine(RuleBasedStateMachine):
    connections = Bundle("connections")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.now = 0.0
        self.backend = MemoryPresence(TTL, GRACE, clock=lambda: self.now)
        self.ids = itertools.count()
        self.live: dict[str, str] = {}  # connection -> user, refreshed by a running server
        self.crashed: dict[str, str] = {}  # connection -> user, whose server died
        self.refreshed: dict[str, float] = {}  # connection -> when its entry was last written
        self.announced: set[str] = set()  # users the backend said came online, not yet offline

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.loop.close()

    @rule(target=connections, user=st.sampled_from(["1", "2", "3"]))
    def connect(self, user: str) -> str:
        conn = f"c{next(self.ids)}"
        came_online = self.run(self.backend.connect(user, conn))
        assert came_online == (user not in self.announced)
        self.announced.add(user)
        self.live[conn] = user
        self.refreshed[conn] = self.now
        return conn

    @rule(conn=consumes(connections))
    def close(self, conn: str) -> None:
        user = self.live.pop(conn, None) or self.crashed.pop(conn, None)
        if user is None:
            return
        # With a grace period, going offline is the sweep's to announce.
        assert self.run(self.backend.disconnect(user, conn)) is False

    @rule(conn=consumes(connections))
    def close_while_a_refresh_is_in_flight(self, conn: str) -> None:
        user = self.live.pop(conn, None)
        if user is None:
            return
        assert self.run(self.backend.disconnect(user, conn)) is False
        # The refresh that read the connection list before the close lands after it.
        self.run(self.backend.refresh([(user, conn)]))
        assert self.run(self.backend.connection_count(user)) == self.expected_count(user), (
            "a closed connection came back"
        )

    def expected_count(self, user: str) -> int:
        """Live connections, and crashed ones whose last entry has not lapsed yet."""
        live = sum(1 for u in self.live.values() if u == user)
        lingering = sum(
            1 for c, u in self.crashed.items() if u == user and self.refreshed[c] + TTL > self.now
        )
        return live + lingering

    @rule(conn=consumes(connections))
    def crash(self, conn: str) -> None:
        if conn in self.live:
            self.crashed[conn] = self.live.pop(conn)

    @rule(seconds=st.floats(min_value=0.1, max_value=25.0))
    def time_passes(self, seconds: float) -> None:
        # The servers that are alive refresh their connections every TTL/3, as the tracker does.
        remaining = seconds
        while remaining > 0:
            step = min(remaining, TTL / 3)
            self.now += step
            remaining -= step
            entries = [(u, c) for c, u in self.live.items()]
            assert self.run(self.backend.refresh(entries)) == []
            self.refreshed.update(dict.fromkeys(self.live, self.now))
            self.sweep()

    def sweep(self) -> None:
        for user in self.run(self.backend.sweep()):
            assert user in self.announced, f"offline announced twice for {user}"
            assert user not in self.live.values(), f"{user} went offline with a live connection"
            self.announced.discard(user)

    @invariant()
    def live_users_are_online(self) -> None:
        online = set(self.run(self.backend.online_user_ids()))
        assert set(self.live.values()) <= online
        assert online <= self.announced

    @rule()
    def settle(self) -> None:
        self.time_passes(TTL + GRACE + 1)
        users = set(self.live.values())
        assert self.announced == users
        assert set(self.run(self.backend.online_user_ids())) == users
        for user in users:
            assert self.run(self.backend.connection_count(user)) == self.expected_count(user)


TestPresenceModel = PresenceMachine.TestCase
TestPresenceModel.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
