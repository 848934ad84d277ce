"""Coalesced runs (callers waiting together share one run that started after each of them) and
batched calls (calls waiting together go into one run with all their arguments)."""

from __future__ import annotations

import asyncio

import pytest

from livepush._coalesce import Batched, Coalesced

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


class Batches:
    """A batched run that records its batches and waits until the test lets it finish."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.running = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self, numbers: list[int]) -> list[int | Exception]:
        self.batches.append(numbers)
        self.running.set()
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        # Odd numbers fail on their own: a result that is an exception is raised to its caller.
        return [ValueError(n) if n % 2 else n * 10 for n in numbers]


async def test_calls_made_together_are_one_run_with_their_arguments_in_order():
    run = Batches()
    batched = Batched(run, size=100)
    calls = [asyncio.ensure_future(batched(n)) for n in (2, 4, 6)]
    run.release.set()
    assert await asyncio.gather(*calls) == [20, 40, 60]
    assert run.batches == [[2, 4, 6]]


async def test_calls_made_during_a_run_go_together_into_the_next():
    run = Batches()
    batched = Batched(run, size=100)
    first = asyncio.ensure_future(batched(2))
    await asyncio.wait_for(run.running.wait(), WAIT)
    late = [asyncio.ensure_future(batched(n)) for n in (4, 6, 8)]
    run.release.set()
    assert await first == 20
    assert await asyncio.gather(*late) == [40, 60, 80]
    assert run.batches == [[2], [4, 6, 8]]


async def test_a_run_takes_at_most_size_calls():
    run = Batches()
    run.release.set()
    batched = Batched(run, size=2)
    assert await asyncio.gather(*(batched(n) for n in (2, 4, 6, 8, 10))) == [20, 40, 60, 80, 100]
    assert run.batches == [[2, 4], [6, 8], [10]]


async def test_an_exception_result_reaches_its_caller_only():
    run = Batches()
    run.release.set()
    batched = Batched(run, size=100)
    results = await asyncio.gather(batched(2), batched(3), batched(4), return_exceptions=True)
    assert results[0::2] == [20, 40]
    assert isinstance(results[1], ValueError)
    assert results[1].args == (3,)


async def test_an_error_of_the_run_reaches_every_call_in_it_and_the_next_run_goes_on():
    run = Batches()
    run.fail = ConnectionError("Redis went away")
    batched = Batched(run, size=100)
    calls = [asyncio.ensure_future(batched(n)) for n in (2, 4)]
    run.release.set()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError] * 2
    run.fail = None
    assert await batched(6) == 60


async def test_a_cancelled_call_cancels_no_other_call_of_its_run():
    run = Batches()
    batched = Batched(run, size=100)
    doomed, kept = asyncio.ensure_future(batched(2)), asyncio.ensure_future(batched(4))
    await asyncio.wait_for(run.running.wait(), WAIT)
    doomed.cancel()
    run.release.set()
    assert await kept == 40
    with pytest.raises(asyncio.CancelledError):
        await doomed
