"""Per-connection limits: the inbound rate, the backlog's bound, the connections per user.

Unit tests of the token bucket (with a clock the test advances) and of the per-user count; the
consumer through WebsocketCommunicator, with thousands of random and malformed frames
(hypothesis); and over real sockets: a flooder beside a victim on daphne, and a client that stops
reading on uvicorn (which makes a send wait, so the sender's backlog grows: see
docs/topics/delivery.md, "Slow clients").
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import override_settings
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from livepush._limits import ConnectionSlots, TokenBucket, Verdict, connection_slots
from livepush.protocol import CloseCode
from livepush.tokens import issue_access_token

from .helpers import (
    WAIT,
    communicator_for,
    connected,
    raw_websocket,
    read_server_frame,
    ws_connect,
)
from .servers import AsgiServer

# The token bucket --------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def takes(bucket: TokenBucket, n: int) -> list[Verdict]:
    return [bucket.take() for _ in range(n)]


PASS, REFUSE, CLOSE, DROP = Verdict.PASS, Verdict.REFUSE, Verdict.CLOSE, Verdict.DROP


def test_a_full_bucket_lets_a_burst_through_then_refuses():
    bucket = TokenBucket(rate=2, burst=3, clock=Clock())
    assert takes(bucket, 4) == [PASS, PASS, PASS, REFUSE]


def test_the_bucket_refills_at_the_rate_up_to_the_burst():
    clock = Clock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert takes(bucket, 3) == [PASS] * 3
    clock.now += 0.5  # one token
    assert takes(bucket, 2) == [PASS, REFUSE]
    clock.now += 3600  # an hour idle refills to the burst, no more
    assert bucket.tokens == 3
    assert takes(bucket, 4) == [PASS, PASS, PASS, REFUSE]


def test_a_client_at_the_rate_is_never_refused():
    clock = Clock()
    bucket = TokenBucket(rate=16, burst=1, clock=clock)
    for _ in range(1000):
        assert bucket.take() is PASS
        clock.now += 1 / 16  # exact in binary floating point


def test_refused_frames_put_the_bucket_in_debt_and_past_the_burst_it_closes_once():
    bucket = TokenBucket(rate=2, burst=3, clock=Clock())
    assert takes(bucket, 3) == [PASS] * 3
    assert takes(bucket, 3) == [REFUSE] * 3  # debt 3: at the bound, not past it
    assert bucket.tokens == -3
    assert takes(bucket, 3) == [CLOSE, DROP, DROP]


def test_a_client_that_slows_down_pays_its_debt_and_gets_through_again():
    clock = Clock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert takes(bucket, 5) == [PASS, PASS, PASS, REFUSE, REFUSE]  # debt 2
    clock.now += 1.0  # two tokens: back at 0, still less than one
    assert bucket.take() is REFUSE  # debt 1 again
    clock.now += 1.0  # (debt + 1) / rate seconds
    assert bucket.take() is PASS


def test_a_client_a_little_over_the_rate_is_closed_in_the_end():
    clock = Clock()
    bucket = TokenBucket(rate=20, burst=60, clock=clock)
    verdicts = []
    while not verdicts or verdicts[-1] is not CLOSE:
        verdicts.append(bucket.take())
        clock.now += 1 / 25
    assert verdicts.count(PASS) >= 60
    assert len(verdicts) < 25 * 60  # within a minute at 25 frames a second


# The connections per user ------------------------------------------------------------------


def test_connection_slots_count_per_user_and_refuse_past_the_cap():
    slots = ConnectionSlots()
    with livepush(MAX_CONNECTIONS_PER_USER=2):
        assert [slots.take("a"), slots.take("a"), slots.take("a"), slots.take("b")] == [
            True,
            True,
            False,
            True,
        ]
        slots.release("a")
        assert slots.take("a")
    with livepush(MAX_CONNECTIONS_PER_USER=None):
        assert all(slots.take("a") for _ in range(100))
    assert slots.count("a") == 102
    for _ in range(102):
        slots.release("a")
    slots.release("b")
    assert (slots.count("a"), slots.count("b")) == (0, 0)


# The consumer, in process ------------------------------------------------------------------


def livepush(**changes: Any) -> override_settings:
    """override_settings for LIVEPUSH keys, keeping the test project's other keys."""
    return override_settings(LIVEPUSH={**settings.LIVEPUSH, **changes})


def livepush_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("livepush-")]


async def outputs_until_echo(communicator: WebsocketCommunicator, nonce: str) -> list[Any]:
    """The consumer's outputs up to our ECHO of ``nonce``, or up to its close."""
    await communicator.send_json_to({"type": "ECHO", "data": nonce})
    outputs = []
    while True:
        output = await communicator.receive_output(timeout=WAIT)
        outputs.append(output)
        if output["type"] == "websocket.close":
            return outputs
        if json.loads(output["text"]) == {"type": "ECHO", "data": nonce}:
            return outputs


@pytest.mark.django_db(transaction=True)
async def test_frames_over_the_rate_get_rate_limited_and_a_flood_is_closed_with_4008(
    db_users, layer, caplog
):
    with livepush(INBOUND_RATE=0.001, INBOUND_BURST=3):
        async with connected(issue_access_token(db_users["alice"])) as ws:
            for _ in range(7):
                await ws.send_json_to({"type": "PING"})
            frames = [await ws.receive_json_from(timeout=WAIT) for _ in range(6)]
            assert frames[:3] == [{"type": "PONG"}] * 3
            assert [f["data"]["code"] for f in frames[3:]] == ["rate_limited"] * 3
            assert await ws.receive_output(timeout=WAIT) == {
                "type": "websocket.close",
                "code": CloseCode.RATE_LIMITED,
            }
    assert "with 4008" in caplog.text


@pytest.mark.django_db(transaction=True)
async def test_without_an_inbound_rate_nothing_is_refused(db_users, layer):
    with livepush(INBOUND_RATE=None):
        async with connected(issue_access_token(db_users["alice"])) as ws:
            for _ in range(500):
                await ws.send_json_to({"type": "PING"})
            for _ in range(500):
                assert await ws.receive_json_from(timeout=WAIT) == {"type": "PONG"}


@pytest.mark.django_db(transaction=True)
async def test_connections_past_max_connections_per_user_are_closed_with_4011(db_users, layer):
    alice, bob = db_users["alice"], db_users["bob"]
    with livepush(MAX_CONNECTIONS_PER_USER=2):
        async with (
            connected(issue_access_token(alice)),
            connected(issue_access_token(alice)) as second,
            connected(issue_access_token(bob)),
        ):
            third = communicator_for(issue_access_token(alice))
            assert await third.connect(timeout=WAIT) == (True, "livepush")
            assert await third.receive_output(timeout=WAIT) == {
                "type": "websocket.close",
                "code": CloseCode.TOO_MANY_CONNECTIONS,
            }
            await third.disconnect(timeout=WAIT)
            assert connection_slots.count(alice.pk) == 2
            await second.disconnect(timeout=WAIT)
            assert connection_slots.count(alice.pk) == 1
            async with connected(issue_access_token(alice)) as again:  # a place is free again
                await again.send_json_to({"type": "PING"})
                assert await again.receive_json_from(timeout=WAIT) == {"type": "PONG"}
    assert (connection_slots.count(alice.pk), connection_slots.count(bob.pk)) == (0, 0)


# Random and malformed frames ---------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
TYPES = st.sampled_from(
    [
        "PING",
        "PONG",
        "ERROR",
        "ECHO",
        "CHAT_MESSAGE",
        "FAIL",
        "PRESENCE_SNAPSHOT",
        "USER_PRESENCE_CONNECTED",
        "PHOTO_UPLOADED",
        "",
        "ping",
    ]
) | st.text(max_size=30)
NEAR_LIMIT = 65536 - 100


def nested(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


FRAMES = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    JSON_VALUES.map(json.dumps),
    st.fixed_dictionaries({"type": TYPES}, optional={"data": JSON_VALUES}).map(json.dumps),
    st.fixed_dictionaries({"type": st.just("CHAT_MESSAGE"), "data": JSON_VALUES}).map(json.dumps),
    # Deep nesting within MAX_MESSAGE_SIZE: past the JSON decoder's recursion limit, or just under.
    st.integers(1, NEAR_LIMIT // 2).map(nested),
    st.integers(1, NEAR_LIMIT // 6).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.integers(900, 1100).map(lambda n: '{"type":"ECHO","data":' + nested(n) + "}"),
    # Big values within MAX_MESSAGE_SIZE.
    st.just(json.dumps({"type": "ECHO", "data": "x" * NEAR_LIMIT})),
    st.just(
        json.dumps(
            {"type": "CHAT_MESSAGE", "data": {"room": "r", "text": "é" * 16000}}, ensure_ascii=False
        )
    ),
    st.just(json.dumps({"type": "ECHO", "data": list(range(NEAR_LIMIT // 8))})),
)


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore:Generating overly large repr")  # a failure's frames are big
@hypothesis_settings(
    max_examples=150,
    deadline=None,
    # No shrinking: shrinking frames of 64 KiB takes minutes; a failure shows the frames as drawn.
    phases=[Phase.explicit, Phase.generate],
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frames=st.lists(FRAMES, min_size=1, max_size=40), nonce=st.uuids())
async def test_random_and_malformed_frames_crash_nothing_and_leak_no_task(
    db_users, layer, frames, nonce
):
    async with connected(issue_access_token(db_users["alice"])) as ws:
        for frame in frames:
            key = "bytes" if isinstance(frame, bytes) else "text"
            await ws.send_input({"type": "websocket.receive", key: frame})
        outputs = await outputs_until_echo(ws, str(nonce))
        # Open still, or closed with a documented code: the flood limit (with up to 40 frames,
        # only past INBOUND_BURST) never; the size limit never (every frame is within it).
        assert outputs[-1]["type"] == "websocket.send", outputs[-1]
        for output in outputs[:-1]:
            frame = json.loads(output["text"])
            assert frame["type"] in {"PONG", "ERROR", "ECHO"}
            if frame["type"] == "ERROR":
                assert frame["data"]["code"] != "rate_limited"
    # disconnect() re-raises what crashed the consumer; and nothing of it is left running.
    assert livepush_tasks() == []
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


# Over real sockets -------------------------------------------------------------------------


PUSHER = """
import time
from livepush import send_ws_message_to_user
for i in range({count}):
    send_ws_message_to_user({user}, 'MESSAGE_CREATED', {{'i': i, 't': time.time()}})
    time.sleep({gap})
"""


async def victim_latencies(victim: Any, count: int, started: asyncio.Event) -> list[float]:
    """Receive ``count`` numbered pushes in order; return each one's latency in seconds."""
    latencies = []
    for i in range(count):
        frame = await victim.recv()
        assert frame["data"]["i"] == i
        latencies.append(time.time() - frame["data"]["t"])
        started.set()
    return latencies


async def flood(url: str, token: str, frames: int) -> tuple[int | None, list[str]]:
    """Send ``frames`` PINGs at once; return the close code and the codes of the ERRORs."""
    async with ws_connect(url, token=token) as flooder:
        try:
            for _ in range(frames):
                await flooder.ws.send('{"type":"PING"}')
        except ConnectionClosed:
            pass  # closed by the server before the burst was all sent
        errors = []
        try:
            while True:
                frame = await flooder.recv()
                if frame["type"] == "ERROR":
                    errors.append(frame["data"]["code"])
        except ConnectionClosed:
            pass
        return await flooder.closed_with(), errors


def figures(latencies: list[float]) -> str:
    ms = sorted(1000 * x for x in latencies)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"median {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms"


@pytest.mark.live
@pytest.mark.redis
async def test_a_flooder_is_limited_and_closed_while_a_victim_keeps_getting_pushes(
    daphne_server, live_user_ids, token_for, push_from_other_process
):
    bob, count = live_user_ids["bob"], 100
    pusher = PUSHER.format(count=count, user=bob, gap=0.02)
    async with ws_connect(daphne_server.url, token=token_for(bob)) as victim:
        # Without a flood.
        started = asyncio.Event()
        push = asyncio.create_task(asyncio.to_thread(push_from_other_process, pusher))
        calm = await victim_latencies(victim, count, started)
        await push
        # With flooders beside it, one after the other for as long as the pushes last.
        started = asyncio.Event()
        push = asyncio.create_task(asyncio.to_thread(push_from_other_process, pusher))
        received = asyncio.create_task(victim_latencies(victim, count, started))
        await asyncio.wait_for(started.wait(), WAIT)
        floods = []
        while not received.done():
            floods.append(await flood(daphne_server.url, token_for(live_user_ids["alice"]), 3000))
        stormy = await received
        await push
    for code, errors in floods:
        assert code == CloseCode.RATE_LIMITED
        assert errors
        assert set(errors) == {"rate_limited"}
    print(
        f"\nvictim push latency without a flood: {figures(calm)}"
        f"\nvictim push latency with {len(floods)} floods of 3,000 frames: {figures(stormy)}"
        f"\nrate_limited errors per flood: {[len(e) for _, e in floods]}"
    )


@pytest.fixture(scope="module")
def bounded_uvicorn(live_env, tmp_path_factory):
    limits = {"MAX_BACKLOG_FRAMES": 100, "MAX_BACKLOG_BYTES": 1 << 20}
    server = AsgiServer(
        tmp_path_factory.mktemp("uvicorn-limits"),
        {**live_env, "LIVEPUSH_TEST_LIMITS": json.dumps(limits)},
        server="uvicorn",
        settings="tests.project.settings_limits",
    )
    server.start()
    yield server
    server.stop()


async def read_frames_until_close(reader: asyncio.StreamReader) -> tuple[list[str], int]:
    """Read server frames (unfragmented) up to the close frame; return the texts and its code."""
    texts = []
    while True:
        opcode, payload = await read_server_frame(reader)
        if opcode == 1:
            texts.append(payload.decode())
        elif opcode == 8:
            return texts, int.from_bytes(payload[:2], "big")


@pytest.mark.live
@pytest.mark.redis
async def test_a_client_that_stops_reading_is_closed_with_4010_past_the_backlogs_bound(
    bounded_uvicorn, live_user_ids, token_for, push_from_other_process
):
    dave = live_user_ids["dave"]
    token = token_for(dave)
    # 12 MB: more than the socket buffers (4 MiB at most) and the bound, paced so that the
    # process's channel stays under channels-redis's capacity (100 messages).
    count, size = 300, 40_000
    slow, slow_writer = await raw_websocket(bounded_uvicorn.port, token)
    try:
        async with ws_connect(bounded_uvicorn.url, token=token) as fast:
            push_from_other_process(
                "from livepush import send_ws_message_to_user\n"
                "import time\n"
                f"for i in range({count}):\n"
                f"    send_ws_message_to_user({dave}, 'MESSAGE_CREATED', "
                f"{{'i': i, 'pad': 'x' * {size}}})\n"
                "    time.sleep(0.005)\n"
            )
            # The fast client of the same user gets every push: the server has handed them all
            # to the slow one's sender too.
            for i in range(count):
                assert (await fast.recv())["data"]["i"] == i
            # The slow one, reading at last, finds what was sent before the overflow, in order,
            # then the close.
            texts, code = await read_frames_until_close(slow)
            pushes = [json.loads(t)["data"]["i"] for t in texts if json.loads(t)["type"] != "PING"]
            assert code == CloseCode.BACKLOG_OVERFLOW
            assert pushes == list(range(len(pushes)))
            assert len(pushes) < count
            print(f"\nthe slow client got {len(pushes)} of {count} pushes, then 4010")
            # The connection of the same user that reads is not affected.
            await fast.send({"type": "PING"})
            assert await fast.recv() == {"type": "PONG"}
    finally:
        slow_writer.close()
        await slow_writer.wait_closed()
