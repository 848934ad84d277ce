"""``manage.py livepush_status``: the channel layer, presence and the server processes, now."""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand, CommandError, CommandParser

from livepush.conf import livepush_settings
from livepush.history import closing_new_client
from livepush.status import health, processes


class Command(BaseCommand):
    help = (
        "Check the channel layer with a round trip, count the users online (presence), and ask "
        "every server process with connections for its counts. Exits 1 when something failed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--timeout",
            type=float,
            default=1.0,
            help="Seconds to wait for each check and for the processes' answers. Default: 1.",
        )
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="Print one JSON object instead."
        )

    def handle(self, *args: Any, timeout: float, as_json: bool, **options: Any) -> None:
        report = async_to_sync(self._gather)(timeout)
        if as_json:
            self.stdout.write(_dumps(report))
        else:
            self._print(report)
        if report["status"] != "ok":
            raise CommandError("livepush is failing (see above)", returncode=1)

    async def _gather(self, timeout: float) -> dict[str, Any]:
        async with closing_new_client():
            report = await health(timeout, errors=True)
            report["processes"] = []
            if report["channel_layer"]["ok"]:
                report["processes"] = await processes(timeout)
            if livepush_settings.PRESENCE and report.get("presence", {}).get("ok"):
                from livepush.presence.queries import aonline_user_ids

                report["presence"]["user_ids"] = await aonline_user_ids()
        return report

    def _print(self, report: dict[str, Any]) -> None:
        layer = report["channel_layer"]
        alias = livepush_settings.CHANNEL_LAYER
        if layer["ok"]:
            self.stdout.write(
                f"channel layer {alias!r}: ok, round trip {layer['round_trip_ms']} ms"
            )
        else:
            self.stdout.write(f"channel layer {alias!r}: FAILING: {layer['error']}")
        presence = report.get("presence")
        if presence is None:
            self.stdout.write("presence: off")
        elif presence["ok"]:
            ids = ", ".join(str(i) for i in presence["user_ids"][:20])
            more = " ..." if len(presence["user_ids"]) > 20 else ""
            self.stdout.write(f"presence: {presence['online_users']} user(s) online: {ids}{more}")
        else:
            self.stdout.write(f"presence: FAILING: {presence['error']}")
        found = report["processes"]
        self.stdout.write(f"server processes with connections: {len(found)}")
        for process in found:
            refusals = ", ".join(f"{n}x{code}" for code, n in process["refusals"].items())
            self.stdout.write(
                f"  {process['host']} pid {process['pid']}: {process['connections']} "
                f"connection(s), {process['groups']} group(s); {process['pushes']} push(es) "
                f"published, {process['deliveries']} delivered; refused: {refusals or 'none'}; "
                f"heartbeat timeouts {process['heartbeat_timeouts']}, channel-layer errors "
                f"{process['channel_layer_errors']}, dropped {process['channel_layer_dropped']}, "
                f"backlog overflows {process['backlog_overflows']}"
            )
        if not found and report["channel_layer"]["ok"]:
            self.stdout.write(
                "  (none answered: no process has a connection, or the channel layer is "
                "in-memory and so reaches this process only)"
            )


def _dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, default=str, indent=2)
