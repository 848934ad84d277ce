"""Operations: the counts (livepush._stats), Prometheus metrics, the health view, the plain-HTTP
answer at the WebSocket path, and ``manage.py livepush_status`` against real processes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient, Client, override_settings

from livepush import asend_ws_message_to_user
from livepush._stats import stats
from livepush.tokens import issue_access_token

from .helpers import WAIT, communicator_for, connected, ws_connect
from .servers import django_env

UNREACHABLE = {
    "default": {
        "BACKEND": "livepush.layers.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:9", "socket_timeout": 1}]},
    }
}


@pytest.fixture(autouse=True)
def counted():
    stats.reset()
    return stats


# The counts ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_connects_refusals_pushes_deliveries_and_latency_are_counted(db_users, layer):
    alice = db_users["alice"]
    async with connected(issue_access_token(alice)) as communicator:
        await asend_ws_message_to_user(alice.pk, "MESSAGE_CREATED", {"n": 1})
        assert json.loads(await communicator.receive_from(timeout=WAIT))["data"] == {"n": 1}
    refused = communicator_for("not-a-jwt")
    await refused.connect(timeout=WAIT)
    await refused.receive_output(timeout=WAIT)  # the ERROR frame
    await refused.receive_output(timeout=WAIT)  # the close
    await refused.disconnect(timeout=WAIT)
    assert stats.connects == 1
    assert dict(stats.refusals) == {4001: 1}
    assert stats.pushes == 1
    assert stats.deliveries == 1
    assert stats.latency_count == 1
    assert sum(stats.latency_counts) == 1


# Prometheus -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_the_metrics_view_exports_the_counts(db_users, layer):
    from livepush.metrics import metrics_view

    alice = db_users["alice"]
    async with connected(issue_access_token(alice)):
        await asend_ws_message_to_user(alice.pk, "MESSAGE_CREATED", {"n": 1})
        response = await sync_to_async(metrics_view)(None)  # type: ignore[arg-type]
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "livepush_connections 1.0" in text
    assert "livepush_connects_total 1.0" in text
    assert "livepush_pushes_total 1.0" in text
    assert 'livepush_delivery_latency_seconds_bucket{le="+Inf"} 1.0' in text
    for name in (
        "livepush_refusals_total",
        "livepush_deliveries_total",
        "livepush_backlog_overflows_total",
        "livepush_channel_layer_dropped_total",
        "livepush_channel_layer_errors_total",
        "livepush_heartbeat_timeouts_total",
        "livepush_stream_gaps_lost_total",
    ):
        assert f"# TYPE {name} counter" in text, name


def test_a_refusal_is_counted_by_code_in_the_metrics():
    from prometheus_client import generate_latest

    from livepush.metrics import collector

    stats.refusals[4001] += 2
    stats.refusals[4011] += 1

    class One:
        def collect(self):
            return collector.collect()

    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    registry.register(One())  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    assert 'livepush_refusals_total{code="4001"} 2.0' in text
    assert 'livepush_refusals_total{code="4011"} 1.0' in text


# Health -------------------------------------------------------------------------------------


async def test_health_is_ok_with_a_channel_layer_round_trip(layer):
    response = await AsyncClient().get("/livepush/health/")
    assert response.status_code == 200
    report = json.loads(response.content)
    assert report["status"] == "ok"
    assert report["channel_layer"]["ok"] is True
    assert report["channel_layer"]["round_trip_ms"] >= 0


@pytest.mark.django_db
def test_health_is_503_when_the_channel_layer_fails_and_only_staff_see_why(admin_user):
    with override_settings(CHANNEL_LAYERS=UNREACHABLE):
        anonymous = Client().get("/livepush/health/")
        staff = Client()
        staff.force_login(admin_user)
        detailed = staff.get("/livepush/health/")
    assert anonymous.status_code == 503
    assert json.loads(anonymous.content)["channel_layer"] == {"ok": False}
    assert detailed.status_code == 503
    assert "ConnectionError" in json.loads(detailed.content)["channel_layer"]["error"]


# The WebSocket path over plain HTTP, and the status command, against real processes --------


@pytest.mark.live
def test_a_plain_http_request_to_the_websocket_path_is_a_400_that_says_why(daphne_server):
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://127.0.0.1:{daphne_server.port}/ws/", timeout=WAIT)
    assert info.value.code == 400
    assert "this is a WebSocket endpoint" in info.value.read().decode()


@pytest.mark.live
@pytest.mark.redis
async def test_livepush_status_sees_the_server_process_and_its_connection(
    daphne_server, live_env, live_user_ids, token_for
):
    async with ws_connect(daphne_server.url, token=token_for(live_user_ids["alice"])) as client:
        await client.send({"type": "PING"})
        assert await client.recv() == {"type": "PONG"}  # connected and joined
        result = await _status(live_env, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "ok"
    assert report["channel_layer"]["ok"] is True
    [server] = [p for p in report["processes"] if p["pid"] == daphne_server.proc.pid]
    assert server["host"] == socket.gethostname()
    assert server["connections"] >= 1
    assert server["groups"] >= 2  # the user's group and broadcast


@pytest.mark.live
async def test_livepush_status_fails_with_exit_1_when_the_channel_layer_is_down(live_env):
    env = {**live_env, "LIVEPUSH_TEST_REDIS_URL": "redis://127.0.0.1:9"}
    result = await _status(env, "--timeout", "0.5")
    assert result.returncode == 1
    assert "channel layer 'default': FAILING" in result.stdout


async def _status(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "django", "livepush_status", *args]
    run_env = django_env({"DJANGO_SETTINGS_MODULE": "tests.project.settings", **env})
    return await sync_to_async(subprocess.run)(
        command, env=run_env, capture_output=True, text=True, timeout=60, check=False
    )
