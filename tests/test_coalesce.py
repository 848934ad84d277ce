"""Coalesced runs: callers waiting together share one run that started after each of them."""

from __future__ import annotations

import asyncio

import pytest

from livepush._coalesce import Coalesced

from .helpers import WAIT


class Source:
    """A run that counts itself and waits until the test lets it finish."""

    def __init__(self) -> None:
        self.started = 0
        self.release = asyncio.Event()
        self.running = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self) -> int:
        self.started += 1
        number = self.started
        self.running.set()
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return number


async def test_callers_waiting_together_share_one_run():
    source = Source()
    shared = Coalesced(source)
    calls = [asyncio.ensure_future(shared()) for _ in range(50)]
    await asyncio.wait_for(source.running.wait(), WAIT)
    source.release.set()
    assert await asyncio.gather(*calls) == [1] * 50
    assert source.started == 1


async def test_a_caller_arriving_during_a_run_gets_the_next_one():
    source = Source()
    shared = Coalesced(source)
    first = asyncio.ensure_future(shared())
    await asyncio.wait_for(source.running.wait(), WAIT)  # run 1 is under way
    late = [asyncio.ensure_future(shared()) for _ in range(3)]
    source.release.set()
    assert await first == 1
    # The late callers share run 2, which started after they called.
    assert await asyncio.gather(*late) == [2, 2, 2]
    assert source.started == 2


async def test_an_error_reaches_every_caller_of_the_run():
    source = Source()
    source.fail = ConnectionError("database went away")
    shared = Coalesced(source)
    calls = [asyncio.ensure_future(shared()) for _ in range(3)]
    source.release.set()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError] * 3


async def test_a_cancelled_caller_cancels_no_one_else():
    source = Source()
    shared = Coalesced(source)
    doomed, kept = asyncio.ensure_future(shared()), asyncio.ensure_future(shared())
    await asyncio.wait_for(source.running.wait(), WAIT)
    doomed.cancel()
    source.release.set()
    assert await kept == 1
    with pytest.raises(asyncio.CancelledError):
        await doomed
